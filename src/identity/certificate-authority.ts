import forge from 'node-forge';
import { createPrivateKey, createPublicKey, hkdfSync, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { errors } from '../errors';
import { CollectingDigest, NativeRsaSigner, describeKey, generateRsaKeyPair, keyTypeOf, signData, KEY_TYPES, type KeyPairPem, type KeyType } from './keys';
import { certificateFingerprint, deviceIdFromSpkiDer } from './device-id';
import { algorithmIdentifier, bitString, derOf, getTBSCertificate, spkiAsn1 } from './forge-asn1';
import { signatureAlgorithmFor } from './signature-algorithms';
import { formatSpiffeId } from './spiffe';
import type { Role } from './roles';
import { isIP } from 'node:net';

/** How long before "now" a new certificate's notBefore is set, for clock skew. */
export const BACKDATE_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

/** What a signed leaf certificate is, as the registry records it. */
export interface IssuedCertificate {
  certPem: string;
  serial: string;
  notBefore: number;
  notAfter: number;
}

/** Which implementation makes the CA's RSA signature: Node's native crypto, or forge's JS (the benchmark's baseline). */
export type SigningMode = 'native' | 'forge';

interface LeafSpec {
  /** The subject's SubjectPublicKeyInfo, DER: carried into the certificate verbatim. */
  spkiDer: Buffer;
  keyType: KeyType;
  commonName: string;
  now: number;
  lifetimeMs: number;
  usage: 'client' | 'server';
  uris?: string[];
  dnsNames?: string[];
  ips?: string[];
}

/** A random positive 128-bit serial, as lowercase hex (what Node's X509Certificate prints, lowercased). */
function newSerial(): string {
  const b = randomBytes(16);
  // High bit clear (positive INTEGER), a non-zero high nibble (no leading zero in hex).
  b[0] = (b[0] & 0x7f) | 0x10;
  return b.toString('hex');
}

/** The SPKI DER and type of a PEM public key, refused unless it is a key type the gateway issues for. */
function subjectKey(publicKeyPem: string): { spkiDer: Buffer; keyType: KeyType } {
  const key = createPublicKey(publicKeyPem);
  const keyType = keyTypeOf(key);
  if (!keyType) throw errors.invalid('KEY_TYPE_UNSUPPORTED', `cannot issue a certificate for a ${describeKey(key)} key (supported: ${KEY_TYPES.join(', ')})`);
  return { spkiDer: key.export({ type: 'spki', format: 'der' }), keyType };
}

/**
 * The gateway's certificate authority: holds the CA cert and key (RSA-2048) and signs
 * leaf certificates for RSA, EC P-256/P-384 and Ed25519 keys. node-forge builds the
 * ASN.1; the RSA signature is native unless `signing: 'forge'` is asked for (kept for
 * the benchmark's baseline).
 */
export class CertificateAuthority {
  readonly certPem: string;
  readonly trustDomain: string;
  readonly fingerprint: string;
  private readonly forgeCert: forge.pki.Certificate;
  private readonly authorityKeyId: string;
  private readonly caKey: KeyObject;
  private forgeKey?: forge.pki.rsa.PrivateKey;
  private readonly keyPem: string;
  /** DER of the stand-in key forge encodes into each TBS before the real SPKI replaces it. */
  private readonly standInSpki: string;

  constructor(certPem: string, keyPem: string, trustDomain: string) {
    this.certPem = certPem;
    this.keyPem = keyPem;
    this.trustDomain = trustDomain;
    this.forgeCert = forge.pki.certificateFromPem(certPem);
    this.authorityKeyId = this.forgeCert.generateSubjectKeyIdentifier().getBytes();
    this.caKey = createPrivateKey(keyPem);
    this.standInSpki = forge.asn1.toDer(forge.pki.publicKeyToAsn1(this.forgeCert.publicKey)).getBytes();
    this.fingerprint = certificateFingerprint(certPem);
  }

  /**
   * A 32-byte secret for one purpose, derived (HKDF-SHA256) from the CA private key: the
   * same on every replica (they share the CA folder), never written anywhere, and not
   * derivable from anything in the store. Different purposes give unrelated secrets.
   */
  deriveSecret(purpose: string): Buffer {
    const ikm = this.caKey.export({ type: 'pkcs8', format: 'der' });
    return Buffer.from(hkdfSync('sha256', ikm, Buffer.from(this.trustDomain, 'utf8'), Buffer.from(purpose, 'utf8'), 32));
  }

  /** Creates a new self-signed CA (RSA-2048, 10 years) for a trust domain; `keys`: its RSA-2048 pair when made beforehand (off the main thread). */
  static create(trustDomain: string, now: number, commonName = 'OpenClaw Gateway CA', keys: KeyPairPem = generateRsaKeyPair(2048)): { certPem: string; keyPem: string } {
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem);
    cert.serialNumber = newSerial();
    cert.validity.notBefore = new Date(now - BACKDATE_MS);
    cert.validity.notAfter = new Date(now + 3650 * DAY_MS);
    const attrs = [
      { name: 'commonName', value: commonName },
      { name: 'organizationName', value: trustDomain },
    ];
    cert.setSubject(attrs);
    cert.setIssuer(attrs);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
      { name: 'subjectAltName', altNames: [{ type: 6, value: `spiffe://${trustDomain}` }] },
    ]);
    const md = new CollectingDigest();
    cert.sign(new NativeRsaSigner(keys.privateKeyPem) as unknown as forge.pki.rsa.PrivateKey, md as unknown as forge.md.MessageDigest);
    return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
  }

  /** Signs a client certificate carrying `spiffe://<td>/<role>/<device-id>` and EKU clientAuth. */
  issueClient(
    input: { publicKeyPem: string; role: Role; label: string; now: number; lifetimeMs: number },
    signing: SigningMode = 'native',
  ): IssuedCertificate & { deviceId: string } {
    const subject = subjectKey(input.publicKeyPem);
    const deviceId = deviceIdFromSpkiDer(subject.spkiDer);
    const uri = formatSpiffeId({ trustDomain: this.trustDomain, role: input.role, deviceId });
    const issued = this.sign(
      { ...subject, commonName: input.label, now: input.now, lifetimeMs: input.lifetimeMs, usage: 'client', uris: [uri] },
      signing,
    );
    return { ...issued, deviceId };
  }

  /** Signs the gateway's server certificate (EKU serverAuth) for the given DNS names and addresses. */
  issueServer(input: { publicKeyPem: string; names: string[]; now: number; lifetimeMs: number }): IssuedCertificate {
    const dnsNames = input.names.filter((n) => isIP(n) === 0);
    const ips = input.names.filter((n) => isIP(n) !== 0);
    return this.sign({
      ...subjectKey(input.publicKeyPem),
      commonName: dnsNames[0] ?? 'openclaw-gateway',
      now: input.now,
      lifetimeMs: input.lifetimeMs,
      usage: 'server',
      dnsNames,
      ips,
    });
  }

  /** Whether a certificate (PEM) was signed by this CA (native check). */
  issued(certPem: string): boolean {
    try {
      return new X509Certificate(certPem).verify(new X509Certificate(this.certPem).publicKey);
    } catch {
      return false;
    }
  }

  /**
   * Builds a signed X.509 v1 CRL listing revoked serials, for relying parties other
   * than the gateway (the gateway itself checks its registry on every call).
   */
  createCrl(revoked: readonly { serial: string; revokedAt: number }[], now: number, validForMs = 7 * DAY_MS): string {
    const a = forge.asn1;
    const time = (ms: number) => a.create(a.Class.UNIVERSAL, a.Type.UTCTIME, false, a.dateToUtcTime(new Date(ms)));
    const sigAlg = () => algorithmIdentifier(signatureAlgorithmFor('rsa'));
    const entries = revoked.map((r) =>
      a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, [
        a.create(a.Class.UNIVERSAL, a.Type.INTEGER, false, forge.util.hexToBytes(r.serial.length % 2 ? `0${r.serial}` : r.serial)),
        time(r.revokedAt),
      ]),
    );
    const tbsParts = [sigAlg(), forge.pki.distinguishedNameToAsn1(this.forgeCert.subject), time(now - BACKDATE_MS), time(now + validForMs)];
    if (entries.length > 0) tbsParts.push(a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, entries));
    const tbs = a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, tbsParts);
    const crl = a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, [tbs, sigAlg(), bitString(signData(this.caKey, derOf(tbs)))]);
    return forge.pem.encode({ type: 'X509 CRL', body: a.toDer(crl).getBytes() }, { maxline: 64 });
  }

  /**
   * Builds, signs and encodes a leaf. forge only encodes RSA public keys, so it builds
   * the TBSCertificate around a stand-in (the CA's own public key) that is then
   * replaced by the subject's SPKI DER, verbatim; the same path serves every key type,
   * so RSA leaves keep exactly the structure forge gave them. No extension is derived
   * from cert.publicKey (no subjectKeyIdentifier), so nothing of the stand-in remains.
   */
  private sign(spec: LeafSpec, signing: SigningMode = 'native'): IssuedCertificate {
    const a = forge.asn1;
    const cert = forge.pki.createCertificate();
    cert.publicKey = this.forgeCert.publicKey;
    const serial = newSerial();
    cert.serialNumber = serial;
    const notBefore = Math.floor((spec.now - BACKDATE_MS) / 1000) * 1000;
    const notAfter = Math.floor((spec.now + spec.lifetimeMs) / 1000) * 1000;
    cert.validity.notBefore = new Date(notBefore);
    cert.validity.notAfter = new Date(notAfter);
    // UTF8String, so a label in any script gives a certificate that parses.
    cert.setSubject([{ name: 'commonName', value: Array.from(spec.commonName).slice(0, 64).join('') || 'device', valueTagClass: forge.asn1.Type.UTF8 } as unknown as forge.pki.CertificateField]);
    cert.setIssuer(this.forgeCert.subject.attributes);
    const altNames: { type: number; value?: string; ip?: string }[] = [
      ...(spec.uris ?? []).map((value) => ({ type: 6, value })),
      ...(spec.dnsNames ?? []).map((value) => ({ type: 2, value })),
      ...(spec.ips ?? []).map((ip) => ({ type: 7, ip })),
    ];
    cert.setExtensions([
      { name: 'basicConstraints', cA: false, critical: true },
      // keyEncipherment only makes sense for RSA (RFC 5480 and RFC 8410 do not allow it for EC and Ed25519 keys).
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: spec.keyType === 'rsa', critical: true },
      { name: 'extKeyUsage', serverAuth: spec.usage === 'server', clientAuth: spec.usage === 'client' },
      { name: 'subjectAltName', altNames, critical: spec.usage === 'client' },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.authorityKeyId },
    ]);
    // The CA key is RSA whatever the subject's key: the signature is always sha256WithRSAEncryption.
    cert.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption;
    const tbs = getTBSCertificate(cert);
    const fields = tbs.value as forge.asn1.Asn1[];
    // TBSCertificate: [0] version, serial, signature, issuer, validity, subject, subjectPublicKeyInfo, [3] extensions.
    if (a.toDer(fields[6]).getBytes() !== this.standInSpki) throw errors.internal('TBS_LAYOUT', 'unexpected TBSCertificate layout');
    fields[6] = spkiAsn1(spec.spkiDer);
    const tbsDer = derOf(tbs);
    const signature = signing === 'forge' ? this.forgeSign(tbsDer) : signData(this.caKey, tbsDer);
    const certificate = a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, [tbs, algorithmIdentifier(signatureAlgorithmFor('rsa')), bitString(signature)]);
    const certPem = forge.pem.encode({ type: 'CERTIFICATE', body: a.toDer(certificate).getBytes() }, { maxline: 64 });
    return { certPem, serial, notBefore, notAfter };
  }

  /** forge's pure-JS RSA signature over the TBS bytes (SHA-256, PKCS#1 v1.5). */
  private forgeSign(tbsDer: Buffer): Buffer {
    this.forgeKey ??= forge.pki.privateKeyFromPem(this.keyPem) as forge.pki.rsa.PrivateKey;
    return Buffer.from(this.forgeKey.sign(forge.md.sha256.create().update(tbsDer.toString('binary'))), 'binary');
  }
}
