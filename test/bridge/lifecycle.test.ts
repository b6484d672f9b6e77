import { Writable } from 'node:stream';
import { startBridge } from '../../src/bridge/ws';
import { createLogger, silentLogger } from '../../src/logging';
import { connectParams, LegacyClient } from './legacy-client';
import { LEGACY_TOKEN, startBridgeFixture, type BridgeFixture } from './fixture';

let f: BridgeFixture;
beforeAll(async () => {
  f = await startBridgeFixture({ policy: { tickIntervalMs: 40, pingIntervalMs: 250 } });
});
afterAll(async () => {
  await f.close();
});

const http = (path: string) => fetch(f.url.replace('ws:', 'http:') + path.replace(/^\//, ''));

test('GET /healthz and /readyz', async () => {
  const live = await http('/healthz');
  expect(live.status).toBe(200);
  expect(await live.text()).toBe('{"ok":true,"status":"live"}');
  const ready = await http('/readyz');
  expect(ready.status).toBe(200);
  expect(await ready.text()).toBe('{"ready":true}');
  expect((await http('/nope')).status).toBe(404);
  // No Control UI root configured: `/` is a page that says how to configure one.
  const root = await http('/');
  expect(root.status).toBe(200);
  expect(root.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(await root.text()).toContain('--control-ui-root');
  expect((await fetch(f.url.replace('ws:', 'http:'), { method: 'POST' })).status).toBe(405);
});

test('WebSocket only on path /', async () => {
  await expect(LegacyClient.open(f.url + 'other')).rejects.toThrow('upgrade refused: 404');
});

test('tick events every tickIntervalMs (one timer for the bridge), numbered with the connection seq; server pings', async () => {
  const c = await f.tokenClient();
  let pings = 0;
  c.ws.on('ping', () => pings++);
  await c.waitFor(() => c.events('tick').length >= 3);
  const ticks = c.events('tick');
  expect(ticks[0].payload).toEqual({ ts: expect.any(Number) });
  // Ticks are numbered with the connection's other events (a `health` event follows the hello): no gaps.
  const seqs = c.events().filter((e) => e.seq !== undefined).map((e) => e.seq!);
  expect(seqs).toEqual(seqs.map((_, i) => seqs[0] + i));
  expect(ticks.every((t, i) => i === 0 || t.seq! > ticks[i - 1].seq!)).toBe(true);
  await c.waitFor(() => pings > 0);
  await c.close();
});

test('close(): connected clients get `shutdown` then close 1012 "service restart"; pending ones the close', async () => {
  const bridge = await startBridge({ port: 0, gateway: f.gateway, legacyToken: LEGACY_TOKEN, log: silentLogger() });
  const a = await LegacyClient.open(bridge.url);
  await a.challenge();
  expect((await a.request('connect', connectParams({ auth: { token: LEGACY_TOKEN } }))).ok).toBe(true);
  const pending = await LegacyClient.open(bridge.url);
  await pending.challenge();
  expect(bridge.connections()).toBe(2);
  await bridge.close('maintenance');
  expect(await a.closed).toEqual({ code: 1012, reason: 'service restart' });
  const last = a.frames[a.frames.length - 1];
  expect(last).toMatchObject({ type: 'event', event: 'shutdown', payload: { reason: 'maintenance' }, seq: expect.any(Number) });
  expect(await pending.closed).toEqual({ code: 1012, reason: 'service restart' });
  expect(bridge.connections()).toBe(0);
  await expect(LegacyClient.open(bridge.url)).rejects.toThrow();
});

test('a client that stops reading is closed 1008 "slow consumer"', async () => {
  const seen: string[] = [];
  let onLine: (() => void) | undefined;
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      seen.push(chunk.toString());
      onLine?.();
      cb();
    },
  });
  const slowConsumerLogged = new Promise<void>((resolve) => {
    onLine = () => {
      if (seen.some((l) => l.includes('closing a slow consumer'))) resolve();
    };
  });
  const bridge = await startBridge({ port: 0, gateway: f.gateway, legacyToken: LEGACY_TOKEN, log: createLogger({ level: 'warn', destination: sink }), policy: { maxBufferedBytes: 64 * 1024 } });
  try {
    const c = await LegacyClient.open(bridge.url);
    await c.challenge();
    expect((await c.request('connect', connectParams({ auth: { token: LEGACY_TOKEN } }))).ok).toBe(true);
    const socket = (c.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.pause();
    // Large answers (each echoes a 60 KB key) pile up in the bridge's send buffer.
    const big = 'x'.repeat(60_000);
    for (let i = 0; i < 400; i++) c.sendRequest('chat.history', { sessionKey: big });
    await slowConsumerLogged;
    socket.resume();
    expect(await c.closed).toEqual({ code: 1008, reason: 'slow consumer' });
  } finally {
    await bridge.close();
  }
});
