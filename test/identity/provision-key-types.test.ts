/**
 * DeviceRegistry with key types: provision() makes the asked-for key (P-256 by
 * default), provisionFromCsr() signs a device-held key after verifying its CSR and
 * registers or rotates it exactly like provision(), with the same audit lines; a bad
 * CSR registers nothing. writeIssuedIdentity writes no key for a CSR identity and
 * never pairs a certificate with a stale key.
 */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../../src/clock';
import { CertificateAuthority } from '../../src/identity/certificate-authority';
import { createCsr } from '../../src/identity/csr';
import { certIdentity, DeviceRegistry, writeIssuedIdentity } from '../../src/identity/device-registry';
import { generateKeyPair, KEY_TYPES, keyTypeOf } from '../../src/identity/keys';
import { DEFAULT_SCOPES } from '../../src/identity/roles';
import { createLogger } from '../../src/logging';
import { DEVICES, validateDeviceRecord } from '../../src/store/device-store';
import { MemoryBackend } from '../../src/store/memory-backend';
import { snapshotTree, useTmpDirs } from '../helpers/tmp';
import { rejected, thrown } from '../helpers/gateway-errors';

const T0 = Date.UTC(2031, 4, 1, 12, 0, 0);
const TD = 'openclaw-keytypes.local';
const tmp = useTmpDirs('openclaw-keytypes-');
let ca: CertificateAuthority;

beforeAll(() => {
  const pems = CertificateAuthority.create(TD, T0);
  ca = new CertificateAuthority(pems.certPem, pems.keyPem, TD);
});

async function newRegistry() {
  const lines: string[] = [];
  const log = createLogger({ destination: { write: (s: string) => void lines.push(s) } });
  const store = await new MemoryBackend().collection(DEVICES, validateDeviceRecord);
  const registry = new DeviceRegistry({ store, ca, clock: new ManualClock(T0), log });
  const audits = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.audit === true);
  return { registry, audits };
}

describe('provision with a key type', () => {
  it('makes a P-256 key by default', async () => {
    const { registry } = await newRegistry();
    const issued = await registry.provision({ role: 'operator', label: 'laptop' });
    expect(keyTypeOf(createPrivateKey(issued.keyPem))).toBe('p256');
    expect(keyTypeOf(new X509Certificate(issued.certPem).publicKey)).toBe('p256');
  });

  it.each(KEY_TYPES.map((t) => [t]))('makes a %s key whose certificate authenticates as the device', async (type) => {
    const { registry } = await newRegistry();
    const issued = await registry.provision({ role: 'node', label: `n-${type}`, keyType: type });
    const x = new X509Certificate(issued.certPem);
    expect(keyTypeOf(x.publicKey)).toBe(type);
    expect(x.checkPrivateKey(createPrivateKey(issued.keyPem))).toBe(true);
    expect(registry.authenticate(certIdentity(issued.certPem)).id).toBe(issued.device.id);
  });

  it('uses given keys over keyType', async () => {
    const { registry } = await newRegistry();
    const keys = generateKeyPair('ed25519');
    const issued = await registry.provision({ role: 'node', label: 'k', keys, keyType: 'rsa' });
    expect(issued.keyPem).toBe(keys.privateKeyPem);
    expect(keyTypeOf(new X509Certificate(issued.certPem).publicKey)).toBe('ed25519');
  });
});

describe('provisionFromCsr', () => {
  it.each(KEY_TYPES.map((t) => [t]))('signs a %s CSR: no key returned, device registered, same audit line as provision', async (type) => {
    const { registry, audits } = await newRegistry();
    const keys = generateKeyPair(type);
    const out = await registry.provisionFromCsr({ csrPem: createCsr({ privateKeyPem: keys.privateKeyPem, label: 'ignored-cn' }), role: 'backend', label: 'svc' });
    expect(out).not.toHaveProperty('keyPem');
    expect(out.caPem).toBe(ca.certPem);
    const x = new X509Certificate(out.certPem);
    expect(x.checkPrivateKey(createPrivateKey(keys.privateKeyPem))).toBe(true);
    expect(x.subject).toBe('CN=svc');
    expect(out.device).toMatchObject({ label: 'svc', role: 'backend', status: 'active', source: 'provisioned', scopes: DEFAULT_SCOPES.backend });
    expect(registry.authenticate(certIdentity(out.certPem)).id).toBe(out.device.id);
    expect(audits().map((e) => [e.event, e.deviceId, e.source, e.label])).toEqual([['device.issue', out.device.id, 'provisioned', 'svc']]);
  });

  it('rotates the same name and role like provision does, and takes scopes and lifetime', async () => {
    const { registry, audits } = await newRegistry();
    const first = await registry.provision({ role: 'node', label: 'sensor' });
    const second = await registry.provisionFromCsr({ csrPem: createCsr({ privateKeyPem: generateKeyPair('p384').privateKeyPem, label: 'x' }), role: 'node', label: 'sensor', scopes: ['operator.read'], lifetimeMs: 60_000 });
    expect(registry.get(first.device.id)).toMatchObject({ status: 'revoked', revokeReason: 'rotated' });
    expect(second.device.scopes).toEqual(['operator.read']);
    expect(second.device.cert!.notAfter).toBe(Math.floor((T0 + 60_000) / 1000) * 1000);
    expect(audits().map((e) => [e.event, e.deviceId])).toEqual([
      ['device.issue', first.device.id],
      ['device.revoke', first.device.id],
      ['device.issue', second.device.id],
    ]);
  });

  it('registers nothing for a bad CSR, a bad role or a missing label', async () => {
    const { registry, audits } = await newRegistry();
    const csrPem = createCsr({ privateKeyPem: generateKeyPair('p256').privateKeyPem, label: 'x' });
    expect((await rejected(registry.provisionFromCsr({ csrPem: 'garbage', role: 'node', label: 'n' }))).reason).toBe('CSR_MALFORMED');
    expect((await rejected(registry.provisionFromCsr({ csrPem, role: 'wizard', label: 'n' }))).reason).toBe('UNKNOWN_ROLE');
    expect((await rejected(registry.provisionFromCsr({ csrPem, role: 'node', label: '  ' }))).reason).toBe('LABEL_REQUIRED');
    expect(registry.list({ includeRevoked: true })).toEqual([]);
    expect(audits()).toEqual([]);
  });
});

describe('writeIssuedIdentity for a CSR identity', () => {
  it('writes cert, CA and identity.json with the key type, and no key.pem', async () => {
    const { registry } = await newRegistry();
    const dir = tmp();
    const out = await registry.provisionFromCsr({ csrPem: createCsr({ privateKeyPem: generateKeyPair('ed25519').privateKeyPem, label: 'x' }), role: 'node', label: 'n' });
    writeIssuedIdentity(dir, out, ca, { issuedBy: 'test' });
    expect(existsSync(join(dir, 'key.pem'))).toBe(false);
    expect(readFileSync(join(dir, 'cert.pem'), 'utf8')).toBe(out.certPem);
    expect(JSON.parse(readFileSync(join(dir, 'identity.json'), 'utf8'))).toMatchObject({ deviceId: out.device.id, keyType: 'ed25519', issuedBy: 'test' });
  });

  it('keeps a key.pem that is the certificate\'s own key, and refuses (writing nothing) a stale one', async () => {
    const { registry } = await newRegistry();
    const keys = generateKeyPair('p256');
    const own = tmp();
    writeFileSync(join(own, 'key.pem'), keys.privateKeyPem);
    const out = await registry.provisionFromCsr({ csrPem: createCsr({ privateKeyPem: keys.privateKeyPem, label: 'x' }), role: 'node', label: 'n' });
    writeIssuedIdentity(own, out, ca, { issuedBy: 'test' });
    expect(readFileSync(join(own, 'key.pem'), 'utf8')).toBe(keys.privateKeyPem);
    expect(createPublicKey(readFileSync(join(own, 'cert.pem'), 'utf8')).export({ type: 'spki', format: 'pem' })).toBe(keys.publicKeyPem);

    const stale = tmp();
    writeFileSync(join(stale, 'key.pem'), generateKeyPair('p256').privateKeyPem);
    const before = snapshotTree(stale);
    const err = thrown(() => writeIssuedIdentity(stale, out, ca, { issuedBy: 'test' }));
    expect(err).toMatchObject({ code: 'FAILED_PRECONDITION', reason: 'STALE_KEY' });
    expect(err.message).toBe(`${join(stale, 'key.pem')} is not the new certificate's key (another key, or unreadable); move it away or write to another folder: a certificate is never paired with a key that is not its own`);
    expect(snapshotTree(stale)).toEqual(before);
  });
});
