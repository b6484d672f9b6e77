import forge from 'node-forge';
import { randomBytes, X509Certificate } from 'node:crypto';
import { CollectingDigest, NativeRsaSigner, generateRsaKeyPair } from './keys';
import { certificateFingerprint, deviceIdFromPublicKeyPem } from './device-id';
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

/** Which signing implementation forge uses for the RSA operation. */
export type SigningMode = 'native' | 'forge';

interface LeafSpec {
  publicKeyPem: string;
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

/**
 * The gateway's certificate authority: holds the CA cert and key and signs leaf
 * certificates. node-forge builds the ASN.1; the RSA signature is native unless
 * `signing: 'forge'` is asked for (kept for the benchmark's baseline).
 */
export class CertificateAuthority {
  readonly certPem: string;
  readonly trustDomain: string;
  readonly fingerprint: string;
  private readonly forgeCert: forge.pki.Certificate;
  private readonly authorityKeyId: string;
  private readonly nativeSigner: NativeRsaSigner;
  private forgeKey?: forge.pki.rsa.PrivateKey;
  private readonly keyPem: string;

  constructor(certPem: string, keyPem: string, trustDomain: string) {
    this.certPem = certPem;
    this.keyPem = keyPem;
    this.trustDomain = trustDomain;
    this.forgeCert = forge.pki.certificateFromPem(certPem);
    this.authorityKeyId = this.forgeCert.generateSubjectKeyIdentifier().getBytes();
    this.nativeSigner = new NativeRsaSigner(keyPem);
    this.fingerprint = certificateFingerprint(certPem);
  }

  /** Creates a new self-signed CA (RSA-2048, 10 years) for a trust domain. */
  static create(trustDomain: string, now: number, commonName = 'OpenClaw Gateway CA'): { certPem: string; keyPem: string } {
    const keys = generateRsaKeyPair(2048);
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
    const deviceId = deviceIdFromPublicKeyPem(input.publicKeyPem);
    const uri = formatSpiffeId({ trustDomain: this.trustDomain, role: input.role, deviceId });
    const issued = this.sign(
      { publicKeyPem: input.publicKeyPem, commonName: input.label, now: input.now, lifetimeMs: input.lifetimeMs, usage: 'client', uris: [uri] },
      signing,
    );
    return { ...issued, deviceId };
  }

  /** Signs the gateway's server certificate (EKU serverAuth) for the given DNS names and addresses. */
  issueServer(input: { publicKeyPem: string; names: string[]; now: number; lifetimeMs: number }): IssuedCertificate {
    const dnsNames = input.names.filter((n) => isIP(n) === 0);
    const ips = input.names.filter((n) => isIP(n) !== 0);
    return this.sign({
      publicKeyPem: input.publicKeyPem,
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
    const sigAlg = () =>
      a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, [
        a.create(a.Class.UNIVERSAL, a.Type.OID, false, a.oidToDer(forge.pki.oids.sha256WithRSAEncryption).getBytes()),
        a.create(a.Class.UNIVERSAL, a.Type.NULL, false, ''),
      ]);
    const entries = revoked.map((r) =>
      a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, [
        a.create(a.Class.UNIVERSAL, a.Type.INTEGER, false, forge.util.hexToBytes(r.serial.length % 2 ? `0${r.serial}` : r.serial)),
        time(r.revokedAt),
      ]),
    );
    const tbsParts = [sigAlg(), forge.pki.distinguishedNameToAsn1(this.forgeCert.subject), time(now - BACKDATE_MS), time(now + validForMs)];
    if (entries.length > 0) tbsParts.push(a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, entries));
    const tbs = a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, tbsParts);
    const md = new CollectingDigest().update(a.toDer(tbs).getBytes());
    const signature = this.nativeSigner.sign(md);
    const crl = a.create(a.Class.UNIVERSAL, a.Type.SEQUENCE, true, [tbs, sigAlg(), a.create(a.Class.UNIVERSAL, a.Type.BITSTRING, false, String.fromCharCode(0) + signature)]);
    return forge.pem.encode({ type: 'X509 CRL', body: a.toDer(crl).getBytes() }, { maxline: 64 });
  }

  private sign(spec: LeafSpec, signing: SigningMode = 'native'): IssuedCertificate {
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.publicKeyFromPem(spec.publicKeyPem);
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
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: spec.usage === 'server', clientAuth: spec.usage === 'client' },
      { name: 'subjectAltName', altNames, critical: spec.usage === 'client' },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.authorityKeyId },
    ]);
    if (signing === 'forge') {
      this.forgeKey ??= forge.pki.privateKeyFromPem(this.keyPem) as forge.pki.rsa.PrivateKey;
      cert.sign(this.forgeKey, forge.md.sha256.create());
    } else {
      cert.sign(this.nativeSigner as unknown as forge.pki.rsa.PrivateKey, new CollectingDigest() as unknown as forge.md.MessageDigest);
    }
    return { certPem: forge.pki.certificateToPem(cert), serial, notBefore, notAfter };
  }
}
