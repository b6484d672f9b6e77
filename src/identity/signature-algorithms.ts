/**
 * The signature algorithms the gateway reads and writes in CSRs and certificates,
 * with their OIDs and the parameter encoding each one requires.
 */
import type { KeyType } from './keys';

/** Which family of keys a signature algorithm belongs to (an RSA signature on an EC key is refused). */
export type KeyFamily = 'rsa' | 'ec' | 'ed25519';

/** One signature algorithm as it appears in an AlgorithmIdentifier. */
export interface SignatureAlgorithm {
  oid: string;
  /** The name RFCs and openssl use, for messages. */
  name: string;
  family: KeyFamily;
  /** Digest for Node's sign/verify; null for Ed25519. */
  digest: 'sha256' | 'sha384' | 'sha512' | null;
  /**
   * How parameters are encoded: RSA ones carry NULL (RFC 4055 also asks readers to
   * accept them absent); ECDSA (RFC 5758) and Ed25519 (RFC 8410) must omit them.
   */
  params: 'null' | 'absent';
}

const ALGORITHMS: readonly SignatureAlgorithm[] = [
  { oid: '1.2.840.113549.1.1.11', name: 'sha256WithRSAEncryption', family: 'rsa', digest: 'sha256', params: 'null' },
  { oid: '1.2.840.113549.1.1.12', name: 'sha384WithRSAEncryption', family: 'rsa', digest: 'sha384', params: 'null' },
  { oid: '1.2.840.113549.1.1.13', name: 'sha512WithRSAEncryption', family: 'rsa', digest: 'sha512', params: 'null' },
  { oid: '1.2.840.10045.4.3.2', name: 'ecdsa-with-SHA256', family: 'ec', digest: 'sha256', params: 'absent' },
  { oid: '1.2.840.10045.4.3.3', name: 'ecdsa-with-SHA384', family: 'ec', digest: 'sha384', params: 'absent' },
  { oid: '1.2.840.10045.4.3.4', name: 'ecdsa-with-SHA512', family: 'ec', digest: 'sha512', params: 'absent' },
  { oid: '1.3.101.112', name: 'Ed25519', family: 'ed25519', digest: null, params: 'absent' },
];

/** OIDs of algorithms the gateway knows by name but refuses, so messages can name them. */
const REFUSED_NAMES: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'RSASSA-PSS',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.3.101.113': 'Ed448',
};

/** A supported signature algorithm by OID, or undefined. */
export function signatureAlgorithmByOid(oid: string): SignatureAlgorithm | undefined {
  return ALGORITHMS.find((a) => a.oid === oid);
}

/** A readable name for any signature algorithm OID (the OID itself when unknown). */
export function signatureAlgorithmName(oid: string): string {
  return signatureAlgorithmByOid(oid)?.name ?? REFUSED_NAMES[oid] ?? oid;
}

/** The algorithm the gateway itself signs with for a key type (the same digest signData uses). */
export function signatureAlgorithmFor(type: KeyType): SignatureAlgorithm {
  const oid = { rsa: '1.2.840.113549.1.1.11', p256: '1.2.840.10045.4.3.2', p384: '1.2.840.10045.4.3.3', ed25519: '1.3.101.112' }[type];
  return signatureAlgorithmByOid(oid)!;
}

/** The key family of a key type. */
export function familyOf(type: KeyType): KeyFamily {
  return type === 'p256' || type === 'p384' ? 'ec' : type;
}
