#!/usr/bin/env node
// Runs the Node app-backend example (app-backend.mjs) end to end, in CI (issue 13):
// pixstore-server with its admin API behind a bearer token, the app backend holding the token,
// and the app's page in Chromium with pixstore 3.2.1's own frontend. The page gets records
// from the app backend only and shows the images the backend stored and replaced.
//
//   node app-test.mjs --server target/release/pixstore-server [--chromium /usr/bin/chromium]
//
// Needs `npm ci` in this folder and Chromium (run.sh beside this file installs both).
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const { values: args } = parseArgs({
  options: {
    server: { type: 'string' },
    chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' },
  },
});
if (!args.server) {
  console.error('usage: node app-test.mjs --server PIXSTORE_SERVER_BIN');
  process.exit(2);
}
const log = (...m) => console.log('[app-backend]', ...m);
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const children = [];
process.on('exit', () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));

/** Starts a process that prints one JSON line when listening; resolves with it. */
function start(bin, argv, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let buf = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
    });
    child.once('exit', (code) => reject(new Error(`${bin} exited with ${code} before listening`)));
  });
}

const check = (cond, message) => {
  if (!cond) throw new Error(message);
};

const work = await mkdtemp(path.join(tmpdir(), 'pixstore-app-'));
let browser;
try {
  await esbuild.build({
    entryPoints: [path.join(here, 'app-entry.js')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    define: { 'process.env.NODE_ENV': '"production"' },
    outfile: path.join(work, 'app-bundle.js'),
    logLevel: 'warning',
  });
  await writeFile(path.join(work, 'app.html'), await readFile(path.join(here, 'app.html')));
  const tokenFile = path.join(work, 'admin-tokens');
  await writeFile(tokenFile, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600 });

  const server = await start(args.server, [
    '--data-dir', path.join(work, 'data'), '--admin-tokens-file', tokenFile,
    'serve', '--listen-host', '127.0.0.1', '--port', '0', '--control', '--control-listen', '127.0.0.1:0',
    '--ops=false', '--print-addresses',
  ], { PIXSTORE_LOG: 'warn' });
  log('pixstore-server: endpoint', server.endpoint, 'admin API', server.control);
  const adminUrl = `http://${server.control}`;
  const noToken = await fetch(`${adminUrl}/info`);
  check(noToken.status === 401, `the admin API answered ${noToken.status} without a token`);

  const app = await start(process.execPath, [path.join(here, 'app-backend.mjs'), '--admin', adminUrl, '--token-file', tokenFile, '--www', work]);
  const appUrl = `http://localhost:${app.address.split(':')[1]}`;
  log('app backend on', appUrl);

  const png = (size, file) => {
    execFileSync('python3', [path.join(root, 'bench/make_png.py'), String(size), file]);
    return readFile(file);
  };
  const first = await png(6000, path.join(work, 'first.png'));
  const second = await png(9000, path.join(work, 'second.png'));
  const created = await (await fetch(`${appUrl}/api/avatars`, { method: 'POST', body: first })).json();
  check(created.id?.startsWith('avatars:'), `the app backend stored ${JSON.stringify(created)}`);
  log('stored through the app backend:', created.id);

  browser = await chromium.launch({
    executablePath: args.chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  const page = await browser.newPage();
  const seen = [];
  page.on('request', (r) => seen.push(r.url()));
  page.on('pageerror', (e) => log('page error:', String(e)));
  await page.goto(`${appUrl}/`);
  await page.waitForFunction(() => window.app !== undefined, null, { timeout: 30_000 });
  const [host, port] = server.endpoint.split(':');
  await page.evaluate((c) => window.app.init(c), {
    defaultEndpointConnectHost: host,
    defaultEndpointConnectPort: Number(port),
    defaultEndpointRoute: '/pixstore-image',
  });
  const shown = await page.evaluate((id) => window.app.avatar(id), created.id);
  check(shown?.sha256 === sha256(first) && shown.type === 'image/png', `the page showed ${JSON.stringify(shown)}`);
  log('the page shows the stored avatar (same SHA-256)');

  const replaced = await (await fetch(`${appUrl}/api/avatars/${encodeURIComponent(created.id)}`, { method: 'PUT', body: second })).json();
  const again = await page.evaluate((id) => window.app.avatar(id), created.id);
  check(again?.sha256 === sha256(second) && again.token === replaced.token, `after the replace the page showed ${JSON.stringify(again)}`);
  log('after a replace through the app backend the page shows the new avatar');
  check(!seen.some((u) => u.startsWith(adminUrl)), 'the page called the admin API itself');
  log('ok: the page only talked to the app backend and the default endpoint');
} finally {
  if (browser) await browser.close();
  for (const c of children) c.kill('SIGTERM');
  await rm(work, { recursive: true, force: true });
}
