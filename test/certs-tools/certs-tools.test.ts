/**
 * certs-tools as a user runs it (the built JS in a child process): init, issue, list,
 * inspect, revoke, rotation by re-issue and ca-fingerprint, checked against the files
 * on disk and against openssl.
 */
import { createHash, createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../../src/clock';
import { DeviceRegistry, generateRsaKeyPair, loadCa, statePaths } from '../../src/identity';
import { silentLogger } from '../../src/logging';
import { openDevices } from '../../src/store/device-store';
import { openStore } from '../../src/store/open-store';
import { bareHex, openssl } from '../helpers/openssl';
import { runCertsTools } from '../helpers/run-cli';
import { modeOf, useTmpDirs } from '../helpers/tmp';

const DAY_MS = 24 * 60 * 60 * 1000;
const tmp = useTmpDirs('openclaw-certs-tools-');
let work: string;
let stateDir: string;

/** Runs certs-tools on the shared state dir and requires success with nothing on stderr. */
async function ok(...args: string[]): Promise<string> {
  const r = await runCertsTools(['--state-dir', stateDir, ...args]);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  return r.stdout;
}

async function okJson<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  return JSON.parse(await ok('--json', ...args)) as T;
}

/** SHA-256 of the SPKI DER of a key (PEM private or public key, or a public KeyObject). */
function spkiSha256(key: string | KeyObject): string {
  const pub = typeof key === 'string' ? createPublicKey(key) : key;
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('hex');
}

interface ListedDevice {
  id: string;
  label: string;
  role: string;
  status: string;
  scopes: string[];
  revokeReason?: string;
  cert?: { serial: string; notAfter: number };
}

let initFingerprint: string;

beforeAll(async () => {
  work = tmp();
  stateDir = join(work, 'state');
  const r = await runCertsTools(['--state-dir', stateDir, 'init', '--san', 'gw.example.test']);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('Created CA in');
  initFingerprint = /CA fingerprint:\s+SHA256:([0-9a-f:]+)/.exec(r.stdout)![1];
});

describe('init', () => {
  it('is idempotent: same CA and fingerprint, server cert kept; CA key 0600 in a 0700 folder', async () => {
    const again = await okJson<{ created: boolean; caFingerprint: string; serverCertIssued: boolean; names: string[] }>('init', '--san', 'gw.example.test');
    expect(again.created).toBe(false);
    expect(again.caFingerprint).toBe(initFingerprint);
    expect(again.serverCertIssued).toBe(false);
    expect(again.names).toEqual(expect.arrayContaining(['localhost', '127.0.0.1', '::1', 'gw.example.test']));
    const paths = statePaths(stateDir);
    expect(modeOf(paths.caKey)).toBe(0o600);
    expect(modeOf(paths.caDir)).toBe(0o700);
    expect(modeOf(paths.serverKey)).toBe(0o600);
    const server = new X509Certificate(readFileSync(paths.serverCert, 'utf8'));
    expect(server.checkHost('gw.example.test')).toBe('gw.example.test');
    expect(openssl(['verify', '-CAfile', paths.caCert, '-purpose', 'sslserver', paths.serverCert]).status).toBe(0);
  });
});

describe('issue', () => {
  let out: string;
  let issued: { deviceId: string; label: string; role: string; scopes: string[]; serial: string; notAfter: string; out: string };

  beforeAll(async () => {
    out = join(work, 'laptop');
    issued = await okJson('issue', '--role', 'operator', '--name', 'laptop', '--out', out, '--gateway', 'gw.example.test:7443');
  });

  it('prints parseable JSON describing the new device', () => {
    expect(issued).toMatchObject({ label: 'laptop', role: 'operator', out });
    expect(issued.deviceId).toMatch(/^[0-9a-f]{64}$/);
    expect(issued.scopes).toEqual(['operator.read', 'operator.write', 'operator.admin', 'operator.pairing', 'operator.approvals']);
  });

  it('writes key.pem (0600), cert.pem, ca.pem and identity.json that agree with each other', () => {
    const key = readFileSync(join(out, 'key.pem'), 'utf8');
    const cert = new X509Certificate(readFileSync(join(out, 'cert.pem'), 'utf8'));
    const caPem = readFileSync(join(out, 'ca.pem'), 'utf8');
    const meta = JSON.parse(readFileSync(join(out, 'identity.json'), 'utf8'));
    expect(modeOf(join(out, 'key.pem'))).toBe(0o600);
    expect(key).toContain('BEGIN PRIVATE KEY');
    expect(spkiSha256(key)).toBe(issued.deviceId);
    expect(spkiSha256(cert.publicKey)).toBe(issued.deviceId);
    expect(caPem).toBe(readFileSync(statePaths(stateDir).caCert, 'utf8'));
    expect(meta).toMatchObject({
      deviceId: issued.deviceId,
      label: 'laptop',
      role: 'operator',
      serial: issued.serial,
      caFingerprint: initFingerprint,
      gateway: 'gw.example.test:7443',
      issuedBy: 'certs-tools',
    });
    expect(cert.subjectAltName).toBe(`URI:spiffe://${meta.trustDomain}/operator/${issued.deviceId}`);
    expect(cert.serialNumber.toLowerCase()).toBe(issued.serial);
    const v = openssl(['verify', '-CAfile', join(out, 'ca.pem'), '-purpose', 'sslclient', join(out, 'cert.pem')]);
    expect(v.stdout).toContain(': OK');
    expect(v.status).toBe(0);
  });

  it('honours --scopes and --days', async () => {
    const before = Date.now();
    const r = await okJson<{ scopes: string[]; notAfter: string }>('issue', '--role', 'backend', '--name', 'svc', '--out', join(work, 'svc'), '--scopes', 'operator.read,operator.talk', '--days', '3');
    expect(r.scopes).toEqual(['operator.read', 'operator.talk']);
    const notAfter = Date.parse(r.notAfter);
    expect(notAfter).toBeGreaterThanOrEqual(Math.floor((before + 3 * DAY_MS) / 1000) * 1000);
    expect(notAfter).toBeLessThanOrEqual(Date.now() + 3 * DAY_MS);
  });

  it('list shows the device (table and JSON)', async () => {
    const table = await ok('list');
    const row = table.split('\n').find((l) => l.startsWith(issued.deviceId.slice(0, 16)));
    expect(row).toBeDefined();
    expect(row!.split(/\s{2,}/)).toEqual([issued.deviceId.slice(0, 16), 'laptop', 'operator', 'active', 'provisioned', issued.notAfter, issued.scopes.join(',')]);
    const listed = await okJson<ListedDevice[]>('list');
    expect(listed.find((d) => d.id === issued.deviceId)).toMatchObject({ label: 'laptop', status: 'active', cert: { serial: issued.serial } });
  });

  it('inspect reads a cert file and an identity folder alike', async () => {
    const fromFile = await okJson('inspect', join(out, 'cert.pem'));
    const fromDir = await okJson('inspect', out);
    expect(fromDir).toEqual(fromFile);
    expect(fromFile).toMatchObject({
      subject: 'CN=laptop',
      serial: issued.serial,
      deviceId: issued.deviceId,
      role: 'operator',
      signedByThisCa: true,
      registry: { status: 'active', label: 'laptop', currentSerial: true },
    });
    const human = await ok('inspect', out);
    expect(human).toMatch(/^this CA:\s+yes$/m);
    expect(human).toMatch(new RegExp(`^device id:\\s+${issued.deviceId}$`, 'm'));
    expect(human).toMatch(/^registry:\s+active, "laptop"/m);
  });
});

describe('revoke and rotation', () => {
  it('revoke by name: gone from list, shown as revoked by list --all', async () => {
    const dev = await okJson<{ deviceId: string }>('issue', '--role', 'node', '--name', 'doomed', '--out', join(work, 'doomed'));
    const out = await ok('revoke', 'doomed', '--reason', 'lost in transit');
    expect(out).toBe(`Revoked node "doomed" (${dev.deviceId})\n`);
    expect((await okJson<ListedDevice[]>('list')).map((d) => d.id)).not.toContain(dev.deviceId);
    expect(await ok('list')).not.toContain(dev.deviceId.slice(0, 16));
    const all = await okJson<ListedDevice[]>('list', '--all');
    expect(all.find((d) => d.id === dev.deviceId)).toMatchObject({ status: 'revoked', revokeReason: 'lost in transit' });
    expect(await ok('list', '--all')).toMatch(new RegExp(`^${dev.deviceId.slice(0, 16)}\\s+doomed\\s+node\\s+revoked`, 'm'));
    const inspected = await okJson('inspect', join(work, 'doomed'));
    expect(inspected).toMatchObject({ registry: { status: 'revoked' } });
  });

  it('issuing the same name and role again rotates: old revoked ("rotated"), new active, folder rewritten', async () => {
    const dir = join(work, 'sensor');
    const first = await okJson<{ deviceId: string }>('issue', '--role', 'node', '--name', 'sensor', '--out', dir);
    const second = await okJson<{ deviceId: string }>('issue', '--role', 'node', '--name', 'sensor', '--out', dir);
    expect(second.deviceId).not.toBe(first.deviceId);
    const all = await okJson<ListedDevice[]>('list', '--all');
    expect(all.find((d) => d.id === first.deviceId)).toMatchObject({ status: 'revoked', revokeReason: 'rotated' });
    expect(all.find((d) => d.id === second.deviceId)).toMatchObject({ status: 'active', label: 'sensor' });
    expect(all.filter((d) => d.label === 'sensor' && d.status === 'active')).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(dir, 'identity.json'), 'utf8')).deviceId).toBe(second.deviceId);
    expect(spkiSha256(readFileSync(join(dir, 'key.pem'), 'utf8'))).toBe(second.deviceId);
  });
});

describe('ca-fingerprint', () => {
  it('matches `openssl x509 -fingerprint -sha256` of ca.pem', async () => {
    const fromOpenssl = openssl(['x509', '-in', statePaths(stateDir).caCert, '-noout', '-fingerprint', '-sha256']).stdout.trim();
    const human = (await ok('ca-fingerprint')).trim();
    expect(human).toMatch(/^SHA256:([0-9a-f]{2}:){31}[0-9a-f]{2}$/);
    expect(bareHex(human)).toBe(bareHex(fromOpenssl));
    expect(bareHex(fromOpenssl)).toHaveLength(64);
    const json = await okJson<{ caFingerprint: string; trustDomain: string }>('ca-fingerprint');
    expect(bareHex(json.caFingerprint)).toBe(bareHex(fromOpenssl));
    expect(json.caFingerprint).toBe(initFingerprint);
  });
});

describe('ca-export', () => {
  it('writes the CA certificate as PEM or DER, both what openssl reads as ca.pem, with the fingerprint to pin', async () => {
    const caPem = readFileSync(statePaths(stateDir).caCert, 'utf8');
    const dir = tmp();
    const human = await ok('ca-export', '--out', join(dir, 'ca.pem'));
    expect(human).toMatch(new RegExp(`fingerprint: +SHA256:${initFingerprint}`));
    expect(readFileSync(join(dir, 'ca.pem'), 'utf8')).toBe(caPem);
    await ok('ca-export', '--format', 'der', '--out', join(dir, 'ca.der'));
    const fromDer = openssl(['x509', '-inform', 'der', '-in', join(dir, 'ca.der'), '-noout', '-fingerprint', '-sha256']).stdout;
    expect(bareHex(fromDer)).toBe(bareHex(initFingerprint));
    expect(modeOf(join(dir, 'ca.der'))).toBe(0o644);
    // To standard output: the certificate alone (pipe-able), the fingerprint on standard error.
    const piped = await runCertsTools(['--state-dir', stateDir, 'ca-export']);
    expect(piped.stdout).toBe(caPem);
    expect(piped.stderr).toContain(`SHA256:${initFingerprint}`);
    const bad = await runCertsTools(['--state-dir', stateDir, 'ca-export', '--format', 'p12']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/Allowed choices are pem, der/);
  });

  it('without a CA says how to make one', async () => {
    const r = await runCertsTools(['--state-dir', tmp(), 'ca-export']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no CA in .*run "certs-tools init" first/);
  });
});

describe('issue-server', () => {
  it('keeps a server certificate from this CA for the names given: issued once, kept while current, names kept when one is added', async () => {
    const out = join(tmp(), 'tls');
    const first = await okJson<{ issued: boolean; names: string[]; cert: string; key: string }>('issue-server', '--out', out, '--name', 'gateway.lan', '--name', '192.0.2.20');
    expect(first.issued).toBe(true);
    expect(first.names).toEqual(['192.0.2.20', 'gateway.lan']);
    expect(modeOf(first.key)).toBe(0o600);
    const cert = new X509Certificate(readFileSync(first.cert));
    expect(cert.verify(new X509Certificate(readFileSync(statePaths(stateDir).caCert)).publicKey)).toBe(true);
    expect(cert.subjectAltName).toBe('DNS:gateway.lan, IP Address:192.0.2.20');
    expect(cert.checkPrivateKey(createPrivateKey(readFileSync(first.key)))).toBe(true);
    const again = await okJson<{ issued: boolean }>('issue-server', '--out', out, '--name', 'gateway.lan');
    expect(again.issued).toBe(false);
    const more = await okJson<{ issued: boolean; names: string[] }>('issue-server', '--out', out, '--name', 'bridge.lan');
    expect(more).toMatchObject({ issued: true, names: ['192.0.2.20', 'bridge.lan', 'gateway.lan'] });
  });
});

describe('inspect and serial numbers', () => {
  it('never issues a serial with a leading zero digit, recognises the current certificate and flags a superseded one', async () => {
    // Serials are random with a non-zero high nibble, so the registry's hex form and
    // the one parsed back from the certificate always agree (no zero stripping).
    const paths = statePaths(stateDir);
    // The registry over the state dir's device store, as certs-tools and the gateway open it.
    const store = await openStore({ stateDir, log: silentLogger() });
    let previous: string;
    let current: Awaited<ReturnType<DeviceRegistry['registerApproved']>>;
    try {
      const registry = new DeviceRegistry({ store: await openDevices(store, paths.devices), ca: loadCa(paths)!, clock: systemClock, log: silentLogger() });
      const { publicKeyPem } = generateRsaKeyPair(2048);
      const register = () => registry.registerApproved({ publicKeyPem, role: 'node', label: 'zero', scopes: [], source: 'paired' });
      previous = (await register()).certPem;
      current = await register();
      for (let i = 0; i < 64; i++) {
        expect(current.device.cert!.serial).toMatch(/^[1-7][0-9a-f]{31}$/);
        previous = current.certPem;
        current = await register();
      }
    } finally {
      await store.close();
    }
    writeFileSync(join(work, 'zero.pem'), current.certPem);
    writeFileSync(join(work, 'zero-old.pem'), previous);
    const now = await okJson<{ serial: string; registry: { currentSerial: boolean } }>('inspect', join(work, 'zero.pem'));
    expect(now.serial).toBe(current.device.cert!.serial);
    expect(now.registry.currentSerial).toBe(true);
    const old = await okJson<{ registry: { currentSerial: boolean } }>('inspect', join(work, 'zero-old.pem'));
    expect(old.registry.currentSerial).toBe(false);
    expect(await ok('inspect', join(work, 'zero-old.pem'))).toContain('NOT the current serial');
  });
});
