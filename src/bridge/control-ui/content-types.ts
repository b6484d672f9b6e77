import { extname } from 'node:path';

/** Content types of the files a Control UI bundle holds (the real gateway's table). */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'application/javascript; charset=utf-8',
  '.mjs': 'application/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
};

/** Text formats the bundle ships precompressed siblings (`.br`, `.gz`) of. */
const COMPRESSIBLE = new Set(['.css', '.html', '.js', '.mjs', '.json', '.map', '.svg', '.txt', '.wasm', '.webmanifest']);

/** The content type of a file, by extension (`application/octet-stream` for unknown ones). */
export function contentTypeOf(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** Whether a missing file with this name is a missing asset (404) rather than a client route (index.html). */
export function isAssetName(path: string): boolean {
  const ext = extname(path).toLowerCase();
  return ext === '.br' || ext === '.gz' || Object.hasOwn(CONTENT_TYPES, ext);
}

/** Whether a precompressed sibling may stand for this file. */
export function isCompressible(path: string): boolean {
  return COMPRESSIBLE.has(extname(path).toLowerCase());
}

/** A precompressed representation: its `Content-Encoding` and file suffix. */
export type Encoding = 'br' | 'gzip';
export const ENCODING_SUFFIX: Readonly<Record<Encoding, string>> = { br: '.br', gzip: '.gz' };

/**
 * The encodings an `Accept-Encoding` header allows, best first: `br` before `gzip` at
 * equal quality; `q=0` refuses one; `*` stands for any not named.
 */
export function acceptedEncodings(header: string | string[] | undefined): Encoding[] {
  const text = Array.isArray(header) ? header.join(',') : (header ?? '');
  const q = new Map<string, number>();
  for (const part of text.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    const qp = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const value = qp ? Number(qp.slice(2)) : 1;
    q.set(name, Number.isFinite(value) ? value : 0);
  }
  const star = q.get('*');
  const quality = (e: string) => q.get(e) ?? (e === 'gzip' ? q.get('x-gzip') : undefined) ?? star ?? 0;
  return (['br', 'gzip'] as const).filter((e) => quality(e) > 0).sort((a, b) => quality(b) - quality(a));
}
