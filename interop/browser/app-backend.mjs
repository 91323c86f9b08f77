#!/usr/bin/env node
// A minimal app backend in Node (issue 13): it keeps the admin API's bearer token to itself,
// stores and replaces its users' avatars through pixstore-server's admin API
// (docs/admin-api.md), and hands fresh ImageRecords to its browser page, where pixstore 3.2.1's
// own frontend fetches and decrypts the images from the server's default endpoint.
//
//   node app-backend.mjs --admin http://127.0.0.1:7483 --token-file admin-tokens --www DIR [--listen 127.0.0.1:0]
//
// Routes of the app (what its page calls; no admin token ever reaches the browser):
//   GET  /                        the page (DIR/app.html), GET /bundle.js its script
//   POST /api/avatars             body: image bytes -> {"id"} (the record stays on the server)
//   PUT  /api/avatars/{id}        body: image bytes -> {"id", "token"}
//   GET  /api/avatars/{id}/record -> a fresh ImageRecord (what the frontend's getImage takes)
// Prints one JSON line {"address": "HOST:PORT"} once listening.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    admin: { type: 'string' },
    'token-file': { type: 'string' },
    www: { type: 'string' },
    listen: { type: 'string', default: '127.0.0.1:0' },
  },
});
if (!args.admin || !args['token-file'] || !args.www) {
  console.error('usage: node app-backend.mjs --admin URL --token-file FILE --www DIR [--listen HOST:PORT]');
  process.exit(2);
}
// The first token of the file (one a line, # comments), as pixstore-server reads it.
const token = (await readFile(args['token-file'], 'utf8'))
  .split('\n')
  .map((l) => l.replace(/#.*/, '').trim())
  .find((l) => l.length > 0);
if (!token) throw new Error(`no token in ${args['token-file']}`);

/** One admin API call; the JSON answer, or an error carrying the API's status and message. */
async function admin(method, route, body) {
  const res = await fetch(`${args.admin}${route}`, { method, body, headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  if (!res.ok) {
    const e = new Error(`admin API ${method} ${route}: ${res.status} ${text}`);
    e.status = res.status;
    throw e;
  }
  return text ? JSON.parse(text) : null;
}

const readBody = (req) =>
  new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });

const send = (res, status, value, type = 'application/json') =>
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(type === 'application/json' ? JSON.stringify(value) : value);

const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://app');
    const m = url.pathname.match(/^\/api\/avatars(?:\/([^/]+))?(\/record)?$/);
    if (req.method === 'GET' && url.pathname === '/') {
      return send(res, 200, await readFile(path.join(args.www, 'app.html')), 'text/html');
    }
    if (req.method === 'GET' && url.pathname === '/bundle.js') {
      return send(res, 200, await readFile(path.join(args.www, 'app-bundle.js')), 'text/javascript');
    }
    if (!m) return send(res, 404, { error: 'no such route' });
    const [, rawId, record] = m;
    // The id as the admin API wants it in a path: percent-encoded (a dir prefix has a ':').
    const id = rawId ? encodeURIComponent(decodeURIComponent(rawId)) : null;
    if (req.method === 'POST' && !id) {
      const r = await admin('POST', '/images?dir=avatars', await readBody(req));
      return send(res, 201, { id: r.id });
    }
    if (req.method === 'PUT' && id && !record) {
      const r = await admin('PUT', `/images/${id}`, await readBody(req));
      return send(res, 200, { id: r.id, token: r.token });
    }
    if (req.method === 'GET' && id && record) {
      return send(res, 200, await admin('GET', `/images/${id}/record`));
    }
    return send(res, 405, { error: 'method not allowed' });
  } catch (e) {
    return send(res, e.status === 404 ? 404 : 502, { error: String(e.message ?? e) });
  }
});
const [host, port] = args.listen.split(':');
server.listen(Number(port), host, () => {
  const a = server.address();
  console.log(JSON.stringify({ address: `${a.address}:${a.port}` }));
});
