/**
 * forge ASN.1 nodes for what forge cannot encode itself: it only knows RSA keys and
 * RSA signature algorithms, so SPKIs of other key types are carried verbatim and
 * AlgorithmIdentifiers are built from the algorithm table.
 */
import forge from 'node-forge';
import { errors } from '../errors';
import type { SignatureAlgorithm } from './signature-algorithms';

/** forge's TBSCertificate builder, which its typings leave out. */
export function getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1 {
  return (forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(cert);
}

/** An AlgorithmIdentifier with the parameter encoding the algorithm requires (NULL for RSA, absent otherwise). */
export function algorithmIdentifier(alg: Pick<SignatureAlgorithm, 'oid' | 'params'>): forge.asn1.Asn1 {
  const a = forge.asn1;
  const parts = [a.create(a.Class.UNIVERSAL, a.Type.OID, false, a.oidToDer(alg.oid).getBytes())];
  if (alg.params === 'null') parts.push(a.create(a.Class.UNIVERSAL, a.Type.NULL, false, ''));
  return a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, parts);
}

/** A BIT STRING with no unused bits holding `bytes` (signatures). */
export function bitString(bytes: Buffer): forge.asn1.Asn1 {
  const a = forge.asn1;
  return a.create(a.Class.UNIVERSAL, a.Type.BITSTRING, false, '\x00' + bytes.toString('binary'));
}

/** An SPKI DER as a forge ASN.1 node that re-encodes to exactly the same bytes. */
export function spkiAsn1(spkiDer: Buffer): forge.asn1.Asn1 {
  // decodeBitStrings off: forge must not reinterpret the key bits as nested ASN.1 (its typings only know the boolean form).
  const opts = { strict: true, decodeBitStrings: false } as unknown as boolean;
  const node = forge.asn1.fromDer(forge.util.createBuffer(spkiDer.toString('binary')), opts);
  // A silent re-encoding difference would change the key the signature binds.
  if (!Buffer.from(forge.asn1.toDer(node).getBytes(), 'binary').equals(spkiDer)) throw errors.internal('SPKI_REENCODING', 'public key did not survive ASN.1 re-encoding');
  return node;
}

/** DER bytes of a forge node, as a Buffer. */
export function derOf(node: forge.asn1.Asn1): Buffer {
  return Buffer.from(forge.asn1.toDer(node).getBytes(), 'binary');
}
