// Serves the SPA example on one loopback origin (`examples/run` starts it; any static file server
// works the same way). The library comes from browser-tests/node_modules (`npm ci` there, or
// `scripts/browser-test --install`); `/config.js` is written from the environment:
//
//   SPA_PORT (default 5173), SPA_ISSUER (Latch's issuer), SPA_CLIENT_ID, SPA_NAME
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const library = join(here, '../../browser-tests/node_modules/oidc-client-ts/dist/browser/oidc-client-ts.min.js');
const port = Number(process.env.SPA_PORT ?? 5173);
const config = {
  authority: process.env.SPA_ISSUER ?? 'http://127.0.0.1:8080',
  clientId: process.env.SPA_CLIENT_ID ?? '',
  name: process.env.SPA_NAME ?? 'SPA example',
};
const files = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/callback.html': ['callback.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/logo.svg': ['logo.svg', 'image/svg+xml'],
};

createServer(async (req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  const send = (status, type, body) => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  };
  if (req.method !== 'GET') return send(405, 'text/plain', 'GET only');
  try {
    if (path === '/config.js') return send(200, 'text/javascript', `window.LATCH_SPA = ${JSON.stringify(config)};\n`);
    if (path === '/oidc-client-ts.min.js') return send(200, 'text/javascript', await readFile(library));
    const file = files[path];
    if (!file) return send(404, 'text/plain', 'not found');
    return send(200, file[1], await readFile(join(here, file[0])));
  } catch (err) {
    return send(500, 'text/plain', String(err));
  }
}).listen(port, '127.0.0.1', () => console.error(`SPA example: http://127.0.0.1:${port}/`));
