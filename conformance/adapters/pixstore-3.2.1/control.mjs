// Control interface v1 (spec Appendix A) over npm pixstore 3.2.1's backend, so that the
// conformance suite can check the original implementation exactly as it checks any other.
//
//   node conformance/adapters/pixstore-3.2.1/control.mjs [--window MS] [--workdir DIR]
//
// Starts 3.2.1's default endpoint on 127.0.0.1 (a free port) and this control interface on
// another, then prints one JSON line {"endpoint": URL, "control": URL} and serves until killed.
// Needs `npm ci --prefix interop` (the README's command).
//
// Nothing here works around 3.2.1's defects: a request that crashes its endpoint (a malformed
// percent-escape) ends this process too, as it would end a real 3.2.1 backend.
//
// The clock feature (spec CTRL-8): 3.2.1 reads the time with Date.now() for tokens and proof
// windows, so the adapter replaces Date.now inside this process before loading 3.2.1; PUT /clock
// shifts or freezes it for both.
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// CTRL-8: the process clock, shifted or frozen by PUT /clock.
const realNow = Date.now.bind(Date);
let clockOffset = 0;
let clockFrozen = null;
Date.now = () => (clockFrozen !== null ? clockFrozen : realNow() + clockOffset);

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(here, '..', '..', '..');
const backend = await import(path.join(root, 'interop/node_modules/pixstore/backend/index.js'));

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const windowMs = Number(opt('--window', '1000'));
const workdir = opt('--workdir', mkdtempSync(path.join(os.tmpdir(), 'pixstore-3.2.1-')));

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const endpointPort = await freePort();
backend.initPixstoreBackend({
  defaultEndpointListenHost: '127.0.0.1',
  defaultEndpointListenPort: endpointPort,
  statelessKeyWindowLength: windowMs,
  imageRootDir: path.join(workdir, 'images'),
  databasePath: path.join(workdir, 'pixstore.sqlite'),
  errorHandlingMode: 'throw',
});

const json = (res, status, value) => {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};
const readBody = (req) =>
  new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
// Errors of 3.2.1 mapped to the statuses of Appendix A by their messages.
const statusOf = (e) => {
  const m = String(e && e.message);
  if (/Invalid image/i.test(m)) return 415;
  if (/not found/i.test(m)) return 404;
  return 500;
};

const control = http.createServer(async (req, res) => {
  try {
    // The path split as sent (new URL() would resolve dot segments such as /images/..).
    const [rawPath, rawQuery = ''] = req.url.split('?');
    const url = { searchParams: new URLSearchParams(rawQuery) };
    const parts = rawPath.split('/').filter(Boolean).map(decodeURIComponent);
    if (req.method === 'GET' && parts.length === 1 && parts[0] === 'info') {
      return json(res, 200, {
        specVersion: '1',
        endpoint: `http://127.0.0.1:${endpointPort}/pixstore-image`,
        windowMs,
        skewMs: 0,
        implementation: 'pixstore 3.2.1 (npm) via conformance/adapters/pixstore-3.2.1',
        features: ['dir-prefix', 'jpeg', 'clock'],
      });
    }
    if (parts.length === 1 && parts[0] === 'clock' && (req.method === 'GET' || req.method === 'PUT')) {
      if (req.method === 'PUT') {
        let body;
        try {
          body = JSON.parse((await readBody(req)).toString() || 'null');
        } catch {
          body = null;
        }
        const keys = body && typeof body === 'object' ? Object.keys(body) : null;
        if (keys && keys.length === 0) {
          clockOffset = 0;
          clockFrozen = null;
        } else if (keys && keys.length === 1 && Number.isInteger(body.offsetMs)) {
          clockOffset = body.offsetMs;
          clockFrozen = null;
        } else if (keys && keys.length === 1 && Number.isInteger(body.frozenAtMs) && body.frozenAtMs >= 0) {
          clockFrozen = body.frozenAtMs;
        } else {
          return json(res, 400, { error: 'expected {}, {"offsetMs": N} or {"frozenAtMs": T} (spec CTRL-8)' });
        }
      }
      return json(res, 200, { nowMs: Date.now() });
    }
    if (parts[0] !== 'images') return json(res, 404, { error: 'no such control route' });
    if (req.method === 'POST' && parts.length === 1) {
      const body = await readBody(req);
      // CTRL-2: a repeated ?dir= is ambiguous (the interface's own parsing, not 3.2.1's).
      const dirs = url.searchParams.getAll('dir');
      if (dirs.length > 1) return json(res, 400, { error: '?dir= given more than once' });
      const dir = dirs[0];
      try {
        return json(res, 201, await backend.saveImage(body, dir));
      } catch (e) {
        return json(res, statusOf(e), { error: String(e.message) });
      }
    }
    const id = parts[1];
    if (req.method === 'PUT' && parts.length === 2) {
      const body = await readBody(req);
      try {
        return json(res, 200, await backend.updateImage(id, body));
      } catch (e) {
        return json(res, statusOf(e), { error: String(e.message) });
      }
    }
    if (req.method === 'DELETE' && parts.length === 2) {
      const existed = await backend.deleteImage(id);
      if (!existed) return json(res, 404, { error: `no image with id ${id}` });
      res.writeHead(204, { 'cache-control': 'no-store' });
      return res.end();
    }
    if (req.method === 'GET' && parts.length === 3 && parts[2] === 'record') {
      const record = backend.getImageRecord(id);
      if (!record) return json(res, 404, { error: `no image with id ${id}` });
      return json(res, 200, record);
    }
    return json(res, 404, { error: 'no such control route' });
  } catch (e) {
    return json(res, 500, { error: String(e && e.message) });
  }
});

control.listen(0, '127.0.0.1', async () => {
  // The endpoint listens asynchronously with no hook: wait until it accepts connections.
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: endpointPort }, () => { s.end(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const { port } = control.address();
  console.log(JSON.stringify({ endpoint: `http://127.0.0.1:${endpointPort}/pixstore-image`, control: `http://127.0.0.1:${port}` }));
});
// 3.2.1's endpoint server is unref'd; the control server keeps the process alive.
