/**
 * The CA signs leaf certificates that verify with Node and with openssl, carry exactly
 * one SPIFFE URI SAN whose device id is the SHA-256 of the key's SPKI, and have the
 * right key usage, validity window and (server) names — in native and forge signing,
 * for RSA, EC P-256/P-384 and Ed25519 subject keys (the CA key is RSA).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { BACKDATE_MS, CertificateAuthority, type SigningMode } from '../../src/identity/certificate-authority';
import { generateKeyPair, generateRsaKeyPair, KEY_TYPES, keyTypeOf, type KeyPairPem } from '../../src/identity/keys';
import { ensureServerCert, serverNames } from '../../src/identity/server-cert-files';
import { statePaths } from '../../src/identity/state-layout';
import { ManualClock } from '../../src/clock';
import { openssl } from '../helpers/openssl';
import { useTmpDirs } from '../helpers/tmp';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const DAY_MS = 24 * 60 * 60 * 1000;
const TRUST_DOMAIN = 'openclaw-test1.local';

const tmp = useTmpDirs('openclaw-ca-');
let dir: string;
let ca: CertificateAuthority;
let caFile: string;
let otherCa: CertificateAuthority;
let deviceKeys: KeyPairPem;

/** Independent computation of the device id: SHA-256 over the SPKI DER of the public key. */
function spkiSha256(publicKeyPem: string): string {
  return createHash('sha256').update(createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' })).digest('hex');
}

function writePem(name: string, pem: string): string {
  const file = join(dir, name);
  writeFileSync(file, pem);
  return file;
}

/** `openssl verify -CAfile ca -purpose p cert`: exit status and output. */
function opensslVerify(caPath: string, certPem: string, purpose: 'sslclient' | 'sslserver', name: string) {
  const certFile = writePem(name, certPem);
  const r = openssl(['verify', '-CAfile', caPath, '-purpose', purpose, certFile]);
  return { ok: r.status === 0 && r.stdout.includes(': OK'), output: r.stdout + r.stderr };
}

beforeAll(() => {
  dir = tmp();
  const created = CertificateAuthority.create(TRUST_DOMAIN, Date.now());
  ca = new CertificateAuthority(created.certPem, created.keyPem, TRUST_DOMAIN);
  caFile = writePem('ca.pem', ca.certPem);
  const other = CertificateAuthority.create('openclaw-other.local', Date.now());
  otherCa = new CertificateAuthority(other.certPem, other.keyPem, 'openclaw-other.local');
  deviceKeys = generateRsaKeyPair(2048);
});

describe('CA certificate', () => {
  it('is a self-signed CA openssl accepts as a trust anchor', () => {
    const x = new X509Certificate(ca.certPem);
    expect(x.ca).toBe(true);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.subjectAltName).toBe(`URI:spiffe://${TRUST_DOMAIN}`);
    const r = openssl(['verify', '-CAfile', caFile, caFile]);
    expect(r.status).toBe(0);
  });

  it('has a SHA-256 fingerprint equal to the one openssl computes', () => {
    const out = openssl(['x509', '-in', caFile, '-noout', '-fingerprint', '-sha256']).stdout.trim();
    expect(out.replace(/^.*=/, '').toLowerCase()).toBe(ca.fingerprint);
  });
});

describe.each<SigningMode>(['native', 'forge'])('client certificate (%s signing)', (mode) => {
  const now = Date.now();
  let certPem: string;
  let deviceId: string;
  let serial: string;

  beforeAll(() => {
    const issued = ca.issueClient({ publicKeyPem: deviceKeys.publicKeyPem, role: 'operator', label: 'laptop', now, lifetimeMs: 14 * DAY_MS }, mode);
    certPem = issued.certPem;
    deviceId = issued.deviceId;
    serial = issued.serial;
  });

  it('verifies against the CA key with Node and is refused against another CA', () => {
    const x = new X509Certificate(certPem);
    expect(x.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(x.verify(new X509Certificate(otherCa.certPem).publicKey)).toBe(false);
    expect(x.checkIssued(new X509Certificate(ca.certPem))).toBe(true);
    expect(ca.issued(certPem)).toBe(true);
    expect(otherCa.issued(certPem)).toBe(false);
  });

  it('verifies with `openssl verify -purpose sslclient`, not as a server certificate, not under another CA', () => {
    const client = opensslVerify(caFile, certPem, 'sslclient', `client-${mode}.pem`);
    expect(client.output).toContain(': OK');
    expect(client.ok).toBe(true);
    expect(opensslVerify(caFile, certPem, 'sslserver', `client-as-server-${mode}.pem`).ok).toBe(false);
    const otherFile = writePem(`other-ca-${mode}.pem`, otherCa.certPem);
    expect(opensslVerify(otherFile, certPem, 'sslclient', `client-other-${mode}.pem`).ok).toBe(false);
  });

  it('carries exactly one URI SAN spiffe://<td>/<role>/<sha256(SPKI)>', () => {
    const x = new X509Certificate(certPem);
    expect(deviceId).toBe(spkiSha256(deviceKeys.publicKeyPem));
    expect(deviceId).toMatch(/^[0-9a-f]{64}$/);
    // Node's SAN string lists every name; there must be only this one.
    expect(x.subjectAltName).toBe(`URI:spiffe://${TRUST_DOMAIN}/operator/${deviceId}`);
    expect(spkiSha256(x.publicKey.export({ type: 'spki', format: 'pem' }).toString())).toBe(deviceId);
  });

  it('is a leaf with EKU clientAuth only, the label as CN and the recorded serial', () => {
    const x = new X509Certificate(certPem);
    expect(x.ca).toBe(false);
    expect(x.keyUsage).toEqual([CLIENT_AUTH]);
    expect(x.subject).toBe('CN=laptop');
    expect(x.issuer).toBe(new X509Certificate(ca.certPem).subject);
    expect(x.serialNumber.toLowerCase()).toBe(serial);
  });

  it('is back-dated by 5 minutes and lives exactly the requested lifetime (second precision)', () => {
    const x = new X509Certificate(certPem);
    expect(BACKDATE_MS).toBe(5 * 60 * 1000);
    expect(Date.parse(x.validFrom)).toBe(Math.floor((now - BACKDATE_MS) / 1000) * 1000);
    expect(Date.parse(x.validTo)).toBe(Math.floor((now + 14 * DAY_MS) / 1000) * 1000);
  });
});

describe('client certificate details', () => {
  it('takes its lifetime from the request', () => {
    const now = Date.UTC(2030, 0, 1, 12, 0, 0, 500);
    for (const lifetimeMs of [60_000, 3 * DAY_MS, 400 * DAY_MS]) {
      const issued = ca.issueClient({ publicKeyPem: deviceKeys.publicKeyPem, role: 'node', label: 'n', now, lifetimeMs });
      const x = new X509Certificate(issued.certPem);
      expect(Date.parse(x.validTo)).toBe(Math.floor((now + lifetimeMs) / 1000) * 1000);
      expect(issued.notAfter).toBe(Date.parse(x.validTo));
      expect(issued.notBefore).toBe(Date.parse(x.validFrom));
      expect(Date.parse(x.validFrom)).toBe(Date.UTC(2030, 0, 1, 11, 55, 0));
    }
  });

  it('puts the role into the URI and gives every certificate a fresh positive 128-bit serial', () => {
    const serials = new Set<string>();
    for (const role of ['operator', 'node', 'backend', 'bridge'] as const) {
      const issued = ca.issueClient({ publicKeyPem: deviceKeys.publicKeyPem, role, label: role, now: Date.now(), lifetimeMs: DAY_MS });
      expect(new X509Certificate(issued.certPem).subjectAltName).toBe(`URI:spiffe://${TRUST_DOMAIN}/${role}/${issued.deviceId}`);
      expect(issued.serial).toMatch(/^[0-7][0-9a-f]{31}$/);
      serials.add(issued.serial);
    }
    expect(serials.size).toBe(4);
  });

  it('keeps a Latin-1 label readable in the CN', () => {
    const issued = ca.issueClient({ publicKeyPem: deviceKeys.publicKeyPem, role: 'node', label: 'Jörg', now: Date.now(), lifetimeMs: DAY_MS });
    expect(new X509Certificate(issued.certPem).subject).toBe('CN=Jörg');
  });

  // KNOWN BUG (src/identity/certificate-authority.ts, sign(): setSubject): forge writes
  // the CN as a PrintableString of one byte per UTF-16 unit, so a label beyond Latin-1
  // yields DER that does not parse at all (OpenSSL: "too long"). Fix: add
  // `valueTagClass: forge.asn1.Type.UTF8` to the commonName attribute (forge then
  // UTF-8-encodes it). Remove `.failing` once fixed.
  it('encodes a label beyond Latin-1 as a UTF8String CN that parses', () => {
    const issued = ca.issueClient({ publicKeyPem: deviceKeys.publicKeyPem, role: 'node', label: '日本 📱', now: Date.now(), lifetimeMs: DAY_MS });
    expect(new X509Certificate(issued.certPem).subject).toBe('CN=日本 📱');
  });

  it('caps an over-long label at 64 characters in the CN', () => {
    const issued = ca.issueClient({ publicKeyPem: deviceKeys.publicKeyPem, role: 'node', label: 'a'.repeat(100), now: Date.now(), lifetimeMs: DAY_MS });
    expect(new X509Certificate(issued.certPem).subject).toBe(`CN=${'a'.repeat(64)}`);
  });
});

describe('server certificate', () => {
  let certPem: string;
  const extra = 'gw.example.test';

  beforeAll(() => {
    const paths = statePaths(join(tmp(), 'state'));
    expect(ensureServerCert(paths, ca, serverNames(ca.trustDomain, [extra]), new ManualClock(Date.now()))).toBe(true);
    // cert.pem holds the leaf followed by the CA; X509Certificate reads the first.
    certPem = new X509Certificate(readFileSync(paths.serverCert, 'utf8')).toString();
  });

  it('covers localhost, 127.0.0.1, ::1, the hostname and the extra --san name', () => {
    const x = new X509Certificate(certPem);
    expect(x.checkHost('localhost')).toBe('localhost');
    expect(x.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x.checkIP('::1')).toBe('::1');
    expect(x.checkHost(hostname())).toBe(hostname());
    expect(x.checkHost(extra)).toBe(extra);
    expect(x.checkHost('not-listed.example.test')).toBeUndefined();
    expect(x.subjectAltName).not.toContain('URI:');
  });

  it('has EKU serverAuth only and verifies with `openssl verify -purpose sslserver` but not as a client', () => {
    const x = new X509Certificate(certPem);
    expect(x.keyUsage).toEqual([SERVER_AUTH]);
    expect(x.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(opensslVerify(caFile, certPem, 'sslserver', 'server.pem').ok).toBe(true);
    expect(opensslVerify(caFile, certPem, 'sslclient', 'server-as-client.pem').ok).toBe(false);
  });

  it('issueServer puts DNS names and IP addresses in the right SAN types', () => {
    const issued = ca.issueServer({ publicKeyPem: deviceKeys.publicKeyPem, names: ['a.example.test', '10.1.2.3', 'fe80::1'], now: Date.now(), lifetimeMs: DAY_MS });
    const x = new X509Certificate(issued.certPem);
    expect(x.subjectAltName).toBe('DNS:a.example.test, IP Address:10.1.2.3, IP Address:FE80:0:0:0:0:0:0:1');
    expect(x.subject).toBe('CN=a.example.test');
  });
});

describe.each(KEY_TYPES.flatMap((t) => (['native', 'forge'] as SigningMode[]).map((m) => [t, m] as const)))('client certificate for a %s key (%s signing)', (type, mode) => {
  let keys: KeyPairPem;
  let certPem: string;
  let deviceId: string;

  beforeAll(() => {
    keys = generateKeyPair(type);
    const issued = ca.issueClient({ publicKeyPem: keys.publicKeyPem, role: 'node', label: `dev-${type}`, now: Date.now(), lifetimeMs: DAY_MS }, mode);
    certPem = issued.certPem;
    deviceId = issued.deviceId;
  });

  it('verifies against the CA key with Node, carries the subject key (and matches its private key)', () => {
    const x = new X509Certificate(certPem);
    expect(x.verify(new X509Certificate(ca.certPem).publicKey)).toBe(true);
    expect(x.verify(new X509Certificate(otherCa.certPem).publicKey)).toBe(false);
    expect(keyTypeOf(x.publicKey)).toBe(type);
    expect(x.checkPrivateKey(createPrivateKey(keys.privateKeyPem))).toBe(true);
    expect(ca.issued(certPem)).toBe(true);
  });

  it('verifies with `openssl verify -CAfile -purpose sslclient`', () => {
    const v = opensslVerify(caFile, certPem, 'sslclient', `kt-${type}-${mode}.pem`);
    expect(v.output).toContain(': OK');
    expect(v.ok).toBe(true);
  });

  it('carries exactly one URI SAN with device id = sha256(SPKI), EKU clientAuth, no keyEncipherment unless RSA, no SKI', () => {
    const x = new X509Certificate(certPem);
    expect(deviceId).toBe(spkiSha256(keys.publicKeyPem));
    expect(x.subjectAltName).toBe(`URI:spiffe://${TRUST_DOMAIN}/node/${deviceId}`);
    expect(x.keyUsage).toEqual([CLIENT_AUTH]);
    expect(x.subject).toBe(`CN=dev-${type}`);
    const text = openssl(['x509', '-noout', '-text'], { input: certPem }).stdout;
    expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption');
    expect(text).not.toContain('Subject Key Identifier');
    const usage = /X509v3 Key Usage: critical\n\s+(.*)\n/.exec(text)![1];
    expect(usage).toBe(type === 'rsa' ? 'Digital Signature, Key Encipherment' : 'Digital Signature');
  });

  it('holds the subject SPKI verbatim, nowhere the CA key it was built around', () => {
    const raw = new X509Certificate(certPem).raw;
    const spki = createPublicKey(keys.publicKeyPem).export({ type: 'spki', format: 'der' });
    expect(raw.includes(spki)).toBe(true);
    const caSpki = new X509Certificate(ca.certPem).publicKey.export({ type: 'spki', format: 'der' });
    expect(raw.includes(caSpki)).toBe(false);
  });
});

describe('certificate structure and key types', () => {
  it('an RSA leaf is exactly what forge itself encodes for it (same TBS structure as before key types)', () => {
    const issued = ca.issueClient({ publicKeyPem: deviceKeys.publicKeyPem, role: 'operator', label: 'same', now: Date.now(), lifetimeMs: DAY_MS });
    const parsed = forge.pki.certificateFromPem(issued.certPem);
    const rebuilt = forge.asn1.toDer((forge.pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(parsed)).getBytes();
    expect(rebuilt).toBe(forge.asn1.toDer(parsed.tbsCertificate).getBytes());
    expect(forge.pki.publicKeyToPem(parsed.publicKey).replace(/\r/g, '')).toBe(deviceKeys.publicKeyPem);
  });

  it('issues server certificates for EC and Ed25519 keys too', () => {
    for (const type of ['p256', 'ed25519'] as const) {
      const issued = ca.issueServer({ publicKeyPem: generateKeyPair(type).publicKeyPem, names: ['localhost', '127.0.0.1'], now: Date.now(), lifetimeMs: DAY_MS });
      expect(keyTypeOf(new X509Certificate(issued.certPem).publicKey)).toBe(type);
      expect(opensslVerify(caFile, issued.certPem, 'sslserver', `server-${type}.pem`).ok).toBe(true);
    }
  });

  it('refuses keys of other types with KEY_TYPE_UNSUPPORTED', () => {
    const p521 = generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(() => ca.issueClient({ publicKeyPem: p521, role: 'node', label: 'x', now: Date.now(), lifetimeMs: DAY_MS })).toThrow(
      expect.objectContaining({ reason: 'KEY_TYPE_UNSUPPORTED', message: 'cannot issue a certificate for a EC (secp521r1) key (supported: rsa, p256, p384, ed25519)' }),
    );
  });
});
