import { createHash, createPublicKey, X509Certificate } from 'node:crypto';

/** A certificate serial as the registry keeps it: lowercase hex without leading zeros (as Node prints it, minus its padding). */
export function normalizeSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+/, '');
}

/** Device id: lowercase hex SHA-256 of the SubjectPublicKeyInfo DER. */
export function deviceIdFromSpkiDer(spkiDer: Buffer): string {
  return createHash('sha256').update(spkiDer).digest('hex');
}

/** Device id of a PEM public key (SPKI). */
export function deviceIdFromPublicKeyPem(publicKeyPem: string): string {
  return deviceIdFromSpkiDer(createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' }));
}

/** Device id of a certificate (PEM string or DER buffer). */
export function deviceIdFromCertificate(cert: string | Buffer | X509Certificate): string {
  const x = cert instanceof X509Certificate ? cert : new X509Certificate(cert);
  return deviceIdFromSpkiDer(x.publicKey.export({ type: 'spki', format: 'der' }));
}

/** SHA-256 fingerprint of a certificate's DER, lowercase hex with colons (as openssl prints it, lowercased). */
export function certificateFingerprint(certPem: string): string {
  const der = new X509Certificate(certPem).raw;
  return createHash('sha256').update(der).digest('hex').match(/../g)!.join(':');
}

/** Normalizes a fingerprint the user typed (any case, with or without colons, optional "sha256:" prefix). */
export function normalizeFingerprint(value: string): string {
  const hex = value.trim().toLowerCase().replace(/^sha256:/, '').replace(/[^0-9a-f]/g, '');
  return hex.match(/../g)?.join(':') ?? '';
}
