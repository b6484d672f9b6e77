/**
 * The pairing flow between two CLIs: one runs `pair` with a fresh folder and waits; the
 * other (the operator) sees the request with its verification code and approves it.
 * Also: narrowing scopes, approval by code, bootstrap tokens, rejection, a pinned
 * fingerprint that does not match.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { certificateFingerprint } from '../../src/identity';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { modeOf, useTmpDirs } from '../helpers/tmp';
import { cliFor, type CliRunner } from './cli-harness';

const tmp = useTmpDirs('openclaw-cli-pair-');
let t: TestGateway;
let operator: CliRunner;

interface Pending {
  requestId: string;
  deviceId: string;
  verificationCode: string;
  label: string;
  role: string;
  scopes: string[];
}

beforeAll(async () => {
  t = await startTestGateway();
  operator = cliFor(t, tmp());
});
afterAll(async () => {
  await t.close();
});

/** A CLI on "another machine": no certificates, only the gateway address. */
function newDevice(): CliRunner {
  return operator.with({ home: tmp(), certs: undefined });
}

test('pair waits for approval; the operator sees the same code and approves; the folder then works', async () => {
  const out = join(tmp(), 'phone-certs');
  const device = newDevice();
  const pairing = device.start('pair', '--ca-fingerprint', `SHA256:${t.gw.caFingerprint.toUpperCase()}`, '--out', out, '--name', 'phone');
  const requestId = /request id:\s+(\S+)/.exec(await pairing.waitForLine((l) => l.includes('request id:')))![1];
  const code = /verification code:\s+(\S+)/.exec(await pairing.waitForLine((l) => l.includes('verification code:')))![1];
  await pairing.waitForLine((l) => l.startsWith('Waiting for approval'));

  const list = await operator.json<{ pending: Pending[] }>('devices', 'list');
  const pending = list.pending.find((p) => p.requestId === requestId)!;
  expect(pending).toMatchObject({ verificationCode: code, label: 'phone', role: 'operator' });
  expect(await operator.ok('devices', 'list')).toMatch(new RegExp(`${requestId} +${code} +phone +operator`));

  const approved = await operator.json<{ device: { deviceId: string; label: string } }>('devices', 'approve', requestId);
  expect(approved.device).toMatchObject({ deviceId: pending.deviceId, label: 'phone' });

  const done = await pairing.exited;
  expect({ code: done.code, stderr: done.stderr }).toEqual({ code: 0, stderr: '' });
  expect(done.stdout).toContain(`Approved: device ${pending.deviceId} (operator`);
  expect(modeOf(join(out, 'key.pem'))).toBe(0o600);
  const meta = JSON.parse(readFileSync(join(out, 'identity.json'), 'utf8')) as Record<string, unknown>;
  expect(meta).toMatchObject({ deviceId: pending.deviceId, label: 'phone', role: 'operator', caFingerprint: t.gw.caFingerprint, gateway: t.address, issuedBy: 'openclaw-cli pair' });
  expect(certificateFingerprint(readFileSync(join(out, 'ca.pem'), 'utf8'))).toBe(t.gw.caFingerprint);

  const status = await device.with({ certs: out }).json('status');
  expect(status.device).toMatchObject({ deviceId: pending.deviceId, label: 'phone', source: 'paired' });
});

test('pair --json; approval by verification code with narrowed scopes', async () => {
  const out = join(tmp(), 'tablet');
  const pairing = newDevice().start('--json', 'pair', '--ca-fingerprint', t.gw.caFingerprint, '--out', out, '--name', 'tablet');
  const first = JSON.parse(await pairing.waitForLine((l) => l.includes('"PENDING"'))) as Pending & { state: string };
  expect(first).toMatchObject({ state: 'PENDING', requestId: expect.any(String), verificationCode: expect.stringMatching(/^[2-9A-Z]{4}-[2-9A-Z]{4}$/) });

  expect(await operator.ok('devices', 'approve', first.verificationCode, '--scopes', 'operator.read')).toContain('scopes operator.read;');
  const done = await pairing.exited;
  expect(done.code).toBe(0);
  const last = JSON.parse(done.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  expect(last).toMatchObject({ state: 'APPROVED', deviceId: first.deviceId, role: 'operator', scopes: ['operator.read'], out });
  expect(JSON.parse(readFileSync(join(out, 'identity.json'), 'utf8'))).toMatchObject({ scopes: ['operator.read'] });
});

test('with a bootstrap token the device is approved at once', async () => {
  const { token } = await operator.json<{ token: string }>('tokens', 'create', '--name', 'kiosk', '--scopes', 'operator.read,operator.write');
  const out = join(tmp(), 'kiosk');
  const tooMuch = await newDevice().fails('pair', '--ca-fingerprint', t.gw.caFingerprint, '--out', join(tmp(), 'greedy'), '--token', token, '--scopes', 'operator.admin');
  expect(tooMuch.line).toContain('bootstrap token does not allow scope operator.admin');
  expect(tooMuch.line).toContain('ask for what the token grants with --role/--scopes');
  // Asking for nothing means asking for what the token allows.
  const plain = await newDevice().run('--json', 'pair', '--ca-fingerprint', t.gw.caFingerprint, '--out', join(tmp(), 'plain'), '--token', (await operator.json<{ token: string }>('tokens', 'create', '--name', 'plain', '--scopes', 'operator.read')).token);
  expect(plain.code).toBe(0);
  expect(JSON.parse(plain.stdout.trim().split('\n')[0])).toMatchObject({ state: 'APPROVED', scopes: ['operator.read'] });
  const r = await newDevice().run('--json', 'pair', '--ca-fingerprint', t.gw.caFingerprint, '--out', out, '--token', token, '--name', 'kiosk', '--scopes', 'operator.read,operator.write');
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ state: 'APPROVED', scopes: ['operator.read', 'operator.write'] });
  expect((await newDevice().with({ certs: out }).json('whoami')).device).toMatchObject({ label: 'kiosk', source: 'bootstrap' });

  const reused = await newDevice().fails('pair', '--ca-fingerprint', t.gw.caFingerprint, '--out', join(tmp(), 'again'), '--token', token, '--scopes', 'operator.read');
  expect(reused.code).toBe(4);
});

test('a rejected request ends pair with the reason and leaves no certificate', async () => {
  const out = join(tmp(), 'intruder');
  const pairing = newDevice().start('pair', '--ca-fingerprint', t.gw.caFingerprint, '--out', out);
  const requestId = /request id:\s+(\S+)/.exec(await pairing.waitForLine((l) => l.includes('request id:')))![1];
  await operator.ok('devices', 'reject', requestId, '--reason', 'not mine');
  const done = await pairing.exited;
  expect(done.code).toBe(5);
  expect(done.stderr).toBe(`openclaw-cli: error: pairing request ${requestId} was rejected: not mine\n`);
  expect(existsSync(join(out, 'cert.pem'))).toBe(false);
});

test('pair times out when nobody decides (--timeout)', async () => {
  const r = await newDevice().run('pair', '--ca-fingerprint', t.gw.caFingerprint, '--out', join(tmp(), 'slow'), '--timeout', '1s');
  expect(r.code).toBe(3);
  expect(r.stderr).toMatch(/^openclaw-cli: error: no decision on pairing request \S+ within 1s; run pair again/);
});

test('pair refuses a gateway whose CA does not match the pinned fingerprint', async () => {
  const out = join(tmp(), 'pinned');
  const wrong = 'ab'.repeat(32);
  const r = await newDevice().fails('pair', '--ca-fingerprint', wrong, '--out', out);
  expect(r.code).toBe(4);
  expect(r.line).toContain(`does not present a CA with fingerprint ${wrong}; refusing to trust it`);
  expect(existsSync(join(out, 'key.pem'))).toBe(false);
  const list = await operator.json<{ pending: Pending[] }>('devices', 'list');
  expect(list.pending.filter((p) => p.label === 'pinned')).toEqual([]);

  const malformed = await newDevice().fails('pair', '--ca-fingerprint', 'abc', '--out', out);
  expect(malformed.code).toBe(2);
});

test('pair will not overwrite an existing certificate folder without --force', async () => {
  const r = await newDevice().fails('pair', '--ca-fingerprint', t.gw.caFingerprint, '--out', t.gw.identities.cli);
  expect(r.line).toContain('already holds a certificate');
});
