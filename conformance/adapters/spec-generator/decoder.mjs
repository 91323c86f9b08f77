// Decoder adapter (spec Appendix D) over decodeWire of spec/vectors/generate.mjs: the vector
// generator's own wire decoder, a second implementation of spec §4.3 that shares no code with
// pixstore-proto (Node built-ins only). Fuzzing it against pixstore-proto is a differential test
// of two independent decoders:
//
//   pixstore-conformance fuzz-decoder --lines -- node conformance/adapters/spec-generator/decoder.mjs --lines
//   pixstore-conformance decoder -- node conformance/adapters/spec-generator/decoder.mjs
//
// Per input: the payload on stdin, one JSON object on stdout. With --lines: one hex payload per
// line, one JSON object per line.
import { createInterface } from 'node:readline';
import { decodeWire } from '../../../spec/vectors/generate.mjs';

const describe = (bytes) => JSON.stringify(decodeWire(bytes));

if (process.argv.includes('--lines')) {
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    process.stdout.write(`${describe(Buffer.from(line.trim(), 'hex'))}\n`);
  }
} else {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  process.stdout.write(describe(Buffer.concat(chunks)));
}
