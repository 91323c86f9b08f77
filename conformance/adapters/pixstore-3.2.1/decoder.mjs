// Decoder adapter (spec Appendix D): runs npm pixstore 3.2.1's own decodeWirePayload over each
// payload and prints what it made of it.
//
//   cargo run -p conformance -- decoder -- node conformance/adapters/pixstore-3.2.1/decoder.mjs
//   cargo run -p conformance -- fuzz-decoder --lines -- node conformance/adapters/pixstore-3.2.1/decoder.mjs --lines
//
// Per input (the default): the payload on stdin, one JSON object on stdout. With --lines: one
// hex payload per line on stdin, one JSON object per line on stdout, until stdin closes.
//
// 3.2.1 has no error kinds: its failures are mapped to the nearest spec kind (an unknown state
// byte to ReservedState / UnassignedState, an empty input to Empty, a DataView RangeError to
// Truncated). Everything it accepts is reported as accepted.
import path from 'node:path';
import { createInterface } from 'node:readline';

const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(here, '..', '..', '..');
const { decodeWirePayload } = await import(path.join(root, 'interop/node_modules/pixstore/shared/wire-encoder.js'));

const names = ['Success', 'Updated', 'NotFound', 'MissingID', 'MissingProof', 'InvalidProof', 'InternalError'];
const hex = (u8) => Buffer.from(u8).toString('hex');
const b64hex = (s) => Buffer.from(s, 'base64').toString('hex');

const describe = (input) => {
  let out;
  try {
    const p = decodeWirePayload(input);
    out = { state: names[p.state] ?? `state ${p.state}` };
    if (p.token !== undefined) out.token = p.token;
    if (p.meta !== undefined) {
      out.key_hex = b64hex(p.meta.key);
      out.iv_hex = b64hex(p.meta.iv);
      out.tag_hex = b64hex(p.meta.tag);
    }
    if (p.encrypted !== undefined) out.ciphertext_hex = hex(p.encrypted);
  } catch (e) {
    if (input.length === 0) out = { error: 'Empty' };
    else if (e instanceof RangeError) out = { error: 'Truncated' };
    else if (input[0] >= 7 && input[0] <= 10) out = { error: 'ReservedState' };
    else if (input[0] >= 11) out = { error: 'UnassignedState' };
    else out = { error: `${e.name}: ${e.message}` };
  }
  return JSON.stringify(out);
};

if (process.argv.includes('--lines')) {
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    process.stdout.write(`${describe(new Uint8Array(Buffer.from(line.trim(), 'hex')))}\n`);
  }
} else {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  process.stdout.write(describe(new Uint8Array(Buffer.concat(chunks))));
}
