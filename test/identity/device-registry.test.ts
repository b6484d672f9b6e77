/**
 * DeviceRegistry decides whether a certificate belongs to an active device: issue,
 * rotate, renew (before and after expiry), revoke, and every refusal reason; every
 * decision is an audit line and no key material is ever logged. Time is a ManualClock.
 */
import { createPublicKey, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { ManualClock } from '../../src/clock';
import { ErrorCode } from '../../src/errors';
import { CertificateAuthority } from '../../src/identity/certificate-authority';
import { certIdentity, DEFAULT_CERT_POLICY, DeviceRegistry } from '../../src/identity/device-registry';
import { generateRsaKeyPair } from '../../src/identity/keys';
import { ROLES, SCOPES, DEFAULT_SCOPES } from '../../src/identity/roles';
import { statePaths } from '../../src/identity/state-layout';
import { createLogger, silentLogger } from '../../src/logging';
import type { Collection } from '../../src/store/collection';
import { DEVICES, openDevices, validateDeviceRecord, type DeviceRecord } from '../../src/store/device-store';
import { MemoryBackend } from '../../src/store/memory-backend';
import { openStore } from '../../src/store/open-store';
import { useTmpDirs } from '../helpers/tmp';
import { rejected, thrown } from '../helpers/gateway-errors';

const DAY_MS = 24 * 60 * 60 * 1000;
const T0 = Date.UTC(2031, 4, 1, 12, 0, 0);
const TD = 'openclaw-registry.local';
const tmp = useTmpDirs('openclaw-registry-');

let caPems: { certPem: string; keyPem: string };
let ca: CertificateAuthority;
let foreignCa: CertificateAuthority;

beforeAll(() => {
  caPems = CertificateAuthority.create(TD, T0);
  ca = new CertificateAuthority(caPems.certPem, caPems.keyPem, TD);
  const other = CertificateAuthority.create('openclaw-foreign.local', T0);
  foreignCa = new CertificateAuthority(other.certPem, other.keyPem, 'openclaw-foreign.local');
});

/** A registry's device collection, and how to let go of it after the test. */
interface OpenedStore {
  devices: Collection<DeviceRecord>;
  close(): Promise<void>;
}

/** An in-memory devices collection (unit tests, embedding). */
async function memoryDevices(): Promise<OpenedStore> {
  const backend = new MemoryBackend();
  return { devices: await backend.collection(DEVICES, validateDeviceRecord), close: () => backend.close() };
}

function publicKeyOf(privateKeyPem: string): string {
  return createPublicKey(privateKeyPem).export({ type: 'spki', format: 'pem' }).toString();
}

const stores: [string, () => Promise<OpenedStore>][] = [
  ['MemoryBackend', memoryDevices],
  [
    'files backend in a state dir',
    async () => {
      // What the gateway and certs-tools open: the journal under <state>/store.
      const stateDir = tmp();
      const backend = await openStore({ stateDir, log: silentLogger() });
      return { devices: await openDevices(backend, statePaths(stateDir).devices), close: () => backend.close() };
    },
  ],
];

describe.each(stores)('registry lifecycle (%s)', (_name, makeStore) => {
  let clock: ManualClock;
  let registry: DeviceRegistry;
  let revoked: string[];
  let opened: OpenedStore;

  beforeEach(async () => {
    clock = new ManualClock(T0);
    opened = await makeStore();
    registry = new DeviceRegistry({ store: opened.devices, ca, clock, log: silentLogger() });
    revoked = [];
    registry.onRevoke((id) => revoked.push(id));
  });

  afterEach(async () => {
    await opened.close();
  });

  it('provision -> the certificate authenticates as an active device with the role defaults', async () => {
    const issued = await registry.provision({ role: 'operator', label: 'laptop' });
    expect(publicKeyOf(issued.keyPem)).toBe(new X509Certificate(issued.certPem).publicKey.export({ type: 'spki', format: 'pem' }).toString());
    expect(issued.caPem).toBe(ca.certPem);
    const id = certIdentity(issued.certPem);
    expect(id).toMatchObject({ deviceId: issued.device.id, role: 'operator', trustDomain: TD });
    const record = registry.authenticate(id);
    expect(record).toMatchObject({ id: issued.device.id, label: 'laptop', role: 'operator', status: 'active', source: 'provisioned' });
    expect(record.scopes).toEqual(DEFAULT_SCOPES.operator);
    expect(registry.list().map((d) => d.id)).toEqual([issued.device.id]);
  });

  it('revoke -> DEVICE_REVOKED at once, listeners told, listed only with includeRevoked', async () => {
    const issued = await registry.provision({ role: 'node', label: 'kitchen' });
    const id = certIdentity(issued.certPem);
    await registry.revoke('kitchen', 'lost');
    const err = thrown(() => registry.authenticate(id));
    expect(err.code).toBe(ErrorCode.Unauthenticated);
    expect(err.reason).toBe('DEVICE_REVOKED');
    expect(err.message).toContain('lost');
    expect(revoked).toEqual([issued.device.id]);
    expect(registry.list()).toEqual([]);
    expect(registry.list({ includeRevoked: true }).map((d) => [d.id, d.status, d.revokeReason])).toEqual([[issued.device.id, 'revoked', 'lost']]);
  });

  it('re-provisioning the same label and role rotates: old revoked ("rotated"), new active; other roles untouched', async () => {
    const first = await registry.provision({ role: 'node', label: 'sensor' });
    const otherRole = await registry.provision({ role: 'backend', label: 'sensor' });
    clock.advance(1000);
    const second = await registry.provision({ role: 'node', label: 'sensor' });
    expect(second.device.id).not.toBe(first.device.id);
    expect(thrown(() => registry.authenticate(certIdentity(first.certPem))).reason).toBe('DEVICE_REVOKED');
    expect(registry.get(first.device.id)).toMatchObject({ status: 'revoked', revokeReason: 'rotated', revokedAt: T0 + 1000 });
    expect(registry.authenticate(certIdentity(second.certPem)).status).toBe('active');
    expect(registry.authenticate(certIdentity(otherRole.certPem)).status).toBe('active');
    expect(revoked).toEqual([first.device.id]);
  });

  it('renew with the same key -> new serial accepted, the old certificate CERT_SUPERSEDED', async () => {
    const issued = await registry.provision({ role: 'node', label: 'n1' });
    const oldId = certIdentity(issued.certPem);
    clock.advance(DAY_MS);
    const renewed = await registry.renew(oldId, publicKeyOf(issued.keyPem));
    const newId = certIdentity(renewed.certPem);
    expect(newId.deviceId).toBe(oldId.deviceId);
    expect(newId.serial).not.toBe(oldId.serial);
    expect(registry.authenticate(newId).id).toBe(oldId.deviceId);
    const err = thrown(() => registry.authenticate(oldId));
    expect(err.reason).toBe('CERT_SUPERSEDED');
    expect(registry.get(oldId.deviceId)!.previousSerials).toContain(issued.device.cert!.serial);
  });

  it('renew with a new key while valid -> a new device; the old one revoked ("rekeyed")', async () => {
    const issued = await registry.provision({ role: 'backend', label: 'svc', scopes: ['operator.read'] });
    const fresh = generateRsaKeyPair(2048);
    const out = await registry.renew(certIdentity(issued.certPem), fresh.publicKeyPem);
    expect(out.device.id).not.toBe(issued.device.id);
    expect(out.device).toMatchObject({ label: 'svc', role: 'backend', scopes: ['operator.read'], status: 'active' });
    expect(registry.get(issued.device.id)).toMatchObject({ status: 'revoked', revokeReason: 'rekeyed' });
    expect(registry.authenticate(certIdentity(out.certPem)).id).toBe(out.device.id);
  });

  it('a revocation that lands while a new-key renewal is under way wins: no new device appears', async () => {
    const issued = await registry.provision({ role: 'node', label: 'stolen-laptop' });
    const fresh = generateRsaKeyPair(2048);
    const revoking = registry.revoke(issued.device.id, 'stolen');
    const renewing = registry.renew(certIdentity(issued.certPem), fresh.publicKeyPem);
    await revoking;
    await expect(renewing).rejects.toMatchObject({ reason: 'DEVICE_REVOKED' });
    expect(registry.list().filter((d) => d.status === 'active').map((d) => d.label)).not.toContain('stolen-laptop');
    expect(registry.get(issued.device.id)).toMatchObject({ status: 'revoked', revokeReason: 'stolen' });
  });

  it('is valid right up to notAfter and CERT_EXPIRED from notAfter on', async () => {
    const issued = await registry.provision({ role: 'node', label: 'n', lifetimeMs: 3 * DAY_MS });
    const id = certIdentity(issued.certPem);
    expect(id.notAfter).toBe(T0 + 3 * DAY_MS);
    clock.set(id.notAfter - 1);
    expect(registry.authenticate(id).status).toBe('active');
    clock.set(id.notAfter);
    const err = thrown(() => registry.authenticate(id));
    expect(err.code).toBe(ErrorCode.Unauthenticated);
    expect(err.reason).toBe('CERT_EXPIRED');
  });

  it('CERT_NOT_YET_VALID before notBefore (clock behind the 5-minute back-dating)', async () => {
    const issued = await registry.provision({ role: 'node', label: 'n' });
    const id = certIdentity(issued.certPem);
    clock.set(id.notBefore);
    expect(registry.authenticate(id).status).toBe('active');
    clock.set(id.notBefore - 1);
    expect(thrown(() => registry.authenticate(id)).reason).toBe('CERT_NOT_YET_VALID');
  });

  it('after expiry: same key renews within the window (boundary inclusive); the new cert works', async () => {
    const issued = await registry.provision({ role: 'node', label: 'n' });
    const id = certIdentity(issued.certPem);
    clock.set(id.notAfter + DEFAULT_CERT_POLICY.renewAfterExpiryMs);
    expect(thrown(() => registry.authenticate(id)).reason).toBe('CERT_EXPIRED');
    const renewed = await registry.renew(id, publicKeyOf(issued.keyPem));
    const newId = certIdentity(renewed.certPem);
    expect(newId.notAfter).toBe(clock.now() + DEFAULT_CERT_POLICY.clientLifetimeMs);
    expect(registry.authenticate(newId).id).toBe(id.deviceId);
  });

  it('after expiry: same key refused one millisecond past the window (CERT_EXPIRED), nothing changed', async () => {
    const issued = await registry.provision({ role: 'node', label: 'n' });
    const id = certIdentity(issued.certPem);
    clock.set(id.notAfter + DEFAULT_CERT_POLICY.renewAfterExpiryMs + 1);
    expect((await rejected(registry.renew(id, publicKeyOf(issued.keyPem)))).reason).toBe('CERT_EXPIRED');
    expect(registry.get(id.deviceId)!.cert!.serial).toBe(issued.device.cert!.serial);
  });

  it('after expiry: a new key is refused even inside the window (RENEW_EXPIRED_NEW_KEY), nothing registered', async () => {
    const issued = await registry.provision({ role: 'node', label: 'n' });
    const id = certIdentity(issued.certPem);
    clock.set(id.notAfter + DAY_MS);
    const err = await rejected(registry.renew(id, generateRsaKeyPair(2048).publicKeyPem));
    expect(err.code).toBe(ErrorCode.Unauthenticated);
    expect(err.reason).toBe('RENEW_EXPIRED_NEW_KEY');
    expect(registry.list({ includeRevoked: true }).map((d) => [d.id, d.status])).toEqual([[id.deviceId, 'active']]);
  });

  it('a certificate of another CA (other trust domain) -> CERT_WRONG_TRUST_DOMAIN', async () => {
    const keys = generateRsaKeyPair(2048);
    await registry.registerApproved({ publicKeyPem: keys.publicKeyPem, role: 'node', label: 'x', scopes: [], source: 'paired' });
    const foreign = foreignCa.issueClient({ publicKeyPem: keys.publicKeyPem, role: 'node', label: 'x', now: T0, lifetimeMs: DAY_MS });
    const err = thrown(() => registry.authenticate(certIdentity(foreign.certPem)));
    expect(err.reason).toBe('CERT_WRONG_TRUST_DOMAIN');
    expect(err.details).toEqual({ deviceId: foreign.deviceId });
  });

  it('a certificate of this CA for a device never registered -> DEVICE_UNKNOWN', () => {
    const keys = generateRsaKeyPair(2048);
    const stray = ca.issueClient({ publicKeyPem: keys.publicKeyPem, role: 'node', label: 'stray', now: T0, lifetimeMs: DAY_MS });
    const err = thrown(() => registry.authenticate(certIdentity(stray.certPem)));
    expect(err.code).toBe(ErrorCode.Unauthenticated);
    expect(err.reason).toBe('DEVICE_UNKNOWN');
  });

  it('unknown role / unknown scope -> INVALID_ARGUMENT naming every allowed value; nothing registered', async () => {
    const roleErr = await rejected(registry.provision({ role: 'admin', label: 'x' }));
    expect(roleErr.code).toBe(ErrorCode.InvalidArgument);
    expect(roleErr.reason).toBe('UNKNOWN_ROLE');
    for (const r of ROLES) expect(roleErr.message).toContain(r);
    const scopeErr = await rejected(registry.provision({ role: 'operator', label: 'x', scopes: ['operator.read', 'operator.root'] }));
    expect(scopeErr.code).toBe(ErrorCode.InvalidArgument);
    expect(scopeErr.reason).toBe('UNKNOWN_SCOPE');
    expect(scopeErr.message).toContain('operator.root');
    for (const s of SCOPES) expect(scopeErr.message).toContain(s);
    expect((await rejected(registry.provision({ role: 'node', label: '   ' }))).reason).toBe('LABEL_REQUIRED');
    expect(registry.list({ includeRevoked: true })).toEqual([]);
  });
});

describe('certIdentity', () => {
  it('refuses garbage (CERT_MALFORMED) and a certificate without a SPIFFE URI (CERT_NO_IDENTITY)', () => {
    expect(thrown(() => certIdentity('not a certificate')).reason).toBe('CERT_MALFORMED');
    const server = ca.issueServer({ publicKeyPem: generateRsaKeyPair(2048).publicKeyPem, names: ['localhost'], now: T0, lifetimeMs: DAY_MS });
    const err = thrown(() => certIdentity(server.certPem));
    expect(err.code).toBe(ErrorCode.Unauthenticated);
    expect(err.reason).toBe('CERT_NO_IDENTITY');
  });

  it('refuses a CA-signed certificate whose URI names another key (CERT_IDENTITY_MISMATCH)', () => {
    // Built by hand: issueClient always derives the id from the key, so forge it here.
    const keys = generateRsaKeyPair(2048);
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKeyPem);
    cert.serialNumber = '0a0b0c';
    cert.validity.notBefore = new Date(T0 - 60_000);
    cert.validity.notAfter = new Date(T0 + DAY_MS);
    cert.setSubject([{ name: 'commonName', value: 'imposter' }]);
    cert.setIssuer(forge.pki.certificateFromPem(ca.certPem).subject.attributes);
    cert.setExtensions([{ name: 'subjectAltName', altNames: [{ type: 6, value: `spiffe://${TD}/operator/${'ab'.repeat(32)}` }] }]);
    cert.sign(forge.pki.privateKeyFromPem(caPems.keyPem) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
    const pem = forge.pki.certificateToPem(cert);
    expect(ca.issued(pem)).toBe(true);
    expect(thrown(() => certIdentity(pem)).reason).toBe('CERT_IDENTITY_MISMATCH');
  });
});

describe('audit log', () => {
  it('writes audit JSON lines for issue, rotate, renew and revoke, and never any private key material', async () => {
    const lines: string[] = [];
    const log = createLogger({ destination: { write: (s: string) => void lines.push(s) } });
    const clock = new ManualClock(T0);
    const { devices } = await memoryDevices();
    const registry = new DeviceRegistry({ store: devices, ca, clock, log });

    const a = await registry.provision({ role: 'operator', label: 'desk' });
    const b = await registry.provision({ role: 'operator', label: 'desk' }); // rotates a
    clock.advance(DAY_MS);
    await registry.renew(certIdentity(b.certPem), publicKeyOf(b.keyPem));
    await registry.revoke(b.device.id, 'stolen', 'alice');

    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const auditEntries = entries.filter((e) => e.audit === true);
    expect(auditEntries.map((e) => [e.event, e.deviceId])).toEqual([
      ['device.issue', a.device.id],
      ['device.revoke', a.device.id],
      ['device.issue', b.device.id],
      ['device.renew', b.device.id],
      ['device.revoke', b.device.id],
    ]);
    expect(auditEntries[0]).toMatchObject({ role: 'operator', label: 'desk', serial: a.device.cert!.serial, source: 'provisioned', msg: 'audit device.issue' });
    expect(auditEntries[1]).toMatchObject({ reason: 'rotated', allowed: true });
    expect(auditEntries[4]).toMatchObject({ reason: 'stolen', actor: 'alice', allowed: true });

    const all = lines.join('\n');
    expect(all).not.toMatch(/PRIVATE KEY/);
    for (const keyPem of [a.keyPem, b.keyPem, caPems.keyPem]) {
      const body = keyPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
      // No 32-character run of any private key's base64 appears anywhere in the log.
      for (let i = 0; i + 32 <= body.length; i += 32) expect(all.includes(body.slice(i, i + 32))).toBe(false);
    }
  });
});
