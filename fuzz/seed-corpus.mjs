// Seeds fuzz/corpus/<target>/ from spec/vectors (STYLE item 46): every wire input, envelope
// ciphertext (tag first, as open_envelope reads it), proof text, record JSON and token text.
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const load = (stem) => JSON.parse(readFileSync(join(root, 'spec/vectors', `${stem}.json`), 'utf8')).vectors;
const seeds = {
  decode_payload: load('wire_decode').map((v) => Buffer.from(v.input_hex, 'hex')),
  open_envelope: load('envelope').map((v) => Buffer.concat([Buffer.from(v.tag_hex, 'hex'), Buffer.from(v.ciphertext_hex, 'hex')])),
  verify_proof: load('proof').filter((v) => typeof v.proof === 'string').map((v) => Buffer.from(`${v.id}\n${v.proof}`)),
  parse_record: load('record_json').map((v) => Buffer.from(v.input)),
  parse_token: load('token_header').map((v) => Buffer.from(v.input)),
};
let total = 0;
for (const [target, inputs] of Object.entries(seeds)) {
  if (inputs.length === 0) throw new Error(`no seeds for ${target}`);
  const dir = join(root, 'fuzz/corpus', target);
  mkdirSync(dir, { recursive: true });
  for (const input of inputs) {
    writeFileSync(join(dir, createHash('sha1').update(input).digest('hex')), input);
  }
  total += inputs.length;
}
console.log(`fuzz corpus: ${total} seeds for ${Object.keys(seeds).length} targets`);
