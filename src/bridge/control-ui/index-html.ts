import { createHash } from 'node:crypto';

/** `<html>` attribute carrying the bundle's build id. */
export const BUILD_ID_ATTRIBUTE = 'data-openclaw-control-ui-build-id';

/** Files at the bundle's root that index.html links to (served at `/<name>`). */
export const ROOT_PUBLIC_ASSETS: readonly string[] = ['apple-touch-icon.png', 'favicon-32.png', 'favicon.ico', 'favicon.svg', 'manifest.webmanifest', 'sw.js'];

/**
 * Whether a file is covered by the build id: a request for it with `?v=<build id>` may be
 * cached for good (the service worker, `sw.js`, never).
 */
export function isVersionedPublicAsset(rel: string): boolean {
  if (ROOT_PUBLIC_ASSETS.includes(rel)) return rel !== 'sw.js';
  return /^(?:fonts\/[^/]+\.(?:css|woff2)|themes\/[^/]+\.css|(?:provider-icons|cloud-provider-icons|file-icons(?:\/[^/]+)*)\/[^/]+\.svg|(?:app-art|community-art)\/[^/]+\.webp)$/u.test(rel);
}

/** The index.html the browser gets, with what its headers need. */
export interface PreparedIndex {
  html: string;
  /** The build id read from the bundle's index.html (empty when it has none). */
  buildId: string;
  /** `sha256-…` of each inline script of `html`, for the CSP. */
  inlineScriptHashes: string[];
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Rewrites the bundle's index.html as the legacy gateway serves it from its own origin:
 * `./assets/x` becomes `/assets/x` (so a deep link like `/chat/agent:main:main` still
 * loads the bundle), links to the root files become `/<file>?v=<build id>`, and `<html>`
 * gets the base path (`""`: the UI is mounted at `/`), whether the terminal is enabled
 * (never here: this gateway has none) and the build id again.
 */
export function prepareIndexHtml(source: string): PreparedIndex {
  const buildId = new RegExp(`<html\\b[^>]*\\s${BUILD_ID_ATTRIBUTE}="([^"]*)"`, 'i').exec(source)?.[1] ?? '';
  const version = buildId ? `?v=${encodeURIComponent(buildId)}` : '';
  let html = source.replace(/(src|href)="\.\/assets\//g, '$1="/assets/');
  for (const asset of ROOT_PUBLIC_ASSETS) {
    const target = `href="/${asset}${isVersionedPublicAsset(asset) ? version : ''}"`;
    html = html.split(`href="./${asset}"`).join(target).split(`href="/${asset}"`).join(target);
  }
  html = html.replace(/<html\b[^>]*>/i, (tag) => {
    const rest = tag.replace(new RegExp(`\\s${BUILD_ID_ATTRIBUTE}="[^"]*"`, 'g'), '').replace(/^<html/i, '');
    const build = buildId ? ` ${BUILD_ID_ATTRIBUTE}="${escapeAttribute(buildId)}"` : '';
    return `<html data-openclaw-control-ui-base-path="" data-openclaw-terminal-enabled="false"${build}${rest}`;
  });
  return { html, buildId, inlineScriptHashes: inlineScriptHashes(html) };
}

/** SHA-256 hashes (CSP source form) of the inline `<script>` blocks of a page: those without a `src` attribute. */
export function inlineScriptHashes(html: string): string[] {
  const hashes: string[] = [];
  for (const m of html.matchAll(/<script(\s[^>]*)?>([^]*?)<\/script>/gi)) {
    const attributes = m[1] ?? '';
    if (/(?:^|\s)src\s*=/i.test(attributes) || !m[2]) continue;
    hashes.push(`sha256-${createHash('sha256').update(m[2], 'utf8').digest('base64')}`);
  }
  return hashes;
}

/**
 * The Content-Security-Policy of the legacy gateway's Control UI: scripts only from this
 * origin plus the page's own inline scripts by hash; WebSockets to any host (the UI may
 * be pointed at another gateway); no framing.
 */
export function contentSecurityPolicy(inlineHashes: readonly string[] = [], host?: string): string {
  const script = ["'self'", ...inlineHashes.map((h) => `'${h}'`)].join(' ');
  const connect = ["'self'", 'ws:', 'wss:', 'data:', 'https://api.openai.com', 'https://tweakcn.com'];
  // As the legacy gateway: pages it serves may also reach other ports of the host they came from.
  const hostname = hostnameOf(host);
  if (hostname) connect.push(`http://${hostname}:*`, `https://${hostname}:*`);
  return [
    "default-src 'self'",
    "base-uri 'none'",
    "object-src 'none'",
    "frame-ancestors 'none'",
    "frame-src 'self' http: https:",
    `script-src ${script}`,
    "style-src 'self' 'unsafe-inline' https://fonts.googleapis.com",
    "img-src 'self' data: blob: https:",
    "media-src 'self' data: blob:",
    "font-src 'self' https://fonts.gstatic.com",
    "worker-src 'self'",
    `connect-src ${connect.join(' ')}`,
  ].join('; ');
}

/** The host name of a Host header value, when it is a plain `name[:port]` (never anything that could break the header). */
function hostnameOf(host: string | undefined): string | undefined {
  if (!host || !/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/.test(host)) return undefined;
  try {
    return new URL(`http://${host}`).hostname || undefined;
  } catch {
    return undefined;
  }
}

/** Headers every Control UI response carries (the legacy gateway's set); HTML adds its script hashes to the CSP. */
export function securityHeaders(inlineHashes: readonly string[] = [], host?: string): Record<string, string> {
  return {
    'X-Frame-Options': 'DENY',
    'Content-Security-Policy': contentSecurityPolicy(inlineHashes, host),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Permissions-Policy': 'camera=(self), microphone=*, geolocation=*, clipboard-write=*',
  };
}
