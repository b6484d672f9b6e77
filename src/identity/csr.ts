import forge from 'node-forge';
import { createPrivateKey, createPublicKey, verify as nativeVerify, type KeyObject } from 'node:crypto';
import { errors } from '../errors';
import { describeKey, KEY_TYPE_NAMES, keyTypeOf, signData, type KeyType } from './keys';
import { deviceIdFromSpkiDer } from './device-id';
import { DerError } from './der';
import { parsePkcs10, type ParsedCsr } from './pkcs10';
import { familyOf, signatureAlgorithmByOid, signatureAlgorithmFor, signatureAlgorithmName, type SignatureAlgorithm } from './signature-algorithms';
import { algorithmIdentifier, bitString, derOf, spkiAsn1 } from './forge-asn1';

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
  keyType: KeyType;
  /** Modulus bits for RSA, curve bits for EC, 256 for Ed25519. */
  keyBits: number;
}

const SUPPORTED_KEYS = `RSA (${MIN_RSA_BITS}-${MAX_RSA_BITS} bits), EC P-256, EC P-384 and Ed25519`;

/**
 * Builds a PEM CSR (device side) for an RSA, P-256, P-384 or Ed25519 key; CN carries
 * the label. Signed with the key type's algorithm (signatureAlgorithmFor).
 * `publicKeyPem` defaults to the private key's own (tests pass another to forge one).
 */
export function createCsr(input: { privateKeyPem: string; publicKeyPem?: string; label: string }): string {
  const a = forge.asn1;
  const privateKey = createPrivateKey(input.privateKeyPem);
  const type = keyTypeOf(privateKey);
  if (!type) throw errors.invalid('KEY_TYPE_UNSUPPORTED', `cannot make a CSR for a ${describeKey(privateKey)} key (supported: ${SUPPORTED_KEYS})`);
  const spkiDer = createPublicKey(input.publicKeyPem ?? privateKey).export({ type: 'spki', format: 'der' });
  const cn = Array.from(input.label).slice(0, 64).join('') || 'device';
  // UTF8String, so a label in any script gives a request that parses everywhere.
  const subject = a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, [
    a.create(a.Class.UNIVERSAL, a.Type.SET, true, [
      a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, [
        a.create(a.Class.UNIVERSAL, a.Type.OID, false, a.oidToDer('2.5.4.3').getBytes()),
        a.create(a.Class.UNIVERSAL, a.Type.UTF8, false, forge.util.encodeUtf8(cn)),
      ]),
    ]),
  ]);
  const info = a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, [
    a.create(a.Class.UNIVERSAL, a.Type.INTEGER, false, '\x00'),
    subject,
    spkiAsn1(spkiDer),
    a.create(a.Class.CONTEXT_SPECIFIC, 0, true, []),
  ]);
  const signature = signData(privateKey, derOf(info));
  const csr = a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, [info, algorithmIdentifier(signatureAlgorithmFor(type)), bitString(signature)]);
  return forge.pem.encode({ type: 'CERTIFICATE REQUEST', body: a.toDer(csr).getBytes() }, { maxline: 64 });
}

/** The DER body of the first CERTIFICATE REQUEST block of a PEM text. */
function pemToDer(pem: string): Buffer {
  try {
    const msg = forge.pem.decode(pem).find((m) => m.type === 'CERTIFICATE REQUEST' || m.type === 'NEW CERTIFICATE REQUEST');
    if (msg) return Buffer.from(msg.body, 'binary');
  } catch {
    /* reported below */
  }
  throw errors.invalid('CSR_MALFORMED', 'CSR is not a PEM "CERTIFICATE REQUEST" block');
}

/** The key's SPKI as Node writes it itself: named curve, uncompressed point, NULL RSA parameters. */
function canonicalSpki(key: KeyObject): Buffer {
  return createPublicKey({ key: key.export({ format: 'jwk' }), format: 'jwk' }).export({ type: 'spki', format: 'der' });
}

/** Checks the key's type and size; returns its type and bits. */
function checkKey(key: KeyObject, spkiDer: Buffer): { type: KeyType; bits: number } {
  const type = keyTypeOf(key);
  if (!type) throw errors.invalid('CSR_KEY_TYPE', `CSR key is ${describeKey(key)}: supported are ${SUPPORTED_KEYS}`);
  const bits = type === 'rsa' ? (key.asymmetricKeyDetails?.modulusLength ?? 0) : type === 'p384' ? 384 : 256;
  if (type === 'rsa' && (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS)) {
    throw errors.invalid('CSR_KEY_SIZE', `CSR key is RSA-${bits}: RSA keys must be ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits`);
  }
  // The device id is the hash of these bytes and the certificate carries Node's
  // encoding: an unusual but equivalent form would give the device two ids.
  if (!canonicalSpki(key).equals(spkiDer)) {
    throw errors.invalid('CSR_KEY_TYPE', `CSR ${KEY_TYPE_NAMES[type]} key is not in the standard SubjectPublicKeyInfo form (e.g. a compressed EC point or explicit curve parameters)`);
  }
  return { type, bits };
}

/** Checks the signature algorithm against the key and its parameter encoding; returns it. */
function checkSignatureAlgorithm(parsed: ParsedCsr, type: KeyType): SignatureAlgorithm {
  const alg = signatureAlgorithmByOid(parsed.signatureOid);
  const suggestion = `use ${signatureAlgorithmFor(type).name} for this ${KEY_TYPE_NAMES[type]} key`;
  if (!alg) throw errors.invalid('CSR_SIGNATURE_ALGORITHM', `CSR signature algorithm ${signatureAlgorithmName(parsed.signatureOid)} is not supported (${suggestion})`);
  if (alg.family !== familyOf(type)) throw errors.invalid('CSR_SIGNATURE_ALGORITHM', `CSR is signed with ${alg.name}, which does not match its ${KEY_TYPE_NAMES[type]} key (${suggestion})`);
  // RFC 4055 has readers accept RSA parameters absent as well as NULL; ECDSA and Ed25519 have none.
  const paramsOk = alg.params === 'null' ? parsed.signatureParams !== 'other' : parsed.signatureParams === 'absent';
  if (!paramsOk) throw errors.invalid('CSR_SIGNATURE_ALGORITHM', `CSR signature algorithm ${alg.name} must have ${alg.params === 'null' ? 'NULL or no' : 'no'} parameters`);
  return alg;
}

/**
 * Parses a PEM CSR strictly and verifies its proof of possession natively. Accepts
 * RSA 2048-8192, EC P-256/P-384 and Ed25519 keys with a matching SHA-2 (or Ed25519)
 * signature; anything else is refused with INVALID_ARGUMENT and a reason saying what
 * was wrong.
 */
export function verifyCsr(pem: string): VerifiedCsr {
  if (typeof pem !== 'string' || pem.length === 0) throw errors.invalid('CSR_MISSING', 'no CSR given');
  if (pem.length > MAX_CSR_BYTES) throw errors.invalid('CSR_TOO_LARGE', `CSR is larger than ${MAX_CSR_BYTES} bytes`);
  let parsed: ParsedCsr;
  try {
    parsed = parsePkcs10(pemToDer(pem));
  } catch (err) {
    if (err instanceof DerError) throw errors.invalid('CSR_MALFORMED', `CSR is not a well-formed PKCS#10 request: ${err.message}`);
    throw err;
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: parsed.spkiDer, format: 'der', type: 'spki' });
  } catch {
    throw errors.invalid('CSR_MALFORMED', 'CSR public key could not be read');
  }
  const { type, bits } = checkKey(key, parsed.spkiDer);
  const alg = checkSignatureAlgorithm(parsed, type);
  let ok = false;
  try {
    ok = nativeVerify(alg.digest, parsed.info, key, parsed.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw errors.invalid('CSR_SIGNATURE_INVALID', 'CSR signature does not verify (no proof of possession of the private key)');
  return {
    publicKeyPem: key.export({ type: 'spki', format: 'pem' }).toString(),
    deviceId: deviceIdFromSpkiDer(parsed.spkiDer),
    commonName: parsed.commonName,
    keyType: type,
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
