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
  for (const notServed of ['connect', 'skills.detail', 'wizard.start']) expect(p.features.methods).not.toContain(notServed);
  expect(p.features.events).toEqual(expect.arrayContaining(['connect.challenge', 'tick', 'shutdown', 'agent', 'chat', 'cron']));
  // Only the method contracts the bridge keeps (the real CLI's `models list` checks this one).
  expect(p.features.capabilities).toEqual(['published-model-catalog']);
  const health = await client.request('health');
  expect(health).toMatchObject({ ok: true, payload: { ok: true } });
  await client.close();
});

// The real gateway (token mode) compares auth.password with the token: method "token".
test('the shared token also works as the legacy password (method "token", as on the real gateway)', async () => {
  const { client, hello } = await f.connect(connectParams({ auth: { password: LEGACY_TOKEN } }));
  expect(hello.payload.auth).toEqual({ method: 'token', role: 'operator', scopes: ['operator.read'] });
  await client.close();
});

test('device-signed v3 and v2 connects with the shared token: method "token" and the device token, the same one each time', async () => {
  const tokens: string[] = [];
  for (const version of ['v3', 'v2'] as const) {
    const params = connectParams({
      scopes: ['operator.read', 'operator.admin'],
      auth: { token: LEGACY_TOKEN },
      client: { id: 'openclaw-control-ui', version: '1', platform: 'MacIntel', mode: 'ui', deviceFamily: 'Desktop' },
    });
    const { client, hello } = await f.connect(params, (p, n) => signDevice(p, device, n, { version }));
    expect(hello.ok).toBe(true);
    expect(hello.payload.auth).toEqual({ method: 'token', role: 'operator', scopes: ['operator.read', 'operator.admin'], deviceToken: expect.any(String), issuedAtMs: expect.any(Number) });
    // Real: 43 characters of base64url (32 bytes).
    expect(hello.payload.auth.deviceToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    tokens.push(hello.payload.auth.deviceToken as string);
    await client.close();
  }
  expect(tokens[1]).toBe(tokens[0]);
});

test('probe clients: protocol 3 is answered with 4, and a token-only probe gets no scopes (real gateway)', async () => {
  const probe = { id: 'openclaw-probe', version: '1', platform: 'linux', mode: 'probe' };
  for (const [min, max] of [
    [3, 3],
    [4, 4],
  ]) {
    const { client, hello } = await f.connect(connectParams({ minProtocol: min, maxProtocol: max, client: probe, scopes: ['operator.read'], auth: { token: LEGACY_TOKEN } }));
    expect([min, max, hello.payload.protocol, hello.payload.auth.scopes]).toEqual([min, max, 4, []]);
    expect((await client.request('health')).ok).toBe(true);
    await client.close();
  }
});

test('connect after hello: missing scope operator.admin without admin, else "connect is only valid as the first request" (real gateway)', async () => {
  const reader = await f.tokenClient();
  expect((await reader.request('connect', connectParams({ auth: { token: LEGACY_TOKEN } }))).error).toEqual({
    code: 'FORBIDDEN',
    message: 'missing scope: operator.admin',
    details: { code: 'MISSING_SCOPE', missingScope: 'operator.admin', requiredScopes: ['operator.admin'] },
  });
  const admin = (await f.deviceClient(device, ['operator.read', 'operator.admin'])).client;
  expect((await admin.request('connect', connectParams({ auth: { token: LEGACY_TOKEN } }))).error).toEqual({ code: 'INVALID_REQUEST', message: 'connect is only valid as the first request' });
  expect((await admin.request('health')).ok).toBe(true);
  await reader.close();
  await admin.close();
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
  expect(allow.find((l) => l.authMethod === 'token' && l.deviceId === device.id)).toMatchObject({ clientId: 'openclaw-control-ui', role: 'operator' });
  const all = JSON.stringify(f.logs.lines);
  expect(all).not.toContain(LEGACY_TOKEN);
  expect(all).not.toMatch(/"signature"/);
  expect(all).not.toMatch(/deviceToken":"[A-Za-z0-9_-]{20,}/);
});
