/**
 * Every way openclaw-cli can fail says so in one stderr line that tells the user what
 * to do, with a distinct exit code: no certificates, gateway unreachable, wrong gateway,
 * certificate refused (revoked, other CA), missing scope, bad usage.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { CertificateAuthority, generateRsaKeyPair, writeCertsDir } from '../../src/identity';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { useTmpDirs } from '../helpers/tmp';
import { cliFor, writeIdentity, type CliRunner } from './cli-harness';

const tmp = useTmpDirs('openclaw-cli-err-');
let t: TestGateway;
let cli: CliRunner;

beforeAll(async () => {
  t = await startTestGateway();
  cli = cliFor(t, tmp());
});
afterAll(async () => {
  await t.close();
});

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A certificate folder signed by a CA the gateway never saw; ca.pem is `caPem`. */
function foreignIdentity(dir: string, caPem: string): string {
  const now = Date.now();
  const other = CertificateAuthority.create('elsewhere.local', now);
  const ca = new CertificateAuthority(other.certPem, other.keyPem, 'elsewhere.local');
  const keys = generateRsaKeyPair();
  const issued = ca.issueClient({ publicKeyPem: keys.publicKeyPem, role: 'operator', label: 'stranger', now, lifetimeMs: 86_400_000 });
  writeCertsDir(dir, {
    keyPem: keys.privateKeyPem,
    certPem: issued.certPem,
    caPem: caPem === 'own' ? other.certPem : caPem,
    meta: { deviceId: issued.deviceId, label: 'stranger', role: 'operator', scopes: [], serial: issued.serial, notBefore: '', notAfter: '', trustDomain: 'elsewhere.local', caFingerprint: '', issuedBy: 'test' },
  });
  return issued.deviceId;
}

test('no certificates: says where it looked and how to provision (exit 6)', async () => {
  const empty = tmp();
  const r = await cli.fails('--certs', empty, 'cron', 'list');
  expect(r.code).toBe(6);
  expect(r.line).toContain(`no client certificate in ${empty} (missing key.pem, cert.pem, ca.pem; certs dir from flag --certs)`);
  expect(r.line).toContain(`certs-tools issue --role operator --name <name> --out ${empty}`);
  expect(r.line).toContain('openclaw-cli pair --gateway HOST:PORT --ca-fingerprint <SHA256>');

  // The default location is named as the local operator identity of the state dir.
  const home = tmp();
  const r2 = await cli.with({ home, certs: undefined }).fails('status');
  expect(r2.line).toContain(`no client certificate in ${join(home, '.openclaw', 'identities', 'cli')} (the folder does not exist; certs dir from the default`);
});

test('gateway unreachable: names the address and where it came from (exit 3)', async () => {
  const port = await closedPort();
  const r = await cli.fails('--gateway', `127.0.0.1:${port}`, 'cron', 'list');
  expect(r.code).toBe(3);
  expect(r.line).toBe(`openclaw-cli: error: cannot reach the gateway at 127.0.0.1:${port} (gateway from flag --gateway): connection refused; is it running and listening there?`);

  const viaEnv = await cli.with({ gateway: undefined, env: { OPENCLAW_GATEWAY_GRPC: `127.0.0.1:${port}` } }).fails('health');
  expect(viaEnv.line).toContain(`(gateway from env OPENCLAW_GATEWAY_GRPC)`);
});

test('wrong gateway: its certificate does not verify against the CA in the certs dir (exit 3)', async () => {
  const dir = tmp();
  foreignIdentity(dir, 'own');
  const r = await cli.fails('--certs', dir, 'status');
  expect(r.code).toBe(3);
  expect(r.line).toContain(`the gateway at ${t.address} (gateway from flag --gateway) presented a certificate that does not verify against the CA in ${join(dir, 'ca.pem')}`);
  expect(r.line).toContain('wrong gateway');
});

test('certificate from another CA: refused with the device id (exit 4)', async () => {
  const dir = tmp();
  const deviceId = foreignIdentity(dir, t.gw.registry.ca.certPem);
  const r = await cli.fails('--certs', dir, 'cron', 'list');
  expect(r.code).toBe(4);
  expect(r.line).toContain(`the gateway refused the client certificate in ${dir} (device ${deviceId}, CERT_UNTRUSTED)`);
  expect(r.line).toMatch(/not issued by this gateway's CA/);
});

test('revoked device: refused with the device id (exit 4)', async () => {
  const dir = tmp();
  const issued = await t.gw.registry.provision({ role: 'operator', label: 'stolen-laptop' });
  writeIdentity(dir, t, issued);
  await cli.ok('--certs', dir, 'status');
  await t.gw.registry.revoke(issued.device.id, 'stolen');
  const r = await cli.fails('--certs', dir, 'status');
  expect(r.code).toBe(4);
  expect(r.line).toContain(`the gateway refused the client certificate in ${dir} (device ${issued.device.id}, DEVICE_REVOKED)`);
  expect(r.line).toContain('was revoked (stolen)');
});

test('revocation cuts a live events stream at once (exit 4)', async () => {
  const dir = tmp();
  const issued = await t.gw.registry.provision({ role: 'operator', label: 'watcher', scopes: ['operator.read'] });
  writeIdentity(dir, t, issued);
  const events = cli.with({ certs: dir }).start('events');
  await events.waitForLine((l) => l.includes('subscribed (subscription '));
  await cli.ok('devices', 'revoke', 'watcher');
  const done = await events.exited;
  expect(done.code).toBe(4);
  expect(done.stderr).toBe(
    `openclaw-cli: error: the gateway refused the client certificate in ${dir} (device ${issued.device.id}, DEVICE_REVOKED): device ${issued.device.id} was revoked; pair again or issue a new certificate\n`,
  );
});

test('missing scope: says which one and what the identity has (exit 5)', async () => {
  const dir = tmp();
  writeIdentity(dir, t, await t.gw.registry.provision({ role: 'operator', label: 'ro', scopes: ['operator.read'] }));
  const ro = cli.with({ certs: dir });
  expect((await ro.json('cron', 'list')).jobs).toEqual([]);
  const r = await ro.fails('cron', 'add', '--name', 'x', '--every', '1h', '--system-event', 'y');
  expect(r.code).toBe(5);
  expect(r.line).toBe(
    `openclaw-cli: error: not allowed: missing scope: operator.admin; the identity in ${dir} (ro, role operator) has scopes: operator.read; use an identity with that scope or have an operator issue one`,
  );
  const pairingScope = await ro.fails('devices', 'list');
  expect(pairingScope.line).toContain('missing scope: operator.pairing');
});

test('bad usage and bad input exit 2 with one line', async () => {
  expect((await cli.fails('no-such-command')).code).toBe(2);
  expect((await cli.fails('cron', 'runs', 'job', '--limit', 'many')).line).toBe('openclaw-cli: error: --limit: "many" is not a whole number');
  expect((await cli.fails('--gateway', 'a:b:c', 'status')).line).toContain('gateway address "a:b:c" is not HOST:PORT');
  const garbled = tmp();
  mkdirSync(garbled, { recursive: true });
  const cliJson = join(garbled, 'cli.json');
  writeFileSync(cliJson, '{ not json');
  const r = await cli.with({ certs: undefined }).fails('--state-dir', garbled, 'status');
  expect(r.code).toBe(2);
  expect(r.line).toContain(`cannot read ${cliJson}`);
});

test('--help and a group without a subcommand', async () => {
  const help = await cli.run('--help');
  expect(help.code).toBe(0);
  expect(help.stdout).toContain('Exit codes: 0 ok');
  expect(await cli.fails('cron')).toEqual({
    code: 2,
    line: "openclaw-cli: error: 'cron' needs a subcommand: list, get, add, update, enable, disable, rm, run, runs, status (see openclaw-cli cron --help)",
    stdout: '',
  });
  expect((await cli.fails('devices', 'aprove', 'x')).line).toContain("unknown command 'devices aprove' (devices has: list, approve,");
  const groupHelp = await cli.run('cron', '--help');
  expect(groupHelp.code).toBe(0);
  expect(groupHelp.stdout).toContain('Usage: openclaw-cli cron');
});
