import { isIP } from 'node:net';
import { isLoopbackHost } from './exposure';

/** Why a browser's WebSocket was let in, or why not. */
export type OriginDecision =
  | { allowed: true; matchedBy: 'no-origin' | 'allowlist' | 'same-origin' | 'same-origin-tls' | 'loopback' }
  | { allowed: false; reason: 'origin missing or invalid' | 'origin not allowed' };

/** The config key that lists extra browser origins (named in the refusal). */
export const ALLOWED_ORIGINS_KEY = 'bridge.controlUi.allowedOrigins';

function parseOrigin(value: string): URL | undefined {
  if (value === 'null' || !/^https?:\/\/[^/?#\\@]+$/i.test(value)) return undefined;
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

/**
 * Decides a WebSocket upgrade by its `Origin` header (only browsers send one: CLIs and
 * node clients are not affected). A page is let in when its origin is
 * - listed in `bridge.controlUi.allowedOrigins` (exactly, lower case);
 * - the bridge's own origin (its host equals the `Host` the page was served from) and
 *   that host is an IP address or a loopback name. A DNS name could be anyone's name
 *   pointed at this address (DNS rebinding), so names must be listed;
 * - the bridge's own `https://` origin on a TLS connection whose certificate names that
 *   host (`certifiedName`): a rebinding page cannot get past the browser's certificate
 *   check, so a name the certificate covers is as good as an address;
 * - a loopback origin, when the connection itself comes from the loopback interface (a
 *   UI served from another local port).
 * Anything else, a malformed or `null` origin included, is refused.
 */
export function checkOrigin(
  headers: { origin?: string; host?: string },
  remoteAddress: string | undefined,
  allowed: readonly string[],
  certifiedName?: (hostname: string) => boolean,
): OriginDecision {
  const raw = headers.origin;
  if (raw === undefined) return { allowed: true, matchedBy: 'no-origin' };
  const origin = parseOrigin(raw.trim());
  if (!origin) return { allowed: false, reason: 'origin missing or invalid' };
  if (allowed.includes(origin.origin)) return { allowed: true, matchedBy: 'allowlist' };
  const host = headers.host?.toLowerCase();
  if (host && origin.host === host && (isIP(origin.hostname.replace(/^\[|\]$/g, '')) !== 0 || isLoopbackHost(origin.hostname))) {
    return { allowed: true, matchedBy: 'same-origin' };
  }
  if (host && certifiedName && origin.protocol === 'https:' && origin.host === host && certifiedName(origin.hostname)) return { allowed: true, matchedBy: 'same-origin-tls' };
  if ((!!remoteAddress && isLoopbackHost(remoteAddress)) && isLoopbackHost(origin.hostname)) return { allowed: true, matchedBy: 'loopback' };
  return { allowed: false, reason: 'origin not allowed' };
}
