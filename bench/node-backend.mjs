// The original implementation under load: npm pixstore 3.2.1's default endpoint.
//
//   node bench/node-backend.mjs PORT WORKDIR RECORDS_JSON NAME=IMAGE [NAME=IMAGE ...]
//
// Stores each IMAGE with saveImage(buffer) (images under WORKDIR/images, SQLite at
// WORKDIR/pixstore.sqlite), writes {"NAME": ImageRecord, ...} to RECORDS_JSON once the endpoint
// listens on 127.0.0.1:PORT, then serves until SIGTERM/SIGINT. Needs
// `npm ci --prefix interop` (the README's command).
import { readFile, writeFile, rename } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

// The package has no exports map and directory imports fail in Node ESM: import the file.
const backend = await import(new URL('../interop/node_modules/pixstore/backend/index.js', import.meta.url));

const [portText, workDir, recordsPath, ...images] = process.argv.slice(2);
const port = Number(portText);
if (!Number.isInteger(port) || !workDir || !recordsPath || images.length === 0) {
  console.error('usage: node-backend.mjs PORT WORKDIR RECORDS_JSON NAME=IMAGE [NAME=IMAGE ...]');
  process.exit(2);
}

backend.initPixstoreBackend({
  defaultEndpointListenHost: '127.0.0.1',
  defaultEndpointListenPort: port,
  // Proofs never expire (the proof is still required and checked, with one SHA-256 per request).
  statelessKeyWindowLength: -1,
  imageRootDir: path.join(workDir, 'images'),
  databasePath: path.join(workDir, 'pixstore.sqlite'),
  errorHandlingMode: 'throw',
});

const records = {};
for (const spec of images) {
  const eq = spec.indexOf('=');
  const name = spec.slice(0, eq);
  const file = spec.slice(eq + 1);
  records[name] = await backend.saveImage(await readFile(file));
}

// The endpoint listens asynchronously and exposes no "listening" hook: wait until it accepts.
const deadline = Date.now() + 10_000;
for (;;) {
  const ok = await new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => { s.end(); resolve(true); });
    s.on('error', () => resolve(false));
  });
  if (ok) break;
  if (Date.now() > deadline) {
    console.error(`pixstore 3.2.1 endpoint is not listening on 127.0.0.1:${port}`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 50));
}

await writeFile(`${recordsPath}.tmp`, JSON.stringify(records));
await rename(`${recordsPath}.tmp`, recordsPath);

// default-endpoint.js calls server.unref(): keep the process alive ourselves.
setInterval(() => {}, 1 << 30);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
