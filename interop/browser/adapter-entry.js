// The client adapter's page script (spec Appendix C), bundled by esbuild with pixstore 3.2.1's
// own browser frontend (`pixstore/frontend/index.js`, unchanged). adapter.mjs drives it through
// `window.pxc`: every operation of the protocol is one call here, answered with the outcome
// object (without `seq`).
//
// Errors are reported as the frontend raises them: the kind is read from its own error names
// and messages, never guessed from the payload (3.2.1 names no decode kinds, so those are null).
import { initPixstoreFrontend, getImage, cachedImageExists, deleteCachedImage } from 'pixstore/frontend/index.js';

// 3.2.1 ships IS_TEST = true: its database is `pixstore-test`, store `images` (spec §13.4).
const DB = 'pixstore-test';
const STORE = 'images';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const hex = (bytes) => {
  const parts = [];
  for (let i = 0; i < bytes.length; i += 8192) {
    let s = '';
    for (const b of bytes.subarray(i, i + 8192)) s += HEX[b];
    parts.push(s);
  }
  return parts.join('');
};

const openDb = () =>
  new Promise((resolve, reject) => {
    const r = indexedDB.open(DB);
    r.onupgradeneeded = () => {
      if (!r.result.objectStoreNames.contains(STORE)) r.result.createObjectStore(STORE, { keyPath: 'id' });
    };
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });

// The frontend writes to IndexedDB without awaiting (its writeImageRecord). A read-write
// transaction on the same store starts only after every read-write transaction created before
// it has finished, so waiting for an empty one lets those writes land before the suite looks.
const barrier = async () => {
  const db = await openDb();
  await new Promise((resolve, reject) => {
    const t = db.transaction(STORE, 'readwrite');
    t.oncomplete = resolve;
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
  db.close();
};

// Every byte an entry stores, as IndexedDB keeps it: a typed array is stored with the whole
// buffer it is a view of (structured clone), strings as UTF-8, numbers as text.
const chunksOf = (value, out) => {
  if (value instanceof ArrayBuffer) out.push(new Uint8Array(value));
  else if (ArrayBuffer.isView(value)) out.push(new Uint8Array(value.buffer));
  else if (typeof value === 'string') out.push(new TextEncoder().encode(value));
  else if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    out.push(new TextEncoder().encode(String(value)));
  else if (value && typeof value === 'object') for (const v of Object.values(value)) chunksOf(v, out);
  return out;
};
const bytesOf = (value) => {
  const chunks = chunksOf(value, []);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
};

const errorOf = (e) => {
  const name = e?.name ?? typeof e;
  const message = String(e?.message ?? e);
  const m = (re) => message.match(re);
  let error;
  if (name === 'PixstoreError' && m(/Image fetch failed: state=(\w+)/)) {
    error = { kind: 'state', state: m(/state=(\w+)/)[1] };
  } else if (name === 'PixstoreError' && m(/Failed to fetch image: (\d+)/)) {
    const status = Number(m(/Failed to fetch image: (\d+)/)[1]);
    error = { kind: 'fetch', fetchKind: status >= 300 && status < 400 ? 'redirect' : 'status', status };
  } else if (name === 'PixstoreError' && m(/Unknown image format byte|Unsupported image format/)) {
    error = { kind: 'envelope', envelopeKind: 'UnknownFormat' };
  } else if (name === 'PixstoreError' && m(/Invalid state|Invalid wire/)) {
    error = { kind: 'decode', decodeKind: null };
  } else if (name === 'RangeError') {
    error = { kind: 'decode', decodeKind: null };
  } else if (name === 'OperationError') {
    // WebCrypto's AES-GCM decrypt: the tag did not verify.
    error = { kind: 'envelope', envelopeKind: 'Authentication' };
  } else if (name === 'TypeError' && m(/fetch/i)) {
    error = { kind: 'fetch', fetchKind: 'other' };
  } else if (name === 'AdapterFetchError') {
    error = { kind: 'fetch', fetchKind: e.fetchKind, status: e.status ?? null };
  } else {
    error = { kind: 'other' };
  }
  return { ok: false, error: { ...error, message: `${name}: ${message}` } };
};

class AdapterFetchError extends Error {
  constructor(fetchKind, message, status) {
    super(message);
    this.name = 'AdapterFetchError';
    this.fetchKind = fetchKind;
    this.status = status;
  }
}

// The custom fetcher of spec Appendix C.5 (the app's code in a real deployment).
const templateFetcher = (template, timeoutMs, maxPayloadBytes) => async (record, context) => {
  const url = template.replace('{id}', encodeURIComponent(record.id));
  const headers = { 'x-pixstore-token': String(record.token) };
  if (record.statelessProof) headers['x-pixstore-proof'] = record.statelessProof;
  for (const [k, v] of Object.entries(context?.headers ?? {})) headers[k] = String(v);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  try {
    let res;
    try {
      res = await fetch(url, { headers, redirect: 'manual', signal: abort.signal });
    } catch (e) {
      throw new AdapterFetchError(abort.signal.aborted ? 'timeout' : 'other', String(e));
    }
    if (res.type === 'opaqueredirect') throw new AdapterFetchError('redirect', 'redirect refused');
    if (res.status !== 200) throw new AdapterFetchError('status', `HTTP ${res.status}`, res.status);
    const reader = res.body.getReader();
    const chunks = [];
    let total = 0;
    for (;;) {
      let step;
      try {
        step = await reader.read();
      } catch (e) {
        throw new AdapterFetchError(abort.signal.aborted ? 'timeout' : 'other', String(e));
      }
      if (step.done) break;
      total += step.value.length;
      if (total > maxPayloadBytes) {
        abort.abort();
        throw new AdapterFetchError('tooLarge', `larger than ${maxPayloadBytes} bytes`);
      }
      chunks.push(step.value);
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  } finally {
    clearTimeout(timer);
  }
};

const configure = (req) => {
  const config = {
    frontendImageCacheLimit: req.cache.limit,
    frontendCleanupBatch: req.cache.batch,
    errorHandlingMode: 'throw',
  };
  if (req.endpoint) {
    const u = new URL(req.endpoint);
    Object.assign(config, {
      defaultEndpointConnectHost: u.hostname,
      defaultEndpointConnectPort: Number(u.port),
      defaultEndpointRoute: u.pathname,
    });
    initPixstoreFrontend(config);
  } else {
    initPixstoreFrontend(config, templateFetcher(req.endpointTemplate, req.timeoutMs, req.maxPayloadBytes));
  }
};

const imageOf = async (blob) => {
  if (blob === null) return { ok: false, error: { kind: 'other', message: 'getImage returned null' } };
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const sha256 = hex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
  return { ok: true, image: { sha256, mime: blob.type, format: null, token: null, fromCache: null } };
};

const getOne = async (record, context) => {
  try {
    return await imageOf(await getImage(record, context ?? undefined));
  } catch (e) {
    return errorOf(e);
  }
};

window.pxc = {
  // Deletes the database (after the page was reloaded, so no connection holds it open).
  async reset() {
    await new Promise((resolve, reject) => {
      const r = indexedDB.deleteDatabase(DB);
      r.onsuccess = resolve;
      r.onerror = () => reject(r.error);
      r.onblocked = () => reject(new Error('deleting the database is blocked by an open connection'));
    });
    return { ok: true };
  },
  async get(req) {
    configure(req);
    let record;
    try {
      record = JSON.parse(req.record);
    } catch (e) {
      // The platform's JSON parser, as the app would use it (spec Appendix C.3).
      return { ok: false, error: { kind: 'record', recordKind: 'Syntax', message: `JSON.parse: ${e.message}` } };
    }
    const n = req.concurrency ?? 1;
    const results = await Promise.all(Array.from({ length: n }, () => getOne(record, req.context)));
    await barrier();
    return n === 1 ? results[0] : { ok: true, results };
  },
  async cached(req) {
    configure(req);
    await barrier();
    try {
      return { ok: true, cached: Boolean(await cachedImageExists(req.id)) };
    } catch (e) {
      return errorOf(e);
    }
  },
  async evict(req) {
    configure(req);
    try {
      await deleteCachedImage(req.id);
      await barrier();
      return { ok: true };
    } catch (e) {
      return errorOf(e);
    }
  },
  async dump() {
    await barrier();
    const db = await openDb();
    const all = await new Promise((resolve, reject) => {
      const r = db.transaction(STORE).objectStore(STORE).getAll();
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    db.close();
    return { ok: true, entries: all.map((e) => ({ id: String(e.id), hex: hex(bytesOf(e)) })) };
  },
};
document.getElementById('status').textContent = 'adapter loaded';
