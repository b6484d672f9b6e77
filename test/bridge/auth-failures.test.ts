/**
 * Wrong credentials are limited per client address, as on the legacy gateway: after N
 * wrong shared tokens (or device tokens) within a minute, the address is locked out for a
 * while, on the WebSocket connect and on `/control-ui-config.json` alike (one counter), even
 * with the right token; after the lockout it gets in again. Loopback is exempt unless the
 * bridge is told otherwise (the test tells it, then checks the default on a second bridge).
 */
import { get } from 'node:http';
import { ManualClock } from '../../src/clock';
import { startBridgeFixture, LEGACY_TOKEN, type BridgeFixture } from './fixture';
import { connectParams } from './legacy-client';

const clock = new ManualClock(Date.now());
let f: BridgeFixture;

beforeAll(async () => {
  f = await startBridgeFixture({ clock, authLimitLoopback: true, policy: { authFailuresPerMinute: 3, authLockoutMs: 60_000 } });
});
afterAll(() => f.close());

const tokenConnect = (token?: string) => f.connect(connectParams(token === undefined ? {} : { auth: { token } }));

function configStatus(bearer: string): Promise<{ status: number; retryAfter?: string }> {
  return new Promise((resolve, reject) => {
    get(`${f.url.replace(/^ws/, 'http')}control-ui-config.json`, { headers: { authorization: `Bearer ${bearer}` } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined });
    }).on('error', reject);
  });
}

test('three wrong shared tokens lock the address out, the right token included, until the lockout ends', async () => {
  for (let i = 0; i < 3; i++) {
    const { client, hello } = await tokenConnect(`wrong-token-${i}`);
    expect(hello.error).toMatchObject({ code: 'INVALID_REQUEST', details: { code: 'AUTH_TOKEN_MISMATCH' } });
    await client.closed;
  }
  const { client, hello } = await tokenConnect(LEGACY_TOKEN);
  // The real gateway's answer (message-handler: reason rate_limited).
  expect(hello.error).toMatchObject({
    code: 'INVALID_REQUEST',
    message: 'unauthorized: too many failed authentication attempts (retry later)',
    retryable: true,
    retryAfterMs: 60_000,
    details: { code: 'AUTH_RATE_LIMITED', authReason: 'rate_limited', recommendedNextStep: 'wait_then_retry' },
  });
  expect((await client.closed).code).toBe(1008);
  // The bootstrap config endpoint shares the counter.
  expect(await configStatus(LEGACY_TOKEN)).toEqual({ status: 429, retryAfter: '60' });
  // A connect without any credential is not a guess: it gets its usual answer.
  const { hello: none } = await tokenConnect();
  expect(none.error).toMatchObject({ code: 'NOT_PAIRED', details: { code: 'DEVICE_IDENTITY_REQUIRED' } });

  clock.advance(60_001);
  const { hello: after } = await tokenConnect(LEGACY_TOKEN);
  expect(after.ok).toBe(true);
  expect(f.logs.audits('bridge.connect').filter((a) => a.reason === 'AUTH_RATE_LIMITED')).toHaveLength(1);
});

test('wrong bearer tokens on /control-ui-config.json count too; a right one resets the count', async () => {
  clock.advance(120_000);
  expect((await configStatus('nope-1')).status).toBe(401);
  expect((await configStatus('nope-2')).status).toBe(401);
  expect((await configStatus(LEGACY_TOKEN)).status).toBe(200);
  // Reset by the success: two more wrong ones do not lock out yet.
  expect((await configStatus('nope-3')).status).toBe(401);
  expect((await configStatus('nope-4')).status).toBe(401);
  expect((await configStatus(LEGACY_TOKEN)).status).toBe(200);
  expect((await configStatus('nope-5')).status).toBe(401);
  expect((await configStatus('nope-6')).status).toBe(401);
  expect((await configStatus('nope-7')).status).toBe(401);
  expect((await configStatus(LEGACY_TOKEN)).status).toBe(429);
  const { hello } = await tokenConnect(LEGACY_TOKEN);
  expect(hello.error).toMatchObject({ details: { code: 'AUTH_RATE_LIMITED' } });
});

test('by default loopback is never locked out (a local CLI with a stale token must not lock its user out)', async () => {
  const g = await startBridgeFixture({ policy: { authFailuresPerMinute: 3, authLockoutMs: 60_000 } });
  try {
    for (let i = 0; i < 6; i++) {
      const { hello } = await g.connect(connectParams({ auth: { token: `wrong-${i}` } }));
      expect(hello.error).toMatchObject({ details: { code: 'AUTH_TOKEN_MISMATCH' } });
    }
    const { hello } = await g.connect(connectParams({ auth: { token: LEGACY_TOKEN } }));
    expect(hello.ok).toBe(true);
  } finally {
    await g.close();
  }
});
