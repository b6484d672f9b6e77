import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { audit, type Logger } from '../../logging';
import { BOOTSTRAP_CONFIG_PATHS, bearerToken, bootstrapConfig, UNAUTHORIZED_BODY, type BootstrapFacts } from './bootstrap-config';
import { acceptedEncodings, contentTypeOf, ENCODING_SUFFIX, isAssetName, isCompressible, type Encoding } from './content-types';
import { isVersionedPublicAsset, securityHeaders } from './index-html';
import { NO_ROOT_PAGE } from './no-root-page';
import { checkRequestPath } from './safe-path';
import type { ControlUiRoot, OpenedFile } from './ui-root';

/** How a bearer token of `/control-ui-config.json` was accepted, or why not. */
export type BearerCheck = { ok: true; via: 'shared-token' | 'device-token'; deviceId?: string } | { ok: false; retryAfterMs?: number };

/** What the Control UI routes need. */
export interface ControlUiRoutesOptions {
  /** The bundle to serve; undefined: `GET /` says how to configure one. */
  root?: ControlUiRoot;
  /** Checks the bearer token of a bootstrap config request (the shared token, or a device token). */
  /** Checks a bearer token sent from `remote` (wrong ones count against that address; a locked-out one gets retryAfterMs). */
  checkBearer(token: string, remote: string): Promise<BearerCheck>;
  facts(): BootstrapFacts;
  log: Logger;
}

const IMMUTABLE = 'public, max-age=31536000, immutable';

/** First path segments of the legacy gateway's HTTP APIs: never client routes (a miss there is a 404, not the page). */
const API_PREFIXES = new Set(['api', 'v1', '__openclaw', '__openclaw__']);

/** Whether a request takes an HTML page (a navigation), so a client route may answer with index.html. */
function acceptsHtml(accept: string | undefined): boolean {
  if (!accept?.trim()) return true;
  return accept.split(',').some((part) => {
    const [range, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (q && !(Number(q.slice(2)) > 0)) return false;
    return ['text/html', 'application/xhtml+xml', 'text/*', '*/*'].includes(range.trim());
  });
}

function plain(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)), 'Cache-Control': 'no-store' });
  res.end(text);
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)), 'Cache-Control': 'no-cache' });
  res.end(text);
}

/** Whether `If-Modified-Since` covers a file modified at `mtimeMs` (HTTP dates have whole seconds). */
function notModified(req: IncomingMessage, mtimeMs: number): boolean {
  const since = req.headers['if-modified-since'];
  if (!since || req.headers['if-none-match'] !== undefined) return false;
  const t = Date.parse(since);
  return Number.isFinite(t) && Math.floor(mtimeMs / 1000) * 1000 <= t;
}

/**
 * The legacy Control UI on the bridge's own origin, as the legacy gateway serves it:
 * `index.html` (rewritten, CSP with the hashes of its inline scripts) for `/` and every
 * client route, the bundle's files (precompressed siblings when accepted, hashed assets
 * cached for a year), and the bootstrap config behind a bearer token. Returns a handler
 * that answers (and returns true) for the requests it owns; GET and HEAD only (the caller
 * refuses other methods).
 */
export function controlUiRoutes(opts: ControlUiRoutesOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { root, log } = opts;
  return (req, res) => {
    const raw = req.url ?? '/';
    const path = raw.split(/[?#]/, 1)[0];
    const host = req.headers.host;
    let work: Promise<void> | undefined;
    if (BOOTSTRAP_CONFIG_PATHS.includes(path)) work = serveBootstrapConfig(req, res, opts);
    else if (!root) {
      if (path !== '/') return false;
      res.writeHead(200, { ...securityHeaders([], host), 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': String(Buffer.byteLength(NO_ROOT_PAGE)), 'Cache-Control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : NO_ROOT_PAGE);
      return true;
    } else {
      const checked = checkRequestPath(raw);
      if (!checked.ok) {
        log.debug({ path: raw.slice(0, 200), reason: checked.reason, remote: req.socket.remoteAddress }, 'control UI: path refused');
        plain(res, checked.status, `${checked.status === 404 ? 'not found' : 'bad request'}: ${checked.reason}\n`, securityHeaders([], host));
        return true;
      }
      work = serveFile(req, res, root, checked.segments, new URL(raw, 'http://localhost').searchParams.get('v'));
    }
    work.catch((err: unknown) => {
      log.error({ err, path: path.slice(0, 200) }, 'control UI request failed');
      if (!res.headersSent) plain(res, 500, 'internal error\n');
      else res.destroy();
    });
    return true;
  };
}

async function serveBootstrapConfig(req: IncomingMessage, res: ServerResponse, opts: ControlUiRoutesOptions): Promise<void> {
  const headers = securityHeaders([], req.headers.host);
  const token = bearerToken(req.headers.authorization);
  const check: BearerCheck = token ? await opts.checkBearer(token, req.socket.remoteAddress ?? '') : { ok: false };
  const lockedFor = !check.ok ? check.retryAfterMs : undefined;
  audit(opts.log, 'bridge.controlUi.config', {
    allowed: check.ok,
    reason: check.ok ? check.via : lockedFor ? 'too many failed attempts from this address' : token ? 'bearer token not accepted' : 'no bearer token',
    deviceId: check.ok ? check.deviceId : undefined,
    remote: req.socket.remoteAddress,
  });
  if (lockedFor) return json(res, 429, { error: { message: 'Too Many Requests', type: 'rate_limited' } }, { ...headers, 'Retry-After': String(Math.ceil(lockedFor / 1000)) });
  if (!check.ok) return json(res, 401, UNAUTHORIZED_BODY, headers);
  if (req.method === 'HEAD') {
    res.writeHead(200, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-cache' });
    res.end();
    return;
  }
  json(res, 200, bootstrapConfig(opts.facts()), headers);
}

async function serveFile(req: IncomingMessage, res: ServerResponse, root: ControlUiRoot, segments: string[], version: string | null): Promise<void> {
  const last = segments[segments.length - 1] ?? '';
  if (segments.length === 0 || (segments.length === 1 && last === 'index.html')) return serveIndex(req, res, root);
  // The precompressed siblings are representations of their file, never files of their own.
  if (/\.(br|gz)$/i.test(last)) return plain(res, 404, 'not found\n', securityHeaders([], req.headers.host));
  const file = await root.openFile(segments);
  if (!file) {
    // A client route (e.g. /automations, /chat/agent:main:main) is the page; a missing file, an API path or a fetch that wants no HTML is not.
    if (isAssetName(last) || API_PREFIXES.has(segments[0]) || !acceptsHtml(req.headers.accept)) return plain(res, 404, 'not found\n', securityHeaders([], req.headers.host));
    return serveIndex(req, res, root);
  }
  let body: OpenedFile = file;
  try {
    await sendFile(req, res, root, segments, version, file, (b) => (body = b));
  } catch (err) {
    // Nothing left open when a step before the stream fails (e.g. an unreadable index.html).
    await body.handle.close().catch(() => undefined);
    throw err;
  }
}

/** Answers with an opened file (or a precompressed sibling, reported through `use`), streaming it last. */
async function sendFile(req: IncomingMessage, res: ServerResponse, root: ControlUiRoot, segments: string[], version: string | null, file: OpenedFile, use: (body: OpenedFile) => void): Promise<void> {
  const last = segments[segments.length - 1] ?? '';
  const rel = segments.join('/');
  const immutable = segments[0] === 'assets' || (version !== null && isVersionedPublicAsset(rel) && version === (await root.index())?.buildId);
  let body: OpenedFile = file;
  let encoding: Encoding | undefined;
  if (isCompressible(rel)) {
    for (const e of acceptedEncodings(req.headers['accept-encoding'])) {
      const sibling = await root.openFile([...segments.slice(0, -1), last + ENCODING_SUFFIX[e]]);
      if (sibling) {
        await file.handle.close();
        body = sibling;
        use(sibling);
        encoding = e;
        break;
      }
    }
  }
  const headers: Record<string, string> = {
    ...securityHeaders([], req.headers.host),
    'Content-Type': contentTypeOf(rel),
    'Cache-Control': immutable ? IMMUTABLE : 'no-cache',
    'Last-Modified': new Date(Math.floor(file.mtimeMs / 1000) * 1000).toUTCString(),
    Vary: 'Accept-Encoding',
  };
  if (notModified(req, file.mtimeMs)) {
    await body.handle.close();
    res.writeHead(304, headers);
    res.end();
    return;
  }
  if (encoding) headers['Content-Encoding'] = encoding;
  headers['Content-Length'] = String(body.size);
  res.writeHead(200, headers);
  if (req.method === 'HEAD') {
    await body.handle.close();
    res.end();
    return;
  }
  // Streamed from the open file (closed when the stream ends or fails).
  await pipeline(body.handle.createReadStream(), res).catch(() => res.destroy());
}

async function serveIndex(req: IncomingMessage, res: ServerResponse, root: ControlUiRoot): Promise<void> {
  const index = await root.index();
  if (!index) return plain(res, 503, `the Control UI root ${root.dir} has no index.html any more\n`);
  const encoding = acceptedEncodings(req.headers['accept-encoding'])[0];
  const body = index.body[encoding ?? 'identity'];
  const headers: Record<string, string> = {
    ...securityHeaders(index.inlineScriptHashes, req.headers.host),
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-cache',
    Vary: 'Accept-Encoding',
    'Content-Length': String(body.length),
  };
  if (encoding) headers['Content-Encoding'] = encoding;
  res.writeHead(200, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}
