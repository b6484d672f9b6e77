import { startBridge } from '../../src/bridge/ws';
import { readCertsDir } from '../../src/identity';
import { silentLogger } from '../../src/logging';
import { GatewayConnection } from '../../src/transport/grpc/client/gateway-connection';
import { connectParams, LegacyClient, newLegacyDevice, signDevice, type Frame } from './legacy-client';
import { LEGACY_TOKEN, startBridgeFixture, type BridgeFixture } from './fixture';

let f: BridgeFixture;
beforeAll(async () => {
  f = await startBridgeFixture();
});
afterAll(async () => {
  await f.close();
});

/** Sends one frame as the first request and returns the answer and the close. */
async function firstFrame(build: (nonce: string) => unknown): Promise<{ res: Frame; close: { code: number; reason: string } }> {
  const c = await LegacyClient.open(f.url);
  const nonce = await c.challenge();
  c.send(build(nonce));
  const res = await c.waitFor((x) => x.type === 'res');
  return { res, close: await c.closed };
}

const connect = (params: unknown) => ({ type: 'req', id: 'c1', method: 'connect', params });

// The legacy error table, one row per case: [name, frame builder, error, close code].
const device = newLegacyDevice();
const other = newLegacyDevice();
const signed = (over: Record<string, unknown>, opts: Parameters<typeof signDevice>[3] = {}) => (nonce: string) => connect(signDevice(connectParams(over), device, nonce, opts));
const rows: [string, (nonce: string) => unknown, Record<string, unknown>, number][] = [
  ['wrong token', () => connect(connectParams({ auth: { token: 'not-the-token' } })), { code: 'INVALID_REQUEST', message: expect.stringMatching(/^unauthorized: gateway token mismatch \(/), details: { code: 'AUTH_TOKEN_MISMATCH' } }, 1008],
  ['wrong password', () => connect(connectParams({ auth: { password: 'nope' } })), { code: 'INVALID_REQUEST', details: { code: 'AUTH_PASSWORD_MISMATCH' } }, 1008],
  ['unknown device token', () => connect(connectParams({ auth: { deviceToken: 'AAAA' } })), { code: 'INVALID_REQUEST', details: { code: 'AUTH_DEVICE_TOKEN_MISMATCH' } }, 1008],
  ['no credentials, no device', () => connect(connectParams()), { code: 'NOT_PAIRED', message: 'device identity required', details: { code: 'DEVICE_IDENTITY_REQUIRED' } }, 1008],
  ['protocol out of range', () => connect(connectParams({ minProtocol: 5, maxProtocol: 6, auth: { token: LEGACY_TOKEN } })), { code: 'INVALID_REQUEST', message: 'protocol mismatch', details: { code: 'PROTOCOL_MISMATCH' } }, 1002],
  ['old protocol only', () => connect(connectParams({ minProtocol: 2, maxProtocol: 3, auth: { token: LEGACY_TOKEN } })), { code: 'INVALID_REQUEST', message: 'protocol mismatch' }, 1002],
  ['unknown field in connect params', () => connect(connectParams({ auth: { token: LEGACY_TOKEN }, sneaky: true })), { code: 'INVALID_REQUEST', message: 'invalid connect params: at /: unexpected property "sneaky"' }, 1008],
  ['unknown field in client', () => connect(connectParams({ client: { id: 'cli', version: '1', platform: 'linux', mode: 'cli', extra: 1 } })), { code: 'INVALID_REQUEST', message: 'invalid connect params: at /client: unexpected property "extra"' }, 1008],
  ['unknown client id', () => connect(connectParams({ client: { id: 'evil', version: '1', platform: 'linux', mode: 'cli' } })), { code: 'INVALID_REQUEST', message: expect.stringMatching(/^invalid connect params: at \/client\/id: must be one of/) }, 1008],
  ['missing client', () => connect({ minProtocol: 4, maxProtocol: 4 }), { code: 'INVALID_REQUEST', message: 'invalid connect params: at /: missing required property "client"' }, 1008],
  ['nonce mismatch', signed({}, { signedNonce: 'other-nonce', sentNonce: 'other-nonce' }), { code: 'INVALID_REQUEST', message: 'device nonce mismatch', details: { code: 'DEVICE_AUTH_NONCE_MISMATCH' } }, 1008],
  ['signature invalid (other key)', signed({}, { signWith: other.privateKey }), { code: 'INVALID_REQUEST', message: 'device signature invalid', details: { code: 'DEVICE_AUTH_SIGNATURE_INVALID' } }, 1008],
  ['signature over other scopes', (n) => connect({ ...signDevice(connectParams({ scopes: ['operator.read'] }), device, n), scopes: ['operator.admin'] }), { message: 'device signature invalid' }, 1008],
  ['signature expired', signed({}, { signedAt: Date.now() - 10 * 60_000 }), { code: 'INVALID_REQUEST', message: 'device signature expired', details: { code: 'DEVICE_AUTH_SIGNATURE_EXPIRED' } }, 1008],
  ['signature from the future', signed({}, { signedAt: Date.now() + 10 * 60_000 }), { message: 'device signature expired' }, 1008],
  ['identity mismatch', signed({}, { id: other.id }), { code: 'INVALID_REQUEST', message: 'device identity mismatch', details: { code: 'DEVICE_AUTH_IDENTITY_MISMATCH' } }, 1008],
  ['first frame not connect', () => ({ type: 'req', id: 'x1', method: 'health' }), { code: 'INVALID_REQUEST', message: 'invalid handshake: first request must be connect' }, 1008],
  ['first frame not JSON', () => 'hello there', { code: 'INVALID_REQUEST', message: 'invalid handshake: first request must be connect' }, 1008],
  ['first frame an event', () => ({ type: 'event', event: 'connect' }), { code: 'INVALID_REQUEST', message: 'invalid handshake: first request must be connect' }, 1008],
];

test.each(rows)('%s', async (_name, build, error, closeCode) => {
  const { res, close } = await firstFrame(build);
  expect(res.ok).toBe(false);
  expect(res.error).toMatchObject(error);
  expect(close.code).toBe(closeCode);
  expect(Buffer.byteLength(close.reason)).toBeLessThanOrEqual(120);
});

test('the answer keeps the request id, or uses "invalid" when there was none', async () => {
  expect((await firstFrame(() => ({ type: 'req', id: 'abc', method: 'status' }))).res.id).toBe('abc');
  expect((await firstFrame(() => '[1,2')).res.id).toBe('invalid');
});

test('a pre-auth frame over 64 KiB closes 1009 "preauth payload too large"', async () => {
  const c = await LegacyClient.open(f.url);
  await c.challenge();
  c.send(connect({ ...connectParams({ auth: { token: LEGACY_TOKEN } }), userAgent: 'x'.repeat(70 * 1024) }));
  expect(await c.closed).toEqual({ code: 1009, reason: 'preauth payload too large' });
});

test('a pre-auth frame far over the limit is cut while it is still arriving', async () => {
  const c = await LegacyClient.open(f.url);
  await c.challenge();
  c.send('x'.repeat(8 * 1024 * 1024));
  expect((await c.closed).code).toBe(1009);
});

test('no connect within the handshake timeout closes the socket', async () => {
  const bridge = await startBridge({ port: 0, gateway: f.gateway, legacyToken: LEGACY_TOKEN, log: silentLogger(), policy: { handshakeTimeoutMs: 300 } });
  try {
    const c = await LegacyClient.open(bridge.url);
    await c.challenge();
    expect(await c.closed).toEqual({ code: 1008, reason: 'handshake timeout' });
  } finally {
    await bridge.close();
  }
});

test('more than 15 frames before hello close the socket', async () => {
  const c = await LegacyClient.open(f.url);
  await c.challenge();
  c.send(connect(connectParams({ auth: { token: LEGACY_TOKEN } })));
  for (let i = 0; i < 20; i++) c.sendRequest('health');
  expect(await c.closed).toEqual({ code: 1008, reason: 'too many frames before hello' });
});

test('up to 15 frames sent before hello are answered after it, in order', async () => {
  const c = await LegacyClient.open(f.url);
  await c.challenge();
  c.send(connect(connectParams({ auth: { token: LEGACY_TOKEN } })));
  const ids = Array.from({ length: 15 }, (_, i) => c.sendRequest('health', undefined, `q${i}`));
  await c.waitFor((x) => x.type === 'res' && x.id === 'q14');
  const answered = c.frames.filter((x) => x.type === 'res' && x.id !== 'c1');
  expect(answered.map((x) => x.ok)).toEqual(ids.map(() => true));
  await c.close();
});

test('a browser origin other than the bridge host is refused at upgrade', async () => {
  await expect(LegacyClient.open(f.url, { Origin: 'http://evil.example' })).rejects.toThrow('upgrade refused: 403');
  const same = await LegacyClient.open(f.url, { Origin: f.url.replace('ws:', 'http:').replace(/\/$/, '') });
  await same.close();
});

test('a gateway that cannot be reached: UNAVAILABLE "gateway starting; retry shortly", close 1013; /readyz 503', async () => {
  const certs = readCertsDir(f.t.gw.identities.bridge);
  // Nothing listens on port 1: every gateway call fails as unreachable.
  const down = new GatewayConnection('127.0.0.1:1', { caPem: certs.caPem, keyPem: certs.keyPem, certPem: certs.certPem }, { 'grpc.use_local_subchannel_pool': 1 });
  const bridge = await startBridge({ port: 0, gateway: down, legacyToken: LEGACY_TOKEN, log: silentLogger() });
  try {
    const c = await LegacyClient.open(bridge.url);
    await c.challenge();
    const res = await c.request('connect', connectParams({ auth: { token: LEGACY_TOKEN } }));
    expect(res.error).toEqual({ code: 'UNAVAILABLE', message: 'gateway starting; retry shortly', retryable: true, retryAfterMs: 1000 });
    expect((await c.closed).code).toBe(1013);
    const ready = await fetch(bridge.url.replace('ws:', 'http:') + 'readyz');
    expect(ready.status).toBe(503);
  } finally {
    await bridge.close();
    down.close();
  }
});
