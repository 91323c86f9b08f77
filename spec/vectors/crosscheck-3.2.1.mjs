// Runs pixstore 3.2.1's own wire encoder and decoder (npm, pinned in interop/package.json) over
// spec/vectors/wire_decode.json and wire_encode.json, and records per vector whether the
// original agrees with spec v1. The record is spec/vectors/crosscheck-3.2.1.json; spec §13 cites it.
//
//   node spec/vectors/crosscheck-3.2.1.mjs           writes the record
//   node spec/vectors/crosscheck-3.2.1.mjs --check   fails if the record on disk is not current
//
// Exit status 1 also when a *valid* vector disagrees: spec §13.1 claims every valid v1 payload is
// byte-compatible with 3.2.1, and this is the test of that claim.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const encoderPath = join(root, 'interop/node_modules/pixstore/shared/wire-encoder.js');
let upstream;
try {
  upstream = await import(pathToFileURL(encoderPath).href);
} catch (e) {
  console.error(`cannot load pixstore 3.2.1 from ${encoderPath}: run \`npm ci --prefix interop\` first\n${e}`);
  process.exit(2);
}
const pkg = JSON.parse(readFileSync(join(root, 'interop/node_modules/pixstore/package.json'), 'utf8'));
if (pkg.version !== '3.2.1') {
  console.error(`interop/node_modules/pixstore is ${pkg.version}, expected 3.2.1`);
  process.exit(2);
}

const STATES = ['Success', 'Updated', 'NotFound', 'MissingID', 'MissingProof', 'InvalidProof', 'InternalError'];
const load = (stem) => JSON.parse(readFileSync(join(here, `${stem}.json`), 'utf8')).vectors;
const hex = (u8) => Buffer.from(u8 ?? []).toString('hex');
const b64hex = (s) => Buffer.from(s, 'base64').toString('hex');

// What 3.2.1's decodeWirePayload makes of the bytes, in the vectors' vocabulary.
function upstreamDecode(bytes) {
  try {
    const p = upstream.decodeWirePayload(new Uint8Array(bytes));
    const out = { state: STATES[p.state] ?? `state ${p.state}` };
    if (p.encrypted !== undefined) out.ciphertext_hex = hex(p.encrypted);
    if (p.token !== undefined) out.token = p.token;
    if (p.meta !== undefined) {
      out.key_hex = b64hex(p.meta.key);
      out.iv_hex = b64hex(p.meta.iv);
      out.tag_hex = b64hex(p.meta.tag);
    }
    return { accepted: out };
  } catch (e) {
    return { threw: `${e.name}: ${e.message}` };
  }
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const ordered = (o) => Object.fromEntries(['state', 'token', 'key_hex', 'iv_hex', 'tag_hex', 'ciphertext_hex'].filter((k) => k in o).map((k) => [k, o[k]]));

const rows = [];
for (const v of load('wire_decode')) {
  const got = upstreamDecode(Buffer.from(v.input_hex, 'hex'));
  let agreement;
  let note;
  if (v.result === 'valid') {
    agreement = got.accepted && same(ordered(got.accepted), ordered(v.expected)) ? 'agree' : 'differ';
    note = agreement === 'agree' ? 'decodes to the same fields' : '3.2.1 decodes a valid v1 payload differently';
  } else if (got.threw) {
    agreement = 'agree';
    note = `both reject (v1: ${v.error}; 3.2.1 throws ${got.threw})`;
  } else {
    agreement = 'differ';
    note = `v1 rejects with ${v.error}; 3.2.1 accepts it as ${got.accepted.state}`;
  }
  rows.push({ id: v.id, file: 'wire_decode', v1: v.result === 'valid' ? 'valid' : v.error, upstream: got.accepted ? { accepted: got.accepted.state } : got, agreement, note });
}

for (const v of load('wire_encode')) {
  const p = v.payload;
  const payload = { state: STATES.indexOf(p.state) };
  if (p.ciphertext_hex !== undefined) payload.encrypted = new Uint8Array(Buffer.from(p.ciphertext_hex, 'hex'));
  if (p.token !== undefined) payload.token = p.token;
  if (p.key_hex !== undefined) {
    payload.meta = {
      key: Buffer.from(p.key_hex, 'hex').toString('base64'),
      iv: Buffer.from(p.iv_hex, 'hex').toString('base64'),
      tag: Buffer.from(p.tag_hex, 'hex').toString('base64'),
    };
  }
  let out;
  try {
    out = { bytes: hex(upstream.encodeWirePayload(payload)) };
  } catch (e) {
    out = { threw: `${e.name}: ${e.message}` };
  }
  const agreement = out.bytes === v.output_hex ? 'agree' : 'differ';
  rows.push({ id: v.id, file: 'wire_encode', v1: 'valid', upstream: out.bytes !== undefined ? { encoded: out.bytes === v.output_hex ? 'same bytes' : out.bytes } : out, agreement, note: agreement === 'agree' ? 'encodes to the same bytes' : '3.2.1 encodes differently' });
}

const summary = {
  vectors: rows.length,
  agree: rows.filter((r) => r.agreement === 'agree').length,
  differ: rows.filter((r) => r.agreement === 'differ').length,
  validDiffer: rows.filter((r) => r.agreement === 'differ' && r.v1 === 'valid').map((r) => r.id),
  differByKind: Object.fromEntries(
    [...new Set(rows.filter((r) => r.agreement === 'differ').map((r) => r.v1))].sort().map((k) => [k, rows.filter((r) => r.agreement === 'differ' && r.v1 === k).length]),
  ),
};
const record = {
  description: "pixstore 3.2.1's wire encoder/decoder run over the v1 wire vectors (spec §13.3). 'differ' on an invalid vector means 3.2.1 accepts bytes v1 rejects.",
  upstream: `pixstore@${pkg.version} shared/wire-encoder.js`,
  generatedBy: 'spec/vectors/crosscheck-3.2.1.mjs',
  summary,
  results: rows,
};
const text = `${JSON.stringify(record, null, 2)}\n`;
const out = join(here, 'crosscheck-3.2.1.json');

console.log(`crosscheck pixstore 3.2.1: ${summary.vectors} vectors, ${summary.agree} agree, ${summary.differ} differ (${JSON.stringify(summary.differByKind)})`);
let failed = false;
if (summary.validDiffer.length > 0) {
  console.error(`valid v1 payloads that 3.2.1 does not handle identically: ${summary.validDiffer.join(', ')}`);
  failed = true;
}
if (process.argv.includes('--check')) {
  let disk = '';
  try {
    disk = readFileSync(out, 'utf8');
  } catch {
    // missing: reported below
  }
  if (disk !== text) {
    console.error(`${out} is not current: run node spec/vectors/crosscheck-3.2.1.mjs and commit the result`);
    failed = true;
  }
} else {
  writeFileSync(out, text);
}
process.exit(failed ? 1 : 0);
