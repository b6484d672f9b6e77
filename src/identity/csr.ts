import forge from 'node-forge';
import { createPublicKey, verify as nativeVerify, type KeyObject } from 'node:crypto';
import { errors } from '../errors';
import { CollectingDigest, NativeRsaSigner } from './keys';
import { deviceIdFromSpkiDer } from './device-id';

/** Smallest RSA modulus accepted in a CSR. */
export const MIN_RSA_BITS = 2048;
/** Largest RSA modulus accepted (bounds the cost of a request). */
export const MAX_RSA_BITS = 8192;
/** Largest CSR PEM accepted, in bytes. */
export const MAX_CSR_BYTES = 16 * 1024;

/** A CSR whose proof of possession verified. */
export interface VerifiedCsr {
  publicKeyPem: string;
  deviceId: string;
  /** The subject CN the device asked for (a label only, never used for decisions). */
  commonName: string;
  keyBits: number;
}

const SIG_HASH_BY_OID: Record<string, string> = {
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};

/** Builds a PEM CSR for a key pair (device side); CN carries the requested label. */
export function createCsr(input: { privateKeyPem: string; publicKeyPem: string; label: string }): string {
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(input.publicKeyPem);
  csr.setSubject([{ name: 'commonName', value: Array.from(input.label).slice(0, 64).join('') || 'device', valueTagClass: forge.asn1.Type.UTF8 } as unknown as forge.pki.CertificateField]);
  csr.sign(new NativeRsaSigner(input.privateKeyPem) as unknown as forge.pki.rsa.PrivateKey, new CollectingDigest() as unknown as forge.md.MessageDigest);
  return forge.pki.certificationRequestToPem(csr);
}

/** Reads one DER TLV header at `offset`: returns where the value starts and ends. */
function tlv(der: Buffer, offset: number): { start: number; end: number; tag: number } {
  if (offset + 2 > der.length) throw new Error('truncated');
  const tag = der[offset];
  let len = der[offset + 1];
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > der.length) throw new Error('bad length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i];
    start += n;
  }
  const end = start + len;
  if (end > der.length) throw new Error('truncated');
  return { start, end, tag };
}

function keyDescription(key: KeyObject): string {
  const t = key.asymmetricKeyType;
  if (t === 'ec') return `EC (${key.asymmetricKeyDetails?.namedCurve ?? 'unknown curve'})`;
  return String(t).toUpperCase();
}

/**
 * Parses a PEM CSR and verifies its proof of possession natively. Accepts only RSA
 * keys of 2048-8192 bits signed with SHA-256/384/512; anything else is refused with
 * INVALID_ARGUMENT and a reason that says what was wrong.
 */
export function verifyCsr(pem: string): VerifiedCsr {
  if (typeof pem !== 'string' || pem.length === 0) throw errors.invalid('CSR_MISSING', 'no CSR given');
  if (pem.length > MAX_CSR_BYTES) throw errors.invalid('CSR_TOO_LARGE', `CSR is larger than ${MAX_CSR_BYTES} bytes`);
  let der: Buffer;
  try {
    const msgs = forge.pem.decode(pem);
    const msg = msgs.find((m) => m.type === 'CERTIFICATE REQUEST' || m.type === 'NEW CERTIFICATE REQUEST');
    if (!msg) throw new Error('no CERTIFICATE REQUEST block');
    der = Buffer.from(msg.body, 'binary');
  } catch {
    throw errors.invalid('CSR_MALFORMED', 'CSR is not a PEM "CERTIFICATE REQUEST" block');
  }
  let info: Buffer;
  let sigOid: string;
  let signature: Buffer;
  let spkiDer: Buffer;
  let commonName = '';
  try {
    const outer = tlv(der, 0);
    const cri = tlv(der, outer.start);
    info = der.subarray(outer.start, cri.end);
    const alg = tlv(der, cri.end);
    const oid = tlv(der, alg.start);
    sigOid = forge.asn1.derToOid(forge.util.createBuffer(der.subarray(oid.start, oid.end).toString('binary')));
    const sig = tlv(der, alg.end);
    if (sig.tag !== 0x03) throw new Error('signature is not a BIT STRING');
    signature = der.subarray(sig.start + 1, sig.end);
    // CertificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo, attributes }
    const version = tlv(der, cri.start);
    const subject = tlv(der, version.end);
    const spki = tlv(der, subject.end);
    spkiDer = der.subarray(subject.end, spki.end);
    const subjectAsn1 = forge.asn1.fromDer(der.subarray(version.end, subject.end).toString('binary'));
    for (const rdn of subjectAsn1.value as forge.asn1.Asn1[]) {
      for (const atv of rdn.value as forge.asn1.Asn1[]) {
        const parts = atv.value as forge.asn1.Asn1[];
        if (forge.asn1.derToOid(parts[0].value as string) === '2.5.4.3') commonName = forge.util.decodeUtf8(parts[1].value as string);
      }
    }
  } catch {
    throw errors.invalid('CSR_MALFORMED', 'CSR is not a well-formed PKCS#10 request (bad or truncated DER)');
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
  } catch {
    throw errors.invalid('CSR_MALFORMED', 'CSR public key could not be read');
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw errors.invalid('CSR_KEY_TYPE', `CSR key is ${keyDescription(key)}: only RSA keys of at least ${MIN_RSA_BITS} bits are supported`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
    throw errors.invalid('CSR_KEY_SIZE', `CSR key is RSA-${bits}: RSA keys must be ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits`);
  }
  const hash = SIG_HASH_BY_OID[sigOid];
  if (!hash) throw errors.invalid('CSR_SIGNATURE_ALGORITHM', `CSR signature algorithm ${sigOid} is not supported (use sha256WithRSAEncryption)`);
  let ok = false;
  try {
    ok = nativeVerify(hash, info, key, signature);
  } catch {
    ok = false;
  }
  if (!ok) throw errors.invalid('CSR_SIGNATURE_INVALID', 'CSR signature does not verify (no proof of possession of the private key)');
  return {
    publicKeyPem: key.export({ type: 'spki', format: 'pem' }).toString(),
    deviceId: deviceIdFromSpkiDer(spkiDer),
    commonName,
    keyBits: bits,
  };
}

/**
 * A short verification code derived from the public key (device id), shown on the
 * device and to the approving operator so both can see they talk about the same key.
 * Format: XXXX-XXXX from an unambiguous alphabet.
 */
export function verificationCode(deviceId: string): string {
  const alphabet = '23456789ABCDEFGHJKLMNPQRSTUVWXYZ';
  const bytes = Buffer.from(deviceId.slice(0, 16), 'hex');
  let out = '';
  for (let i = 0; i < 8; i++) out += alphabet[bytes[i] % 32];
  return `${out.slice(0, 4)}-${out.slice(4)}`;
}
