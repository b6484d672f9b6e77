import { isIP } from 'node:net';
import { connect, type PeerCertificate, type DetailedPeerCertificate } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { errors } from '../../../errors';
import { normalizeFingerprint } from '../../../identity';

/** The TLS server name for a host: none for an IP literal (RFC 6066 forbids it; Node warns, DEP0123). */
function sniName(host: string): string | undefined {
  return isIP(host) === 0 ? host : undefined;
}

function toPem(raw: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${raw.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/**
 * Learns the gateway's CA from its TLS handshake and accepts it only if its SHA-256
 * fingerprint equals the pinned one and it signed the server's certificate. This is
 * how a device that has no CA yet reaches the pairing RPC without blind trust.
 */
export async function fetchPinnedCa(host: string, port: number, pinnedFingerprint: string, timeoutMs = 5000): Promise<string> {
  const want = normalizeFingerprint(pinnedFingerprint);
  if (want.length !== 95) throw errors.invalid('BAD_FINGERPRINT', 'the CA fingerprint must be a SHA-256 fingerprint (64 hex digits, colons optional)');
  const chain = await new Promise<DetailedPeerCertificate>((resolve, reject) => {
    const socket = connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['h2'], servername: sniName(host) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(errors.unavailable('GATEWAY_UNREACHABLE', `gateway ${host}:${port} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const cert = socket.getPeerCertificate(true);
      socket.end();
      resolve(cert);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(errors.unavailable('GATEWAY_UNREACHABLE', `cannot reach gateway at ${host}:${port} (${(err as NodeJS.ErrnoException).code ?? err.message})`));
    });
  });
  const seen: PeerCertificate[] = [];
  for (let c: DetailedPeerCertificate | undefined = chain; c && c.raw && !seen.includes(c); c = c.issuerCertificate) seen.push(c);
  const leaf = new X509Certificate(seen[0].raw);
  for (const c of seen) {
    if (normalizeFingerprint(c.fingerprint256) !== want) continue;
    const ca = new X509Certificate(c.raw);
    if (!ca.ca || !leaf.verify(ca.publicKey)) break;
    return toPem(c.raw);
  }
  throw errors.unauthenticated('CA_FINGERPRINT_MISMATCH', `the gateway at ${host}:${port} does not present a CA with fingerprint ${pinnedFingerprint}; refusing to trust it`);
}
