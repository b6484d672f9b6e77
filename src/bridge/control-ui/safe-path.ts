/** Longest request path the Control UI routes look at. */
export const MAX_PATH_LENGTH = 2048;

/** A request path checked for serving from the UI root. */
export type CheckedPath =
  | { ok: true; /** Decoded path segments, none empty, `.`, `..` or hidden. */ segments: string[] }
  | { ok: false; status: 400 | 404 | 414; reason: string };

/**
 * Checks the raw path of a request URL (before any normalization, so `/a/../b` is seen
 * as written) and decodes it segment by segment. Refused: anything that is not an
 * origin-form path, backslashes, NUL and control characters, `.` and `..` segments
 * (also percent-encoded), encoded slashes, empty segments, malformed escapes and
 * over-long paths (400/414); hidden files (`.name`: 404, the bundle has none).
 */
export function checkRequestPath(rawUrl: string): CheckedPath {
  const raw = rawUrl.split(/[?#]/, 1)[0];
  if (raw.length > MAX_PATH_LENGTH) return { ok: false, status: 414, reason: 'path too long' };
  if (!raw.startsWith('/')) return { ok: false, status: 400, reason: 'not an absolute path' };
  if (raw.includes('\\')) return { ok: false, status: 400, reason: 'backslash in path' };
  if (raw === '/') return { ok: true, segments: [] };
  const parts = raw.slice(1).split('/');
  // One trailing slash is a client route like any other (`/chat/`); empty segments inside are not.
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  const segments: string[] = [];
  for (const part of parts) {
    let s: string;
    try {
      s = decodeURIComponent(part);
    } catch {
      return { ok: false, status: 400, reason: 'malformed percent-encoding' };
    }
    if (s === '') return { ok: false, status: 400, reason: 'empty path segment' };
    if (s === '.' || s === '..') return { ok: false, status: 400, reason: 'dot segment in path' };
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f]/.test(s)) return { ok: false, status: 400, reason: 'control character in path' };
    if (s.includes('/') || s.includes('\\')) return { ok: false, status: 400, reason: 'encoded separator in path' };
    segments.push(s);
  }
  if (segments.some((s) => s.startsWith('.'))) return { ok: false, status: 404, reason: 'hidden file' };
  return { ok: true, segments };
}
