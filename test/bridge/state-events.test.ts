/**
 * `presence`, `health` and `tick` events as the real OpenClaw gateway 2026.9.6 sends
 * them (frames recorded against it are quoted next to each test), and the events
 * hello-ok announces. Presence comes from the gateway's client presence (the bridge
 * describes each legacy client on its event subscription), health from one bridge-wide
 * refresh, ticks from one bridge-wide timer.
 */
import { ManualClock } from '../../src/clock';
import { startBridge, type RunningBridge } from '../../src/bridge/ws';
import { silentLogger } from '../../src/logging';
import { connectParams, LegacyClient, type Frame } from './legacy-client';
import { LEGACY_TOKEN, startBridgeFixture, type BridgeFixture } from './fixture';

let f: BridgeFixture;
beforeAll(async () => {
  f = await startBridgeFixture();
});
afterAll(async () => {
  await f.close();
});

/** A token-only client with this `client` block (legacy clients the gateway lists are those not in cli/backend/probe mode). */
async function open(url: string, client: Record<string, unknown>, scopes = ['operator.read']): Promise<{ c: LegacyClient; hello: Frame }> {
  const c = await LegacyClient.open(url);
  await c.challenge();
  const hello = await c.request('connect', connectParams({ client: { version: '2026.9.6', platform: 'linux', ...client }, scopes, auth: { token: LEGACY_TOKEN } }));
  if (!hello.ok) throw new Error(`connect failed: ${JSON.stringify(hello.error)}`);
  return { c, hello };
}

const presenceOf = (e: Frame): Record<string, any>[] => e.payload.presence;
/** The frame's `stateVersion` (presence and health events carry one). */
const sv = (e: Frame): { presence: number; health: number } => e.stateVersion as { presence: number; health: number };

// Real hello-ok.features.events lists 64 events; these are the ones this gateway sends (same order).
test('hello-ok announces the events the bridge really sends', async () => {
  const { c, hello } = await open(f.url, { id: 'cli', mode: 'cli' });
  expect(hello.payload.features.events).toEqual(['connect.challenge', 'agent', 'chat', 'sessions.changed', 'presence', 'tick', 'shutdown', 'health', 'cron', 'device.pair.requested', 'device.pair.resolved']);
  await c.close();
});

// Real (a cli-mode watcher; a second client, id test, mode test, connects at +5 s and closes at +8 s):
// {"type":"event","event":"presence","payload":{"presence":[{"host":"vm",...,"mode":"gateway","reason":"self",...,"text":"Gateway: vm (...) · app 2026.9.6 · mode gateway · reason self","ts":...},
//  {"clientId":"test","mode":"test",...,"onlineSince":...,"roles":["operator"],"ts":...,"text":"Node: unknown · mode test","host":"probe2","version":"1","platform":"linux","instanceId":"probe2-inst","reason":"connect"},...]},
//  "seq":2,"stateVersion":{"presence":21,"health":23}}; after the close the same list with "reason":"disconnect" and presence 22.
test('presence: a listed client connecting and leaving sends the whole list (gateway first) with a growing stateVersion.presence', async () => {
  const { c: watcher, hello } = await open(f.url, { id: 'test', mode: 'test' });
  const snapshot = hello.payload.snapshot;
  expect(snapshot.presence[0]).toMatchObject({ mode: 'gateway', reason: 'self', host: expect.any(String), version: expect.any(String), platform: expect.any(String), text: expect.stringMatching(/^Gateway: .* · app .* · mode gateway · reason self$/), ts: expect.any(Number) });
  // The snapshot already lists the watcher itself; its own connect is not sent again as an event.
  expect(snapshot.presence.filter((p: { clientId?: string; reason?: string }) => p.clientId === 'test' && p.reason === 'connect')).toHaveLength(1);
  const v0 = snapshot.stateVersion.presence as number;
  expect(v0).toBeGreaterThan(0);

  const { c: second } = await open(f.url, { id: 'openclaw-control-ui', mode: 'webchat', displayName: 'probe2', instanceId: 'probe2-inst', version: '1' });
  const joined = await watcher.waitFor((e) => e.event === 'presence');
  expect(Object.keys(joined)).toEqual(['type', 'event', 'payload', 'seq', 'stateVersion']);
  expect(sv(joined)).toEqual({ presence: v0 + 1, health: expect.any(Number) });
  expect(presenceOf(joined)[0]).toMatchObject({ mode: 'gateway', reason: 'self' });
  const entry = presenceOf(joined).find((p) => p.instanceId === 'probe2-inst');
  expect(entry).toEqual({
    host: 'probe2',
    clientId: 'openclaw-control-ui',
    mode: 'webchat',
    roles: ['operator'],
    scopes: ['operator.read'],
    instanceId: 'probe2-inst',
    version: '1',
    platform: 'linux',
    onlineSince: expect.any(Number),
    reason: 'connect',
    text: 'Node: probe2 · mode webchat',
    ts: expect.any(Number),
  });

  await second.close();
  const left = await watcher.waitFor((e) => e.event === 'presence' && sv(e).presence === v0 + 2);
  expect(presenceOf(left).find((p) => p.instanceId === 'probe2-inst')).toMatchObject({ reason: 'disconnect', host: 'probe2' });
  // What system-presence answers is the same list.
  expect((await watcher.request('system-presence')).payload.find((p: { instanceId?: string }) => p.instanceId === 'probe2-inst')).toMatchObject({ reason: 'disconnect' });
  // The second client never got an event about its own connect.
  expect(second.events('presence')).toEqual([]);
  await watcher.close();
});

// Real: a gateway-client/backend connection opening and closing sent the watcher no presence event (its source leaves the cli, backend and probe modes out).
test('presence: cli, backend and probe clients are not listed and send no presence event; clients without operator.read get none', async () => {
  const { c: watcher, hello } = await open(f.url, { id: 'test', mode: 'test' });
  const v0 = hello.payload.snapshot.stateVersion.presence as number;
  const { c: blind, hello: blindHello } = await open(f.url, { id: 'test', mode: 'test' }, ['operator.pairing']);
  expect(blindHello.payload.auth.scopes).toEqual([]);
  expect(blindHello.payload.snapshot.presence).toEqual([]);
  for (const [id, mode] of [
    ['cli', 'cli'],
    ['gateway-client', 'backend'],
    ['openclaw-probe', 'probe'],
  ]) {
    const { c } = await open(f.url, { id, mode });
    await c.close();
  }
  // A listed client after them: the first presence event the watcher gets is about it. Events pass
  // through the gateway's event log in order, so an event about any earlier client would have come first.
  // (The blind client is not listed: only clients with an event subscription are; the real gateway lists it.)
  const { c: marker } = await open(f.url, { id: 'webchat', mode: 'webchat', displayName: 'marker' });
  const first = await watcher.waitFor((e) => e.event === 'presence');
  expect(sv(first).presence).toBe(v0 + 1);
  expect(presenceOf(first).filter((p) => p.reason !== 'self').map((p) => [p.clientId, p.host])).toEqual(expect.arrayContaining([['webchat', 'marker']]));
  const ids = presenceOf(first).map((p) => p.clientId);
  for (const id of ['cli', 'gateway-client', 'openclaw-probe']) expect(ids).not.toContain(id);
  expect(blind.events('presence')).toEqual([]);
  await Promise.all([watcher.close(), blind.close(), marker.close()]);
});

describe('health and tick on a bridge of their own', () => {
  let bridge: RunningBridge;
  let clock: ManualClock;
  afterEach(async () => {
    await bridge.close();
  });

  // Real: health right after hello when none was refreshed in the last 60 s (at +19 ms), to every
  // client whatever its scopes, {"type":"event","event":"health","seq":1,"stateVersion":{"presence":20,"health":23},...}.
  test('health: the first hello refreshes at once, a hello within 60 s does not, one 60 s later does; every client gets it', async () => {
    clock = new ManualClock(Date.now());
    bridge = await startBridge({ port: 0, gateway: f.gateway, legacyToken: LEGACY_TOKEN, log: silentLogger(), clock });
    const { c: reader, hello } = await open(bridge.url, { id: 'cli', mode: 'cli' });
    expect(hello.payload.snapshot.stateVersion.health).toBe(0);
    const first = await reader.waitFor((e) => e.event === 'health');
    expect(Object.keys(first)).toEqual(['type', 'event', 'payload', 'seq', 'stateVersion']);
    expect(sv(first)).toEqual({ presence: expect.any(Number), health: 1 });
    // A reader gets the counters it may read, as the `health` method gives them.
    expect(first.payload).toMatchObject({ ok: true, ts: expect.any(Number), durationMs: expect.any(Number), channels: {}, gateway: { version: expect.any(String), connections: expect.any(Number) } });

    const { c: blind, hello: blindHello } = await open(bridge.url, { id: 'cli', mode: 'cli' }, ['operator.pairing']);
    expect(blindHello.payload.snapshot.stateVersion.health).toBe(1);
    clock.advance(60_000);
    const { c: late, hello: lateHello } = await open(bridge.url, { id: 'cli', mode: 'cli' });
    expect(lateHello.payload.snapshot.stateVersion.health).toBe(1);
    const second = await late.waitFor((e) => e.event === 'health');
    expect(sv(second).health).toBe(2);
    await reader.waitFor((e) => e.event === 'health' && sv(e).health === 2);
    const blindHealth = await blind.waitFor((e) => e.event === 'health');
    // The hello 0 s after the first one started no refresh: the next version is the one the late hello started.
    expect(reader.events('health').map((e) => sv(e).health)).toEqual([1, 2]);
    expect(sv(blindHealth).health).toBe(2);
    expect(blind.events('health')).toHaveLength(1);
    // A client without operator.read gets the summary the `health` method gives it (no counters).
    expect(blindHealth.payload).toMatchObject({ ok: true, ts: expect.any(Number) });
    expect(blindHealth.payload).not.toHaveProperty('gateway');
    await Promise.all([reader.close(), blind.close(), late.close()]);
  });

  // Real: `health` every 60 s after that, from one gateway-wide timer (a new watcher saw its first one at +21.5 s).
  test('health: refreshed every healthIntervalMs with a growing version', async () => {
    bridge = await startBridge({ port: 0, gateway: f.gateway, legacyToken: LEGACY_TOKEN, log: silentLogger(), policy: { healthIntervalMs: 100 } });
    const { c } = await open(bridge.url, { id: 'cli', mode: 'cli' });
    await c.waitFor(() => c.events('health').length >= 3);
    const versions = c.events('health').map((e) => sv(e).health as number);
    expect(versions.slice(1).every((v, i) => v > versions[i])).toBe(true);
    await c.close();
  });

  // Real: one gateway-wide 30 s timer: a new connection's first tick comes 0-30 s after its hello (seen at +8 s, +9.9 s, +21.5 s).
  test('tick: one timer for the whole bridge, so clients that connected at different times get the same ticks', async () => {
    bridge = await startBridge({ port: 0, gateway: f.gateway, legacyToken: LEGACY_TOKEN, log: silentLogger(), policy: { tickIntervalMs: 50 } });
    const { c: a } = await open(bridge.url, { id: 'cli', mode: 'cli' });
    await a.waitFor((e) => e.event === 'tick');
    const { c: b } = await open(bridge.url, { id: 'cli', mode: 'cli' });
    const firstOfB = await b.waitFor((e) => e.event === 'tick');
    const ofA = await a.waitFor((e) => e.event === 'tick' && e.payload.ts === firstOfB.payload.ts);
    expect(ofA.payload).toEqual({ ts: firstOfB.payload.ts });
    await Promise.all([a.close(), b.close()]);
  });
});
