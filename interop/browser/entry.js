// The test page's script, bundled by esbuild with pixstore 3.2.1's own browser frontend
// (`pixstore/frontend/index.js`, unchanged). test.mjs drives it through `window.harness`.
import { initPixstoreFrontend, getImage, cachedImageExists } from 'pixstore/frontend/index.js';

const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');

const figure = (label) => {
  const f = document.createElement('figure');
  const caption = document.createElement('figcaption');
  caption.textContent = label;
  f.append(caption);
  document.getElementById('images').append(f);
  return f;
};

// Puts the Blob on the page (for the screenshots) and decodes it as an image, so a Blob that
// holds the right bytes but cannot be shown would still be noticed.
const show = async (label, blob) => {
  const f = figure(label);
  const img = document.createElement('img');
  img.alt = label;
  img.src = URL.createObjectURL(blob);
  f.prepend(img);
  try {
    await img.decode();
    return { width: img.naturalWidth, height: img.naturalHeight };
  } catch (e) {
    f.classList.add('failed');
    return { decodeError: String(e) };
  }
};

const describe = async (blob) => {
  const bytes = await blob.arrayBuffer();
  return { type: blob.type, size: blob.size, sha256: hex(await crypto.subtle.digest('SHA-256', bytes)) };
};

// A custom fetcher as an app writes one for its own route: the context carries what the app's
// route needs (here a player id and a bearer token), the record carries proof and token.
const customFetcher = async (record, context) => {
  const url = `${context.base}/player-image/${context.player}/${encodeURIComponent(record.id)}`;
  const res = await fetch(url, {
    headers: {
      authorization: `Bearer ${context.bearer}`,
      'x-pixstore-proof': record.statelessProof,
      'x-pixstore-token': String(record.token),
    },
  });
  if (!res.ok) throw new Error(`custom route answered ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
};

// Deterministic noise, so the fixtures do not compress: a "several MiB" image stays several MiB.
const noise = (ctx, width, height, seed) => {
  const image = ctx.createImageData(width, height);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < image.data.length; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    image.data[i] = x & 0xff;
    image.data[i + 1] = (x >>> 8) & 0xff;
    image.data[i + 2] = (x >>> 16) & 0xff;
    image.data[i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  // A visible mark, so the screenshots show which fixture is which.
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, Math.min(width, 120), Math.min(height, 28));
  ctx.fillStyle = '#000';
  ctx.font = '20px sans-serif';
  ctx.fillText(String(seed), 4, 21);
};

const toBase64 = (blob) =>
  new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ''));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });

// Fetches from the default endpoint like 3.2.1's default fetcher, then flips the last byte: a
// response that fails authentication, to watch what the frontend does with it.
const corruptingFetcher = (config) => async (record) => {
  const url = `http://${config.defaultEndpointConnectHost}:${config.defaultEndpointConnectPort}${config.defaultEndpointRoute}/${encodeURIComponent(record.id)}`;
  const res = await fetch(url, {
    headers: { 'x-pixstore-proof': record.statelessProof, 'x-pixstore-token': String(record.token) },
  });
  const bytes = new Uint8Array(await res.arrayBuffer());
  bytes[bytes.length - 1] ^= 0xff;
  return bytes;
};

// The frontend's IndexedDB entry for an id, read directly. The database is `pixstore-test`
// because 3.2.1 ships its test defaults (IS_TEST = true).
const storedEntry = (id) =>
  new Promise((resolve, reject) => {
    const open = indexedDB.open('pixstore-test');
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const get = open.result.transaction('images').objectStore('images').get(id);
      get.onerror = () => reject(get.error);
      get.onsuccess = () => {
        const e = get.result;
        open.result.close();
        if (!e) return resolve(null);
        const whole = new Uint8Array(e.encrypted.buffer);
        resolve({
          token: e.token,
          length: e.encrypted.byteLength,
          storedBufferLength: whole.byteLength,
          storedBufferBase64: btoa(String.fromCharCode(...whole.subarray(0, 69))),
        });
      };
    };
  });

window.harness = {
  init(config) {
    initPixstoreFrontend(config);
  },
  initCustom(config) {
    initPixstoreFrontend(config, customFetcher);
  },
  initCorrupting(config) {
    initPixstoreFrontend(config, corruptingFetcher(config));
  },
  storedEntry,
  // getImage(record, context), reported as data the test can compare.
  async get(label, record, context) {
    try {
      const blob = await getImage(record, context);
      if (blob === null) {
        figure(`${label}: getImage returned null`).classList.add('failed');
        return { ok: true, result: null };
      }
      const result = await describe(blob);
      result.shown = await show(label, blob);
      return { ok: true, result };
    } catch (e) {
      figure(`${label}: ${e?.name}: ${e?.message}`).classList.add('failed');
      return { ok: false, name: e?.name ?? typeof e, message: String(e?.message ?? e) };
    }
  },
  cached: (id) => cachedImageExists(id),
  async makeImage(mime, quality, width, height, seed) {
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    noise(canvas.getContext('2d'), width, height, seed);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, mime, quality));
    if (!blob || blob.type !== mime) throw new Error(`this browser cannot encode ${mime}`);
    return toBase64(blob);
  },
};
document.getElementById('status').textContent = 'frontend loaded';
