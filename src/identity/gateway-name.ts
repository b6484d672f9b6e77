import { X509Certificate } from 'node:crypto';

/**
 * The stable name of the gateway inside its trust domain. Every server certificate
 * carries it, and clients verify the server against it whatever address they dial
 * (a container IP, a namespace address), so no address has to be known in advance.
 * (A light module on purpose: the CLI loads it without node-forge or pino.)
 */
export function gatewayServerName(trustDomain: string): string {
  return `gateway.${trustDomain}`;
}

/** `gateway.<trust-domain>` read from the CA's `spiffe://<trust-domain>` URI SAN, if it has one. */
export function gatewayNameFromCa(caPem: string): string | undefined {
  try {
    const m = /URI:spiffe:\/\/([a-z0-9._-]+)/.exec(new X509Certificate(caPem).subjectAltName ?? '');
    return m ? gatewayServerName(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
