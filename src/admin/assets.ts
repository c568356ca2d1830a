/**
 * The dashboard's files (the top-level `dashboard/` folder of the package, plain HTML, CSS and ES
 * modules with no build step) and the chart library from its npm package, served at `/` and
 * `/static/…`. They are read once, on the first request, and held in memory (some tens of KiB); only
 * the names found then are served, so no path from a request ever reaches the file system.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
  readonly etag: string;
}

/** dist/src/admin/ → the package root's dashboard/ (the same in the repository and in the package). */
const folder = fileURLToPath(new URL('../../../dashboard/', import.meta.url));
const require = createRequire(import.meta.url);
/** The chart library, pinned in package.json and served from the installed package, never a CDN. */
const vendor: Record<string, string> = {
  'vendor/uPlot.esm.js': 'uplot/dist/uPlot.esm.js',
  'vendor/uPlot.min.css': 'uplot/dist/uPlot.min.css',
};

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * The page runs only its own scripts and styles: no inline script or style, no other origin, no
 * frames. uPlot sizes its elements through the CSSOM (`el.style.x = …`), which style-src allows.
 */
export const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

let loading: Promise<Map<string, Asset>> | undefined;

function asset(name: string, body: Buffer): Asset {
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  return { body, contentType: contentTypes[extname(name)] ?? 'application/octet-stream', etag };
}

async function load(): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    if (!entry.isFile() || !(extname(entry.name) in contentTypes)) continue;
    assets.set(entry.name, asset(entry.name, await readFile(folder + entry.name)));
  }
  for (const [name, module] of Object.entries(vendor))
    assets.set(name, asset(name, await readFile(require.resolve(module))));
  return assets;
}

/** The asset a GET of `path` names: `/` is the page, `/static/<name>` the rest; else undefined. */
function nameOf(path: string): string | undefined {
  if (path === '/' || path === '/index.html') return 'index.html';
  return path.startsWith('/static/') ? path.slice('/static/'.length) : undefined;
}

export function isAssetPath(path: string): boolean {
  return nameOf(path) !== undefined;
}

/**
 * Answers a GET or HEAD of an asset: 200 (or 304 to a matching `If-None-Match`), 404 for an unknown
 * name. The page itself is revalidated on every load; the others may be reused for a few minutes.
 */
export async function serveAsset(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  loading ??= load();
  const name = nameOf(path) ?? '';
  const found = (await loading).get(name);
  const headers = {
    'content-security-policy': contentSecurityPolicy,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  };
  if (found === undefined) {
    res.writeHead(404, {
      ...headers,
      'content-type': 'text/plain; charset=utf-8',
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : 'Not found\n');
    return;
  }
  const caching = {
    ...headers,
    etag: found.etag,
    'cache-control': name === 'index.html' ? 'no-cache' : 'public, max-age=300',
  };
  if (req.headers['if-none-match'] === found.etag) {
    res.writeHead(304, caching);
    res.end();
    return;
  }
  res.writeHead(200, { ...caching, 'content-type': found.contentType, 'content-length': found.body.length });
  res.end(req.method === 'HEAD' ? undefined : found.body);
}
