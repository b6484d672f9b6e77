/**
 * Churn through the bridge: a legacy client that connects and closes over and over
 * (here 1,000 times) must leave nothing behind on the gateway. A legacy client never
 * resumes its event subscription, so the bridge ends it (Unsubscribe) when the socket
 * closes instead of leaving it resumable for minutes; the gateway's client presence
 * stays bounded; the heap after the churn is about what it was after a warm-up.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { eventually } from '../helpers/eventually';
import { LEGACY_TOKEN, startBridgeFixture, type BridgeFixture } from './fixture';
import { connectParams } from './legacy-client';

let fx: BridgeFixture;
beforeAll(async () => {
  fx = await startBridgeFixture();
});
afterAll(async () => {
  await fx.close();
});

/** The heap after a full collection, without the log lines the test's log captures hold. */
function heapAfterGc(): number {
  fx.logs.lines.length = 0;
  fx.t.logs.lines.length = 0;
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** `n` connect/close cycles of token-only operator.read clients, 4 at a time; every tenth is a client presence lists (webchat). */
async function churn(n: number): Promise<void> {
  let started = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (started < n) {
        const i = started++;
        const client = i % 10 === 0 ? { id: 'openclaw-control-ui', version: '2026.9.6', platform: 'Linux', mode: 'webchat', instanceId: `tab-${i}` } : undefined;
        const { client: c, hello } = await fx.connect(connectParams({ auth: { token: LEGACY_TOKEN }, ...(client ? { client } : {}) }));
        if (!hello.ok) throw new Error(`connect ${i} failed: ${JSON.stringify(hello.error)}`);
        await c.close();
      }
    }),
  );
}

test('1,000 legacy connect/close cycles: no subscription is kept for them, presence and the heap stay bounded', async () => {
  const hub = fx.t.gw.hub;
  const base = hub.retained;
  await churn(100);
  await eventually('the warm-up subscriptions are gone', () => hub.attached === 0 && hub.retained === base, 10_000);
  const warm = heapAfterGc();
  await churn(1000);
  // Each closed connection's subscription is ended, not left resumable.
  await eventually('every subscription of a closed connection is gone', () => hub.attached === 0 && hub.retained === base, 10_000);
  expect(fx.bridge.connections()).toBe(0);
  const g = fx.t.connect('cli').client(GatewayService);
  expect((await unaryCall(g, g.getPresence, {})).clients.length).toBeLessThanOrEqual(200);
  expect(heapAfterGc() - warm).toBeLessThan(8 * 1024 * 1024);
}, 60_000);
