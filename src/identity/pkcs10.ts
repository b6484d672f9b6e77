/**
 * Strict structural reading of a PKCS#10 CertificationRequest (RFC 2986): every
 * field must have the tag and shape the standard gives it, in DER. No policy here
 * (which keys and algorithms are allowed is csr.ts's job).
 */
import { childrenOf, checkTree, DerError, encodingOf, expectCount, expectTag, readBitString, readOid, readSingle, TAG, valueOf, type DerElement } from './der';

/** How an AlgorithmIdentifier's parameters were encoded. */
export type AlgorithmParams = 'absent' | 'null' | 'other';

/** The parts of a CSR the gateway needs, read from DER. */
export interface ParsedCsr {
  /** CertificationRequestInfo as encoded: exactly the bytes the signature covers. */
  info: Buffer;
  /** The last subject CN, decoded ('' when the subject has none). */
  commonName: string;
  /** SubjectPublicKeyInfo as encoded. */
  spkiDer: Buffer;
  signatureOid: string;
  signatureParams: AlgorithmParams;
  signature: Buffer;
}

const OID_COMMON_NAME = '2.5.4.3';

/** Decodes a DirectoryString (and the legacy string types CAs still meet in CNs). */
function readDirectoryString(der: Buffer, el: DerElement): string {
  const v = valueOf(der, el);
  switch (el.tag) {
    case TAG.UTF8_STRING:
      try {
        return new TextDecoder('utf-8', { fatal: true }).decode(v);
      } catch {
        throw new DerError('subject CN: UTF8String is not valid UTF-8');
      }
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
      if (v.some((b) => b > 0x7f)) throw new DerError('subject CN: non-ASCII byte in an ASCII string type');
      return v.toString('latin1');
    case TAG.T61_STRING:
      return v.toString('latin1');
    case TAG.BMP_STRING:
      if (v.length % 2 !== 0) throw new DerError('subject CN: BMPString of odd length');
      return Buffer.from(v).swap16().toString('utf16le');
    default:
      throw new DerError(`subject CN: unsupported string type (tag 0x${el.tag.toString(16)})`);
  }
}

/** Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }: returns the last CN. */
function readCommonName(der: Buffer, name: DerElement): string {
  let cn = '';
  for (const rdn of childrenOf(der, name)) {
    expectTag(rdn, TAG.SET, 'subject RelativeDistinguishedName');
    for (const atv of childrenOf(der, rdn)) {
      expectTag(atv, TAG.SEQUENCE, 'subject AttributeTypeAndValue');
      const [type, value] = expectCount(childrenOf(der, atv), 2, 'subject AttributeTypeAndValue');
      if (readOid(der, type, 'subject attribute type') === OID_COMMON_NAME) cn = readDirectoryString(der, value);
    }
  }
  return cn;
}

/** AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL }. */
function readAlgorithm(der: Buffer, el: DerElement, what: string): { oid: string; params: AlgorithmParams } {
  expectTag(el, TAG.SEQUENCE, what);
  const [oid, params] = expectCount(childrenOf(der, el), 1, what, 2);
  const kind: AlgorithmParams = !params ? 'absent' : params.tag === TAG.NULL && params.end === params.start ? 'null' : 'other';
  return { oid: readOid(der, oid, `${what} algorithm`), params: kind };
}

/** Attributes ::= [0] IMPLICIT SET OF SEQUENCE { type OID, values SET OF ANY }. */
function checkAttributes(der: Buffer, el: DerElement): void {
  expectTag(el, TAG.CONTEXT_0, 'attributes [0]');
  for (const attr of childrenOf(der, el)) {
    expectTag(attr, TAG.SEQUENCE, 'attribute');
    const [type, values] = expectCount(childrenOf(der, attr), 2, 'attribute');
    readOid(der, type, 'attribute type');
    expectTag(values, TAG.SET, 'attribute values');
  }
}

/**
 * Reads a DER CertificationRequest strictly; throws DerError saying what was wrong
 * (trailing bytes, a non-minimal or overlong length, a wrong tag at a named field, ...).
 */
export function parsePkcs10(der: Buffer): ParsedCsr {
  const outer = expectTag(readSingle(der), TAG.SEQUENCE, 'CertificationRequest');
  // Every nested length is checked once up front, including in fields read no further.
  checkTree(der, outer);
  const [cri, sigAlg, sig] = expectCount(childrenOf(der, outer), 3, 'CertificationRequest');
  expectTag(cri, TAG.SEQUENCE, 'CertificationRequestInfo');
  const [version, name, spki, attributes] = expectCount(childrenOf(der, cri), 4, 'CertificationRequestInfo');
  expectTag(version, TAG.INTEGER, 'version');
  if (!valueOf(der, version).equals(Buffer.from([0]))) throw new DerError('version: expected INTEGER 0 (v1)');
  expectTag(name, TAG.SEQUENCE, 'subject Name');
  const commonName = readCommonName(der, name);
  expectTag(spki, TAG.SEQUENCE, 'subjectPublicKeyInfo');
  const [keyAlg, keyBits] = expectCount(childrenOf(der, spki), 2, 'subjectPublicKeyInfo');
  readAlgorithm(der, keyAlg, 'subjectPublicKeyInfo AlgorithmIdentifier');
  readBitString(der, keyBits, 'subjectPublicKey');
  checkAttributes(der, attributes);
  const alg = readAlgorithm(der, sigAlg, 'signatureAlgorithm');
  return {
    info: encodingOf(der, cri),
    commonName,
    spkiDer: encodingOf(der, spki),
    signatureOid: alg.oid,
    signatureParams: alg.params,
    signature: readBitString(der, sig, 'signature'),
  };
}
