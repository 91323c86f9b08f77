#!/usr/bin/env node
// A client adapter (spec Appendix C, lines mode) for pixstore 3.2.1's own browser frontend:
// `pixstore/frontend/index.js` from npm, bundled unchanged with esbuild (adapter-entry.js),
// on a page served from its own origin (http://localhost:PORT), in Debian's Chromium driven by
// playwright-core, against whatever endpoint each request names. The page and its IndexedDB
// live as long as this process; `reset` reloads the page and deletes the database.
//
//   pixstore-conformance client --lines --known-failing conformance/known-failing/pixstore-3.2.1-frontend.txt \
//       -- node interop/browser/adapter.mjs [--chromium /usr/bin/chromium]
//
// Needs `npm ci --ignore-scripts` in interop/browser. Standard output carries only the
// protocol's lines; everything else (the page's console, Chromium's troubles) goes to stderr.
import { createServer } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: { chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' } },
});
const log = (...m) => console.error('[3.2.1 adapter]', ...m);

const work = await mkdtemp(path.join(tmpdir(), 'pixstore-321-adapter-'));
const { version } = JSON.parse(await readFile(path.join(here, 'node_modules/pixstore/package.json'), 'utf8'));
if (version !== '3.2.1') {
  log(`node_modules has pixstore ${version}, expected 3.2.1: run npm ci in ${here}`);
  process.exit(2);
}
await esbuild.build({
  entryPoints: [path.join(here, 'adapter-entry.js')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  // The frontend reads process.env.NODE_ENV at import (shared/constants.js).
  define: { 'process.env.NODE_ENV': '"production"' },
  outfile: path.join(work, 'bundle.js'),
  logLevel: 'warning',
});
const page_html = (await readFile(path.join(here, 'index.html'), 'utf8')).replace(
  /<h1>.*<\/h1>/,
  '<h1>pixstore 3.2.1 frontend: client adapter</h1>',
);
const bundle = await readFile(path.join(work, 'bundle.js'));

const server = createServer((req, res) => {
  if (req.url === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(page_html);
  if (req.url === '/bundle.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
  res.writeHead(404).end();
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
// localhost is a secure context (WebCrypto), and another origin than any endpoint (127.0.0.1).
const origin = `http://localhost:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: args.chromium,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const chromiumVersion = browser.version();
const page = await browser.newPage();
page.on('console', (m) => log(`page console.${m.type()}: ${m.text()}`));
page.on('pageerror', (e) => log(`page error: ${e}`));

const load = async () => {
  await page.goto(`${origin}/`);
  await page.waitForFunction(() => window.pxc !== undefined, null, { timeout: 30_000 });
};
await load();

const shutdown = async () => {
  await browser.close().catch(() => {});
  server.close();
  await rm(work, { recursive: true, force: true });
};

const answer = async (req) => {
  const call = (name, r) => page.evaluate(([n, x]) => window.pxc[n](x), [name, r]);
  switch (req.op) {
    case 'info':
      return { ok: true, name: `pixstore 3.2.1 frontend (npm) in Chromium ${chromiumVersion}`, cacheInDir: false };
    case 'reset':
      // A fresh page drops the frontend's module state (its cached database connection, its
      // cleanup flag, a registered fetcher); then the database goes.
      await load();
      return call('reset', req);
    case 'get':
    case 'cached':
    case 'evict':
    case 'dump':
      return call(req.op, req);
    default:
      return { ok: false, error: { kind: 'unsupported', message: `op ${req.op}` } };
  }
};

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: { kind: 'other', message: `not JSON: ${e}` } })}\n`);
    continue;
  }
  let out;
  try {
    out = await answer(req);
  } catch (e) {
    log(`${req.op} failed: ${e?.stack ?? e}`);
    out = { ok: false, error: { kind: 'other', message: `adapter: ${e?.message ?? e}` } };
  }
  process.stdout.write(`${JSON.stringify({ ...out, seq: req.seq })}\n`);
}
await shutdown();
