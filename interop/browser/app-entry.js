// The app's page script (interop/browser/app-backend.mjs serves it): gets a fresh record from
// its own backend, hands it to pixstore 3.2.1's frontend (bundled from npm unchanged), which
// fetches and decrypts the image from pixstore-server's default endpoint.
import { initPixstoreFrontend, getImage } from 'pixstore/frontend/index.js';

const hex = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');

window.app = {
  init(config) {
    initPixstoreFrontend(config);
  },
  // The avatar of `id` as the page shows it: the Blob's type and SHA-256.
  async avatar(id) {
    const res = await fetch(`/api/avatars/${encodeURIComponent(id)}/record`);
    if (!res.ok) throw new Error(`the app backend answered ${res.status}`);
    const record = await res.json();
    const blob = await getImage(record);
    if (!blob) return null;
    const img = document.createElement('img');
    img.src = URL.createObjectURL(blob);
    document.body.append(img);
    await img.decode();
    return { type: blob.type, token: record.token, sha256: hex(await crypto.subtle.digest('SHA-256', await blob.arrayBuffer())) };
  },
};
document.getElementById('status').textContent = 'app loaded';
