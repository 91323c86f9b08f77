#!/usr/bin/env node
// Pixstore protocol v1: generator of the golden test vectors (spec Appendix B).
//
//   node spec/vectors/generate.mjs           writes the six vector files next to this script
//   node spec/vectors/generate.mjs --check   regenerates in memory, compares byte for byte with
//                                            the files on disk, exits 1 listing every difference
//
// This script is a second, independent implementation of the spec (it shares no code with the
// Rust crates). It only uses Node built-ins (node >= 20). It is deterministic: fixed keys, IVs and
// times, no randomness, no clock. Vector ids are written literally and are never changed or
// reused (see README.md, "Stability of ids").
//
// Every vector's expectation is written literally below AND recomputed by the small decoders /
// verifiers in this file (decodeWire, openEnvelope, verifyProof, parseTokenHeader, parseRecord);
// generation aborts if the two disagree, so a bug in one cannot silently produce a wrong vector.

import { createCipheriv, createDecipheriv, createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));

// ---------------------------------------------------------------------------------------------
// Constants of the spec
// ---------------------------------------------------------------------------------------------

const MAX_TOKEN = 9007199254740991n; // TOKEN-3: 2^53 - 1
const WIRE_STATES = ['Success', 'Updated', 'NotFound', 'MissingID', 'MissingProof', 'InvalidProof', 'InternalError'];
const UPDATED_HEADER_LEN = 69; // WIRE-3: 1 + 8 + 32 + 12 + 16

// FMT-1: the fixed format registry.
const FORMATS = [
  [1, 'png', 'image/png'],
  [2, 'webp', 'image/webp'],
  [3, 'jpg', 'image/jpeg'],
  [4, 'jpeg', 'image/jpeg'],
  [5, 'gif', 'image/gif'],
  [6, 'bmp', 'image/bmp'],
  [7, 'tiff', 'image/tiff'],
  [8, 'ico', 'image/vnd.microsoft.icon'],
  [9, 'heic', 'image/heic'],
  [10, 'avif', 'image/avif'],
];
const FORMAT_BY_NAME = new Map(FORMATS.map(([b, n, m]) => [n, { byte: b, name: n, mime: m }]));
const FORMAT_BY_BYTE = new Map(FORMATS.map(([b, n, m]) => [b, { byte: b, name: n, mime: m }]));

// Flags: every flag a vector uses is described in the "notes" of its file (only the used ones).
const FLAGS = {
  EdgeCase: {
    bugType: 'EDGE_CASE',
    description: 'A boundary value (minimum or maximum length, value or time). Off-by-one errors fail here.',
  },
  Js53Bit: {
    bugType: 'EDGE_CASE',
    description: 'A token or time at or beyond 2^53-1 (MAX_TOKEN), where IEEE-754 doubles stop being exact. Parsing through a double, or without an upper bound, fails here.',
  },
  Legacy321: {
    bugType: 'LEGACY',
    description: 'pixstore 3.2.1 handles this input differently (it accepts it, ignores bytes, loses precision or fails with another error); the expectation is the v1 behaviour (spec section 13).',
  },
  LookAlike: {
    bugType: 'CONFUSION',
    description: 'The input resembles another valid structure (a ciphertext that begins like a state byte or an Updated header, a state followed by a well-formed body). The decision must be made on the declared layout alone.',
  },
  NonCanonical: {
    bugType: 'MALLEABILITY',
    description: 'An alternative encoding of an otherwise acceptable value (padding, other base64 alphabet, leading zeros, whitespace, sign). v1 encodings are canonical; the alternative must be rejected.',
  },
  Precedence: {
    bugType: 'PRECEDENCE',
    description: 'More than one error applies. The expected error is the one the precedence or order rule of the cited requirement selects.',
  },
  Tampered: {
    bugType: 'MODIFIED_PARAMETER',
    description: 'A correctly generated value was modified afterwards (bit flip, truncation, extension, substitution of a part). The authentication check (AES-GCM tag or proof tag) must reject it.',
  },
  Unicode: {
    bugType: 'EDGE_CASE',
    description: 'Contains non-ASCII characters (digits or letters outside ASCII, NUL). ASCII-only grammars must reject them; Unicode-aware character classes (\\d, isdigit, isalnum) fail here.',
  },
  ValidationDisabled: {
    bugType: 'FUNCTIONALITY',
    description: 'Window length W = -1: proof validation is disabled and every proof, even a missing or garbage one, is accepted (PROOF-14).',
  },
};

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => {
  if (!/^(?:[0-9a-f]{2})*$/.test(s)) throw new Error(`bad hex literal: ${s}`);
  return Buffer.from(s, 'hex');
};
const cat = (...parts) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? unhex(p) : Buffer.from(p))));
const seq = (start, len) => Buffer.from(Array.from({ length: len }, (_, i) => (start + i) & 0xff));
const fill = (byte, len) => Buffer.alloc(len, byte);
const u64le = (v) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
};
const sha256 = (s) => createHash('sha256').update(s).digest();
// Deterministic pseudo-image bytes (no randomness): byte i = (i * 31 + 7) mod 256.
const pattern = (len) => Buffer.from(Array.from({ length: len }, (_, i) => (i * 31 + 7) & 0xff));

function fail(msg) {
  throw new Error(`generate.mjs: ${msg}`);
}
function sameJson(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}
function assertSame(id, expected, computed) {
  if (!sameJson(expected, computed)) {
    fail(`vector ${id}: expectation ${JSON.stringify(expected)} but the reference implementation in this file computes ${JSON.stringify(computed)}`);
  }
}

// Builds a vector with the common fields in a fixed order. `data` holds the area-specific
// inputs; `outcome` is {expected: ...} / {error: ...} / other area-specific result fields.
function vector(id, requirements, comment, flags, data, result, outcome) {
  if ('id' in data) fail(`vector ${id}: data must not contain a member named id`);
  for (const f of flags) if (!(f in FLAGS)) fail(`vector ${id}: unknown flag ${f}`);
  if (!requirements.length) fail(`vector ${id}: no requirements`);
  if (new Set(requirements).size !== requirements.length) fail(`vector ${id}: duplicate requirement`);
  if (new Set(flags).size !== flags.length) fail(`vector ${id}: duplicate flag`);
  const v = { id, comment, requirements, flags, ...data, result };
  if (result === 'invalid') {
    if (!outcome || typeof outcome.error !== 'string') fail(`vector ${id}: invalid without error`);
  } else if (outcome && 'error' in outcome) {
    fail(`vector ${id}: ${result} with error`);
  }
  return Object.assign(v, outcome || {});
}

// ---------------------------------------------------------------------------------------------
// §4 Wire payload: reference decoder and encoder
// ---------------------------------------------------------------------------------------------

// WIRE-1..WIRE-11. Returns {state, ...fields} or {error}.
function decodeWire(buf) {
  if (buf.length === 0) return { error: 'Empty' }; // WIRE-7
  const s = buf[0];
  if (s >= 7 && s <= 10) return { error: 'ReservedState' }; // WIRE-5
  if (s >= 11) return { error: 'UnassignedState' }; // WIRE-6
  if (s === 0) {
    if (buf.length < 2) return { error: 'MissingCiphertext' }; // WIRE-8
    return { state: 'Success', ciphertext_hex: hex(buf.subarray(1)) }; // WIRE-2
  }
  if (s === 1) {
    if (buf.length < UPDATED_HEADER_LEN) return { error: 'Truncated' }; // WIRE-8
    if (buf.length === UPDATED_HEADER_LEN) return { error: 'MissingCiphertext' }; // WIRE-8
    const token = buf.readBigUInt64LE(1);
    if (token === 0n || token > MAX_TOKEN) return { error: 'TokenOutOfRange' }; // WIRE-10
    return {
      state: 'Updated',
      token: Number(token),
      key_hex: hex(buf.subarray(9, 41)),
      iv_hex: hex(buf.subarray(41, 53)),
      tag_hex: hex(buf.subarray(53, 69)),
      ciphertext_hex: hex(buf.subarray(69)),
    }; // WIRE-3
  }
  if (buf.length !== 1) return { error: 'TrailingBytes' }; // WIRE-9
  return { state: WIRE_STATES[s] }; // WIRE-4
}

// WIRE-12: encoder; refuses everything that would not decode.
function encodeWire(p) {
  const idx = WIRE_STATES.indexOf(p.state);
  if (idx < 0) fail(`encodeWire: unknown state ${p.state}`);
  if (p.state === 'Success') {
    const ct = unhex(p.ciphertext_hex);
    if (ct.length < 1) fail('encodeWire: empty ciphertext');
    return cat([0], ct);
  }
  if (p.state === 'Updated') {
    const ct = unhex(p.ciphertext_hex);
    const key = unhex(p.key_hex);
    const iv = unhex(p.iv_hex);
    const tag = unhex(p.tag_hex);
    if (ct.length < 1 || key.length !== 32 || iv.length !== 12 || tag.length !== 16) fail('encodeWire: bad Updated fields');
    if (!Number.isSafeInteger(p.token) || p.token < 1) fail('encodeWire: token out of range');
    return cat([1], u64le(p.token), key, iv, tag, ct);
  }
  return Buffer.from([idx]);
}

// Fixed wire fields (readable patterns so a hand decode is easy).
const W_KEY = seq(0x00, 32); // 000102..1f
const W_IV = seq(0xa0, 12); // a0a1..ab
const W_TAG = seq(0xf0, 16); // f0f1..ff
const updatedBytes = (token, ct) => cat([1], u64le(token), W_KEY, W_IV, W_TAG, ct);
const updatedExpected = (token, ct) => ({
  state: 'Updated',
  token: Number(token),
  key_hex: hex(W_KEY),
  iv_hex: hex(W_IV),
  tag_hex: hex(W_TAG),
  ciphertext_hex: hex(ct),
});

function wireDecodeVectors() {
  const out = [];
  // bytes: Buffer input; exp: {state...} (valid) or 'ErrorKind' (invalid)
  const add = (id, reqs, comment, flags, bytes, exp) => {
    const computed = decodeWire(bytes);
    if (typeof exp === 'string') {
      assertSame(id, { error: exp }, computed);
      out.push(vector(id, reqs, comment, flags, { input_hex: hex(bytes) }, 'invalid', { error: exp }));
    } else {
      assertSame(id, exp, computed);
      out.push(vector(id, reqs, comment, flags, { input_hex: hex(bytes) }, 'valid', { expected: exp }));
    }
  };

  // --- valid Success (WIRE-2)
  add('wire-decode-success-min', ['WIRE-1', 'WIRE-2'], 'Smallest Success: state 0 and a 1-byte ciphertext (only the encrypted format byte).', ['EdgeCase'],
    cat('00', '5a'), { state: 'Success', ciphertext_hex: '5a' });
  add('wire-decode-success-ct-zero-byte', ['WIRE-1', 'WIRE-2'], 'Success whose 1-byte ciphertext is 0x00; the ciphertext is opaque to the decoder.', ['EdgeCase'],
    cat('00', '00'), { state: 'Success', ciphertext_hex: '00' });
  add('wire-decode-success-ct-starts-with-01', ['WIRE-1', 'WIRE-2'], 'Success whose ciphertext starts with 0x01: only byte 0 is a state byte.', ['LookAlike'],
    cat('00', '01', 'c0ffee'), { state: 'Success', ciphertext_hex: '01c0ffee' });
  add('wire-decode-success-ct-looks-like-updated', ['WIRE-1', 'WIRE-2'], 'Success whose 75-byte ciphertext is byte for byte a well-formed Updated payload; it is still a Success carrying those bytes as ciphertext.', ['LookAlike'],
    cat('00', updatedBytes(1, unhex('aabbccddeeff'))), { state: 'Success', ciphertext_hex: hex(updatedBytes(1, unhex('aabbccddeeff'))) });
  add('wire-decode-success-ct-starts-with-reserved-state', ['WIRE-1', 'WIRE-2'], 'Success whose ciphertext starts with 0x07 (a reserved state value); only byte 0 is checked against the state registry.', ['LookAlike'],
    cat('00', '07ff'), { state: 'Success', ciphertext_hex: '07ff' });
  add('wire-decode-success-ct-100-bytes', ['WIRE-1', 'WIRE-2'], 'Success with a 100-byte ciphertext.', [],
    cat('00', pattern(100)), { state: 'Success', ciphertext_hex: hex(pattern(100)) });
  add('wire-decode-success-ct-1000-bytes', ['WIRE-1', 'WIRE-2'], 'Success with a 1000-byte ciphertext; there is no upper length bound in the payload format.', [],
    cat('00', seq(0, 1000)), { state: 'Success', ciphertext_hex: hex(seq(0, 1000)) });

  // --- valid Updated (WIRE-3)
  add('wire-decode-updated-min', ['WIRE-1', 'WIRE-3'], 'Smallest Updated: 69-byte header (token 1) and a 1-byte ciphertext, 70 bytes in total.', ['EdgeCase'],
    updatedBytes(1, unhex('5a')), updatedExpected(1, unhex('5a')));
  add('wire-decode-updated-token-1', ['WIRE-1', 'WIRE-3', 'WIRE-10'], 'Updated with token 1, the smallest valid token; read little-endian (big-endian would read 2^56, out of range).', ['EdgeCase'],
    updatedBytes(1, unhex('00112233')), updatedExpected(1, unhex('00112233')));
  add('wire-decode-updated-token-256', ['WIRE-1', 'WIRE-3'], 'Updated with token 256 (bytes 00 01 00 00 00 00 00 00): checks the little-endian byte order.', [],
    updatedBytes(256, unhex('42')), updatedExpected(256, unhex('42')));
  add('wire-decode-updated-token-realistic', ['WIRE-1', 'WIRE-3'], 'Updated with a millisecond-timestamp token 1732752000123 and a 32-byte ciphertext.', [],
    updatedBytes(1732752000123n, pattern(32)), updatedExpected(1732752000123n, pattern(32)));
  add('wire-decode-updated-token-max', ['WIRE-1', 'WIRE-3', 'WIRE-10'], 'Updated with token MAX_TOKEN = 9007199254740991 (2^53-1), the largest valid token.', ['EdgeCase', 'Js53Bit'],
    updatedBytes(MAX_TOKEN, unhex('5a')), updatedExpected(MAX_TOKEN, unhex('5a')));
  add('wire-decode-updated-ct-1000-bytes', ['WIRE-1', 'WIRE-3'], 'Updated with a 1000-byte ciphertext (1069 bytes in total).', [],
    updatedBytes(1732752000123n, seq(0x80, 1000)), updatedExpected(1732752000123n, seq(0x80, 1000)));
  add('wire-decode-updated-ct-starts-with-01', ['WIRE-1', 'WIRE-3'], 'Updated with a 71-byte ciphertext that starts with 0x01 (longer than a header): the ciphertext is everything from offset 69 on.', ['LookAlike'],
    updatedBytes(7, cat('01', fill(0xee, 70))), updatedExpected(7, cat('01', fill(0xee, 70))));

  // --- valid one-byte states (WIRE-4)
  add('wire-decode-notfound', ['WIRE-1', 'WIRE-4'], 'NotFound: exactly the byte 0x02.', [], cat('02'), { state: 'NotFound' });
  add('wire-decode-missingid', ['WIRE-1', 'WIRE-4'], 'MissingID: exactly the byte 0x03.', [], cat('03'), { state: 'MissingID' });
  add('wire-decode-missingproof', ['WIRE-1', 'WIRE-4'], 'MissingProof: exactly the byte 0x04.', [], cat('04'), { state: 'MissingProof' });
  add('wire-decode-invalidproof', ['WIRE-1', 'WIRE-4'], 'InvalidProof: exactly the byte 0x05.', [], cat('05'), { state: 'InvalidProof' });
  add('wire-decode-internalerror', ['WIRE-1', 'WIRE-4'], 'InternalError: exactly the byte 0x06.', [], cat('06'), { state: 'InternalError' });

  // --- Empty (WIRE-7)
  add('wire-decode-empty', ['WIRE-7', 'WIRE-11'], 'Zero bytes.', ['EdgeCase', 'Legacy321'], Buffer.alloc(0), 'Empty');

  // --- Success without ciphertext (WIRE-8)
  add('wire-decode-success-missing-ciphertext', ['WIRE-2', 'WIRE-8', 'WIRE-11'], 'Success of length 1: the ciphertext (at least the format byte) is missing. 3.2.1 decoded this as a Success without data.', ['EdgeCase', 'Legacy321'],
    cat('00'), 'MissingCiphertext');

  // --- Updated lengths (WIRE-8)
  add('wire-decode-updated-len-1', ['WIRE-3', 'WIRE-8', 'WIRE-11'], 'Updated of length 1 (the state byte alone) is shorter than the 69-byte header: Truncated (not MissingCiphertext).', ['EdgeCase', 'Legacy321'],
    cat('01'), 'Truncated');
  add('wire-decode-updated-len-2', ['WIRE-3', 'WIRE-8', 'WIRE-11'], 'Updated of length 2: one byte of the token.', ['EdgeCase', 'Legacy321'],
    cat('01', '01'), 'Truncated');
  add('wire-decode-updated-len-9', ['WIRE-3', 'WIRE-8', 'WIRE-11'], 'Updated of length 9: state and a complete token (1), nothing else.', ['EdgeCase', 'Legacy321'],
    cat('01', u64le(1)), 'Truncated');
  add('wire-decode-updated-len-41', ['WIRE-3', 'WIRE-8', 'WIRE-11'], 'Updated of length 41: state, token and key; iv, tag and ciphertext missing.', ['Legacy321'],
    cat('01', u64le(1), W_KEY), 'Truncated');
  add('wire-decode-updated-len-68', ['WIRE-3', 'WIRE-8', 'WIRE-11'], 'Updated of length 68: the header lacks the last tag byte.', ['EdgeCase', 'Legacy321'],
    updatedBytes(1, Buffer.alloc(0)).subarray(0, 68), 'Truncated');
  add('wire-decode-updated-len-69', ['WIRE-3', 'WIRE-8', 'WIRE-11'], 'Updated of length 69: complete header, no ciphertext.', ['EdgeCase', 'Legacy321'],
    updatedBytes(1, Buffer.alloc(0)), 'MissingCiphertext');

  // --- Token range (WIRE-10)
  add('wire-decode-updated-token-0', ['WIRE-3', 'WIRE-10', 'WIRE-11'], 'Updated with token 0 ("no token" is never sent as a version).', ['EdgeCase'],
    updatedBytes(0, unhex('5a')), 'TokenOutOfRange');
  add('wire-decode-updated-token-2pow53', ['WIRE-3', 'WIRE-10', 'WIRE-11'], 'Updated with token 2^53 = 9007199254740992 = MAX_TOKEN + 1. 3.2.1 decoded it through a double.', ['EdgeCase', 'Js53Bit', 'Legacy321'],
    updatedBytes(9007199254740992n, unhex('5a')), 'TokenOutOfRange');
  add('wire-decode-updated-token-2pow53-plus-1', ['WIRE-3', 'WIRE-10', 'WIRE-11'], 'Updated with token 2^53+1, which a double rounds to 2^53.', ['Js53Bit', 'Legacy321'],
    updatedBytes(9007199254740993n, unhex('5a')), 'TokenOutOfRange');
  add('wire-decode-updated-token-2pow63', ['WIRE-3', 'WIRE-10', 'WIRE-11'], 'Updated with token 2^63 (negative if read as a signed 64-bit integer).', ['Js53Bit'],
    updatedBytes(1n << 63n, unhex('5a')), 'TokenOutOfRange');
  add('wire-decode-updated-token-u64-max', ['WIRE-3', 'WIRE-10', 'WIRE-11'], 'Updated with token 2^64-1 (all token bytes ff; -1 as signed).', ['Js53Bit', 'Legacy321'],
    updatedBytes((1n << 64n) - 1n, unhex('5a')), 'TokenOutOfRange');
  add('wire-decode-updated-token-big-endian-1', ['WIRE-3', 'WIRE-10', 'WIRE-11'], 'Updated whose token bytes are 00 00 00 00 00 00 00 01: little-endian this is 2^56, out of range (a big-endian reader would see 1).', ['Js53Bit'],
    cat('01', '0000000000000001', W_KEY, W_IV, W_TAG, '5a'), 'TokenOutOfRange');

  // --- Precedence among length and token errors (WIRE-11)
  add('wire-decode-updated-len-69-token-0', ['WIRE-8', 'WIRE-10', 'WIRE-11'], 'Updated of length 69 with token 0: length checks come before the token check, so MissingCiphertext.', ['Precedence'],
    updatedBytes(0, Buffer.alloc(0)), 'MissingCiphertext');
  add('wire-decode-updated-len-68-token-0', ['WIRE-8', 'WIRE-10', 'WIRE-11'], 'Updated of length 68 (all zero after the state) with token 0: Truncated wins over TokenOutOfRange.', ['Precedence'],
    cat('01', fill(0, 67)), 'Truncated');
  add('wire-decode-updated-len-9-token-u64-max', ['WIRE-8', 'WIRE-10', 'WIRE-11'], 'Updated of length 9 with token 2^64-1: Truncated wins over TokenOutOfRange.', ['Precedence'],
    cat('01', fill(0xff, 8)), 'Truncated');

  // --- Reserved states 7..10 (WIRE-5)
  const reserved = [
    [7, 'invalidtoken', 'InvalidToken'],
    [8, 'unauthorized', 'Unauthorized'],
    [9, 'ratelimited', 'RateLimited'],
    [10, 'unsupportedformat', 'UnsupportedFormat'],
  ];
  for (const [s, slug, name] of reserved) {
    add(`wire-decode-reserved-${s}-${slug}`, ['WIRE-1', 'WIRE-5', 'WIRE-11'], `Reserved state ${s} (${name}) alone.`, ['Legacy321'],
      Buffer.from([s]), 'ReservedState');
  }
  add('wire-decode-reserved-7-trailing-1', ['WIRE-1', 'WIRE-5', 'WIRE-11'], 'Reserved state 7 followed by one byte: the state byte decides first.', ['Precedence'],
    cat('07', '00'), 'ReservedState');
  add('wire-decode-reserved-8-trailing-many', ['WIRE-1', 'WIRE-5', 'WIRE-11'], 'Reserved state 8 followed by 16 bytes.', ['Precedence'],
    cat('08', seq(0, 16)), 'ReservedState');
  add('wire-decode-reserved-9-updated-body', ['WIRE-1', 'WIRE-5', 'WIRE-11'], 'Reserved state 9 followed by a well-formed Updated body (token, key, iv, tag, ciphertext).', ['Precedence', 'LookAlike'],
    cat('09', updatedBytes(1, unhex('5a')).subarray(1)), 'ReservedState');
  add('wire-decode-reserved-10-trailing-1', ['WIRE-1', 'WIRE-5', 'WIRE-11'], 'Reserved state 10 followed by one byte 0x01.', ['Precedence'],
    cat('0a', '01'), 'ReservedState');

  // --- Unassigned states 11..255 (WIRE-6)
  for (const s of [11, 12, 127, 128, 200, 255]) {
    add(`wire-decode-unassigned-${s}`, ['WIRE-1', 'WIRE-6', 'WIRE-11'], `Unassigned state ${s} alone.`, s === 11 || s === 255 ? ['EdgeCase'] : [],
      Buffer.from([s]), 'UnassignedState');
  }
  add('wire-decode-unassigned-255-trailing-many', ['WIRE-1', 'WIRE-6', 'WIRE-11'], 'Unassigned state 255 followed by 69 bytes: the state byte decides first.', ['Precedence'],
    cat('ff', fill(0xff, 69)), 'UnassignedState');
  add('wire-decode-unassigned-11-success-body', ['WIRE-1', 'WIRE-6', 'WIRE-11'], 'Unassigned state 11 followed by a 1-byte ciphertext, shaped like a Success.', ['Precedence', 'LookAlike'],
    cat('0b', '5a'), 'UnassignedState');

  // --- Trailing bytes after one-byte states (WIRE-9)
  const oneByte = [
    [2, 'notfound', 'NotFound'],
    [3, 'missingid', 'MissingID'],
    [4, 'missingproof', 'MissingProof'],
    [5, 'invalidproof', 'InvalidProof'],
    [6, 'internalerror', 'InternalError'],
  ];
  for (const [s, slug, name] of oneByte) {
    add(`wire-decode-${slug}-trailing-1`, ['WIRE-4', 'WIRE-9', 'WIRE-11'], `${name} (${s}) followed by one extra byte 0x00. 3.2.1 ignored trailing bytes.`, ['Legacy321'],
      cat(Buffer.from([s]), '00'), 'TrailingBytes');
    add(`wire-decode-${slug}-trailing-many`, ['WIRE-4', 'WIRE-9', 'WIRE-11'], `${name} (${s}) followed by 69 extra bytes (the length of an Updated header).`, ['Legacy321'],
      cat(Buffer.from([s]), pattern(69)), 'TrailingBytes');
  }
  return out;
}

function wireEncodeVectors() {
  const out = [];
  const add = (id, reqs, comment, flags, payload, outputHex) => {
    const computed = encodeWire(payload);
    assertSame(id, outputHex, hex(computed));
    // Round trip: the expected bytes decode to the payload again.
    assertSame(id, payload, decodeWire(computed));
    out.push(vector(id, reqs, comment, flags, { payload, output_hex: outputHex }, 'valid'));
  };
  add('wire-encode-success-min', ['WIRE-12', 'WIRE-1', 'WIRE-2'], 'Success with a 1-byte ciphertext.', ['EdgeCase'],
    { state: 'Success', ciphertext_hex: '5a' }, '005a');
  add('wire-encode-success-ct-starts-with-01', ['WIRE-12', 'WIRE-2'], 'Success whose ciphertext starts with 0x01 is written unchanged after the state byte.', ['LookAlike'],
    { state: 'Success', ciphertext_hex: '01020304' }, '0001020304');
  add('wire-encode-success-ct-64-bytes', ['WIRE-12', 'WIRE-2'], 'Success with a 64-byte ciphertext.', [],
    { state: 'Success', ciphertext_hex: hex(pattern(64)) }, '00' + hex(pattern(64)));
  const upd = (token, ctHex) => ({ state: 'Updated', token, key_hex: hex(W_KEY), iv_hex: hex(W_IV), tag_hex: hex(W_TAG), ciphertext_hex: ctHex });
  const hdrTail = hex(W_KEY) + hex(W_IV) + hex(W_TAG);
  add('wire-encode-updated-token-1', ['WIRE-12', 'WIRE-1', 'WIRE-3'], 'Updated with token 1 (little-endian 01 00 00 00 00 00 00 00) and a 1-byte ciphertext: 70 bytes.', ['EdgeCase'],
    upd(1, '5a'), '01' + '0100000000000000' + hdrTail + '5a');
  add('wire-encode-updated-token-max', ['WIRE-12', 'WIRE-3', 'TOKEN-3'], 'Updated with token MAX_TOKEN = 9007199254740991 (ff ff ff ff ff ff 1f 00).', ['EdgeCase', 'Js53Bit'],
    upd(9007199254740991, '5a'), '01' + 'ffffffffffff1f00' + hdrTail + '5a');
  add('wire-encode-updated-token-realistic', ['WIRE-12', 'WIRE-3'], 'Updated with the millisecond-timestamp token 1732752000123 (0x1937011447b, little-endian 7b 44 11 70 93 01 00 00).', [],
    upd(1732752000123, 'c0ffee'), '01' + '7b44117093010000' + hdrTail + 'c0ffee');
  add('wire-encode-updated-token-256', ['WIRE-12', 'WIRE-3'], 'Updated with token 256 (00 01 00 00 00 00 00 00).', [],
    upd(256, '00'), '01' + '0001000000000000' + hdrTail + '00');
  add('wire-encode-updated-ct-32-bytes', ['WIRE-12', 'WIRE-3'], 'Updated with token 42 and a 32-byte ciphertext.', [],
    upd(42, hex(pattern(32))), '01' + '2a00000000000000' + hdrTail + hex(pattern(32)));
  add('wire-encode-notfound', ['WIRE-12', 'WIRE-1', 'WIRE-4'], 'NotFound is the single byte 02.', [], { state: 'NotFound' }, '02');
  add('wire-encode-missingid', ['WIRE-12', 'WIRE-1', 'WIRE-4'], 'MissingID is the single byte 03.', [], { state: 'MissingID' }, '03');
  add('wire-encode-missingproof', ['WIRE-12', 'WIRE-1', 'WIRE-4'], 'MissingProof is the single byte 04.', [], { state: 'MissingProof' }, '04');
  add('wire-encode-invalidproof', ['WIRE-12', 'WIRE-1', 'WIRE-4'], 'InvalidProof is the single byte 05.', [], { state: 'InvalidProof' }, '05');
  add('wire-encode-internalerror', ['WIRE-12', 'WIRE-1', 'WIRE-4'], 'InternalError is the single byte 06.', [], { state: 'InternalError' }, '06');
  return out;
}

// ---------------------------------------------------------------------------------------------
// §6 Image envelope: AES-256-GCM, no AAD, tag apart; plaintext = [format byte][image]
// ---------------------------------------------------------------------------------------------

function gcmSeal(key, iv, plaintext) {
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return { ct, tag: c.getAuthTag() };
}

// Spec §6 order of checks: MissingFormatByte (length 0, ENV-6), then Authentication (ENV-5),
// then UnknownFormat (FMT-2, only after authentication).
function openEnvelope(key, iv, ct, tag) {
  if (key.length !== 32 || iv.length !== 12 || tag.length !== 16) fail('openEnvelope: bad sizes in a vector');
  if (ct.length === 0) return { error: 'MissingFormatByte' };
  let pt;
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
    d.setAuthTag(tag);
    pt = Buffer.concat([d.update(ct), d.final()]);
  } catch {
    return { error: 'Authentication' };
  }
  const f = FORMAT_BY_BYTE.get(pt[0]);
  if (!f) return { error: 'UnknownFormat' };
  return { format: f.name, format_byte: f.byte, mime: f.mime, image_hex: hex(pt.subarray(1)) };
}

// Per-vector key and IV, derived from a fixed label so no two vectors share a (key, iv) (ENV-3).
const envKey = (label) => sha256(`pixstore/vectors/v1/envelope/key/${label}`);
const envIv = (label) => sha256(`pixstore/vectors/v1/envelope/iv/${label}`).subarray(0, 12);

// Small but realistic image prefixes (magic bytes + a few bytes).
const IMG = {
  png: cat('89504e470d0a1a0a', '0000000d49484452', '00000001000000010806000000'),
  webp: cat(Buffer.from('RIFF'), '1a000000', Buffer.from('WEBPVP8L'), '0d0000002f00000010071011118888fe0700'),
  jpg: cat('ffd8ffe000104a46494600010100000100010000', 'ffd9'),
  jpeg: cat('ffd8ffdb004300', seq(1, 8), 'ffd9'),
  gif: cat(Buffer.from('GIF89a'), '010001000000002c00000000010001000002024401003b'),
  bmp: cat(Buffer.from('BM'), '3a000000', '00000000', '36000000', '28000000'),
  tiff: cat('49492a00', '08000000', '0100', '000104000100000001000000'),
  ico: cat('00000100', '0100', '010100000100200030000000', '16000000'),
  heic: cat('00000018', Buffer.from('ftypheic'), '00000000', Buffer.from('mif1heic')),
  avif: cat('0000001c', Buffer.from('ftypavif'), '00000000', Buffer.from('avifmif1miaf')),
};

function envelopeVectors() {
  const out = [];
  const addValid = (id, reqs, comment, flags, format, image, keyOverride, ivOverride) => {
    const f = FORMAT_BY_NAME.get(format);
    const key = keyOverride || envKey(id);
    const iv = ivOverride || envIv(id);
    const { ct, tag } = gcmSeal(key, iv, cat([f.byte], image));
    if (ct.length !== image.length + 1) fail(`${id}: ENV-1 length`);
    const expected = { format: f.name, format_byte: f.byte, mime: f.mime, image_hex: hex(image) };
    assertSame(id, expected, openEnvelope(key, iv, ct, tag));
    out.push(vector(id, reqs, comment, flags, {
      key_hex: hex(key), iv_hex: hex(iv), format: f.name, format_byte: f.byte, mime: f.mime,
      image_hex: hex(image), ciphertext_hex: hex(ct), tag_hex: hex(tag),
    }, 'valid'));
    return { key, iv, ct, tag };
  };
  const addInvalid = (id, reqs, comment, flags, { key, iv, ct, tag }, error) => {
    assertSame(id, { error }, openEnvelope(key, iv, ct, tag));
    out.push(vector(id, reqs, comment, flags, {
      key_hex: hex(key), iv_hex: hex(iv), ciphertext_hex: hex(ct), tag_hex: hex(tag),
    }, 'invalid', { error }));
  };

  const baseReqs = ['ENV-1', 'ENV-2', 'ENV-4', 'FMT-1', 'FMT-3'];
  const png = addValid('envelope-format-1-png', baseReqs, 'Format byte 1 (png, image/png): PNG signature and the start of an IHDR chunk.', [], 'png', IMG.png);
  addValid('envelope-format-2-webp', baseReqs, 'Format byte 2 (webp, image/webp): RIFF/WEBP header.', [], 'webp', IMG.webp);
  addValid('envelope-format-3-jpg', [...baseReqs, 'FMT-4'], 'Format byte 3 (jpg): MIME is image/jpeg (3.2.1 said image/jpg).', ['Legacy321'], 'jpg', IMG.jpg);
  addValid('envelope-format-4-jpeg', [...baseReqs, 'FMT-4'], 'Format byte 4 (jpeg): readers accept it as well as 3; MIME image/jpeg. 3.2.1 could never produce it.', ['Legacy321'], 'jpeg', IMG.jpeg);
  addValid('envelope-format-5-gif', baseReqs, 'Format byte 5 (gif, image/gif): a 1x1 GIF89a.', [], 'gif', IMG.gif);
  addValid('envelope-format-6-bmp', baseReqs, 'Format byte 6 (bmp, image/bmp): BMP file header.', [], 'bmp', IMG.bmp);
  addValid('envelope-format-7-tiff', baseReqs, 'Format byte 7 (tiff, image/tiff): little-endian TIFF header.', [], 'tiff', IMG.tiff);
  addValid('envelope-format-8-ico', baseReqs, 'Format byte 8 (ico, image/vnd.microsoft.icon): ICO directory header.', [], 'ico', IMG.ico);
  addValid('envelope-format-9-heic', baseReqs, 'Format byte 9 (heic, image/heic): ISO-BMFF ftyp box with brand heic.', [], 'heic', IMG.heic);
  addValid('envelope-format-10-avif', baseReqs, 'Format byte 10 (avif, image/avif): ISO-BMFF ftyp box with brand avif.', [], 'avif', IMG.avif);
  addValid('envelope-empty-image', ['ENV-1', 'ENV-2', 'ENV-6', 'FMT-1', 'FMT-3'], 'Empty image: the plaintext is only the format byte (png), ciphertext 1 byte. The envelope layer accepts it.', ['EdgeCase'], 'png', Buffer.alloc(0));
  const big = addValid('envelope-image-1000-bytes', baseReqs, '1000-byte image (PNG signature followed by patterned bytes), ciphertext 1001 bytes.', [], 'png', cat('89504e470d0a1a0a', pattern(992)));
  addValid('envelope-zero-key-zero-iv', baseReqs, 'All-zero key and IV (legal for a test vector; real writers draw both from a CSPRNG, ENV-3).', ['EdgeCase'], 'gif', IMG.gif, fill(0, 32), fill(0, 12));

  // Tampering (ENV-5)
  const authReqs = ['ENV-2', 'ENV-4', 'ENV-5'];
  const flipBit = (b, i, bit = 0x01) => {
    const c = Buffer.from(b);
    c[i] ^= bit;
    return c;
  };
  addInvalid('envelope-tag-bit-flipped', authReqs, 'Envelope of envelope-format-1-png with the lowest bit of the first tag byte flipped.', ['Tampered'],
    { ...png, tag: flipBit(png.tag, 0) }, 'Authentication');
  addInvalid('envelope-tag-last-bit-flipped', authReqs, 'Envelope of envelope-format-1-png with the highest bit of the last tag byte flipped (all 16 bytes must be compared).', ['Tampered'],
    { ...png, tag: flipBit(png.tag, 15, 0x80) }, 'Authentication');
  addInvalid('envelope-tag-all-zero', authReqs, 'Envelope of envelope-format-1-png with an all-zero tag.', ['Tampered'],
    { ...png, tag: fill(0, 16) }, 'Authentication');
  addInvalid('envelope-ct-first-byte-flipped', authReqs, 'Envelope of envelope-format-1-png with one bit of the first ciphertext byte (the encrypted format byte) flipped: Authentication, not UnknownFormat.', ['Tampered', 'Precedence'],
    { ...png, ct: flipBit(png.ct, 0) }, 'Authentication');
  addInvalid('envelope-ct-last-byte-flipped', authReqs, 'Envelope of envelope-image-1000-bytes with one bit of the last ciphertext byte flipped.', ['Tampered'],
    { ...big, ct: flipBit(big.ct, big.ct.length - 1) }, 'Authentication');
  addInvalid('envelope-wrong-iv', authReqs, 'Envelope of envelope-format-1-png opened with another IV (lowest bit of the last IV byte flipped).', ['Tampered'],
    { ...png, iv: flipBit(png.iv, 11) }, 'Authentication');
  addInvalid('envelope-wrong-key', authReqs, 'Envelope of envelope-format-1-png opened with the key of envelope-format-2-webp.', ['Tampered'],
    { ...png, key: envKey('envelope-format-2-webp') }, 'Authentication');
  {
    const other = gcmSeal(png.key, png.iv, cat([1], IMG.png.subarray(0, 8)));
    addInvalid('envelope-tag-of-other-message', authReqs, 'Ciphertext of envelope-format-1-png with the (correct) tag of a different plaintext under the same key and IV.', ['Tampered'],
      { ...png, tag: other.tag }, 'Authentication');
  }
  addInvalid('envelope-ct-truncated-1', authReqs, 'Envelope of envelope-format-1-png with the last ciphertext byte removed.', ['Tampered'],
    { ...png, ct: png.ct.subarray(0, png.ct.length - 1) }, 'Authentication');
  addInvalid('envelope-ct-appended-1', authReqs, 'Envelope of envelope-format-1-png with one byte (00) appended to the ciphertext.', ['Tampered'],
    { ...png, ct: cat(png.ct, '00') }, 'Authentication');
  addInvalid('envelope-ct-with-tag-appended', authReqs, 'Ciphertext of envelope-format-1-png followed by its own tag (the 3.2.1 browser layout ct||tag), with the tag also given apart: the tag is never part of the ciphertext.', ['Tampered', 'Legacy321'],
    { ...png, ct: cat(png.ct, png.tag) }, 'Authentication');

  // Authentic plaintexts with a bad format byte (FMT-2) or none (ENV-6).
  const authentic = (id, plaintext) => {
    const key = envKey(id);
    const iv = envIv(id);
    const { ct, tag } = gcmSeal(key, iv, plaintext);
    return { key, iv, ct, tag };
  };
  addInvalid('envelope-unknown-format-0', ['ENV-5', 'FMT-1', 'FMT-2'], 'Authentic envelope whose format byte is 0 (reserved, never assigned): UnknownFormat after authentication.', ['EdgeCase'],
    authentic('envelope-unknown-format-0', cat([0], IMG.png)), 'UnknownFormat');
  addInvalid('envelope-unknown-format-11', ['ENV-5', 'FMT-1', 'FMT-2'], 'Authentic envelope whose format byte is 11, the first byte after the registry.', ['EdgeCase'],
    authentic('envelope-unknown-format-11', cat([11], IMG.png)), 'UnknownFormat');
  addInvalid('envelope-unknown-format-255', ['ENV-5', 'FMT-1', 'FMT-2'], 'Authentic envelope whose format byte is 255 and image is empty (plaintext ff).', ['EdgeCase'],
    authentic('envelope-unknown-format-255', cat([255])), 'UnknownFormat');
  addInvalid('envelope-empty-ciphertext', ['ENV-1', 'ENV-6'], 'Empty ciphertext with the correct tag of the empty plaintext: authentic, but without a format byte.', ['EdgeCase'],
    authentic('envelope-empty-ciphertext', Buffer.alloc(0)), 'MissingFormatByte');
  addInvalid('envelope-empty-ciphertext-wrong-tag', ['ENV-5', 'ENV-6'], 'Empty ciphertext with a wrong (all-zero) tag: the length check comes before decryption, so MissingFormatByte, not Authentication.', ['Precedence'],
    { key: envKey('envelope-empty-ciphertext-wrong-tag'), iv: envIv('envelope-empty-ciphertext-wrong-tag'), ct: Buffer.alloc(0), tag: fill(0, 16) }, 'MissingFormatByte');
  addInvalid('envelope-empty-ciphertext-tag-of-png', ['ENV-5', 'ENV-6'], 'Key, IV and tag of envelope-format-1-png with the ciphertext removed: MissingFormatByte.', ['Precedence', 'Tampered'],
    { ...png, ct: Buffer.alloc(0) }, 'MissingFormatByte');
  return out;
}

// ---------------------------------------------------------------------------------------------
// §8 Stateless proof v1
// ---------------------------------------------------------------------------------------------

// PUBLIC TEST KEYS. They are published in proof.json and MUST NEVER be used in production.
const PROOF_KEYS = {
  1: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', // bytes 0x00..0x1f
  2: '202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f', // bytes 0x20..0x3f
  3: 'c3b2414f23d4a5ca8132734c2dade889cf2e4fbaa0889ba8b9c4909431f6690b', // sha256("pixstore test key 3")
};
if (PROOF_KEYS[1] !== hex(seq(0x00, 32)) || PROOF_KEYS[2] !== hex(seq(0x20, 32)) || PROOF_KEYS[3] !== hex(sha256('pixstore test key 3'))) {
  fail('proof test keys do not match their documented derivation');
}
const keyOf = (kid) => unhex(PROOF_KEYS[kid]);
const PROOF_DOMAIN = Buffer.from('pixstore/proof/v1\u0000', 'latin1'); // "pixstore/proof/v1" || 0x00

// PROOF-4: tag over the first 14 bytes and the length-prefixed UTF-8 id.
function proofTag(key, head14, id) {
  const idb = Buffer.from(id, 'utf8');
  if (idb.length > 0xffff) fail('id too long for u16 length');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(idb.length);
  return createHmac('sha256', key).update(Buffer.concat([PROOF_DOMAIN, head14, len, idb])).digest().subarray(0, 16);
}

// PROOF-2: 30-byte layout. `macKid` chooses the key that computes the tag (defaults to kid).
function buildProof({ version = 1, flags = 0, kid, exp, id, macKid = kid }) {
  const b = Buffer.alloc(30);
  b[0] = version;
  b[1] = flags;
  b.writeUInt32BE(kid, 2);
  b.writeBigUInt64BE(BigInt(exp), 6);
  proofTag(keyOf(macKid), b.subarray(0, 14), id).copy(b, 14);
  return b;
}
const b64url = (b) => Buffer.from(b).toString('base64url'); // PROOF-3: no padding

// PROOF-6
function mintExp(now, W) {
  return (Math.floor(now / W) + 2) * W;
}
function mintProof(kid, id, now, W) {
  const exp = mintExp(now, W);
  return { text: b64url(buildProof({ kid, exp, id })), exp };
}

// PROOF-3, PROOF-5, PROOF-7, PROOF-9, PROOF-12, PROOF-14. Returns {valid:true} or {error}.
function verifyProof(ringKids, id, text, now, W, skew) {
  if (W === -1) return { valid: true }; // PROOF-14
  if (text === null || text === '') return { error: 'Missing' };
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]{40}$/.test(text)) return { error: 'Malformed' };
  const b = Buffer.from(text, 'base64url');
  if (b.length !== 30 || b64url(b) !== text) fail('base64url decoding is not canonical');
  if (b[0] !== 1 || b[1] !== 0) return { error: 'UnsupportedVersion' };
  const kid = b.readUInt32BE(2);
  if (kid === 0 || !ringKids.includes(kid)) return { error: 'UnknownKey' };
  const want = proofTag(keyOf(kid), b.subarray(0, 14), id);
  if (!timingSafeEqual(want, b.subarray(14, 30))) return { error: 'BadTag' };
  const exp = b.readBigUInt64BE(6); // arbitrary precision: no overflow in exp + skew
  const n = BigInt(now);
  if (n > exp + BigInt(skew)) return { error: 'Expired' };
  if (exp > n + 2n * BigInt(W) + BigInt(skew)) return { error: 'ExpiryTooFar' };
  return { valid: true };
}

const T0 = 1732752000000; // 2024-11-28T00:00:00.000Z, a multiple of 20000 and of 1000
const ID_A = 'q3Vt0n1BfGx9kR2aZc8YwA'; // 22-char server-generated style name
const ID_B = 'Zp0dQ7mW3xYvN8sLk2HcRg';
const ID_DIR = 'avatars:q3Vt0n1BfGx9kR2aZc8YwA';
const ID_MAX = 'd'.repeat(31) + '9' + ':' + 'N'.repeat(63) + 'z'; // 32 + 1 + 64 = 97 bytes
if (ID_MAX.length !== 97) fail('ID_MAX length');

function proofVectors() {
  const out = [];
  const W = 20000;
  const SKEW = 5000;
  const pushMint = (id, reqs, comment, flags, { keyring, windowMs = W, skewMs = SKEW, now, pid }, expectedExp, expectedProof) => {
    const m = mintProof(keyring[0], pid, now, windowMs);
    assertSame(id, expectedExp, m.exp);
    if (expectedProof !== undefined) assertSame(id, expectedProof, m.text);
    // A freshly minted proof verifies at the minting time (PROOF-6 / PROOF-9 consistency).
    assertSame(id, { valid: true }, verifyProof(keyring, pid, m.text, now, windowMs, skewMs));
    if (!(m.exp - now > windowMs - 1 && m.exp - now <= 2 * windowMs)) fail(`${id}: lifetime not within (W, 2W]`);
    out.push(vector(id, reqs, comment, flags, {
      op: 'mint', keyring, windowMs, skewMs, now, imageId: pid, expected_proof: m.text, expected_exp: m.exp,
    }, 'valid'));
    return m.text;
  };
  // expect: 'valid' or an error kind
  const pushVerify = (id, reqs, comment, flags, { keyring, windowMs = W, skewMs = SKEW, now, pid, proof }, expect) => {
    const computed = verifyProof(keyring, pid, proof, now, windowMs, skewMs);
    const data = { op: 'verify', keyring, windowMs, skewMs, now, imageId: pid, proof };
    if (expect === 'valid') {
      assertSame(id, { valid: true }, computed);
      out.push(vector(id, reqs, comment, flags, data, 'valid'));
    } else {
      assertSame(id, { error: expect }, computed);
      out.push(vector(id, reqs, comment, flags, data, 'invalid', { error: expect }));
    }
  };
  const mintReqs = ['PROOF-2', 'PROOF-3', 'PROOF-4', 'PROOF-6'];

  // ----- mint
  const pA0 = pushMint('proof-mint-window-start', mintReqs, 'Mint at the first millisecond of a window (now = 86637600 * W): exp = now + 2W.', ['EdgeCase'],
    { keyring: [1], now: T0, pid: ID_A }, T0 + 40000);
  const pA0mid = pushMint('proof-mint-window-middle', mintReqs, 'Mint in the middle of the same window: same exp and the same proof text as proof-mint-window-start.', [],
    { keyring: [1], now: T0 + 10000, pid: ID_A }, T0 + 40000, pA0);
  pushMint('proof-mint-window-last-ms', mintReqs, 'Mint at the last millisecond of the same window: still the same proof as proof-mint-window-start (lifetime W + 1 ms).', ['EdgeCase'],
    { keyring: [1], now: T0 + 19999, pid: ID_A }, T0 + 40000, pA0);
  if (pA0mid !== pA0) fail('same-window mints differ');
  const pA1 = pushMint('proof-mint-next-window-start', mintReqs, 'Mint at the first millisecond of the next window: exp moves by W, the proof changes.', ['EdgeCase'],
    { keyring: [1], now: T0 + 20000, pid: ID_A }, T0 + 60000);
  const pKid2 = pushMint('proof-mint-kid-2', [...mintReqs, 'PROOF-5'], 'Mint with signing key 2 (ring [2, 1]: the first kid signs).', [],
    { keyring: [2, 1], now: T0 + 1234, pid: ID_A }, T0 + 40000);
  const pKid3 = pushMint('proof-mint-kid-3', [...mintReqs, 'PROOF-5'], 'Mint with signing key 3.', [],
    { keyring: [3], now: T0 + 5000, pid: ID_A }, T0 + 40000);
  const pDir = pushMint('proof-mint-dir-prefix-id', mintReqs, 'Mint for an id with a dir prefix; the whole id (dir, colon, name) is MACed.', [],
    { keyring: [1], now: T0, pid: ID_DIR }, T0 + 40000);
  const pMax = pushMint('proof-mint-max-length-id', mintReqs, 'Mint for an id of the maximum length 97 (32-char dir, colon, 64-char name).', ['EdgeCase'],
    { keyring: [1], now: T0, pid: ID_MAX }, T0 + 40000);
  pushMint('proof-mint-one-char-id', mintReqs, 'Mint for the one-character id "a".', ['EdgeCase'],
    { keyring: [1], now: T0, pid: 'a' }, T0 + 40000);
  const pW1000 = pushMint('proof-mint-w1000', [...mintReqs, 'PROOF-11'], 'Mint with W = 1000 in the middle of a window: exp = 1732752002000.', [],
    { keyring: [1], windowMs: 1000, now: T0 + 500, pid: ID_A }, T0 + 2000);
  pushMint('proof-mint-w1000-last-ms', [...mintReqs, 'PROOF-11'], 'Mint with W = 1000 at the last millisecond of the window: same proof as proof-mint-w1000.', ['EdgeCase'],
    { keyring: [1], windowMs: 1000, now: T0 + 999, pid: ID_A }, T0 + 2000, pW1000);
  pushMint('proof-mint-w1', [...mintReqs, 'PROOF-11'], 'Mint with the smallest window W = 1: exp = now + 2.', ['EdgeCase'],
    { keyring: [1], windowMs: 1, now: T0 + 7, pid: ID_A }, T0 + 9);
  pushMint('proof-mint-w-one-day', [...mintReqs, 'PROOF-11'], 'Mint with W = 86400000 (one day), now 12:00 UTC: exp is midnight two days later.', [],
    { keyring: [1], windowMs: 86400000, now: T0 + 43200000, pid: ID_A }, T0 + 172800000);
  pushMint('proof-mint-w-not-dividing-now', [...mintReqs, 'PROOF-11'], 'Mint with W = 7001, which does not divide now (now mod W = 5358): windows count from the Unix epoch, floor(1732752000000 / 7001) = 247500642, exp = 247500644 * 7001 = 1732752008644 (not now + 2W).', [],
    { keyring: [1], windowMs: 7001, now: T0, pid: ID_A }, 1732752008644);

  // The worked example of spec §8.9, computed there independently of this generator.
  const ID_EX = 'avatars:Q2hhbmdlTWVQbGVhc2UwMQ';
  const pEx = pushMint('proof-mint-spec-worked-example', mintReqs, 'The worked example of spec section 8.9: kid 1, W 20000, now 1732752012345, id avatars:Q2hhbmdlTWVQbGVhc2UwMQ.', [],
    { keyring: [1], now: 1732752012345, pid: ID_EX }, 1732752040000, 'AQAAAAABAAABk3AR4ECOMxO_JgCtl6lZeKw46BLB');
  pushVerify('proof-verify-spec-worked-example-last-ms', ['PROOF-4', 'PROOF-7', 'PROOF-9'], 'The worked example of spec section 8.9 verified at 1732752045000 = exp + skew: valid.', ['EdgeCase'],
    { keyring: [1], now: 1732752045000, pid: ID_EX, proof: pEx }, 'valid');
  pushVerify('proof-verify-spec-worked-example-expired', ['PROOF-7', 'PROOF-9'], 'The worked example of spec section 8.9 verified at 1732752045001: Expired.', ['EdgeCase'],
    { keyring: [1], now: 1732752045001, pid: ID_EX, proof: pEx }, 'Expired');

  // ----- verify: validity window (PROOF-9)
  const vReqs = ['PROOF-7', 'PROOF-9'];
  pushVerify('proof-verify-at-mint-time', ['PROOF-4', 'PROOF-6', ...vReqs], 'The proof of proof-mint-window-start verified at its minting time.', [],
    { keyring: [1], now: T0, pid: ID_A, proof: pA0 }, 'valid');
  pushVerify('proof-verify-same-window', ['PROOF-4', ...vReqs], 'Verified later in the same window.', [],
    { keyring: [1], now: T0 + 15000, pid: ID_A, proof: pA0 }, 'valid');
  pushVerify('proof-verify-previous-window', ['PROOF-6', ...vReqs], 'Proof minted one window earlier (exp 1732752040000), verified in the following window: still valid.', [],
    { keyring: [1], now: T0 + 25000, pid: ID_A, proof: pA0 }, 'valid');
  pushVerify('proof-verify-at-exp', vReqs, 'Verified exactly at exp: valid.', ['EdgeCase'],
    { keyring: [1], now: T0 + 40000, pid: ID_A, proof: pA0 }, 'valid');
  pushVerify('proof-verify-at-exp-plus-skew', vReqs, 'Verified at exp + skew (5000): still valid.', ['EdgeCase'],
    { keyring: [1], now: T0 + 45000, pid: ID_A, proof: pA0 }, 'valid');
  pushVerify('proof-verify-expired-by-1ms', vReqs, 'Verified at exp + skew + 1: Expired.', ['EdgeCase'],
    { keyring: [1], now: T0 + 45001, pid: ID_A, proof: pA0 }, 'Expired');
  pushVerify('proof-verify-long-expired', vReqs, 'Verified one day after minting: Expired.', [],
    { keyring: [1], now: T0 + 86400000, pid: ID_A, proof: pA0 }, 'Expired');
  pushVerify('proof-verify-skew-0-at-exp', vReqs, 'skew 0, verified exactly at exp: valid.', ['EdgeCase'],
    { keyring: [1], skewMs: 0, now: T0 + 40000, pid: ID_A, proof: pA0 }, 'valid');
  pushVerify('proof-verify-skew-0-expired-by-1ms', vReqs, 'skew 0, verified at exp + 1: Expired.', ['EdgeCase'],
    { keyring: [1], skewMs: 0, now: T0 + 40001, pid: ID_A, proof: pA0 }, 'Expired');
  pushVerify('proof-verify-skew-60000-at-limit', vReqs, 'The largest skew 60000, verified at exp + 60000: valid.', ['EdgeCase'],
    { keyring: [1], skewMs: 60000, now: T0 + 100000, pid: ID_A, proof: pA0 }, 'valid');
  pushVerify('proof-verify-skew-60000-expired', vReqs, 'The largest skew 60000, verified at exp + 60001: Expired.', ['EdgeCase'],
    { keyring: [1], skewMs: 60000, now: T0 + 100001, pid: ID_A, proof: pA0 }, 'Expired');
  pushVerify('proof-verify-minted-next-window-late', vReqs, 'Proof minted in the next window (another server clock ahead by 1 ms) verified at the last ms of the current window: exp = now + 2W + 1 <= now + 2W + skew, valid.', [],
    { keyring: [1], now: T0 + 19999, pid: ID_A, proof: pA1 }, 'valid');
  pushVerify('proof-verify-minted-next-window-early', vReqs, 'Proof minted in the next window (exp 1732752060000) verified at the start of the current one: exp > now + 2W + skew, ExpiryTooFar.', [],
    { keyring: [1], now: T0, pid: ID_A, proof: pA1 }, 'ExpiryTooFar');
  {
    const exp = T0 + 45000; // now + 2W + skew
    pushVerify('proof-verify-exp-at-too-far-limit', vReqs, 'Correctly MACed proof (kid 1) with exp = now + 2W + skew exactly: valid.', ['EdgeCase'],
      { keyring: [1], now: T0, pid: ID_A, proof: b64url(buildProof({ kid: 1, exp, id: ID_A })) }, 'valid');
    pushVerify('proof-verify-exp-too-far-by-1ms', vReqs, 'Correctly MACed proof with exp = now + 2W + skew + 1: ExpiryTooFar.', ['EdgeCase'],
      { keyring: [1], now: T0, pid: ID_A, proof: b64url(buildProof({ kid: 1, exp: exp + 1, id: ID_A })) }, 'ExpiryTooFar');
  }
  pushVerify('proof-verify-exp-far-future', vReqs, 'Correctly MACed proof with exp ten days ahead (a mis-minted proof): ExpiryTooFar.', [],
    { keyring: [1], now: T0, pid: ID_A, proof: b64url(buildProof({ kid: 1, exp: T0 + 864000000, id: ID_A })) }, 'ExpiryTooFar');
  pushVerify('proof-verify-exp-u64-max', vReqs, 'Correctly MACed proof with exp = 2^64-1: ExpiryTooFar. exp + skew must not overflow (wrap-around would give Expired).', ['EdgeCase'],
    { keyring: [1], now: T0, pid: ID_A, proof: b64url(buildProof({ kid: 1, exp: (1n << 64n) - 1n, id: ID_A })) }, 'ExpiryTooFar');
  pushVerify('proof-verify-exp-in-seconds', vReqs, 'Correctly MACed proof whose exp was written in seconds (1732752040) instead of milliseconds: Expired.', [],
    { keyring: [1], now: T0, pid: ID_A, proof: b64url(buildProof({ kid: 1, exp: 1732752040, id: ID_A })) }, 'Expired');
  pushVerify('proof-verify-exp-0', vReqs, 'Correctly MACed proof with exp = 0: Expired.', ['EdgeCase'],
    { keyring: [1], now: T0, pid: ID_A, proof: b64url(buildProof({ kid: 1, exp: 0, id: ID_A })) }, 'Expired');

  // ----- W = 1000 (PROOF-11)
  pushVerify('proof-verify-w1000-at-exp', [...vReqs, 'PROOF-11'], 'W = 1000, skew 0: the proof of proof-mint-w1000 verified exactly at its exp: valid.', ['EdgeCase'],
    { keyring: [1], windowMs: 1000, skewMs: 0, now: T0 + 2000, pid: ID_A, proof: pW1000 }, 'valid');
  pushVerify('proof-verify-w1000-expired', [...vReqs, 'PROOF-11'], 'W = 1000, skew 0: verified at exp + 1: Expired.', ['EdgeCase'],
    { keyring: [1], windowMs: 1000, skewMs: 0, now: T0 + 2001, pid: ID_A, proof: pW1000 }, 'Expired');
  pushVerify('proof-verify-w1000-previous-window', [...vReqs, 'PROOF-11'], 'W = 1000, skew 5000: verified 1.3 s after minting (the next window): valid.', [],
    { keyring: [1], windowMs: 1000, now: T0 + 1800, pid: ID_A, proof: pW1000 }, 'valid');
  pushVerify('proof-verify-w1000-proof-from-w20000', [...vReqs, 'PROOF-11'], 'A proof minted with W = 20000 (exp now + 40000) checked by a verifier configured with W = 1000, skew 5000: ExpiryTooFar.', [],
    { keyring: [1], windowMs: 1000, now: T0, pid: ID_A, proof: pA0 }, 'ExpiryTooFar');

  // ----- id binding (PROOF-4, PROOF-12)
  const bReqs = ['PROOF-4', 'PROOF-7', 'PROOF-12'];
  pushVerify('proof-verify-wrong-id', bReqs, 'Proof for q3Vt0n1BfGx9kR2aZc8YwA presented for another id: BadTag.', [],
    { keyring: [1], now: T0 + 5000, pid: ID_B, proof: pA0 }, 'BadTag');
  pushVerify('proof-verify-id-case-differs', bReqs, 'Proof for q3Vt0n1BfGx9kR2aZc8YwA presented for Q3VT0N1BFGX9KR2AZC8YWA: ids are case-sensitive, BadTag.', [],
    { keyring: [1], now: T0 + 5000, pid: ID_A.toUpperCase(), proof: pA0 }, 'BadTag');
  pushVerify('proof-verify-id-one-char-case-differs', bReqs, 'Proof for q3Vt0n1BfGx9kR2aZc8YwA presented for Q3Vt0n1BfGx9kR2aZc8YwA (first letter upper case): BadTag.', [],
    { keyring: [1], now: T0 + 5000, pid: 'Q' + ID_A.slice(1), proof: pA0 }, 'BadTag');
  pushVerify('proof-verify-dir-prefix-id', bReqs, 'The proof of proof-mint-dir-prefix-id verified for the same id: valid.', [],
    { keyring: [1], now: T0 + 5000, pid: ID_DIR, proof: pDir }, 'valid');
  pushVerify('proof-verify-dir-prefix-dropped', bReqs, 'The proof for avatars:q3Vt0n1BfGx9kR2aZc8YwA presented for the bare name: BadTag.', [],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: pDir }, 'BadTag');
  pushVerify('proof-verify-dir-prefix-other-dir', bReqs, 'The proof for avatars:q3Vt0n1BfGx9kR2aZc8YwA presented for banners:q3Vt0n1BfGx9kR2aZc8YwA: BadTag.', [],
    { keyring: [1], now: T0 + 5000, pid: 'banners:' + ID_A, proof: pDir }, 'BadTag');
  pushVerify('proof-verify-bare-proof-for-dir-id', bReqs, 'The proof for the bare name presented for avatars:q3Vt0n1BfGx9kR2aZc8YwA: BadTag.', [],
    { keyring: [1], now: T0 + 5000, pid: ID_DIR, proof: pA0 }, 'BadTag');
  pushVerify('proof-verify-max-length-id', bReqs, 'The proof of proof-mint-max-length-id verified for the same 97-byte id: valid.', ['EdgeCase'],
    { keyring: [1], now: T0 + 5000, pid: ID_MAX, proof: pMax }, 'valid');
  pushVerify('proof-verify-id-with-extra-char', bReqs, 'Proof for q3Vt0n1BfGx9kR2aZc8YwA presented for q3Vt0n1BfGx9kR2aZc8YwAx (one more character): BadTag.', [],
    { keyring: [1], now: T0 + 5000, pid: ID_A + 'x', proof: pA0 }, 'BadTag');

  // ----- keyring (PROOF-5, PROOF-10)
  const kReqs = ['PROOF-5', 'PROOF-7', 'PROOF-10'];
  pushVerify('proof-verify-unknown-kid', kReqs, 'Proof by kid 3 (proof-mint-kid-3), verifier ring [1, 2]: UnknownKey.', [],
    { keyring: [1, 2], now: T0 + 5000, pid: ID_A, proof: pKid3 }, 'UnknownKey');
  pushVerify('proof-verify-empty-keyring', kReqs, 'Empty keyring: every proof is rejected (fail closed), here a correct kid-1 proof: UnknownKey.', ['EdgeCase'],
    { keyring: [], now: T0 + 5000, pid: ID_A, proof: pA0 }, 'UnknownKey');
  pushVerify('proof-verify-rotation-old-kid', kReqs, 'Rotation: proof by kid 1, verifier ring [2, 1] (2 signs now, 1 still accepted): valid.', [],
    { keyring: [2, 1], now: T0 + 5000, pid: ID_A, proof: pA0 }, 'valid');
  pushVerify('proof-verify-rotation-new-kid', kReqs, 'Rotation: proof by kid 2 (proof-mint-kid-2), verifier ring [2, 1]: valid.', [],
    { keyring: [2, 1], now: T0 + 5000, pid: ID_A, proof: pKid2 }, 'valid');
  pushVerify('proof-verify-new-kid-old-ring', kReqs, 'Proof by kid 2 reaching a verifier that only knows kid 1 (rotation rolled out in the wrong order): UnknownKey.', [],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: pKid2 }, 'UnknownKey');
  pushVerify('proof-verify-kid-removed', kReqs, 'Proof by kid 1 after kid 1 left the ring (ring [2]): UnknownKey.', [],
    { keyring: [2], now: T0 + 5000, pid: ID_A, proof: pA0 }, 'UnknownKey');
  pushVerify('proof-verify-kid-relabeled', [...kReqs, 'PROOF-4'], 'Proof tagged with key 1 but whose kid field says 2, ring [1, 2]: the kid is MACed and selects key 2, BadTag.', ['Tampered'],
    { keyring: [1, 2], now: T0 + 5000, pid: ID_A, proof: b64url(buildProof({ kid: 2, macKid: 1, exp: T0 + 40000, id: ID_A })) }, 'BadTag');
  pushVerify('proof-verify-kid-0', [...kReqs, 'PROOF-2'], 'kid 0 (invalid, never in a ring), tag computed with key 1, ring [1, 2]: UnknownKey (a verifier must not fall back to a default key).', ['EdgeCase'],
    { keyring: [1, 2], now: T0 + 5000, pid: ID_A, proof: b64url(buildProof({ kid: 0, macKid: 1, exp: T0 + 40000, id: ID_A })) }, 'UnknownKey');
  pushVerify('proof-verify-kid-u32-max', [...kReqs, 'PROOF-2'], 'kid 4294967295 (0xffffffff), tag computed with key 1, ring [1, 2, 3]: UnknownKey.', ['EdgeCase'],
    { keyring: [1, 2, 3], now: T0 + 5000, pid: ID_A, proof: b64url(buildProof({ kid: 0xffffffff, macKid: 1, exp: T0 + 40000, id: ID_A })) }, 'UnknownKey');
  pushVerify('proof-verify-kid-257', [...kReqs, 'PROOF-2'], 'kid 257 (00 00 01 01 big-endian), tag computed with key 1, ring [1]: UnknownKey (a reader of only the last kid byte would see 1).', [],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: b64url(buildProof({ kid: 257, macKid: 1, exp: T0 + 40000, id: ID_A })) }, 'UnknownKey');

  // ----- tampering (PROOF-4, PROOF-8)
  const raw = Buffer.from(pA0, 'base64url');
  const flipped = (i, bit = 0x01) => {
    const c = Buffer.from(raw);
    c[i] ^= bit;
    return b64url(c);
  };
  const tReqs = ['PROOF-4', 'PROOF-7', 'PROOF-8'];
  for (const [i, pos] of [[14, 'first'], [21, 'eighth'], [22, 'ninth'], [29, 'last']]) {
    pushVerify(`proof-verify-tag-byte-${i - 14}-flipped`, tReqs, `The proof of proof-mint-window-start with one bit of the ${pos} tag byte (offset ${i}) flipped: BadTag (all 16 bytes are compared).`, ['Tampered'],
      { keyring: [1], now: T0 + 5000, pid: ID_A, proof: flipped(i) }, 'BadTag');
  }
  pushVerify('proof-verify-exp-low-byte-flipped', [...tReqs, 'PROOF-9'], 'The proof of proof-mint-window-start with the lowest exp byte (offset 13) changed, exp still in range: exp is MACed, BadTag.', ['Tampered'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: flipped(13) }, 'BadTag');
  pushVerify('proof-verify-exp-high-byte-flipped', [...tReqs, 'PROOF-9'], 'The proof of proof-mint-window-start with the highest exp byte (offset 6) flipped, making exp far in the future: the tag is checked before expiry, BadTag (not ExpiryTooFar).', ['Tampered', 'Precedence'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: flipped(6, 0x80) }, 'BadTag');
  pushVerify('proof-verify-expired-and-wrong-id', [...tReqs, 'PROOF-9', 'PROOF-12'], 'Expired proof presented for another id: the tag is checked first, BadTag (not Expired).', ['Precedence'],
    { keyring: [1], now: T0 + 86400000, pid: ID_B, proof: pA0 }, 'BadTag');
  pushVerify('proof-verify-unknown-kid-and-expired', [...kReqs, 'PROOF-9'], 'Expired proof by kid 3, ring [1, 2]: UnknownKey (kid lookup comes before tag and expiry).', ['Precedence'],
    { keyring: [1, 2], now: T0 + 86400000, pid: ID_A, proof: pKid3 }, 'UnknownKey');

  // ----- version and flags (PROOF-2)
  const uReqs = ['PROOF-2', 'PROOF-7'];
  pushVerify('proof-verify-version-2', uReqs, 'Version byte 2 (tag correctly computed over the modified header): UnsupportedVersion.', [],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: b64url(buildProof({ version: 2, kid: 1, exp: T0 + 40000, id: ID_A })) }, 'UnsupportedVersion');
  pushVerify('proof-verify-version-0', uReqs, 'Version byte 0 (tag correctly computed): UnsupportedVersion.', ['EdgeCase'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: b64url(buildProof({ version: 0, kid: 1, exp: T0 + 40000, id: ID_A })) }, 'UnsupportedVersion');
  pushVerify('proof-verify-version-255', uReqs, 'Version byte 255 (tag correctly computed): UnsupportedVersion.', ['EdgeCase'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: b64url(buildProof({ version: 255, kid: 1, exp: T0 + 40000, id: ID_A })) }, 'UnsupportedVersion');
  pushVerify('proof-verify-flags-1', uReqs, 'Flags byte 1 (tag correctly computed): flags MUST be zero, UnsupportedVersion.', [],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: b64url(buildProof({ flags: 1, kid: 1, exp: T0 + 40000, id: ID_A })) }, 'UnsupportedVersion');
  pushVerify('proof-verify-flags-80', uReqs, 'Flags byte 0x80 (tag correctly computed): UnsupportedVersion.', [],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: b64url(buildProof({ flags: 0x80, kid: 1, exp: T0 + 40000, id: ID_A })) }, 'UnsupportedVersion');
  pushVerify('proof-verify-version-2-unknown-kid', uReqs, 'Version 2 and kid 9 (not in the ring): UnsupportedVersion comes before the kid lookup.', ['Precedence'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: b64url(buildProof({ version: 2, kid: 9, macKid: 1, exp: T0 + 40000, id: ID_A })) }, 'UnsupportedVersion');

  // ----- text syntax (PROOF-3)
  const sReqs = ['PROOF-3', 'PROOF-7'];
  if (!/[-_]/.test(pA0)) fail('pA0 should contain - or _ for the standard-base64 vector');
  const std = raw.toString('base64');
  if (std === pA0 || std.length !== 40) fail('standard base64 should differ from base64url for pA0');
  pushVerify('proof-verify-39-chars', sReqs, 'The proof of proof-mint-window-start without its last character (39 chars): Malformed.', ['EdgeCase'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: pA0.slice(0, 39) }, 'Malformed');
  pushVerify('proof-verify-41-chars', sReqs, 'The proof of proof-mint-window-start followed by "A" (41 chars): Malformed.', ['EdgeCase'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: pA0 + 'A' }, 'Malformed');
  pushVerify('proof-verify-padded-40', sReqs, 'The first 39 characters of the proof followed by "=" (40 chars): Malformed.', ['NonCanonical'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: pA0.slice(0, 39) + '=' }, 'Malformed');
  pushVerify('proof-verify-padded-41', sReqs, 'The full proof followed by "=" (41 chars): Malformed.', ['NonCanonical'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: pA0 + '=' }, 'Malformed');
  pushVerify('proof-verify-standard-base64', sReqs, 'The same 30 bytes in standard base64 ("_" becomes "/"): Malformed, only the base64url alphabet is accepted.', ['NonCanonical'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: std }, 'Malformed');
  pushVerify('proof-verify-plus-char', sReqs, 'The proof with its 20th character replaced by "+": Malformed.', ['NonCanonical'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: pA0.slice(0, 19) + '+' + pA0.slice(20) }, 'Malformed');
  pushVerify('proof-verify-slash-char', sReqs, 'The proof with its last character replaced by "/": Malformed.', ['NonCanonical'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: pA0.slice(0, 39) + '/' }, 'Malformed');
  pushVerify('proof-verify-space-inside', sReqs, 'The proof with its 20th character replaced by a space (40 chars): Malformed.', ['NonCanonical'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: pA0.slice(0, 19) + ' ' + pA0.slice(20) }, 'Malformed');
  pushVerify('proof-verify-leading-space', sReqs, 'The proof preceded by a space (41 chars): Malformed (the verifier does not trim).', ['NonCanonical'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: ' ' + pA0 }, 'Malformed');
  pushVerify('proof-verify-trailing-newline', sReqs, 'The proof followed by a line feed (41 chars): Malformed (a regex anchor "$" that matches before a final newline fails here).', ['NonCanonical'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: pA0 + '\n' }, 'Malformed');
  pushVerify('proof-verify-tab-inside', sReqs, 'The proof with its first character replaced by a tab: Malformed.', ['NonCanonical'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: '\t' + pA0.slice(1) }, 'Malformed');
  pushVerify('proof-verify-non-ascii-char', sReqs, 'The proof with its last character replaced by "é" (40 characters, 41 UTF-8 bytes): Malformed.', ['Unicode'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: pA0.slice(0, 39) + 'é' }, 'Malformed');
  pushVerify('proof-verify-two-proofs-joined', sReqs, 'Two proofs joined by a comma (as a repeated header folded into one value): Malformed.', [],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: pA0 + ',' + pA0 }, 'Malformed');
  pushVerify('proof-verify-legacy-321-proof', sReqs, 'A 3.2.1-style proof (12 chars of standard base64 with padding): Malformed.', ['Legacy321'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: 'q83vEjRWeJA=' }, 'Malformed');
  pushVerify('proof-verify-hex-text', sReqs, 'The 30 proof bytes as 60 hex digits instead of base64url: Malformed.', [],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: raw.toString('hex') }, 'Malformed');
  pushVerify('proof-verify-malformed-and-expired', sReqs, 'A 39-char prefix of a long-expired proof: Malformed (syntax is checked before anything else).', ['Precedence'],
    { keyring: [1], now: T0 + 86400000, pid: ID_A, proof: pA0.slice(0, 39) }, 'Malformed');
  pushVerify('proof-verify-null', ['PROOF-7'], 'No proof at all (header absent): Missing.', [],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: null }, 'Missing');
  pushVerify('proof-verify-empty', ['PROOF-7'], 'Empty proof text (header present but empty): Missing.', ['EdgeCase'],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: '' }, 'Missing');
  pushVerify('proof-verify-empty-with-empty-keyring', ['PROOF-5', 'PROOF-7'], 'Empty proof text and an empty keyring: Missing (the text is examined first).', ['Precedence'],
    { keyring: [], now: T0 + 5000, pid: ID_A, proof: '' }, 'Missing');
  pushVerify('proof-verify-all-a', sReqs.concat(['PROOF-2']), '40 times "A" (30 zero bytes): syntax fine, version 0: UnsupportedVersion.', [],
    { keyring: [1], now: T0 + 5000, pid: ID_A, proof: 'A'.repeat(40) }, 'UnsupportedVersion');

  // ----- validation disabled (PROOF-14)
  const dReqs = ['PROOF-11', 'PROOF-14'];
  pushVerify('proof-verify-disabled-null', dReqs, 'W = -1 and no proof: valid (validation disabled).', ['ValidationDisabled'],
    { keyring: [1], windowMs: -1, now: T0 + 5000, pid: ID_A, proof: null }, 'valid');
  pushVerify('proof-verify-disabled-empty', dReqs, 'W = -1 and an empty proof: valid.', ['ValidationDisabled'],
    { keyring: [1], windowMs: -1, now: T0 + 5000, pid: ID_A, proof: '' }, 'valid');
  pushVerify('proof-verify-disabled-garbage', dReqs, 'W = -1 and a garbage proof: valid.', ['ValidationDisabled'],
    { keyring: [1], windowMs: -1, now: T0 + 5000, pid: ID_A, proof: 'not a proof at all' }, 'valid');
  pushVerify('proof-verify-disabled-expired-wrong-id', dReqs, 'W = -1 and a well-formed proof for another id, long expired: valid (nothing is checked).', ['ValidationDisabled'],
    { keyring: [1], windowMs: -1, now: T0 + 86400000, pid: ID_B, proof: pA0 }, 'valid');
  pushVerify('proof-verify-disabled-empty-keyring', dReqs, 'W = -1 with an empty keyring and no proof: valid (the fail-closed rule of an empty keyring applies only when validation is on).', ['ValidationDisabled'],
    { keyring: [], windowMs: -1, now: T0 + 5000, pid: ID_A, proof: null }, 'valid');
  return out;
}

// ---------------------------------------------------------------------------------------------
// §5 Token header/query text (TOKEN-5)
// ---------------------------------------------------------------------------------------------

function parseTokenHeader(s) {
  if (s === '') return { error: 'Empty' };
  if (!/^[0-9]+$/.test(s)) return { error: 'InvalidCharacter' }; // ASCII digits only
  if (s.length > 1 && s[0] === '0') return { error: 'LeadingZero' };
  if (s.length > 16 || BigInt(s) > MAX_TOKEN) return { error: 'OutOfRange' };
  return { value: Number(s) };
}

function tokenHeaderVectors() {
  const out = [];
  const add = (id, reqs, comment, flags, input, expect) => {
    const computed = parseTokenHeader(input);
    if (typeof expect === 'number') {
      assertSame(id, { value: expect }, computed);
      out.push(vector(id, reqs, comment, flags, { input }, 'valid', { value: expect }));
    } else {
      assertSame(id, { error: expect }, computed);
      out.push(vector(id, reqs, comment, flags, { input }, 'invalid', { error: expect }));
    }
  };
  const R = ['TOKEN-5'];
  add('token-header-zero', ['TOKEN-5', 'TOKEN-1'], '"0" is valid and means "no token".', ['EdgeCase'], '0', 0);
  add('token-header-one', ['TOKEN-5', 'TOKEN-1'], 'Smallest real token.', ['EdgeCase'], '1', 1);
  add('token-header-nine', R, 'Largest one-digit value.', [], '9', 9);
  add('token-header-ten', R, 'A multi-digit value containing a zero (not leading).', [], '10', 10);
  add('token-header-42', R, 'A small value.', [], '42', 42);
  add('token-header-timestamp', R, 'A millisecond-timestamp token.', [], '1732752000123', 1732752000123);
  add('token-header-16-digits', R, 'Smallest 16-digit value 1000000000000000 (16 digits is the longest length that can be in range).', ['EdgeCase'], '1000000000000000', 1000000000000000);
  add('token-header-max-minus-1', ['TOKEN-5', 'TOKEN-3'], 'MAX_TOKEN - 1.', ['Js53Bit'], '9007199254740990', 9007199254740990);
  add('token-header-max', ['TOKEN-5', 'TOKEN-3'], 'MAX_TOKEN = 2^53-1, the largest accepted value.', ['EdgeCase', 'Js53Bit'], '9007199254740991', 9007199254740991);
  add('token-header-max-plus-1', ['TOKEN-5', 'TOKEN-3'], '2^53 = MAX_TOKEN + 1 (16 digits): OutOfRange.', ['EdgeCase', 'Js53Bit'], '9007199254740992', 'OutOfRange');
  add('token-header-max-plus-2', ['TOKEN-5', 'TOKEN-3'], '2^53 + 1, which parsing through a double rounds to 2^53: OutOfRange.', ['Js53Bit'], '9007199254740993', 'OutOfRange');
  add('token-header-16-nines', ['TOKEN-5', 'TOKEN-3'], '9999999999999999 (16 digits, above MAX_TOKEN): OutOfRange.', ['Js53Bit'], '9999999999999999', 'OutOfRange');
  add('token-header-17-digits', ['TOKEN-5', 'TOKEN-3'], '10000000000000000 (17 digits): OutOfRange.', ['Js53Bit'], '10000000000000000', 'OutOfRange');
  add('token-header-u64-max', ['TOKEN-5', 'TOKEN-3'], '2^64-1 (fits in u64, above MAX_TOKEN): OutOfRange.', ['Js53Bit'], '18446744073709551615', 'OutOfRange');
  add('token-header-u64-max-plus-1', ['TOKEN-5', 'TOKEN-3'], '2^64 (overflows u64): OutOfRange, not a wrapped value.', ['Js53Bit'], '18446744073709551616', 'OutOfRange');
  add('token-header-23-digits', ['TOKEN-5', 'TOKEN-3'], '23 nines: OutOfRange.', ['Js53Bit'], '99999999999999999999999', 'OutOfRange');
  add('token-header-empty', R, 'Empty string: Empty.', ['EdgeCase'], '', 'Empty');
  add('token-header-leading-space', R, 'Leading space: InvalidCharacter.', ['NonCanonical', 'Legacy321'], ' 1', 'InvalidCharacter');
  add('token-header-trailing-space', R, 'Trailing space: InvalidCharacter.', ['NonCanonical', 'Legacy321'], '1 ', 'InvalidCharacter');
  add('token-header-leading-tab', R, 'Leading tab: InvalidCharacter.', ['NonCanonical', 'Legacy321'], '\t1', 'InvalidCharacter');
  add('token-header-space-only', R, 'A single space (not Empty: the parser does not trim).', ['NonCanonical', 'Legacy321'], ' ', 'InvalidCharacter');
  add('token-header-plus-sign', R, 'Plus sign: InvalidCharacter.', ['NonCanonical', 'Legacy321'], '+1', 'InvalidCharacter');
  add('token-header-minus-sign', R, 'Negative value: InvalidCharacter.', ['Legacy321'], '-1', 'InvalidCharacter');
  add('token-header-minus-zero', R, '"-0": InvalidCharacter.', ['NonCanonical', 'Legacy321'], '-0', 'InvalidCharacter');
  add('token-header-hex', R, 'Hexadecimal "0x1a": InvalidCharacter (wins over LeadingZero).', ['Legacy321', 'Precedence'], '0x1a', 'InvalidCharacter');
  add('token-header-exponent', R, 'Exponent "1e3": InvalidCharacter.', ['NonCanonical', 'Legacy321'], '1e3', 'InvalidCharacter');
  add('token-header-decimal-point', R, 'Decimal point "1.0": InvalidCharacter.', ['NonCanonical', 'Legacy321'], '1.0', 'InvalidCharacter');
  add('token-header-comma', R, 'Two values joined by a comma (a repeated header folded into one): InvalidCharacter.', [], '1,2', 'InvalidCharacter');
  add('token-header-underscore', R, 'Digit separator "1_000": InvalidCharacter.', ['NonCanonical'], '1_000', 'InvalidCharacter');
  add('token-header-leading-zero', R, '"01": LeadingZero.', ['NonCanonical', 'Legacy321'], '01', 'LeadingZero');
  add('token-header-double-zero', R, '"00": LeadingZero.', ['NonCanonical', 'Legacy321'], '00', 'LeadingZero');
  add('token-header-007', R, '"007": LeadingZero.', ['NonCanonical', 'Legacy321'], '007', 'LeadingZero');
  add('token-header-leading-zero-17-digits', R, '"0" followed by the 16 digits of MAX_TOKEN (17 digits): LeadingZero is checked before the range.', ['Precedence', 'NonCanonical'], '09007199254740991', 'LeadingZero');
  add('token-header-leading-zero-and-letter', R, '"01a": InvalidCharacter wins over LeadingZero.', ['Precedence'], '01a', 'InvalidCharacter');
  add('token-header-letters', R, '"abc": InvalidCharacter.', [], 'abc', 'InvalidCharacter');
  add('token-header-nan', R, '"NaN": InvalidCharacter.', ['Legacy321'], 'NaN', 'InvalidCharacter');
  add('token-header-infinity', R, '"Infinity": InvalidCharacter.', ['Legacy321'], 'Infinity', 'InvalidCharacter');
  add('token-header-20-digits-and-letter', R, '20 digits followed by "x": InvalidCharacter wins over length/OutOfRange.', ['Precedence'], '18446744073709551615x', 'InvalidCharacter');
  add('token-header-fullwidth-digit', R, 'Fullwidth digit one U+FF11: InvalidCharacter.', ['Unicode'], '\uff11', 'InvalidCharacter');
  add('token-header-arabic-indic-digit', R, 'Arabic-indic digit three U+0663: InvalidCharacter.', ['Unicode'], '\u0663', 'InvalidCharacter');
  add('token-header-trailing-nul', R, '"1" followed by NUL: InvalidCharacter.', ['Unicode'], '1\u0000', 'InvalidCharacter');
  return out;
}

// ---------------------------------------------------------------------------------------------
// §7 Image record (JSON): strict JSON parser keeping duplicates and raw number text
// ---------------------------------------------------------------------------------------------

class JsonSyntaxError extends Error {}
const DUPLICATE = Symbol('duplicate member name');

// RFC 8259. Objects: {t:'object', members:[[name, value], ...]}; numbers keep their text.
function parseJsonStrict(text) {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const err = () => {
    throw new JsonSyntaxError(`at ${i}`);
  };
  const value = () => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const members = [];
      ws();
      if (text[i] === '}') {
        i++;
        return { t: 'object', members };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') err();
        const name = string();
        ws();
        if (text[i] !== ':') err();
        i++;
        if (members.some(([n]) => n === name)) members[DUPLICATE] = true;
        members.push([name, value()]);
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return { t: 'object', members };
        }
        err();
      }
    }
    if (c === '[') {
      i++;
      const items = [];
      ws();
      if (text[i] === ']') {
        i++;
        return { t: 'array', items };
      }
      for (;;) {
        items.push(value());
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return { t: 'array', items };
        }
        err();
      }
    }
    if (c === '"') return { t: 'string', v: string() };
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return { t: lit };
      }
    }
    const m = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i));
    if (!m) err();
    i += m[0].length;
    return { t: 'number', raw: m[0] };
  };
  const string = () => {
    i++; // opening quote
    let s = '';
    for (;;) {
      if (i >= text.length) err();
      const c = text[i];
      const code = c.charCodeAt(0);
      if (c === '"') {
        i++;
        return s;
      }
      if (code < 0x20) err();
      if (c === '\\') {
        const e = text[i + 1];
        const map = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e in map) {
          s += map[e];
          i += 2;
        } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          s += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
          i += 6;
        } else err();
        continue;
      }
      s += c;
      i++;
    }
  };
  const v = value();
  ws();
  if (i !== text.length) err();
  return v;
}

const ID_RE = /^(?:[a-z0-9_-]{1,32}:)?[A-Za-z0-9_-]{1,64}$/; // ID-1 (JS "$" = end of input only)
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// REC-2: canonical standard base64 with padding; returns Buffer or null.
function decodeB64Strict(s) {
  if (!B64_RE.test(s)) return null;
  const b = Buffer.from(s, 'base64');
  if (b.toString('base64') !== s) return null; // non-zero pad bits
  return b;
}

// REC-1..REC-6, ID-1, TOKEN-4. Returns {expected} or {error}.
function parseRecord(text) {
  let root;
  try {
    root = parseJsonStrict(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) return { error: 'Syntax' };
    throw e;
  }
  if (root.t !== 'object') return { error: 'Syntax' };
  // REC-6 order: DuplicateField (any member name, in any object at any level), then MissingField,
  // then WrongType (top level, then meta), then the values.
  const hasDuplicate = (v) =>
    (v.t === 'object' && (v.members[DUPLICATE] === true || v.members.some(([, m]) => hasDuplicate(m)))) ||
    (v.t === 'array' && v.items.some(hasDuplicate));
  if (hasDuplicate(root)) return { error: 'DuplicateField' };
  const TOP = { id: 'string', token: 'number', meta: 'object', statelessProof: 'string' };
  const META = { key: 'string', iv: 'string', tag: 'string' };
  const get = (obj, name) => obj.members.find(([n]) => n === name)?.[1]; // unknown members are ignored
  for (const name of Object.keys(TOP)) if (!get(root, name)) return { error: 'MissingField' };
  const metaVal = get(root, 'meta');
  if (metaVal.t === 'object') for (const name of Object.keys(META)) if (!get(metaVal, name)) return { error: 'MissingField' };
  for (const [name, type] of Object.entries(TOP)) if (get(root, name).t !== type) return { error: 'WrongType' };
  for (const [name, type] of Object.entries(META)) if (get(metaVal, name).t !== type) return { error: 'WrongType' };
  const top = { fields: new Map(Object.keys(TOP).map((n) => [n, get(root, n)])) };
  const meta = { fields: new Map(Object.keys(META).map((n) => [n, get(metaVal, n)])) };
  // Values, in the fixed order id, token, meta.key, meta.iv, meta.tag.
  const id = top.fields.get('id').v;
  if (!ID_RE.test(id)) return { error: 'InvalidId' };
  const rawToken = top.fields.get('token').raw;
  if (!/^[1-9][0-9]*$/.test(rawToken) || BigInt(rawToken) > MAX_TOKEN) return { error: 'InvalidToken' };
  const bytes = {};
  for (const [name, len] of [['key', 32], ['iv', 12], ['tag', 16]]) {
    const b = decodeB64Strict(meta.fields.get(name).v);
    if (!b) return { error: 'InvalidBase64' };
    if (b.length !== len) return { error: 'InvalidLength' };
    bytes[name] = b;
  }
  return {
    expected: {
      id,
      token: Number(rawToken),
      key_hex: hex(bytes.key),
      iv_hex: hex(bytes.iv),
      tag_hex: hex(bytes.tag),
      statelessProof: top.fields.get('statelessProof').v,
    },
  };
}

// Record fixtures.
const R_KEY = seq(0x00, 32);
const R_IV = seq(0xa0, 12);
const R_TAG = seq(0xf0, 16);
const b64 = (b) => Buffer.from(b).toString('base64');
const R_KEY64 = b64(R_KEY); // AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
const R_IV64 = b64(R_IV); // oKGio6Slpqeoqaqr
const R_TAG64 = b64(R_TAG); // 8PHy8/T19vf4+fr7/P3+/w==
const R_ID = ID_A;
const R_TOKEN = '1732752000123';
const R_PROOF = mintProof(1, ID_A, T0, 20000).text;
const js = (s) => JSON.stringify(s);
// Builds record text from ordered [name, rawJsonValue] pairs (raw text so that duplicates, odd
// numbers and wrong types are representable).
const obj = (pairs) => '{' + pairs.map(([k, v]) => `${js(k)}:${v}`).join(',') + '}';
const metaText = ({ key = js(R_KEY64), iv = js(R_IV64), tag = js(R_TAG64) } = {}) => obj([['key', key], ['iv', iv], ['tag', tag]]);
const recText = ({ id = js(R_ID), token = R_TOKEN, meta = metaText(), proof = js(R_PROOF) } = {}) =>
  obj([['id', id], ['token', token], ['meta', meta], ['statelessProof', proof]]);
const recExpected = ({ id = R_ID, token = Number(R_TOKEN), key = R_KEY, iv = R_IV, tag = R_TAG, proof = R_PROOF } = {}) => ({
  id, token, key_hex: hex(key), iv_hex: hex(iv), tag_hex: hex(tag), statelessProof: proof,
});
// Flips the low bits of the last data character before the padding (non-zero pad bits).
const badPadBits = (s) => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const p = s.indexOf('=');
  const j = p - 1;
  const c = alphabet[alphabet.indexOf(s[j]) ^ 1];
  return s.slice(0, j) + c + s.slice(j + 1);
};

function recordVectors() {
  const out = [];
  const add = (id, reqs, comment, flags, input, expect) => {
    const computed = parseRecord(input);
    if (typeof expect === 'string') {
      assertSame(id, { error: expect }, computed);
      out.push(vector(id, reqs, comment, flags, { input }, 'invalid', { error: expect }));
    } else {
      assertSame(id, { expected: expect }, computed);
      out.push(vector(id, reqs, comment, flags, { input }, 'valid', { expected: expect }));
    }
  };
  const V = ['REC-1', 'REC-2', 'REC-3', 'REC-4', 'REC-5'];

  // ----- valid
  add('record-json-valid-basic', [...V, 'ID-1', 'TOKEN-4'], 'A complete record as a backend sends it (compact JSON).', [], recText(), recExpected());
  add('record-json-valid-pretty', [...V, 'REC-6'], 'The same record pretty-printed with spaces, tabs, CR and LF between tokens.', [],
    `{\r\n\t"id": ${js(R_ID)},\n  "token": ${R_TOKEN},\n  "meta": {\n    "key": ${js(R_KEY64)},\n    "iv": ${js(R_IV64)},\n    "tag": ${js(R_TAG64)}\n  },\n  "statelessProof": ${js(R_PROOF)}\n}\n`,
    recExpected());
  add('record-json-valid-member-order', [...V, 'REC-6'], 'Members in another order (statelessProof, meta, token, id; tag, key, iv): order does not matter.', [],
    obj([['statelessProof', js(R_PROOF)], ['meta', obj([['tag', js(R_TAG64)], ['key', js(R_KEY64)], ['iv', js(R_IV64)]])], ['token', R_TOKEN], ['id', js(R_ID)]]),
    recExpected());
  add('record-json-valid-unknown-members', ['REC-1', 'REC-6'], 'Unknown members at the top level (string, null, object, array) and inside meta are ignored (forward compatibility).', [],
    obj([['version', '2'], ['id', js(R_ID)], ['token', R_TOKEN], ['extra', 'null'],
      ['meta', obj([['alg', js('A256GCM')], ['key', js(R_KEY64)], ['iv', js(R_IV64)], ['tag', js(R_TAG64)], ['hint', '{"a":[1,2]}']])],
      ['statelessProof', js(R_PROOF)], ['future', '[true,false,{"id":5}]']]),
    recExpected());
  add('record-json-valid-unknown-member-named-like-meta-field', ['REC-1', 'REC-6'], 'A top-level member named "key" (which belongs in meta) is an unknown member here and is ignored.', ['LookAlike'],
    obj([['id', js(R_ID)], ['token', R_TOKEN], ['key', js('not base64!')], ['meta', metaText()], ['statelessProof', js(R_PROOF)]]),
    recExpected());
  add('record-json-valid-empty-proof', [...V, 'PROOF-14'], 'Empty statelessProof (validation disabled on the backend): valid.', ['EdgeCase'],
    recText({ proof: '""' }), recExpected({ proof: '' }));
  add('record-json-valid-opaque-proof', [...V], 'statelessProof is opaque to clients: any string, here with spaces, non-ASCII and escapes, is kept verbatim.', ['Unicode'],
    recText({ proof: '"not a v1 proof \\u00e9 \\"quoted\\" ✓"' }), recExpected({ proof: 'not a v1 proof é "quoted" ✓' }));
  add('record-json-valid-dir-prefix-id', [...V, 'ID-1'], 'Id with a dir prefix.', [],
    recText({ id: js(ID_DIR) }), recExpected({ id: ID_DIR }));
  add('record-json-valid-max-length-id', [...V, 'ID-1'], 'Id of the maximum length 97: 32-char dir, colon, 64-char name.', ['EdgeCase'],
    recText({ id: js(ID_MAX) }), recExpected({ id: ID_MAX }));
  add('record-json-valid-one-char-id', [...V, 'ID-1'], 'One-character id "a".', ['EdgeCase'],
    recText({ id: '"a"' }), recExpected({ id: 'a' }));
  add('record-json-valid-id-dash-underscore', [...V, 'ID-1'], 'Id "a-_:_-Z9": "-" and "_" are allowed by ID-1 in the dir and in the name.', [],
    recText({ id: '"a-_:_-Z9"' }), recExpected({ id: 'a-_:_-Z9' }));
  add('record-json-valid-id-json-escapes', [...V, 'ID-1'], 'The id is written with a JSON escape ("\\u0061bc"); the decoded string "abc" is what ID-1 validates.', [],
    recText({ id: '"\\u0061bc"' }), recExpected({ id: 'abc' }));
  add('record-json-valid-token-1', [...V, 'TOKEN-1', 'TOKEN-4'], 'Smallest token 1.', ['EdgeCase'],
    recText({ token: '1' }), recExpected({ token: 1 }));
  add('record-json-valid-token-max', [...V, 'TOKEN-3', 'TOKEN-4'], 'Largest token MAX_TOKEN = 9007199254740991.', ['EdgeCase', 'Js53Bit'],
    recText({ token: '9007199254740991' }), recExpected({ token: 9007199254740991 }));
  add('record-json-valid-zero-key', [...V], 'All-zero key, IV and tag bytes (base64 of zero bytes).', ['EdgeCase'],
    recText({ meta: metaText({ key: js(b64(fill(0, 32))), iv: js(b64(fill(0, 12))), tag: js(b64(fill(0, 16))) }) }),
    recExpected({ key: fill(0, 32), iv: fill(0, 12), tag: fill(0, 16) }));
  {
    const k = cat(fill(0xfb, 3), fill(0xff, 29));
    if (!/\+/.test(b64(k)) || !/\//.test(b64(k))) fail('key should contain + and /');
    add('record-json-valid-key-plus-slash', [...V], 'Key whose standard base64 uses "+" and "/".', [],
      recText({ meta: metaText({ key: js(b64(k)) }) }), recExpected({ key: k }));
  }

  // ----- Syntax
  const S = ['REC-6'];
  add('record-json-syntax-empty-text', S, 'Empty text: not JSON.', ['EdgeCase'], '', 'Syntax');
  add('record-json-syntax-truncated', S, 'A valid record missing its final "}".', [], recText().slice(0, -1), 'Syntax');
  add('record-json-syntax-truncated-in-string', S, 'A valid record cut inside the key string.', [], recText().slice(0, 60), 'Syntax');
  add('record-json-syntax-trailing-comma', S, 'Trailing comma after the last member.', [], recText().slice(0, -1) + ',}', 'Syntax');
  add('record-json-syntax-trailing-garbage', S, 'A valid record followed by "x".', [], recText() + 'x', 'Syntax');
  add('record-json-syntax-two-objects', S, 'Two valid records one after the other.', [], recText() + recText(), 'Syntax');
  add('record-json-syntax-single-quotes', S, 'Single-quoted names and strings (JavaScript, not JSON).', [], recText().replace(/"/g, "'"), 'Syntax');
  add('record-json-syntax-unquoted-names', S, 'Unquoted member names (JavaScript object literal).', [],
    `{id:${js(R_ID)},token:${R_TOKEN},meta:${metaText()},statelessProof:${js(R_PROOF)}}`, 'Syntax');
  add('record-json-syntax-comment', S, 'A comment inside the object.', [], '/* record */' + recText(), 'Syntax');
  add('record-json-syntax-raw-newline-in-string', S, 'An unescaped line feed inside the statelessProof string.', [], recText({ proof: '"ab\ncd"' }), 'Syntax');
  add('record-json-syntax-top-level-array', S, 'Top-level array holding a valid record: not an object.', [], '[' + recText() + ']', 'Syntax');
  add('record-json-syntax-null', S, 'The JSON text null: valid JSON but not an object.', [], 'null', 'Syntax');
  add('record-json-syntax-string', S, 'A JSON string containing a record: not an object.', [], js(recText()), 'Syntax');
  add('record-json-syntax-number', S, 'The JSON number 1732752000123: not an object.', [], R_TOKEN, 'Syntax');
  add('record-json-syntax-leading-zero-token', [...S, 'TOKEN-4'], 'token 01732752000123: a leading zero is not JSON number syntax.', ['NonCanonical'], recText({ token: '01732752000123' }), 'Syntax');
  add('record-json-syntax-plus-token', [...S, 'TOKEN-4'], 'token +1: a plus sign is not JSON number syntax.', ['NonCanonical'], recText({ token: '+1' }), 'Syntax');
  add('record-json-syntax-nan-token', [...S, 'TOKEN-4'], 'token NaN: not JSON.', [], recText({ token: 'NaN' }), 'Syntax');

  // ----- MissingField
  const M = ['REC-1', 'REC-6'];
  add('record-json-missing-all', M, 'The empty object {}.', ['EdgeCase'], '{}', 'MissingField');
  add('record-json-missing-id', M, 'No id member.', [], obj([['token', R_TOKEN], ['meta', metaText()], ['statelessProof', js(R_PROOF)]]), 'MissingField');
  add('record-json-missing-token', M, 'No token member.', [], obj([['id', js(R_ID)], ['meta', metaText()], ['statelessProof', js(R_PROOF)]]), 'MissingField');
  add('record-json-missing-meta', M, 'No meta member.', [], obj([['id', js(R_ID)], ['token', R_TOKEN], ['statelessProof', js(R_PROOF)]]), 'MissingField');
  add('record-json-missing-stateless-proof', [...M, 'REC-5'], 'No statelessProof member (it must be present, even if empty).', ['Legacy321'], obj([['id', js(R_ID)], ['token', R_TOKEN], ['meta', metaText()]]), 'MissingField');
  add('record-json-missing-meta-key', M, 'meta without key.', [], recText({ meta: obj([['iv', js(R_IV64)], ['tag', js(R_TAG64)]]) }), 'MissingField');
  add('record-json-missing-meta-iv', M, 'meta without iv.', [], recText({ meta: obj([['key', js(R_KEY64)], ['tag', js(R_TAG64)]]) }), 'MissingField');
  add('record-json-missing-meta-tag', M, 'meta without tag.', [], recText({ meta: obj([['key', js(R_KEY64)], ['iv', js(R_IV64)]]) }), 'MissingField');
  add('record-json-missing-meta-empty', M, 'meta is the empty object.', ['EdgeCase'], recText({ meta: '{}' }), 'MissingField');
  add('record-json-missing-id-wrong-case', M, 'Member "ID" instead of "id": names are case-sensitive, so id is missing (and "ID" is ignored).', ['LookAlike'],
    obj([['ID', js(R_ID)], ['token', R_TOKEN], ['meta', metaText()], ['statelessProof', js(R_PROOF)]]), 'MissingField');

  // ----- DuplicateField
  add('record-json-duplicate-id-same-value', M, 'id twice with the same valid value.', [],
    obj([['id', js(R_ID)], ['token', R_TOKEN], ['meta', metaText()], ['statelessProof', js(R_PROOF)], ['id', js(R_ID)]]), 'DuplicateField');
  add('record-json-duplicate-token', M, 'token twice with different values (a parser keeping the first or the last would disagree).', [],
    obj([['id', js(R_ID)], ['token', '1'], ['token', R_TOKEN], ['meta', metaText()], ['statelessProof', js(R_PROOF)]]), 'DuplicateField');
  add('record-json-duplicate-meta-key', M, 'meta.key twice.', [],
    recText({ meta: obj([['key', js(b64(fill(0, 32)))], ['key', js(R_KEY64)], ['iv', js(R_IV64)], ['tag', js(R_TAG64)]]) }), 'DuplicateField');
  add('record-json-duplicate-meta', M, 'meta twice.', [],
    obj([['id', js(R_ID)], ['token', R_TOKEN], ['meta', metaText()], ['meta', metaText()], ['statelessProof', js(R_PROOF)]]), 'DuplicateField');
  add('record-json-duplicate-unknown-member', M, 'An unknown member ("x") appears twice: duplicate names are rejected in every object, known members or not.', [],
    obj([['id', js(R_ID)], ['token', R_TOKEN], ['x', '1'], ['meta', metaText()], ['statelessProof', js(R_PROOF)], ['x', '2']]), 'DuplicateField');
  add('record-json-duplicate-unknown-meta-member', M, 'An unknown member ("alg") appears twice inside meta.', [],
    recText({ meta: obj([['alg', '1'], ['key', js(R_KEY64)], ['iv', js(R_IV64)], ['tag', js(R_TAG64)], ['alg', '1']]) }), 'DuplicateField');
  add('record-json-duplicate-nested-in-unknown', M, 'A duplicate name inside an object nested in an unknown member ("ext": {"a": 1, "a": 2}): any level counts.', [],
    obj([['id', js(R_ID)], ['token', R_TOKEN], ['meta', metaText()], ['statelessProof', js(R_PROOF)], ['ext', '{"a":1,"a":2}']]), 'DuplicateField');
  add('record-json-duplicate-id-escaped-name', M, 'id twice, the second name written with a JSON escape ("\\u0069d"): names compare after unescaping.', ['LookAlike'],
    `{"id":${js(R_ID)},"token":${R_TOKEN},"meta":${metaText()},"statelessProof":${js(R_PROOF)},"\\u0069d":${js(ID_B)}}`, 'DuplicateField');

  // ----- WrongType
  add('record-json-wrong-type-id-number', M, 'id is a number.', [], recText({ id: '123' }), 'WrongType');
  add('record-json-wrong-type-id-null', M, 'id is null.', [], recText({ id: 'null' }), 'WrongType');
  add('record-json-wrong-type-token-string', [...M, 'TOKEN-4'], 'token is the string "1732752000123" (a string is not a number).', ['Legacy321'], recText({ token: js(R_TOKEN) }), 'WrongType');
  add('record-json-wrong-type-token-null', [...M, 'TOKEN-4'], 'token is null.', [], recText({ token: 'null' }), 'WrongType');
  add('record-json-wrong-type-token-bool', [...M, 'TOKEN-4'], 'token is true.', [], recText({ token: 'true' }), 'WrongType');
  add('record-json-wrong-type-meta-string', M, 'meta is a JSON string holding the meta object.', [], recText({ meta: js(metaText()) }), 'WrongType');
  add('record-json-wrong-type-meta-array', M, 'meta is an array.', [], recText({ meta: '[]' }), 'WrongType');
  add('record-json-wrong-type-meta-null', M, 'meta is null.', [], recText({ meta: 'null' }), 'WrongType');
  add('record-json-wrong-type-key-array', M, 'meta.key is an array of byte values.', [], recText({ meta: metaText({ key: '[' + [...R_KEY].join(',') + ']' }) }), 'WrongType');
  add('record-json-wrong-type-tag-number', M, 'meta.tag is a number.', [], recText({ meta: metaText({ tag: '0' }) }), 'WrongType');
  add('record-json-wrong-type-proof-null', [...M, 'REC-5'], 'statelessProof is null (not the empty string).', [], recText({ proof: 'null' }), 'WrongType');
  add('record-json-wrong-type-proof-number', [...M, 'REC-5'], 'statelessProof is a number.', [], recText({ proof: '0' }), 'WrongType');

  // ----- InvalidId (ID-1, REC-4)
  const I = ['REC-4', 'REC-6', 'ID-1'];
  const badIds = [
    ['record-json-invalid-id-empty', '', 'Empty id.', ['EdgeCase']],
    ['record-json-invalid-id-dot-dot', '../x', 'Path traversal "../x".', []],
    ['record-json-invalid-id-slash', 'a/b', 'Slash "a/b".', []],
    ['record-json-invalid-id-uppercase-dir', 'A:b', 'Upper-case dir "A:b" (dirs are lower case).', []],
    ['record-json-invalid-id-empty-dir', ':x', 'Empty dir ":x" (3.2.1 could produce it).', ['Legacy321']],
    ['record-json-invalid-id-empty-name', 'x:', 'Empty name "x:".', []],
    ['record-json-invalid-id-two-colons', 'a:b:c', 'Two colons "a:b:c".', ['Legacy321']],
    ['record-json-invalid-id-name-65', 'N'.repeat(65), 'Name of 65 characters.', ['EdgeCase']],
    ['record-json-invalid-id-dir-33', 'd'.repeat(33) + ':x', 'Dir of 33 characters.', ['EdgeCase']],
    ['record-json-invalid-id-98-chars', 'd'.repeat(32) + ':' + 'N'.repeat(65), '98 characters: 32-char dir and 65-char name.', ['EdgeCase']],
    ['record-json-invalid-id-space', 'a b', 'Space inside "a b".', []],
    ['record-json-invalid-id-non-ascii', 'é', 'Non-ASCII letter "é".', ['Unicode']],
    ['record-json-invalid-id-fullwidth', 'ａｂｃ', 'Fullwidth letters (U+FF41..U+FF43).', ['Unicode']],
    ['record-json-invalid-id-trailing-newline', 'abc\n', '"abc" followed by a line feed (a regex "$" that matches before a final newline fails here).', []],
    ['record-json-invalid-id-nul', 'abc\u0000', '"abc" followed by NUL.', ['Unicode']],
    ['record-json-invalid-id-dot', 'a.png', 'Dot "a.png".', []],
    ['record-json-invalid-id-percent', 'a%2Fb', 'Percent-encoded text "a%2Fb" (the record holds the decoded id).', []],
  ];
  for (const [id, val, comment, flags] of badIds) add(id, I, comment, flags, recText({ id: js(val) }), 'InvalidId');

  // ----- InvalidToken (TOKEN-4, REC-3)
  const T = ['REC-3', 'REC-6', 'TOKEN-1', 'TOKEN-4'];
  add('record-json-invalid-token-zero', T, 'token 0 ("no token" is never a record token).', ['EdgeCase'], recText({ token: '0' }), 'InvalidToken');
  add('record-json-invalid-token-negative', T, 'token -1.', [], recText({ token: '-1' }), 'InvalidToken');
  add('record-json-invalid-token-minus-zero', T, 'token -0.', ['NonCanonical'], recText({ token: '-0' }), 'InvalidToken');
  add('record-json-invalid-token-fraction', T, 'token 1.5.', [], recText({ token: '1.5' }), 'InvalidToken');
  add('record-json-invalid-token-point-zero', T, 'token 1732752000123.0 (integral value with a fraction part).', ['NonCanonical'], recText({ token: R_TOKEN + '.0' }), 'InvalidToken');
  add('record-json-invalid-token-exponent', T, 'token 1e3 (integral value with an exponent).', ['NonCanonical'], recText({ token: '1e3' }), 'InvalidToken');
  add('record-json-invalid-token-exponent-upper', T, 'token 1.732752000123E12 (equals a valid token, written with an exponent).', ['NonCanonical'], recText({ token: '1.732752000123E12' }), 'InvalidToken');
  add('record-json-invalid-token-max-plus-1', [...T, 'TOKEN-3'], 'token 9007199254740992 = MAX_TOKEN + 1.', ['EdgeCase', 'Js53Bit'], recText({ token: '9007199254740992' }), 'InvalidToken');
  add('record-json-invalid-token-max-plus-2', [...T, 'TOKEN-3'], 'token 9007199254740993, which a double rounds to 2^53.', ['Js53Bit'], recText({ token: '9007199254740993' }), 'InvalidToken');
  add('record-json-invalid-token-u64-overflow', [...T, 'TOKEN-3'], 'token 18446744073709551616 = 2^64 (does not fit in u64).', ['Js53Bit'], recText({ token: '18446744073709551616' }), 'InvalidToken');

  // ----- InvalidBase64 (REC-2)
  const B = ['REC-2', 'REC-6'];
  {
    const k = cat(fill(0xfb, 3), fill(0xff, 29));
    const url = b64(k).replace(/\+/g, '-').replace(/\//g, '_');
    add('record-json-invalid-base64-url-alphabet', B, 'Key in the base64url alphabet ("-" and "_" instead of "+" and "/").', ['NonCanonical'],
      recText({ meta: metaText({ key: js(url) }) }), 'InvalidBase64');
  }
  add('record-json-invalid-base64-key-no-padding', B, 'Key without its "=" padding (43 chars).', ['NonCanonical'],
    recText({ meta: metaText({ key: js(R_KEY64.replace(/=+$/, '')) }) }), 'InvalidBase64');
  add('record-json-invalid-base64-tag-no-padding', B, 'Tag without its "==" padding (22 chars).', ['NonCanonical'],
    recText({ meta: metaText({ tag: js(R_TAG64.replace(/=+$/, '')) }) }), 'InvalidBase64');
  add('record-json-invalid-base64-tag-half-padding', B, 'Tag with one "=" instead of two (23 chars).', ['NonCanonical'],
    recText({ meta: metaText({ tag: js(R_TAG64.slice(0, -1)) }) }), 'InvalidBase64');
  add('record-json-invalid-base64-key-pad-bits', B, 'Key whose last data character carries non-zero pad bits (decodes to the same bytes leniently).', ['NonCanonical'],
    recText({ meta: metaText({ key: js(badPadBits(R_KEY64)) }) }), 'InvalidBase64');
  add('record-json-invalid-base64-tag-pad-bits', B, 'Tag whose last data character carries non-zero pad bits.', ['NonCanonical'],
    recText({ meta: metaText({ tag: js(badPadBits(R_TAG64)) }) }), 'InvalidBase64');
  add('record-json-invalid-base64-space-inside', B, 'Key with a space in the middle.', ['NonCanonical'],
    recText({ meta: metaText({ key: js(R_KEY64.slice(0, 20) + ' ' + R_KEY64.slice(20)) }) }), 'InvalidBase64');
  add('record-json-invalid-base64-newline-inside', B, 'Key with a line feed in the middle (MIME-style line break).', ['NonCanonical'],
    recText({ meta: metaText({ key: js(R_KEY64.slice(0, 20) + '\n' + R_KEY64.slice(20)) }) }), 'InvalidBase64');
  add('record-json-invalid-base64-trailing-newline', B, 'IV followed by a line feed.', ['NonCanonical'],
    recText({ meta: metaText({ iv: js(R_IV64 + '\n') }) }), 'InvalidBase64');
  add('record-json-invalid-base64-iv-padded', B, 'IV (12 bytes, no padding needed) followed by "====".', ['NonCanonical'],
    recText({ meta: metaText({ iv: js(R_IV64 + '====') }) }), 'InvalidBase64');
  add('record-json-invalid-base64-padding-inside', B, 'Key with "=" in the middle.', [],
    recText({ meta: metaText({ key: js(R_KEY64.slice(0, 20) + '=' + R_KEY64.slice(21)) }) }), 'InvalidBase64');
  add('record-json-invalid-base64-bad-char', B, 'Tag containing "*".', [],
    recText({ meta: metaText({ tag: js('*' + R_TAG64.slice(1)) }) }), 'InvalidBase64');

  // ----- InvalidLength (REC-2)
  const lenVec = (id, comment, field, bytes, flags = ['EdgeCase']) =>
    add(id, B, comment, flags, recText({ meta: metaText({ [field]: js(b64(bytes)) }) }), 'InvalidLength');
  lenVec('record-json-invalid-length-key-31', 'Key of 31 bytes (canonical base64).', 'key', seq(0, 31));
  lenVec('record-json-invalid-length-key-33', 'Key of 33 bytes (canonical base64).', 'key', seq(0, 33));
  lenVec('record-json-invalid-length-key-16', 'Key of 16 bytes (AES-128 size).', 'key', seq(0, 16), []);
  lenVec('record-json-invalid-length-key-empty', 'Key is the empty string: canonical base64 of zero bytes, so InvalidLength.', 'key', Buffer.alloc(0));
  lenVec('record-json-invalid-length-iv-11', 'IV of 11 bytes.', 'iv', seq(0xa0, 11));
  lenVec('record-json-invalid-length-iv-13', 'IV of 13 bytes.', 'iv', seq(0xa0, 13));
  lenVec('record-json-invalid-length-tag-15', 'Tag of 15 bytes.', 'tag', seq(0xf0, 15));
  lenVec('record-json-invalid-length-tag-17', 'Tag of 17 bytes.', 'tag', seq(0xf0, 17));
  add('record-json-invalid-length-key-hex', B, 'Key written as 64 hex digits: valid base64 characters, but they decode to 48 bytes.', [],
    recText({ meta: metaText({ key: js(hex(R_KEY)) }) }), 'InvalidLength');
  add('record-json-invalid-length-key-tag-swapped', B, 'key and tag values swapped: the key decodes to 16 bytes.', [],
    recText({ meta: metaText({ key: js(R_TAG64), tag: js(R_KEY64) }) }), 'InvalidLength');

  // ----- Precedence (REC-6)
  const P = ['REC-6'];
  add('record-json-precedence-structure-before-id', [...P, 'ID-1'], 'Invalid id "../x" and no statelessProof: MissingField (structure before values).', ['Precedence'],
    obj([['id', js('../x')], ['token', R_TOKEN], ['meta', metaText()]]), 'MissingField');
  add('record-json-precedence-wrong-type-before-base64', [...P, 'REC-2'], 'token is a string and meta.key is not base64: WrongType (structure before values).', ['Precedence'],
    recText({ token: js(R_TOKEN), meta: metaText({ key: js('!!') }) }), 'WrongType');
  add('record-json-precedence-meta-wrong-type-before-id', [...P, 'ID-1'], 'Invalid id and meta.iv a number: WrongType.', ['Precedence'],
    recText({ id: js('a/b'), meta: metaText({ iv: '12' }) }), 'WrongType');
  add('record-json-precedence-duplicate-before-value', [...P, 'ID-1'], 'id twice, both invalid: DuplicateField.', ['Precedence'],
    obj([['id', js('../x')], ['id', js('../y')], ['token', R_TOKEN], ['meta', metaText()], ['statelessProof', js(R_PROOF)]]), 'DuplicateField');
  add('record-json-precedence-duplicate-before-missing', P, 'id twice and no statelessProof: DuplicateField comes before MissingField.', ['Precedence'],
    obj([['id', js(R_ID)], ['id', js(R_ID)], ['token', R_TOKEN], ['meta', metaText()]]), 'DuplicateField');
  add('record-json-precedence-meta-duplicate-before-top-missing', P, 'meta.key twice and no token: DuplicateField (any level) comes before MissingField.', ['Precedence'],
    obj([['id', js(R_ID)], ['meta', obj([['key', js(R_KEY64)], ['key', js(R_KEY64)], ['iv', js(R_IV64)], ['tag', js(R_TAG64)]])], ['statelessProof', js(R_PROOF)]]), 'DuplicateField');
  add('record-json-precedence-missing-before-wrong-type', P, 'token is a string and meta is missing: MissingField comes before WrongType.', ['Precedence'],
    obj([['id', js(R_ID)], ['token', js(R_TOKEN)], ['statelessProof', js(R_PROOF)]]), 'MissingField');
  add('record-json-precedence-meta-missing-before-top-wrong-type', P, 'statelessProof is null and meta lacks tag: MissingField (meta.tag) comes before WrongType.', ['Precedence'],
    recText({ proof: 'null', meta: obj([['key', js(R_KEY64)], ['iv', js(R_IV64)]]) }), 'MissingField');
  add('record-json-precedence-syntax-before-structure', P, 'Missing members and a trailing comma: Syntax.', ['Precedence'],
    '{"id":"abc",}', 'Syntax');
  add('record-json-precedence-id-before-token', [...P, 'ID-1', 'TOKEN-4'], 'Invalid id and token 0: InvalidId.', ['Precedence'],
    recText({ id: js('a b'), token: '0' }), 'InvalidId');
  add('record-json-precedence-id-before-token-text-order', [...P, 'ID-1', 'TOKEN-4'], 'token 0 written before an invalid id in the text: the value order is fixed (id, token, key, iv, tag), not the text order, so InvalidId.', ['Precedence'],
    obj([['token', '0'], ['meta', metaText({ key: js('') })], ['statelessProof', js(R_PROOF)], ['id', js('a b')]]), 'InvalidId');
  add('record-json-precedence-token-before-key', [...P, 'TOKEN-4', 'REC-2'], 'token 1.5 and a key with bad base64: InvalidToken.', ['Precedence'],
    recText({ token: '1.5', meta: metaText({ key: js('!!') }) }), 'InvalidToken');
  add('record-json-precedence-key-before-iv', [...P, 'REC-2'], 'Key of 31 bytes and an IV in base64url with a bad character: InvalidLength (key first).', ['Precedence'],
    recText({ meta: metaText({ key: js(b64(seq(0, 31))), iv: js('*' + R_IV64.slice(1)) }) }), 'InvalidLength');
  add('record-json-precedence-iv-before-tag', [...P, 'REC-2'], 'IV with bad base64 and a tag of 15 bytes: InvalidBase64 (iv before tag).', ['Precedence'],
    recText({ meta: metaText({ iv: js(R_IV64 + '=') , tag: js(b64(seq(0, 15))) }) }), 'InvalidBase64');
  add('record-json-precedence-iv-length-before-tag-base64', [...P, 'REC-2'], 'IV of 13 bytes and a tag with bad base64: InvalidLength (iv before tag).', ['Precedence'],
    recText({ meta: metaText({ iv: js(b64(seq(0, 13))), tag: js('!') }) }), 'InvalidLength');
  return out;
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

function file(stem, vectors, extra = {}) {
  const used = new Set(vectors.flatMap((v) => v.flags));
  const notes = {};
  for (const f of [...used].sort()) notes[f] = FLAGS[f];
  return {
    $schema: `schemas/${stem}.schema.json`,
    area: stem,
    specVersion: '1',
    generatedBy: 'spec/vectors/generate.mjs',
    notes,
    ...extra,
    numberOfVectors: vectors.length,
    vectors,
  };
}

function buildAll() {
  const files = [
    file('wire_decode', wireDecodeVectors()),
    file('wire_encode', wireEncodeVectors()),
    file('envelope', envelopeVectors()),
    file('proof', proofVectors(), { keys: { ...PROOF_KEYS } }),
    file('token_header', tokenHeaderVectors()),
    file('record_json', recordVectors()),
  ];
  const ids = new Set();
  const prefix = { wire_decode: 'wire-decode-', wire_encode: 'wire-encode-', envelope: 'envelope-', proof: 'proof-', token_header: 'token-header-', record_json: 'record-json-' };
  for (const f of files) {
    for (const v of f.vectors) {
      if (ids.has(v.id)) fail(`duplicate id ${v.id}`);
      if (!v.id.startsWith(prefix[f.area]) || !/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(v.id)) fail(`bad id ${v.id}`);
      ids.add(v.id);
    }
  }
  return new Map(files.map((f) => [`${f.area}.json`, JSON.stringify(f, null, 2) + '\n']));
}

function main() {
  const check = process.argv.includes('--check');
  const unknown = process.argv.slice(2).filter((a) => a !== '--check');
  if (unknown.length) {
    console.error(`usage: node generate.mjs [--check]  (unknown argument: ${unknown.join(' ')})`);
    process.exit(2);
  }
  const out = buildAll();
  if (!check) {
    let total = 0;
    for (const [name, text] of out) {
      writeFileSync(join(HERE, name), text);
      const n = JSON.parse(text).numberOfVectors;
      total += n;
      console.log(`wrote ${name}: ${n} vectors`);
    }
    console.log(`total: ${total} vectors in ${out.size} files`);
    return;
  }
  const problems = [];
  for (const [name, text] of out) {
    const path = join(HERE, name);
    if (!existsSync(path)) {
      problems.push(`${name}: missing on disk`);
      continue;
    }
    const disk = readFileSync(path);
    const want = Buffer.from(text, 'utf8');
    if (!disk.equals(want)) {
      const a = disk.toString('utf8').split('\n');
      const b = text.split('\n');
      let line = 0;
      while (line < Math.max(a.length, b.length) && a[line] === b[line]) line++;
      problems.push(`${name}: differs from the generator output (first difference at line ${line + 1}: on disk ${JSON.stringify(a[line] ?? '<end of file>')}, generated ${JSON.stringify(b[line] ?? '<end of file>')})`);
    }
  }
  if (problems.length) {
    for (const p of problems) console.error(`generate.mjs --check: ${p}`);
    console.error(`generate.mjs --check: ${problems.length} file(s) out of date; run: node spec/vectors/generate.mjs`);
    process.exit(1);
  }
  console.log(`generate.mjs --check: ${out.size} files up to date`);
}

// Run as a script (not when imported: conformance/adapters/spec-generator/decoder.mjs imports
// decodeWire, this file's independent wire decoder).
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();

export { decodeWire };
