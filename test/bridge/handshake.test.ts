import { connectParams, LegacyClient, signDevice, type LegacyDevice } from './legacy-client';
import { LEGACY_TOKEN, startBridgeFixture, type BridgeFixture } from './fixture';

let f: BridgeFixture;
let device: LegacyDevice;
beforeAll(async () => {
  f = await startBridgeFixture();
  device = await f.pairDevice(['operator.read', 'operator.write', 'operator.admin', 'operator.pairing']);
});
afterAll(async () => {
  await f.close();
});

test('the challenge comes first, without seq', async () => {
  const c = await LegacyClient.open(f.url);
  await c.challenge();
  expect(c.frames[0]).toMatchObject({ type: 'event', event: 'connect.challenge', payload: { nonce: expect.any(String), ts: expect.any(Number) } });
  expect(c.frames[0]).not.toHaveProperty('seq');
  await c.close();
});

test('token-only hello-ok: methods we serve, token principal with operator.read, legacy policy', async () => {
  const { client, hello } = await f.connect(connectParams({ scopes: ['operator.read', 'operator.admin'], auth: { token: LEGACY_TOKEN } }));
  expect(hello.ok).toBe(true);
  const p = hello.payload;
  expect(p).toMatchObject({
    type: 'hello-ok',
    protocol: 4,
    server: { version: expect.any(String), connId: expect.any(String) },
    auth: { role: 'operator', scopes: ['operator.read'], method: 'token' },
    policy: { maxPayload: 26214400, maxBufferedBytes: 52428800, tickIntervalMs: 30000 },
    snapshot: { presence: expect.any(Array), health: { ok: true }, stateVersion: { presence: expect.any(Number), health: expect.any(Number) }, uptimeMs: expect.any(Number) },
  });
  expect(p.auth.deviceToken).toBeUndefined();
  expect(p.features.methods).toEqual(expect.arrayContaining(['health', 'status', 'cron.list', 'cron.add', 'chat.send', 'agent', 'device.pair.approve', 'config.get', 'logs.tail']));
  for (const notServed of ['connect', 'update.status', 'plugins.controlUi.list', 'exec.approval.list']) expect(p.features.methods).not.toContain(notServed);
  expect(p.features.events).toEqual(expect.arrayContaining(['connect.challenge', 'tick', 'shutdown', 'agent', 'chat', 'cron']));
  const health = await client.request('health');
  expect(health).toMatchObject({ ok: true, payload: { ok: true } });
  await client.close();
});

test('the shared token also works as the legacy password', async () => {
  const { client, hello } = await f.connect(connectParams({ auth: { password: LEGACY_TOKEN } }));
  expect(hello.payload.auth).toMatchObject({ method: 'password', scopes: ['operator.read'] });
  await client.close();
});

test('device-signed v3 and v2 connects get hello-ok with a device token', async () => {
  for (const version of ['v3', 'v2'] as const) {
    const { client, hello } = await f.connect(connectParams({ scopes: ['operator.read', 'operator.admin'], client: { id: 'openclaw-control-ui', version: '1', platform: 'MacIntel', mode: 'ui', deviceFamily: 'Desktop' } }), (p, n) =>
      signDevice(p, device, n, { version }),
    );
    expect(hello.ok).toBe(true);
    expect(hello.payload.auth).toMatchObject({ role: 'operator', scopes: ['operator.read', 'operator.admin'], method: 'device', deviceToken: expect.any(String), issuedAtMs: expect.any(Number) });
    expect(Buffer.from(hello.payload.auth.deviceToken, 'base64url')).toHaveLength(32);
    await client.close();
  }
});

test('a device token alone authenticates (as auth.deviceToken and as auth.token)', async () => {
  const first = await f.deviceClient(device, ['operator.read']);
  const token = first.hello.payload.auth.deviceToken as string;
  await first.client.close();
  for (const auth of [{ deviceToken: token }, { token }]) {
    const { client, hello } = await f.connect(connectParams({ scopes: ['operator.read'], auth }));
    expect(hello.payload.auth).toMatchObject({ method: 'device-token', scopes: ['operator.read'] });
    await client.close();
  }
});

test('unknown scopes are dropped, never granted', async () => {
  const { client, hello } = await f.connect(connectParams({ scopes: ['operator.read', 'operator.sessions.write'], auth: { token: LEGACY_TOKEN } }));
  expect(hello.payload.auth.scopes).toEqual(['operator.read']);
  await client.close();
});

test('every handshake is audited without tokens or signatures', async () => {
  const allow = f.logs.audits('bridge.connect').filter((l) => l.allowed === true);
  const deny = f.logs.audits('bridge.connect').filter((l) => l.allowed === false);
  expect(allow.length).toBeGreaterThan(3);
  expect(deny.length).toBeGreaterThan(0);
  expect(allow.find((l) => l.authMethod === 'device')).toMatchObject({ deviceId: device.id, clientId: 'openclaw-control-ui', role: 'operator' });
  const all = JSON.stringify(f.logs.lines);
  expect(all).not.toContain(LEGACY_TOKEN);
  expect(all).not.toMatch(/"signature"/);
  expect(all).not.toMatch(/deviceToken":"[A-Za-z0-9_-]{20,}/);
});
