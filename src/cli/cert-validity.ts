import { X509Certificate } from 'node:crypto';

/** Validity window of a PEM certificate, epoch ms. */
export function certValidity(certPem: string): { notBefore: number; notAfter: number } {
  const x = new X509Certificate(certPem);
  return { notBefore: Date.parse(x.validFrom), notAfter: Date.parse(x.validTo) };
}

/**
 * Whether a certificate is due for renewal: less than a third of its lifetime left
 * (or already expired). The same threshold the gateway uses for its local identities.
 */
export function renewalDue(certPem: string, now: number): boolean {
  const { notBefore, notAfter } = certValidity(certPem);
  return notAfter - now < (notAfter - notBefore) / 3;
}
