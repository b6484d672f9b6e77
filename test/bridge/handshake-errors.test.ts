import { startBridge } from '../../src/bridge/ws';
import { readCertsDir } from '../../src/identity';
import { silentLogger } from '../../src/logging';
import { GatewayConnection } from '../../src/transport/grpc/client/gateway-connection';
import { closeReason } from '../../src/bridge/ws/close-codes';
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

// The token errors' details, as the real gateway sends them.
const tokenMismatch = { code: 'AUTH_TOKEN_MISMATCH', authReason: 'token_mismatch', canRetryWithDeviceToken: false, recommendedNextStep: 'update_auth_credentials' };
const tokenMissing = { code: 'AUTH_TOKEN_MISSING', authReason: 'token_missing', canRetryWithDeviceToken: false, recommendedNextStep: 'update_auth_configuration' };

// The legacy error table, one row per case: [name, frame builder, error, close code]. Each
// row is what the real gateway (2026.9.6) answered to the same frame, except for the text
// in parentheses after "unauthorized: gateway token ...": the real one names its own config
// keys there (clients match only the text before it), ours says where our token is.
const device = newLegacyDevice();
const other = newLegacyDevice();
const signed = (over: Record<string, unknown>, opts: Parameters<typeof signDevice>[3] = {}) => (nonce: string) =>
  connect(signDevice(connectParams({ auth: { token: LEGACY_TOKEN }, ...over }), device, nonce, opts));
const rows: [string, (nonce: string) => unknown, Record<string, unknown>, number][] = [
  ['wrong token', () => connect(connectParams({ auth: { token: 'not-the-token' } })), { code: 'INVALID_REQUEST', message: expect.stringMatching(/^unauthorized: gateway token mismatch \(/), details: tokenMismatch }, 1008],
  // legacy-protocol.md has no password row; the real gateway (token mode) compares a password with the token.
  ['wrong password (token mode)', () => connect(connectParams({ auth: { password: 'nope' } })), { code: 'INVALID_REQUEST', message: expect.stringMatching(/^unauthorized: gateway token mismatch \(/), details: tokenMismatch }, 1008],
  // A device token is never a bearer credential: without the device block it is refused (real: the same two answers).
  ['a device token alone (auth.deviceToken)', () => connect(connectParams({ auth: { deviceToken: 'A'.repeat(43) } })), { code: 'NOT_PAIRED', message: 'device identity required', details: { code: 'DEVICE_IDENTITY_REQUIRED' } }, 1008],
  ['a device token alone (in auth.token)', () => connect(connectParams({ auth: { token: 'A'.repeat(43) } })), { code: 'INVALID_REQUEST', details: tokenMismatch }, 1008],
  ['no credentials, no device', () => connect(connectParams()), { code: 'NOT_PAIRED', message: 'device identity required', details: { code: 'DEVICE_IDENTITY_REQUIRED' } }, 1008],
  // Only operators may go without a device (real: roleCanSkipDeviceIdentity).
  ['role node with the shared token, no device', () => connect(connectParams({ role: 'node', auth: { token: LEGACY_TOKEN } })), { code: 'NOT_PAIRED', details: { code: 'DEVICE_IDENTITY_REQUIRED' } }, 1008],
  // A signature alone is not a credential (real: "device v3 no token").
  ['a device without any token', signed({ auth: undefined }), { code: 'INVALID_REQUEST', message: expect.stringMatching(/^unauthorized: gateway token missing \(/), details: tokenMissing }, 1008],
  // Real: canRetryWithDeviceToken true, retry_with_device_token (the device may hold a token).
  ['a device with a wrong shared token', signed({ auth: { token: 'wrong-token' } }), { code: 'INVALID_REQUEST', details: { ...tokenMismatch, canRetryWithDeviceToken: true, recommendedNextStep: 'retry_with_device_token' } }, 1008],
  ['a device with a wrong password', signed({ auth: { password: 'wrong' } }), { code: 'INVALID_REQUEST', details: tokenMismatch }, 1008],
  [
    'protocol out of range',
    () => connect(connectParams({ minProtocol: 5, maxProtocol: 6, auth: { token: LEGACY_TOKEN } })),
    { code: 'INVALID_REQUEST', message: 'protocol mismatch', details: { code: 'PROTOCOL_MISMATCH', clientMinProtocol: 5, clientMaxProtocol: 6, expectedProtocol: 4, minimumProbeProtocol: 3 } },
    1002,
  ],
  [
    'old protocol only',
    () => connect(connectParams({ minProtocol: 1, maxProtocol: 3, auth: { token: LEGACY_TOKEN } })),
    { code: 'INVALID_REQUEST', message: 'protocol mismatch', details: { code: 'PROTOCOL_MISMATCH', clientMinProtocol: 1, clientMaxProtocol: 3, expectedProtocol: 4, minimumProbeProtocol: 3 } },
    1002,
  ],
  ['unknown field in connect params', () => connect(connectParams({ auth: { token: LEGACY_TOKEN }, bogus: true })), { code: 'INVALID_REQUEST', message: "invalid connect params: at root: unexpected property 'bogus'" }, 1008],
  ['unknown field in client', () => connect(connectParams({ client: { id: 'cli', version: '1', platform: 'linux', mode: 'cli', extra: 1 } })), { code: 'INVALID_REQUEST', message: "invalid connect params: at /client: unexpected property 'extra'" }, 1008],
  ['unknown client id', () => connect(connectParams({ client: { id: 'evil', version: '1', platform: 'linux', mode: 'cli' } })), { code: 'INVALID_REQUEST', message: 'invalid connect params: at /client/id: must be equal to one of the allowed values' }, 1008],
  ['missing client', () => connect({ minProtocol: 4, maxProtocol: 4 }), { code: 'INVALID_REQUEST', message: "invalid connect params: must have required property 'client'" }, 1008],
  ['nonce mismatch', signed({}, { signedNonce: 'other-nonce', sentNonce: 'other-nonce' }), { code: 'INVALID_REQUEST', message: 'device nonce mismatch', details: { code: 'DEVICE_AUTH_NONCE_MISMATCH', reason: 'device-nonce-mismatch' } }, 1008],
  ['signature invalid (other key)', signed({}, { signWith: other.privateKey }), { code: 'INVALID_REQUEST', message: 'device signature invalid', details: { code: 'DEVICE_AUTH_SIGNATURE_INVALID', reason: 'device-signature' } }, 1008],
  [
    'signature over other scopes',
    (n) => connect({ ...signDevice(connectParams({ scopes: ['operator.read'], auth: { token: LEGACY_TOKEN } }), device, n), scopes: ['operator.admin'] }),
    { message: 'device signature invalid', details: { code: 'DEVICE_AUTH_SIGNATURE_INVALID', reason: 'device-signature' } },
    1008,
  ],
  ['signature 10 min old', signed({}, { signedAt: Date.now() - 10 * 60_000 }), { code: 'INVALID_REQUEST', message: 'device signature expired', details: { code: 'DEVICE_AUTH_SIGNATURE_EXPIRED', reason: 'device-signature-stale' } }, 1008],
  ['signature 10 min ahead', signed({}, { signedAt: Date.now() + 10 * 60_000 }), { message: 'device signature expired', details: { code: 'DEVICE_AUTH_SIGNATURE_EXPIRED', reason: 'device-signature-stale' } }, 1008],
  // Our earlier DEVICE_AUTH_IDENTITY_MISMATCH was not the real code.
  ['device id is not the key hash', signed({}, { id: other.id }), { code: 'INVALID_REQUEST', message: 'device identity mismatch', details: { code: 'DEVICE_AUTH_DEVICE_ID_MISMATCH', reason: 'device-id-mismatch' } }, 1008],
  ['device public key garbage', signed({}, { publicKey: 'bm90LWEta2V5' }), { code: 'INVALID_REQUEST', message: 'device identity mismatch', details: { code: 'DEVICE_AUTH_DEVICE_ID_MISMATCH', reason: 'device-id-mismatch' } }, 1008],
  ['first request not connect', () => ({ type: 'req', id: 'x1', method: 'health' }), { code: 'INVALID_REQUEST', message: 'invalid handshake: first request must be connect' }, 1008],
];

test.each(rows)('%s', async (_name, build, error, closeCode) => {
  const { res, close } = await firstFrame(build);
  expect(res.ok).toBe(false);
  expect(res.error).toMatchObject(error);
  expect(close.code).toBe(closeCode);
  // Close reason = the message (cut to 120 bytes).
  expect(close.reason).toBe(closeReason(res.error.message));
});

/** Sends one frame first and returns every frame after the challenge and the close. */
async function unanswered(frame: string | Buffer): Promise<{ frames: Frame[]; close: { code: number; reason: string } }> {
  const c = await LegacyClient.open(f.url);
  await c.challenge();
  c.ws.send(frame);
  const close = await c.closed;
  return { frames: c.frames.slice(1), close };
}

// First frames the real gateway closes without an answer (legacy-protocol.md said: answer
// "first request must be connect"; the real gateway does not).
test('a first frame that is not JSON: no answer, close 1000 with an empty reason (real gateway)', async () => {
  expect(await unanswered('hello there')).toEqual({ frames: [], close: { code: 1000, reason: '' } });
  expect(await unanswered('[1,2')).toEqual({ frames: [], close: { code: 1000, reason: '' } });
});

test('JSON that is not a request frame first: no answer, close 1008 "invalid request frame" (real gateway)', async () => {
  expect(await unanswered(JSON.stringify({ type: 'event', event: 'connect' }))).toEqual({ frames: [], close: { code: 1008, reason: 'invalid request frame' } });
  expect(await unanswered(JSON.stringify({ type: 'req', id: 'a1', method: 'connect', params: {}, extra: 1 }))).toEqual({ frames: [], close: { code: 1008, reason: 'invalid request frame' } });
  const denied = f.logs.audits('bridge.connect').filter((l) => l.allowed === false && l.reason === 'invalid first frame');
  expect(denied.length).toBeGreaterThanOrEqual(2);
});

test('the answer to a first request keeps its id', async () => {
  expect((await firstFrame(() => ({ type: 'req', id: 'abc', method: 'status' }))).res.id).toBe('abc');
});

// legacy-protocol.md says 1009 "preauth payload too large"; the real gateway's socket
// layer closes before that, with an empty reason.
test('a pre-auth frame over 64 KiB closes 1009 with an empty reason (real gateway)', async () => {
  const c = await LegacyClient.open(f.url);
  await c.challenge();
  c.send(connect({ ...connectParams({ auth: { token: LEGACY_TOKEN } }), userAgent: 'x'.repeat(70 * 1024) }));
  expect(await c.closed).toEqual({ code: 1009, reason: '' });
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
  // In one write with the connect, so all of them are there before hello, however fast the handshake is.
  const socket = (c.ws as unknown as { _socket: import('node:net').Socket })._socket;
  socket.cork();
  c.send(connect(connectParams({ auth: { token: LEGACY_TOKEN } })));
  for (let i = 0; i < 20; i++) c.sendRequest('health');
  socket.uncork();
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

// Real: INVALID_REQUEST "origin not allowed (open the Control UI from the gateway host or allow it in
// gateway.controlUi.allowedOrigins)" {code:CONTROL_UI_ORIGIN_NOT_ALLOWED, reason:"origin not allowed"}, close 1008
// (our parenthesis names our setting, bridge.controlUi.allowedOrigins). Even the right token does not get past it.
// Every other case of the origin policy: browser-origin.test.ts.
test('a browser origin other than the bridge host is refused at connect, as on the real gateway', async () => {
  const c = await LegacyClient.open(f.url, { Origin: 'http://evil.example' });
  await c.challenge();
  const res = await c.request('connect', connectParams({ client: { id: 'openclaw-control-ui', version: '1', platform: 'Linux', mode: 'webchat' }, auth: { token: LEGACY_TOKEN } }));
  const message = 'origin not allowed (open the Control UI from the gateway host or allow it in bridge.controlUi.allowedOrigins)';
  expect(res.error).toEqual({ code: 'INVALID_REQUEST', message, details: { code: 'CONTROL_UI_ORIGIN_NOT_ALLOWED', reason: 'origin not allowed' } });
  expect(await c.closed).toEqual({ code: 1008, reason: message });
  const same = await LegacyClient.open(f.url, { Origin: f.url.replace('ws:', 'http:').replace(/\/$/, '') });
  await same.challenge();
  expect((await same.request('connect', connectParams({ auth: { token: LEGACY_TOKEN } }))).ok).toBe(true);
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
