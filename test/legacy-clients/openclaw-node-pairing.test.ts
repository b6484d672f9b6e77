/**
 * openclaw-node (npm, Node 24) pairing with our bridge. It always signs with its device
 * key and sends the shared token (or, once it has one, its stored device token). Our
 * bridge asks every device to be approved: openclaw-node gets the 1008 close it parses
 * into its `pairingRequired` event, an operator approves (our `openclaw-cli`, or the real
 * `openclaw devices approve`), and it connects, keeps the device token and reconnects
 * with that token alone. A pairing operator (token-only, after bridge.tokenOnlyScopes
 * was widened) watches the device.pair.* events.
 */
import { join } from 'node:path';
import { connectParams, LegacyClient } from '../bridge/legacy-client';
import type { OpenclawNodeProcess } from './openclaw-node-process';
import { outcome } from './real-cli';
import { useLegacyClientsSuite } from './suite';

const s = useLegacyClientsSuite();
const SCOPES = ['operator.read', 'operator.write'];
let watcher: LegacyClient;

beforeAll(async () => {
  // Lets the real CLI (token-only) approve, and the watcher see pairing events.
  await s.widenTokenOnlyScopes();
  watcher = await LegacyClient.open(s.url);
  await watcher.challenge();
  const hello = await watcher.request('connect', connectParams({ scopes: ['operator.read', 'operator.pairing'], auth: { token: s.token } }));
  expect(hello).toMatchObject({ ok: true });
});
afterAll(async () => {
  await watcher?.close();
});

/** First connect of a new openclaw-node device: refused, pairingRequired with the request id. */
async function askToPair(node: OpenclawNodeProcess): Promise<{ requestId: string; deviceId: string }> {
  await expect(node.call('connect')).rejects.toThrow('WebSocket closed before handshake completed');
  const event = await node.waitEvent('pairingRequired');
  expect(event).toEqual({ raw: `pairing required: device is not approved yet (requestId: ${event.requestId})`, reason: 'device is not approved yet', requestId: expect.any(String) });
  const identity = await node.call('identity');
  expect(identity.deviceToken).toBeUndefined();
  const requested = await watcher.waitFor((f) => f.event === 'device.pair.requested' && f.payload?.requestId === event.requestId);
  expect(requested.payload).toMatchObject({ requestId: event.requestId, deviceId: identity.deviceId, role: 'operator', scopes: SCOPES, ts: expect.any(Number) });
  return { requestId: event.requestId, deviceId: identity.deviceId };
}

async function expectResolved(requestId: string, deviceId: string): Promise<void> {
  const resolved = await watcher.waitFor((f) => f.event === 'device.pair.resolved' && f.payload?.requestId === requestId);
  expect(resolved.payload).toMatchObject({ requestId, deviceId, decision: 'approved', ts: expect.any(Number) });
}

test('approved with our openclaw-cli: connects with a device token, then reconnects with that device token alone', async () => {
  const home = s.tmpDir();
  const identityPath = join(home, 'device-identity.json');
  const node = s.openclawNode({ token: s.token, home, identityPath });
  const { requestId, deviceId } = await askToPair(node);

  const listed = await s.ours.json<{ pending: { requestId: string; deviceId: string }[] }>('devices', 'list');
  expect(listed.pending).toEqual(expect.arrayContaining([expect.objectContaining({ requestId, deviceId })]));
  const approved = await s.ours.json<{ device: Record<string, unknown> }>('devices', 'approve', requestId);
  expect(approved.device).toMatchObject({ deviceId, role: 'operator', scopes: SCOPES });
  await expectResolved(requestId, deviceId);

  const hello = await node.call('connect');
  expect(hello).toMatchObject({ type: 'hello-ok', protocol: 4, auth: { role: 'operator', scopes: SCOPES, deviceToken: expect.any(String) } });
  const deviceToken = hello.auth.deviceToken as string;
  expect((await node.call('identity')).deviceToken).toBe(deviceToken);
  expect(await node.call('health')).toMatchObject({ ok: true });
  await node.close();

  // A new process without the shared token: openclaw-node sends its stored device token
  // (in auth.token) with its device proof. It is let in by that token, which stays the same.
  const again = s.openclawNode({ home, identityPath });
  const hello2 = await again.call('connect');
  expect(hello2.auth).toMatchObject({ method: 'device-token', role: 'operator', scopes: SCOPES, deviceToken });
  expect(await again.call('health')).toMatchObject({ ok: true });
  expect((await again.call('identity')).deviceToken).toBe(deviceToken);
});

test('approved with the real `openclaw devices approve`: then it connects with a device token', async () => {
  const node = s.openclawNode({ token: s.token });
  const { requestId, deviceId } = await askToPair(node);
  const cli = s.realCli();
  const flags = ['--url', s.url, '--token', s.token];

  const listed = await cli.json(['devices', 'list', ...flags]);
  expect(outcome(listed)).toMatchObject({ code: 0, json: { pending: expect.arrayContaining([expect.objectContaining({ requestId, deviceId, role: 'operator' })]) } });
  const approved = await cli.json(['devices', 'approve', requestId, ...flags]);
  expect(outcome(approved)).toMatchObject({ code: 0, json: { requestId, device: { deviceId, role: 'operator' } } });
  await expectResolved(requestId, deviceId);

  const hello = await node.call('connect');
  expect(hello).toMatchObject({ type: 'hello-ok', auth: { role: 'operator', scopes: SCOPES, deviceToken: expect.any(String) } });
  expect(await node.call('health')).toMatchObject({ ok: true });
});
