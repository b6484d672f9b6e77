import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { connectParams, LegacyClient, newLegacyDevice, signDevice } from './legacy-client';
import { LEGACY_TOKEN, startBridgeFixture, type BridgeFixture } from './fixture';

let f: BridgeFixture;
beforeAll(async () => {
  f = await startBridgeFixture();
});
afterAll(async () => {
  await f.close();
});

/** A small seeded PRNG (mulberry32), so a failing run can be replayed with its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.FUZZ_SEED ?? 20260906);
const rnd = prng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
const STRINGS = ['', 'main', '__proto__', 'constructor', 'x'.repeat(300), '\u0000', '😀', '../../etc/passwd', 'operator.admin', 'sess_0', 'run_0', '{"a":1}', '%s%n'];
const METHODS = ['health', 'status', 'system-presence', 'logs.tail', 'config.get', 'config.patch', 'config.set', 'cron.list', 'cron.status', 'cron.get', 'cron.runs', 'cron.add', 'cron.update', 'cron.remove', 'cron.run', 'sessions.list', 'sessions.describe', 'sessions.create', 'sessions.abort', 'sessions.delete', 'chat.history', 'chat.send', 'chat.abort', 'agent', 'agent.wait', 'agents.list', 'models.list', 'device.pair.list', 'device.pair.approve', 'device.pair.reject', 'device.pair.rename', 'device.token.rotate', 'connect', 'unknown.method', ''];
const KEYS = ['id', 'jobId', 'name', 'schedule', 'payload', 'kind', 'expr', 'everyMs', 'at', 'message', 'text', 'sessionKey', 'key', 'raw', 'patch', 'baseHash', 'requestId', 'deviceId', 'limit', 'cursor', 'timeoutMs', 'includeDisabled', 'enabled', 'scopes', 'runId', '__proto__'];

function value(depth = 0): unknown {
  const r = rnd();
  if (depth > 3 || r < 0.25) return pick([null, true, false, 0, -1, 1e308, 2 ** 53 + 1, 0.5, NaN]);
  if (r < 0.55) return pick(STRINGS);
  if (r < 0.7) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(rnd() * 5); i > 0; i--) o[pick(KEYS)] = value(depth + 1);
  if (rnd() < 0.3) o.kind = pick(['cron', 'every', 'at', 'agentTurn', 'systemEvent', 'weekly']);
  return o;
}

/** Params: mostly objects with the field names methods read, so handlers get past their first check. */
function params(): unknown {
  if (rnd() < 0.2) return value();
  const o: Record<string, unknown> = {};
  for (let i = 1 + Math.floor(rnd() * 4); i > 0; i--) o[pick(KEYS)] = rnd() < 0.5 ? pick(STRINGS) : value(1);
  return o;
}

/** A request frame: valid, mutated, or garbage text. */
function frame(id: string): string {
  const base: Record<string, unknown> = { type: 'req', id, method: pick(METHODS), params: params() };
  // agent.wait must not park requests for minutes.
  if (base.method === 'agent.wait') base.params = { runId: pick(STRINGS), timeoutMs: Math.floor(rnd() * 20) };
  const r = rnd();
  if (r < 0.55) return JSON.stringify(base);
  if (r < 0.75) {
    const m = { ...base };
    const k = pick(['type', 'id', 'method', 'params', 'extra']);
    if (rnd() < 0.5) delete m[k];
    else m[k] = value();
    return JSON.stringify(m);
  }
  const text = JSON.stringify(base);
  if (r < 0.9) return text.slice(0, Math.floor(rnd() * text.length));
  return Array.from({ length: 1 + Math.floor(rnd() * 40) }, () => String.fromCharCode(Math.floor(rnd() * 0xffff) & 0xd7ff)).join('');
}

test(`thousands of random and mutated frames crash neither the bridge nor the gateway (seed ${SEED})`, async () => {
  let sent = 0;
  // Before the handshake: mutated connect frames and garbage, one fresh socket each.
  const device = newLegacyDevice();
  for (let i = 0; i < 250; i++) {
    const c = await LegacyClient.open(f.url);
    const nonce = await c.challenge();
    let params: Record<string, unknown> = connectParams({ auth: rnd() < 0.5 ? { token: LEGACY_TOKEN } : { token: pick(STRINGS) } });
    if (rnd() < 0.3) params = signDevice(params, device, nonce);
    const r = rnd();
    if (r < 0.3) params[pick(['minProtocol', 'client', 'role', 'scopes', 'auth', 'device', 'extra'])] = value();
    else if (r < 0.4) (params.client as Record<string, unknown>)[pick(['id', 'mode', 'version', 'platform', 'extra'])] = value();
    const text = r < 0.8 ? JSON.stringify({ type: 'req', id: 'c', method: 'connect', params }) : frame('c');
    c.send(text);
    sent++;
    await c.waitFor((x) => x.type === 'res', 5000).catch(() => undefined);
    await c.close();
  }

  // After the handshake: three clients with different grants take the rest.
  const admin = await f.pairDevice(['operator.read', 'operator.write', 'operator.admin', 'operator.pairing']);
  const clients = [await f.tokenClient(), (await f.deviceClient(admin, ['operator.read', 'operator.write', 'operator.admin'])).client, (await f.deviceClient(admin, ['operator.pairing'])).client];
  let batch = 0;
  while (sent < 3000) {
    const c = clients[batch % clients.length];
    for (let i = 0; i < 40; i++, sent++) c.send(frame(`f${sent}`));
    // A marker request after each burst: answered only if the connection still works.
    const marker = await c.request('health', undefined, 20_000);
    expect(marker.ok).toBe(true);
    batch++;
  }
  expect(sent).toBeGreaterThanOrEqual(3000);
  for (const c of clients) {
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    for (const res of c.frames.filter((x) => x.type === 'res' && x.ok === false)) {
      expect(['NOT_PAIRED', 'INVALID_REQUEST', 'FORBIDDEN', 'UNAVAILABLE']).toContain(res.error.code);
      expect(typeof res.error.message).toBe('string');
    }
  }

  // Both still answer: a fresh legacy client and a gRPC operator.
  const fresh = await f.tokenClient();
  expect((await fresh.request('health')).ok).toBe(true);
  const g = f.t.connect('cli').client(GatewayService);
  expect((await unaryCall(g, g.getStatus, {})).version).toEqual(expect.any(String));
  expect((await fetch(f.url.replace('ws:', 'http:') + 'readyz')).status).toBe(200);
  expect(f.logs.lines.filter((l) => l.msg === 'bridge method failed' || l.msg === 'bridge handshake failed')).toEqual([]);
});
