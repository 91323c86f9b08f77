#!/usr/bin/env node
// Pixstore protocol v1: validator of the golden vector files (no dependencies, Node >= 20).
//
//   node spec/vectors/validate.mjs             the six vector files of this folder
//   node spec/vectors/validate.mjs FILE...     other vector files (a fuzz-decoder finding, say),
//                                              each against the schema its `area` names
//
// Checks, for each of the six vector files:
//   - the file exists, is JSON, and conforms to schemas/<stem>.schema.json. The schemas are
//     interpreted by the small JSON Schema 2020-12 subset below; a schema keyword outside that
//     subset is itself reported as a problem, so a schema can never be silently half-checked;
//   - numberOfVectors == vectors.length, and the file holds at least one vector;
//   - every flag of a vector is a key of notes, and every key of notes is used by a vector;
//   - "invalid" vectors have "error", "valid" ones do not; "acceptable" ones have flags;
//   - proof.json: every kid of a keyring is in the top-level keys table;
// and across files: ids are unique, and no id listed under "Retired ids" in README.md is used.
// Exits 1 on any problem; prints a summary line.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const STEMS = ['wire_decode', 'wire_encode', 'envelope', 'proof', 'token_header', 'record_json'];

const problems = [];
const problem = (where, msg) => problems.push(`${where}: ${msg}`);

// ---------------------------------------------------------------------------------------------
// JSON Schema 2020-12, the subset the schemas of this folder use.
// ---------------------------------------------------------------------------------------------

const ANNOTATIONS = new Set(['$schema', '$id', '$comment', 'title', 'description', '$defs']);
const SUPPORTED = new Set([
  'type', 'const', 'enum', 'properties', 'required', 'additionalProperties', 'propertyNames',
  'patternProperties', 'items', 'minItems', 'maxItems', 'uniqueItems', 'minLength', 'maxLength',
  'pattern', 'minimum', 'maximum', 'minProperties', '$ref', 'allOf', 'anyOf', 'oneOf', 'not',
  'if', 'then', 'else',
]);

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
// Canonical JSON for equality (object member order does not matter).
const canon = (v) => {
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  if (isObject(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
};
const typeOk = (t, v) => {
  switch (t) {
    case 'object': return isObject(v);
    case 'array': return Array.isArray(v);
    case 'string': return typeof v === 'string';
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'boolean': return typeof v === 'boolean';
    case 'null': return v === null;
    default: throw new Error(`unsupported type name ${t}`);
  }
};
const regexCache = new Map();
const regex = (p) => {
  if (!regexCache.has(p)) regexCache.set(p, new RegExp(p, 'u'));
  return regexCache.get(p);
};

// Returns a list of error strings (empty = valid). `root` resolves "#/$defs/..." references.
function validate(schema, value, root, path = '$') {
  if (schema === true) return [];
  if (schema === false) return [`${path}: not allowed here`];
  if (!isObject(schema)) return [`schema at ${path} is not an object`];
  const errs = [];
  for (const k of Object.keys(schema)) {
    if (!SUPPORTED.has(k) && !ANNOTATIONS.has(k)) errs.push(`schema uses unsupported keyword "${k}" (at ${path}); extend validate.mjs first`);
  }
  if (errs.length) return errs;
  const sub = (s, v, p) => validate(s, v, root, p);

  if ('$ref' in schema) {
    const ref = schema.$ref;
    const m = /^#\/\$defs\/([A-Za-z0-9_]+)$/.exec(ref);
    if (!m || !root.$defs || !(m[1] in root.$defs)) errs.push(`unresolvable $ref ${ref} at ${path}`);
    else errs.push(...sub(root.$defs[m[1]], value, path));
  }
  if ('type' in schema) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeOk(t, value))) return [...errs, `${path}: expected type ${types.join('|')}, got ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}`];
  }
  if ('const' in schema && canon(schema.const) !== canon(value)) errs.push(`${path}: must be ${JSON.stringify(schema.const)}`);
  if ('enum' in schema && !schema.enum.some((e) => canon(e) === canon(value))) errs.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);

  if (typeof value === 'string') {
    const len = [...value].length; // code points, as JSON Schema counts
    if ('minLength' in schema && len < schema.minLength) errs.push(`${path}: shorter than ${schema.minLength}`);
    if ('maxLength' in schema && len > schema.maxLength) errs.push(`${path}: longer than ${schema.maxLength}`);
    if ('pattern' in schema && !regex(schema.pattern).test(value)) errs.push(`${path}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
  }
  if (typeof value === 'number') {
    if ('minimum' in schema && value < schema.minimum) errs.push(`${path}: ${value} < minimum ${schema.minimum}`);
    if ('maximum' in schema && value > schema.maximum) errs.push(`${path}: ${value} > maximum ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if ('minItems' in schema && value.length < schema.minItems) errs.push(`${path}: fewer than ${schema.minItems} items`);
    if ('maxItems' in schema && value.length > schema.maxItems) errs.push(`${path}: more than ${schema.maxItems} items`);
    if (schema.uniqueItems && new Set(value.map(canon)).size !== value.length) errs.push(`${path}: items are not unique`);
    if ('items' in schema) value.forEach((v, i) => errs.push(...sub(schema.items, v, `${path}[${i}]`)));
  }
  if (isObject(value)) {
    const keys = Object.keys(value);
    if ('minProperties' in schema && keys.length < schema.minProperties) errs.push(`${path}: fewer than ${schema.minProperties} members`);
    for (const r of schema.required || []) if (!(r in value)) errs.push(`${path}: missing required member "${r}"`);
    if ('propertyNames' in schema) for (const k of keys) errs.push(...sub(schema.propertyNames, k, `${path} member name ${JSON.stringify(k)}`));
    const props = schema.properties || {};
    const pats = Object.entries(schema.patternProperties || {});
    for (const k of keys) {
      const p = `${path}.${k}`;
      let matched = false;
      if (k in props) {
        matched = true;
        errs.push(...sub(props[k], value[k], p));
      }
      for (const [pat, s] of pats) {
        if (regex(pat).test(k)) {
          matched = true;
          errs.push(...sub(s, value[k], p));
        }
      }
      if (!matched && 'additionalProperties' in schema) {
        if (schema.additionalProperties === false) errs.push(`${path}: member "${k}" is not allowed`);
        else errs.push(...sub(schema.additionalProperties, value[k], p));
      }
    }
  }
  if ('allOf' in schema) schema.allOf.forEach((s, i) => errs.push(...sub(s, value, path)));
  if ('anyOf' in schema && !schema.anyOf.some((s) => sub(s, value, path).length === 0)) errs.push(`${path}: matches none of anyOf`);
  if ('oneOf' in schema) {
    const n = schema.oneOf.filter((s) => sub(s, value, path).length === 0).length;
    if (n !== 1) errs.push(`${path}: matches ${n} of oneOf (exactly 1 required)`);
  }
  if ('not' in schema && sub(schema.not, value, path).length === 0) errs.push(`${path}: matches a "not" schema`);
  if ('if' in schema) {
    if (sub(schema.if, value, path).length === 0) {
      if ('then' in schema) errs.push(...sub(schema.then, value, path));
    } else if ('else' in schema) {
      errs.push(...sub(schema.else, value, path));
    }
  }
  return errs;
}

// Static check of a whole schema document, so that unsupported keywords are reported even in
// parts (e.g. unused $defs) that no instance reaches.
function lintSchema(schema, where, out) {
  if (typeof schema === 'boolean') return;
  if (!isObject(schema)) {
    out.push(`${where}: a schema must be an object or a boolean`);
    return;
  }
  for (const [k, v] of Object.entries(schema)) {
    if (!SUPPORTED.has(k) && !ANNOTATIONS.has(k)) out.push(`${where}: unsupported keyword "${k}"; extend validate.mjs first`);
    if (['properties', 'patternProperties', '$defs'].includes(k) && isObject(v)) {
      for (const [n, s] of Object.entries(v)) lintSchema(s, `${where}/${k}/${n}`, out);
    } else if (['allOf', 'anyOf', 'oneOf'].includes(k) && Array.isArray(v)) {
      v.forEach((s, i) => lintSchema(s, `${where}/${k}/${i}`, out));
    } else if (['additionalProperties', 'propertyNames', 'items', 'not', 'if', 'then', 'else'].includes(k)) {
      lintSchema(v, `${where}/${k}`, out);
    } else if (k === 'pattern' || k === 'patternProperties') {
      for (const p of k === 'pattern' ? [v] : Object.keys(v || {})) {
        try {
          regex(p);
        } catch (e) {
          out.push(`${where}: bad pattern ${p} (${e.message})`);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Retired ids (README.md, section "Retired ids": one "- `id`" per line).
// ---------------------------------------------------------------------------------------------

function retiredIds() {
  const p = join(HERE, 'README.md');
  if (!existsSync(p)) {
    problem('README.md', 'missing');
    return new Set();
  }
  const lines = readFileSync(p, 'utf8').split('\n');
  const start = lines.findIndex((l) => /^#{2,3} Retired ids\s*$/.test(l));
  if (start < 0) {
    problem('README.md', 'has no "## Retired ids" section');
    return new Set();
  }
  const out = new Set();
  for (const l of lines.slice(start + 1)) {
    if (/^#{1,3} /.test(l)) break;
    const m = /^[-*] `([a-z0-9-]+)`/.exec(l);
    if (m) out.add(m[1]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

// Checks one vector file against schemas/<stem>.schema.json and the rules above; whether it
// had no problem.
function checkFile(name, path, stem, retired, seen) {
  let doc;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    problem(name, `not JSON (${e.message})`);
    return 0;
  }
  stem ??= isObject(doc) && typeof doc.area === 'string' ? doc.area : '';
  const schemaPath = join(HERE, 'schemas', `${stem}.schema.json`);
  if (!STEMS.includes(stem) || !existsSync(schemaPath)) {
    problem(name, `schema for area ${JSON.stringify(stem)} missing`);
    return 0;
  }
  let schema;
  try {
    schema = JSON.parse(readFileSync(schemaPath, 'utf8'));
  } catch (e) {
    problem(`schemas/${stem}.schema.json`, `not JSON (${e.message})`);
    return 0;
  }
  if (schema.$schema !== 'https://json-schema.org/draft/2020-12/schema') problem(`schemas/${stem}.schema.json`, 'is not a JSON Schema 2020-12 document');
  const lint = [];
  lintSchema(schema, '#', lint);
  for (const e of lint) problem(`schemas/${stem}.schema.json`, e);
  if (lint.length) return 0;
  const before = problems.length;
  const errs = validate(schema, doc, schema);
  const shown = errs.slice(0, 20);
  for (const e of shown) problem(name, `schema: ${e}`);
  if (errs.length > shown.length) problem(name, `schema: ... and ${errs.length - shown.length} more`);

  if (!isObject(doc) || !Array.isArray(doc.vectors)) {
    problem(name, 'has no vectors array');
    return 0;
  }
  const vectors = doc.vectors;
  if (vectors.length === 0) problem(name, 'has zero vectors');
  if (doc.numberOfVectors !== vectors.length) problem(name, `numberOfVectors is ${doc.numberOfVectors} but there are ${vectors.length} vectors`);
  if (doc.$schema !== `schemas/${stem}.schema.json`) problem(name, `$schema should be schemas/${stem}.schema.json`);
  if (doc.area !== stem) problem(name, `area should be ${stem}`);
  const notes = isObject(doc.notes) ? doc.notes : {};
  const usedFlags = new Set();
  for (const [i, v] of vectors.entries()) {
    const where = `${name} vector ${isObject(v) && typeof v.id === 'string' ? v.id : `#${i}`}`;
    if (!isObject(v)) {
      problem(where, 'is not an object');
      continue;
    }
    if (typeof v.id === 'string') {
      if (seen.has(v.id)) problem(where, `duplicate id (also in ${seen.get(v.id)})`);
      seen.set(v.id, name);
      if (retired.has(v.id)) problem(where, 'uses a retired id (README.md, "Retired ids")');
    }
    for (const f of Array.isArray(v.flags) ? v.flags : []) {
      usedFlags.add(f);
      if (!(f in notes)) problem(where, `flag ${f} is not described in notes`);
    }
    if (v.result === 'invalid' && !('error' in v)) problem(where, 'result invalid without error');
    if (v.result === 'valid' && 'error' in v) problem(where, 'result valid with an error');
    if (v.result === 'acceptable' && !(Array.isArray(v.flags) && v.flags.length)) problem(where, 'result acceptable without flags');
    if (stem === 'proof' && Array.isArray(v.keyring) && isObject(doc.keys)) {
      for (const kid of v.keyring) if (!(String(kid) in doc.keys)) problem(where, `kid ${kid} is not in the keys table`);
    }
  }
  for (const f of Object.keys(notes)) if (!usedFlags.has(f)) problem(name, `notes describes ${f}, which no vector uses`);
  total += vectors.length;
  return problems.length === before ? 1 : 0;
}

const retired = retiredIds();
const seen = new Map(); // id -> file
let total = 0;
let filesOk = 0;
// `validate.mjs FILE...` checks other vector files (such as one fuzz-decoder wrote) against the
// schema their `area` names, instead of the six files of this folder.
const extra = process.argv.slice(2);
if (extra.length) {
  for (const f of extra) {
    if (!existsSync(f)) {
      problem(f, 'missing');
      continue;
    }
    filesOk += checkFile(f, f, undefined, retired, seen);
  }
} else {
  for (const stem of STEMS) {
    const name = `${stem}.json`;
    const path = join(HERE, name);
    if (!existsSync(path)) {
      problem(name, 'missing');
      continue;
    }
    filesOk += checkFile(name, path, stem, retired, seen);
  }
}

if (problems.length) {
  for (const p of problems) console.error(`validate.mjs: ${p}`);
  console.error(`vectors: ${total} in ${extra.length || STEMS.length} files, ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`vectors: ${total} in ${filesOk} files, ok`);
