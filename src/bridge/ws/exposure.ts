/**
 * Whether the legacy port may listen where it is asked to. Without TLS the shared token
 * and device tokens cross the network in clear text, and a browser on another machine
 * gets no secure context; so a plain port listens on loopback only, unless the operator
 * says `--bridge-insecure` (then every start logs a warning).
 */
import { isIP } from 'node:net';
import { errors } from '../../errors';

/** True for addresses only this host can reach: `localhost`, 127.0.0.0/8, ::1 (also IPv4-mapped). */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h) || /^0:0:0:0:0:0:0:1$/.test(h);
  return false;
}

/** The ways out of a refusal, in the options of `openclaw-gateway start` (the in-process bridge). */
export const GATEWAY_TLS_WAYS =
  'add --bridge-tls (a certificate from the gateway\'s CA) or --bridge-cert/--bridge-key (your own), or --bridge-insecure to accept plain ws:// there';

/** The same ways out in the options of `openclaw-gateway bridge` (its own process or container). */
export const STANDALONE_TLS_WAYS =
  'set OPENCLAW_BRIDGE_TLS=1 or add --tls (the certificate in <certs>/tls from "certs-tools issue-server"), ' +
  'or --tls-cert/--tls-key (your own), or --insecure to accept plain ws:// there';

/**
 * `secure` when the port has TLS or listens on loopback; `insecure` when it is plain on
 * another address and the operator allowed it. Refuses (BAD_CONFIG, one line saying the
 * ways out, `ways`, in the options of the command that starts the bridge) a plain port on
 * another address without that permission.
 */
export function checkBridgeExposure(host: string, tls: boolean, insecureAllowed: boolean, ways = GATEWAY_TLS_WAYS): 'secure' | 'insecure' {
  if (tls || isLoopbackHost(host)) return 'secure';
  if (insecureAllowed) return 'insecure';
  throw errors.invalid('BRIDGE_NEEDS_TLS', `the legacy bridge would listen on ${host} without TLS, so tokens would cross the network in clear text: ${ways}`);
}

/**
 * The host part of a container runtime's publish spec ("127.0.0.1:18789", "[::1]:18789",
 * "0.0.0.0:18789", or "18789" alone, which publishes on every interface).
 */
export function publishedHost(spec: string): string {
  const v = spec.trim();
  if (/^\d+$/.test(v)) return '0.0.0.0';
  const m = /^(?:\[([^\]]+)\]|(.*)):\d+$/.exec(v);
  if (!m) throw errors.invalid('BAD_CONFIG', `a published address must be HOST:PORT or PORT, got "${spec}"`);
  return m[1] ?? (m[2] || '0.0.0.0');
}
