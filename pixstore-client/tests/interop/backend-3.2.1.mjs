// The original backend for the client's interop test: npm pixstore 3.2.1 with its default
// endpoint on 127.0.0.1:PORT, driven over standard input.
//
//   node backend-3.2.1.mjs PORT WORKDIR
//
// Images go to WORKDIR/images, the SQLite database to WORKDIR/pixstore.sqlite. Once the endpoint
// accepts connections it prints `PIXSTORE-INTEROP {"ready":true,"port":PORT}`. Then it reads one
// JSON command per line and answers each with one `PIXSTORE-INTEROP {...}` line:
//
//   {"op":"save","file":"/path/img.png"}            -> {"ok":true,"record":ImageRecord}
//   {"op":"update","id":"...","file":"/path/b.png"} -> {"ok":true,"record":ImageRecord}
//   {"op":"delete","id":"..."}                      -> {"ok":true,"deleted":true}
//   {"op":"record","id":"..."}                      -> {"ok":true,"record":ImageRecord|null}
//   anything that throws                            -> {"ok":false,"error":"..."}
//
// It exits when standard input closes (the test ended, or died) or on SIGTERM/SIGINT. Other
// stdout lines (3.2.1 logs its listen address) carry no prefix and are ignored by the test.
//
// Needs `npm ci --prefix interop` (the README's command; it also builds the native SQLite
// binding 3.2.1 depends on), run from the repository root.
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';

const PREFIX = 'PIXSTORE-INTEROP ';
const say = (obj) => process.stdout.write(PREFIX + JSON.stringify(obj) + '\n');

const [portText, workDir] = process.argv.slice(2);
const port = Number(portText);
if (!Number.isInteger(port) || port <= 0 || !workDir) {
  console.error('usage: backend-3.2.1.mjs PORT WORKDIR');
  process.exit(2);
}

// The package has no exports map and Node ESM refuses directory imports: import the file.
const backend = await import(
  new URL('../../../interop/node_modules/pixstore/backend/index.js', import.meta.url)
);

backend.initPixstoreBackend({
  defaultEndpointListenHost: '127.0.0.1',
  defaultEndpointListenPort: port,
  // The documented default (the published package's is 200 ms): proofs live 20 to 40 s.
  statelessKeyWindowLength: 20000,
  imageRootDir: path.join(workDir, 'images'),
  databasePath: path.join(workDir, 'pixstore.sqlite'),
  errorHandlingMode: 'throw',
});

// The endpoint listens asynchronously and has no "listening" hook: wait until it accepts.
const deadline = Date.now() + 15_000;
for (;;) {
  const ok = await new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
  if (ok) break;
  if (Date.now() > deadline) {
    console.error(`pixstore 3.2.1 endpoint is not listening on 127.0.0.1:${port}`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 50));
}
say({ ready: true, port });

// default-endpoint.js calls server.unref(): keep the process alive while stdin is open.
const keepAlive = setInterval(() => {}, 1 << 30);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  try {
    const cmd = JSON.parse(line);
    switch (cmd.op) {
      case 'save':
        say({ ok: true, record: await backend.saveImage(await readFile(cmd.file)) });
        break;
      case 'update':
        say({ ok: true, record: await backend.updateImage(cmd.id, await readFile(cmd.file)) });
        break;
      case 'delete':
        say({ ok: true, deleted: await backend.deleteImage(cmd.id) });
        break;
      case 'record':
        say({ ok: true, record: backend.getImageRecord(cmd.id) });
        break;
      default:
        say({ ok: false, error: `unknown op ${cmd.op}` });
    }
  } catch (e) {
    say({ ok: false, error: String(e && e.stack ? e.stack : e) });
  }
}
clearInterval(keepAlive);
process.exit(0);
