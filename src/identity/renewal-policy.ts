import { X509Certificate } from 'node:crypto';

/** Fraction of a certificate's lifetime after which its holder renews it. */
export const RENEW_AT_FRACTION = 2 / 3;

/** Largest jitter a caller may ask for: renewal then starts up to this fraction earlier. */
export const MAX_RENEW_JITTER = 0.1;

/** Validity window of a certificate, epoch ms. */
export interface Validity {
  notBefore: number;
  notAfter: number;
}

/** Validity window of a PEM certificate. */
export function certValidity(certPem: string): Validity {
  const x = new X509Certificate(certPem);
  return { notBefore: Date.parse(x.validFrom), notAfter: Date.parse(x.validTo) };
}

/**
 * The one renewal threshold: a certificate is due once two thirds of its lifetime have
 * passed, `jitter` (0..0.1) earlier so that a fleet does not renew in the same second.
 * `now` is the wall clock (timers do not advance while a machine sleeps). An expired
 * certificate is due too.
 */
export function renewalDue(v: Validity, now: number, jitter = 0): boolean {
  const j = Math.min(Math.max(jitter, 0), MAX_RENEW_JITTER);
  return now >= v.notBefore + (v.notAfter - v.notBefore) * (RENEW_AT_FRACTION - j);
}
