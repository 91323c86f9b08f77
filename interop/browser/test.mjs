#!/usr/bin/env node
// Browser interop (issue 6): pixstore 3.2.1's own browser frontend, bundled from npm unchanged,
// loads images from our reference server in Debian's Chromium, from a page on another origin.
//
//   node test.mjs --server target/release/pixstore-server \
//                 --custom target/release/examples/custom_endpoint_warp --out target/browser-interop
//
// `run.sh` beside this file installs what it needs and runs it. Every step is logged; the first
// step that fails is named, a screenshot of the page goes to --out, and the exit code is 1.
// Requests are counted on the server's side, from its JSON debug log (one event per request).
import { spawn, execFile } from 'node:child_process';
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    server: { type: 'string' },
    custom: { type: 'string' },
    out: { type: 'string', default: path.join(here, '../../target/browser-interop') },
    chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' },
  },
});
if (!args.server || !args.custom) {
  console.error('usage: node test.mjs --server PIXSTORE_SERVER_BIN --custom CUSTOM_ENDPOINT_WARP_BIN [--out DIR]');
  process.exit(2);
}

// Proofs live (W, 2W] (PROOF-6); no skew, so the expired-proof step waits at most 2W + 1 s.
const WINDOW_MS = 4000;
const STEP_TIMEOUT_MS = 120_000;
const BEARER = 'secret-token-of-player-42'; // the custom route example's test credential
const log = (...m) => console.log(`[browser-interop ${new Date().toISOString().slice(11, 23)}]`, ...m);
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const cleanups = [];
let page = null;
let stepNo = 0;

class StepFailure extends Error {}
const expect = (cond, message) => {
  if (!cond) throw new StepFailure(message);
};

async function step(name, fn) {
  stepNo += 1;
  const label = `step ${stepNo}: ${name}`;
  const started = Date.now();
  log(`${label} ...`);
  let timer;
  try {
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new StepFailure(`timed out after ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
    });
    const result = await Promise.race([fn(), timeout]);
    log(`${label}: ok (${Date.now() - started} ms)`);
    return result;
  } catch (e) {
    await fail(label, e);
  } finally {
    clearTimeout(timer);
  }
}

let failing = false;
async function fail(label, e) {
  if (failing) return;
  failing = true;
  log(`FAILED at ${label}: ${e instanceof StepFailure ? e.message : e?.stack ?? e}`);
  await mkdir(args.out, { recursive: true });
  if (page) {
    const shot = path.join(args.out, `failure-step-${stepNo}.png`);
    try {
      await page.screenshot({ path: shot, fullPage: true });
      log(`screenshot of the page: ${shot}`);
    } catch (err) {
      log(`no screenshot: ${err}`);
    }
  }
  await writeFile(path.join(args.out, 'server-events.json'), JSON.stringify(events, null, 1));
  log(`server events: ${path.join(args.out, 'server-events.json')}`);
  await shutdown();
  process.exit(1);
}

async function shutdown() {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch {
      // best effort: the rest still gets cleaned up
    }
  }
  cleanups.length = 0;
}

// ---- server-side request log -------------------------------------------------------------------

/** Every JSON log event of our two server processes, tagged with its source. */
const events = [];
/** Child processes, killed however this process ends (a failed step, an exception, a signal). */
const children = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    log(`${signal}: stopping`);
    process.exit(130);
  });
}

/** Starts a process that prints one JSON line on stdout when listening; collects its JSON logs. */
function startProcess(source, bin, argv, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    cleanups.push(
      () =>
        new Promise((done) => {
          if (child.exitCode !== null) return done();
          child.once('exit', done);
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 5000).unref();
        }),
    );
    let stderrTail = '';
    const lines = (stream, onLine) => {
      let buf = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
      });
    };
    lines(child.stderr, (line) => {
      stderrTail = (stderrTail + line + '\n').slice(-4000);
      try {
        events.push({ source, ...JSON.parse(line) });
      } catch {
        events.push({ source, text: line });
      }
    });
    let ready = false;
    lines(child.stdout, (line) => {
      if (!ready) {
        ready = true;
        try {
          resolve(JSON.parse(line));
        } catch (e) {
          reject(new Error(`${source} printed ${JSON.stringify(line)} instead of its address: ${e}`));
        }
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (!ready) reject(new Error(`${source} exited with ${code} before listening:\n${stderrTail}`));
    });
  });
}

/** Everything a server logged about `id`: image requests, errors, preflights and other methods. */
const anythingFor = (source, id) =>
  events.filter(
    (e) => e.source === source && (e.fields?.id === id || e.fields?.path?.endsWith(`/${encodeURIComponent(id)}`)),
  );
const requestsFor = (source, id) =>
  events.filter((e) => e.source === source && e.fields?.message === 'image request' && e.fields.id === id);
const preflightsFor = (source, id) => anythingFor(source, id).filter((e) => e.fields.message === 'preflight');

/** Waits until the server has logged `n` image requests for `id` (logs arrive asynchronously). */
async function awaitRequests(source, id, n) {
  for (let i = 0; i < 50 && requestsFor(source, id).length < n; i++) await sleep(100);
  const seen = requestsFor(source, id);
  expect(seen.length === n, `${source} logged ${seen.length} image requests for ${id}, expected ${n}`);
  return seen;
}

// ---- the pixstore-server CLI, as an app's backend would use it ----------------------------------

let dataDir;
let configFile;
const cli = async (...argv) => {
  const { stdout } = await promisify(execFile)(args.server, ['--config', configFile, '--data-dir', dataDir, ...argv], {
    maxBuffer: 1 << 20,
  });
  return stdout.trim() ? JSON.parse(stdout) : null;
};

// ---- the test ---------------------------------------------------------------------------------

const fixtures = [
  // [label, mime, quality, width, height, the Blob type pixstore 3.2.1's frontend gives it]
  ['png small', 'image/png', undefined, 64, 48, 'image/png'],
  ['jpeg small', 'image/jpeg', 0.9, 64, 48, 'image/jpg'], // byte 3 is `jpg`: FMT-3, spec §13
  ['webp small', 'image/webp', 0.9, 64, 48, 'image/webp'],
  ['png large', 'image/png', undefined, 1200, 1100, 'image/png'],
  ['jpeg large', 'image/jpeg', 1.0, 1500, 1300, 'image/jpg'],
  ['webp large', 'image/webp', 1.0, 1200, 1100, 'image/webp'],
];
const MIN_LARGE_BYTES = 3 * 1024 * 1024;

async function main() {
  const work = await mkdtemp(path.join(tmpdir(), 'pixstore-browser-'));
  cleanups.push(() => rm(work, { recursive: true, force: true }));
  dataDir = path.join(work, 'data');
  const www = path.join(work, 'www');
  await mkdir(www, { recursive: true });

  await step('bundle pixstore/frontend/index.js (3.2.1, from npm) for the browser with esbuild', async () => {
    const { version } = JSON.parse(await readFile(path.join(here, 'node_modules/pixstore/package.json'), 'utf8'));
    expect(version === '3.2.1', `node_modules has pixstore ${version}, expected 3.2.1: run npm ci in ${here}`);
    await esbuild.build({
      entryPoints: [path.join(here, 'entry.js')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      // The frontend reads process.env.NODE_ENV at import (shared/constants.js).
      define: { 'process.env.NODE_ENV': '"production"' },
      outfile: path.join(www, 'bundle.js'),
      logLevel: 'warning',
    });
    await writeFile(path.join(www, 'index.html'), await readFile(path.join(here, 'index.html')));
  });

  // The page's origin: localhost. The server's: 127.0.0.1 on another port. Cross-origin, and
  // both are secure contexts, which WebCrypto needs.
  const pageOrigin = await step('serve the test page on its own origin', async () => {
    const files = { '/': ['index.html', 'text/html'], '/bundle.js': ['bundle.js', 'text/javascript'] };
    const server = createServer(async (req, res) => {
      const f = files[req.url];
      if (req.url === '/favicon.ico') return res.writeHead(204).end();
      if (!f) return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': f[1] }).end(await readFile(path.join(www, f[0])));
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    // http://127.0.0.1:{port} is a third origin on the same socket, for the wrong-origin step.
    return `http://localhost:${server.address().port}`;
  });

  const endpoint = await step('start pixstore-server serve (TOML config with the seed names; other origin)', async () => {
    configFile = path.join(work, 'pixstore.toml');
    await writeFile(
      configFile,
      [
        'defaultEndpointListenHost = "127.0.0.1"',
        'defaultEndpointListenPort = 0',
        'defaultEndpointRoute = "/pixstore-image"',
        `accessControlAllowOrigin = "${pageOrigin}"`,
        `statelessKeyWindowLength = ${WINDOW_MS}`,
        'proofSkewMs = 0',
        // The ops listener on a free port (its default, 127.0.0.1:7484, may be taken).
        'opsListen = "127.0.0.1:0"',
        '',
      ].join('\n'),
    );
    const addrs = await startProcess(
      'server',
      args.server,
      ['--config', configFile, '--data-dir', dataDir, '--log-format', 'json', 'serve', '--print-addresses'],
      { PIXSTORE_LOG: 'info,pixstore_server=debug' },
    );
    const [host, port] = addrs.endpoint.split(':');
    return { host, port: Number(port) };
  });

  const customBase = await step('start the custom route app (examples/custom_endpoint_warp.rs) on the same data', async () => {
    const { address } = await startProcess('custom', args.custom, ['--serve', dataDir, '127.0.0.1:0', pageOrigin], {
      PIXSTORE_LOG: 'info,pixstore_server=debug',
    });
    return `http://${address}`;
  });

  await step(`open the page in Chromium (${args.chromium})`, async () => {
    const browser = await chromium.launch({
      executablePath: args.chromium,
      headless: true,
      // No sandbox as root; no background traffic (the machine has no network besides loopback).
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
    });
    cleanups.push(() => browser.close());
    page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
    page.on('console', (m) => log(`page console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log(`page error: ${e}`));
    await page.goto(`${pageOrigin}/`);
    await page.waitForFunction(() => window.harness !== undefined, null, { timeout: 30_000 });
  });

  // The frontend as its users configure it: where the backend is. Everything else keeps
  // 3.2.1's shipped defaults (which are its test defaults: spec §13.4).
  const frontendConfig = {
    defaultEndpointConnectHost: endpoint.host,
    defaultEndpointConnectPort: endpoint.port,
    defaultEndpointRoute: '/pixstore-image',
  };
  await step('initPixstoreFrontend with our server as default endpoint', () =>
    page.evaluate((c) => window.harness.init(c), frontendConfig),
  );

  const get = (label, record, context) =>
    page.evaluate(([l, r, c]) => window.harness.get(l, r, c), [label, record, context]);

  // A record minted now expires within 2W; the expired-proof step uses it at the end.
  const expiring = await step('store an image whose record will expire', async () => {
    const file = path.join(work, 'expiring.png');
    const b64 = await page.evaluate(() => window.harness.makeImage('image/png', undefined, 32, 32, 99));
    await writeFile(file, Buffer.from(b64, 'base64'));
    const record = await cli('put', file, '--dir', 'gallery');
    return { record, usableAfter: Date.now() + 2 * WINDOW_MS + 1000 };
  });

  const stored = await step('make png, jpeg and webp fixtures (small and several MiB) and store them with pixstore-server put', async () => {
    const out = [];
    for (const [i, [label, mime, quality, w, h, blobType]] of fixtures.entries()) {
      const bytes = Buffer.from(
        await page.evaluate(([m, q, ww, hh, s]) => window.harness.makeImage(m, q, ww, hh, s), [mime, quality, w, h, i + 1]),
        'base64',
      );
      if (label.endsWith('large')) {
        expect(bytes.length >= MIN_LARGE_BYTES, `${label} fixture is only ${bytes.length} bytes`);
      }
      const file = path.join(work, `fixture-${i}`);
      await writeFile(file, bytes);
      const record = await cli('put', file, '--dir', 'gallery');
      log(`  ${label}: ${bytes.length} bytes, ${w}x${h}, id ${record.id}`);
      out.push({ label, bytes, sha256: sha256(bytes), width: w, height: h, blobType, id: record.id });
    }
    return out;
  });

  const expectImage = async (outcome, want, what) => {
    if (!outcome.ok) {
      // 3.2.1's frontend writes the ciphertext to IndexedDB before it decrypts (spec §13.2, CLIENT-3 row).
      const cached = await page.evaluate((id) => window.harness.cached(id), want.id);
      throw new StepFailure(
        `${what}: getImage threw ${outcome.name}: ${outcome.message} (cachedImageExists afterwards: ${cached})`,
      );
    }
    expect(outcome.result !== null, `${what}: getImage returned null`);
    const got = outcome.result;
    expect(got.sha256 === want.sha256, `${what}: Blob sha256 ${got.sha256} (${got.size} bytes) != stored original ${want.sha256} (${want.bytes.length} bytes)`);
    expect(got.type === want.blobType, `${what}: Blob type ${got.type}, expected ${want.blobType}`);
    expect(
      got.shown.width === want.width && got.shown.height === want.height,
      `${what}: the page decoded it as ${JSON.stringify(got.shown)}, expected ${want.width}x${want.height}`,
    );
  };

  for (const f of stored) {
    await step(`getImage(${f.label}): Blob bytes equal the stored original`, async () => {
      const record = await cli('record', f.id);
      await expectImage(await get(f.label, record), f, f.label);
      const [req] = await awaitRequests('server', f.id, 1);
      // SERVE-2: the record's token is current, so the minimal answer.
      expect(req.fields.state === 'Success', `server answered ${req.fields.state}, expected Success (token is current)`);
      // HTTP-7, HTTP-6: the browser preflighted and accepted the answer for the page's origin.
      expect(preflightsFor('server', f.id).length >= 1, `the server saw no CORS preflight for ${f.id}`);
    });
  }

  for (const f of stored) {
    await step(`getImage(${f.label}) again: served from IndexedDB, no request reaches the server`, async () => {
      const record = await cli('record', f.id);
      expect(await page.evaluate((id) => window.harness.cached(id), f.id), 'cachedImageExists is false');
      const before = anythingFor('server', f.id).length;
      await expectImage(await get(`${f.label} (cached)`, record), f, `${f.label} from the cache`);
      await sleep(300);
      const after = anythingFor('server', f.id);
      expect(after.length === before, `the server logged ${JSON.stringify(after.slice(before))} for a cache hit`);
    });
  }

  await step('update through the server; getImage(new record) gives the new bytes; getImage(old record) too, via Updated', async () => {
    const [before, after] = [stored[0], stored[2]]; // png small -> webp small content
    const oldRecord = await cli('record', before.id);
    const file = path.join(work, 'update');
    await writeFile(file, after.bytes);
    const newRecord = await cli('update', before.id, file);
    expect(newRecord.token > oldRecord.token, `update gave token ${newRecord.token}, not above ${oldRecord.token}`);
    const want = { ...after, id: before.id };
    await expectImage(await get('updated, new record', newRecord), want, 'new record after update');
    let seen = await awaitRequests('server', before.id, 2);
    expect(seen[1].fields.state === 'Success', `new record: server answered ${seen[1].fields.state}, expected Success`);
    // The old record's token and meta, with a proof minted now: proofs are bound to the id, not
    // the version (PROOF-12), and a slow machine could otherwise outlive the first one's 2W.
    const stale = { ...oldRecord, statelessProof: (await cli('record', before.id)).statelessProof };
    await expectImage(await get('updated, old record', stale), want, 'old record after update');
    seen = await awaitRequests('server', before.id, 3); // SERVE-2, SERVE-3
    expect(seen[2].fields.state === 'Updated', `old record: server answered ${seen[2].fields.state}, expected Updated`);
  });

  // 3.2.1's frontend quirks that spec §13.2 lists, observed here rather than asserted there. They
  // are the frontend's, not the server's: a v1 client (CLIENT-2, CLIENT-3, CLIENT-1) avoids them.
  await step('quirk (spec §13.2, CLIENT-2): after an Updated answer 3.2.1 keeps the AES key in IndexedDB', async () => {
    const id = stored[0].id;
    const record = await cli('record', id);
    const entry = await page.evaluate((i) => window.harness.storedEntry(i), id);
    expect(entry !== null, 'no IndexedDB entry');
    const head = Buffer.from(entry.storedBufferBase64, 'base64');
    const key = Buffer.from(record.meta.key, 'base64');
    expect(
      entry.storedBufferLength === entry.length + 69 && head[0] === 1 && head.subarray(9, 41).equals(key),
      `the entry no longer holds the Updated header with the key (stored ${entry.storedBufferLength} bytes for ` +
        `${entry.length} of ciphertext): update the CLIENT-2 row of spec §13.2`,
    );
    log('  observed: the stored buffer is the whole Updated payload, its bytes 9..41 are the AES key');
  });

  await step('quirk (spec §13.2, CLIENT-3, CLIENT-1): 3.2.1 caches a ciphertext that fails authentication, then fails on every hit', async () => {
    const file = path.join(work, 'poison');
    await writeFile(file, stored[2].bytes);
    const record = await cli('put', file);
    await page.evaluate((c) => window.harness.initCorrupting(c), frontendConfig);
    const first = await get('corrupted in transit', record);
    expect(!first.ok && first.name === 'OperationError', `first getImage gave ${JSON.stringify(first).slice(0, 200)}`);
    expect(await page.evaluate((id) => window.harness.cached(id), record.id), 'nothing was cached: update spec §13.2');
    await page.evaluate((c) => window.harness.init(c), frontendConfig);
    const again = await get('cache hit on the poisoned entry', record);
    expect(!again.ok && again.name === 'OperationError', `second getImage gave ${JSON.stringify(again).slice(0, 200)}`);
    await sleep(300);
    await awaitRequests('server', record.id, 1);
    log('  observed: the unauthenticated ciphertext was cached; every later hit fails without asking the server');
  });

  await step('a tampered proof gives the frontend\'s failure, not an image, and caches nothing', async () => {
    const file = path.join(work, 'tamper');
    await writeFile(file, stored[1].bytes);
    const record = await cli('put', file);
    const p = record.statelessProof;
    const i = p.length - 5; // inside the tag
    const tampered = { ...record, statelessProof: p.slice(0, i) + (p[i] === 'A' ? 'B' : 'A') + p.slice(i + 1) };
    const outcome = await get('tampered proof', tampered);
    expect(!outcome.ok, `getImage returned ${JSON.stringify(outcome.result)?.slice(0, 200)}`);
    expect(
      outcome.name === 'PixstoreError' && outcome.message.includes('InvalidProof'),
      `getImage threw ${outcome.name}: ${outcome.message}, expected PixstoreError ... InvalidProof`,
    );
    const [req] = await awaitRequests('server', record.id, 1);
    // SERVE-1, PROOF-7 (the tag step)
    expect(req.fields.state === 'InvalidProof' && req.fields.proof_error === 'BadTag', `server logged ${JSON.stringify(req.fields)}`);
    expect(!(await page.evaluate((id) => window.harness.cached(id), record.id)), 'something was cached');
  });

  await step('an expired proof gives the frontend\'s failure (errorHandlingMode hybrid: null), not an image', async () => {
    const wait = expiring.usableAfter - Date.now();
    if (wait > 0) {
      log(`  waiting ${wait} ms for the proof to expire (W = ${WINDOW_MS} ms, lifetime at most 2W)`);
      await sleep(wait);
    }
    await page.evaluate((c) => window.harness.init({ ...c, errorHandlingMode: 'hybrid' }), frontendConfig);
    const outcome = await get('expired proof', expiring.record);
    expect(outcome.ok && outcome.result === null, `getImage gave ${JSON.stringify(outcome).slice(0, 300)}, expected null`);
    const [req] = await awaitRequests('server', expiring.record.id, 1);
    // PROOF-9, PROOF-6
    expect(req.fields.state === 'InvalidProof' && req.fields.proof_error === 'Expired', `server logged ${JSON.stringify(req.fields)}`);
    expect(!(await page.evaluate((id) => window.harness.cached(id), expiring.record.id)), 'something was cached');
    await page.evaluate((c) => window.harness.init({ ...c, errorHandlingMode: 'throw' }), frontendConfig);
  });

  await step('a custom fetcher with context loads images from the custom warp route', async () => {
    await page.evaluate((c) => window.harness.initCustom(c), frontendConfig);
    for (const f of [stored[1], stored[5]]) {
      const file = path.join(work, 'custom');
      await writeFile(file, f.bytes);
      const record = await cli('put', file, '--dir', 'players');
      const context = { base: customBase, player: 42, bearer: BEARER };
      await expectImage(await get(`custom route: ${f.label}`, record, context), { ...f, id: record.id }, `custom route, ${f.label}`);
      const [req] = await awaitRequests('custom', record.id, 1);
      expect(req.fields.state === 'Success', `custom route answered ${req.fields.state}`);
      expect(preflightsFor('custom', record.id).length >= 1, 'the custom route saw no CORS preflight');
      expect(requestsFor('server', record.id).length === 0, 'the default endpoint was asked instead');
    }
  });

  await step('the custom route refuses a context it does not authorize; the frontend fails, caches nothing', async () => {
    const file = path.join(work, 'refused');
    await writeFile(file, stored[0].bytes);
    const record = await cli('put', file, '--dir', 'players');
    const outcome = await get('custom route, wrong player', record, { base: customBase, player: 7, bearer: BEARER });
    expect(!outcome.ok && outcome.message.includes('403'), `getImage gave ${JSON.stringify(outcome).slice(0, 300)}`);
    expect(requestsFor('custom', record.id).length === 0, 'the route served an image to an unauthorized caller');
    expect(!(await page.evaluate((id) => window.harness.cached(id), record.id)), 'something was cached');
  });

  await step('a page on an origin the server does not name is refused by the browser (HTTP-6)', async () => {
    const otherOrigin = pageOrigin.replace('localhost', '127.0.0.1');
    const file = path.join(work, 'other-origin');
    await writeFile(file, stored[0].bytes);
    const record = await cli('put', file);
    const other = await page.context().browser().newPage();
    try {
      other.on('console', (m) => log(`other page console.${m.type()}: ${m.text()}`));
      await other.goto(`${otherOrigin}/`);
      await other.waitForFunction(() => window.harness !== undefined, null, { timeout: 30_000 });
      await other.evaluate((c) => window.harness.init(c), frontendConfig);
      const outcome = await other.evaluate(([l, r]) => window.harness.get(l, r), ['other origin', record]);
      expect(!outcome.ok && outcome.name === 'TypeError', `getImage from ${otherOrigin} gave ${JSON.stringify(outcome).slice(0, 300)}`);
    } finally {
      await other.close();
    }
    expect(anythingFor('server', record.id).length >= 1, 'the request never reached the server: nothing was tested');
  });

  await mkdir(args.out, { recursive: true });
  await page.screenshot({ path: path.join(args.out, 'passed.png'), fullPage: true });
  log(`all ${stepNo} steps passed; screenshot of the page: ${path.join(args.out, 'passed.png')}`);
  await shutdown();
}

process.on('unhandledRejection', (e) => fail(`step ${stepNo} (unhandled)`, e));
main().catch((e) => fail(`step ${stepNo}`, e));
