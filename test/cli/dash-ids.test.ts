/**
 * Ids that start with "-" on the command line of the real openclaw-cli process. Request
 * ids of earlier releases (16 characters of base64url) did about once in 64, and
 * `devices approve -Xyz…` then failed with "unknown option". Every command that takes an
 * id accepts one (it reaches the gateway); unknown --options are still refused; and the
 * approve command `pair` prints works exactly as printed.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { verificationCode } from '../../src/identity';
import { openPairingRequests } from '../../src/services/pairing/pairing-requests';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { legacyDeviceKey } from '../helpers/grpc-kit';
import { useTmpDirs } from '../helpers/tmp';
import { cliFor, type CliRunner } from './cli-harness';

const tmp = useTmpDirs('openclaw-cli-dash-');
let t: TestGateway;
let operator: CliRunner;

beforeAll(async () => {
  t = await startTestGateway();
  operator = cliFor(t, tmp());
});
afterAll(async () => {
  await t.close();
});

/** A pending legacy request as an earlier release stored it, with an id that starts with "-". */
async function pendingWithDashId(): Promise<{ requestId: string; deviceId: string }> {
  const requestId = `-${randomBytes(12).toString('base64url').slice(1)}`;
  const key = legacyDeviceKey();
  const requests = await openPairingRequests(t.gw.store);
  const now = Date.now();
  await requests.mutate((tx) =>
    tx.put({
      id: requestId,
      requestId,
      deviceId: key.deviceId,
      label: 'old-laptop',
      role: 'operator',
      scopes: ['operator.read'],
      verificationCode: verificationCode(key.deviceId),
      createdAt: now,
      expiresAt: now + 5 * 60_000,
      kind: 'legacy',
      clientInfo: 'cli/cli/linux',
      legacyPublicKey: key.publicKey,
      status: 'pending',
      secretHashes: [],
    }),
  );
  return { requestId, deviceId: key.deviceId };
}

test('devices approve / reject take a request id that starts with "-", also after options', async () => {
  const one = await pendingWithDashId();
  expect(one.requestId).toMatch(/^-[A-Za-z0-9_-]{15}$/);
  const approved = await operator.json<{ device: { deviceId: string; source: string } }>('devices', 'approve', one.requestId);
  expect(approved.device).toMatchObject({ deviceId: one.deviceId, source: 'legacy' });

  const two = await pendingWithDashId();
  expect(await operator.ok('devices', 'reject', '--reason', 'not ours', two.requestId)).toContain(`Rejected pairing request ${two.requestId}`);

  const three = await pendingWithDashId();
  expect(await operator.ok('devices', 'approve', '--scopes', 'operator.read', three.requestId)).toContain('scopes operator.read');
  const list = await operator.json<{ pending: { requestId: string }[] }>('devices', 'list');
  expect(list.pending.map((p) => p.requestId)).not.toEqual(expect.arrayContaining([one.requestId, two.requestId, three.requestId]));
});

test('every command that takes an id passes one that starts with "-" to the gateway (which does not know it)', async () => {
  const id = '-hZq9x_7Yk2Lm0Pw';
  for (const args of [
    ['devices', 'approve', id],
    ['devices', 'reject', id],
    ['devices', 'revoke', id],
    ['devices', 'rename', id, 'new-name'],
    ['tokens', 'revoke', id],
    ['cron', 'get', id],
    ['cron', 'rm', id],
    ['cron', 'run', id],
    ['cron', 'runs', id],
    ['cron', 'enable', id],
    ['sessions', 'describe', id],
    ['sessions', 'history', id],
    ['sessions', 'delete', id],
  ]) {
    const r = await operator.fails(...args);
    // Not a usage error ("unknown option", exit 2): the gateway answered that it has no such thing.
    expect({ args, code: r.code, unknownOption: r.line.includes('unknown option') }).toEqual({ args, code: 6, unknownOption: false });
  }
});

test('unknown options are still refused, and "--" still ends options', async () => {
  const bogus = await operator.fails('devices', 'approve', '--bogus', 'x');
  expect({ code: bogus.code, line: bogus.line }).toEqual({ code: 2, line: "openclaw-cli: error: unknown option '--bogus'" });
  const one = await pendingWithDashId();
  expect(await operator.ok('devices', 'approve', '--', one.requestId)).toContain(`device ${one.deviceId}`);
});

test('the approve command "pair" prints works as printed', async () => {
  const out = join(tmp(), 'printed');
  const device = operator.with({ home: tmp(), certs: undefined });
  const pairing = device.start('pair', '--ca-fingerprint', t.gw.caFingerprint, '--out', out, '--name', 'printed');
  const printed = (await pairing.waitForLine((l) => l.trim().startsWith('openclaw-cli devices approve '))).trim();
  const requestId = printed.split(/\s+/).pop()!;
  // Request ids are UUIDs now: never "-" first.
  expect(requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  await operator.ok(...printed.split(/\s+/).slice(1));
  expect((await pairing.exited).code).toBe(0);
});
