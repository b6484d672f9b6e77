/**
 * Churn: a device with only `operator.read` that subscribes and cancels over and over
 * (thousands of times, faster than detached subscriptions expire) must not grow the
 * gateway without bound. What the gateway keeps per device is capped (live + detached,
 * the oldest detached one goes first), a device whose live streams alone reach the cap
 * is refused with RESOURCE_EXHAUSTED / TOO_MANY_SUBSCRIPTIONS, and the heap after the
 * churn is about what it was after a warm-up.
 */
import * as grpc from '@grpc/grpc-js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EventService, type SubscribeResponse } from '../../src/gen/openclaw/events/v1/events_pb';
import { MAX_SUBSCRIPTIONS_PER_OWNER } from '../../src/services/events/event-hub';
import type { ServiceClient } from '../../src/transport/grpc/service-definition';
import { fromGrpcError } from '../../src/transport/grpc/status-mapping';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { eventually } from '../helpers/eventually';
import { Connections, grpcCodeOf, provision, StreamReader, type TestIdentity } from '../helpers/grpc-kit';

const conns = new Connections();
let t: TestGateway;
let reader: TestIdentity;

beforeAll(async () => {
  t = await startTestGateway();
  reader = await provision(t, { role: 'operator', label: 'churner', scopes: ['operator.read'] });
});
afterAll(async () => {
  conns.closeAll();
  await t.close();
});

/** The garbage collector, made callable in this test (jest does not start node with --expose-gc). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function heapAfterGc(gc: () => void): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** One subscribe/cancel cycle: waits for the `subscribed` marker, then cancels and waits for the end. */
function cycle(client: ServiceClient<typeof EventService>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const call = client.subscribe({ types: ['never.published'] });
    let marked = false;
    call.on('data', (m: SubscribeResponse) => {
      if (!marked && m.event?.type === 'subscribed') {
        marked = true;
        call.cancel();
      }
    });
    call.on('error', (err: grpc.ServiceError) => (marked && err.code === grpc.status.CANCELLED ? resolve() : reject(fromGrpcError(err))));
    call.on('end', () => reject(new Error('the stream ended before it was cancelled')));
  });
}

/** `n` cycles, 8 at a time, on a fresh connection every 500 (a session that resets streams very fast is closed by Node's rapid-reset protection). */
async function churn(n: number): Promise<void> {
  let done = 0;
  while (done < n) {
    const conn = conns.connect(t.address, reader);
    const client = conn.client(EventService);
    const batch = Math.min(500, n - done);
    let started = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (started < batch) {
          started++;
          await cycle(client);
        }
      }),
    );
    conn.close();
    done += batch;
  }
}

test('5,000 subscribe/cancel cycles of an operator.read device: the kept subscriptions and the heap stay bounded', async () => {
  const gc = collector();
  const hub = t.gw.hub;
  const base = hub.retained;
  await churn(500);
  await eventually('the warm-up streams are detached', () => hub.attached === 0);
  const warm = heapAfterGc(gc);
  await churn(5000);
  await eventually('every stream is detached', () => hub.attached === 0, 10_000);
  expect(hub.retained - base).toBeLessThanOrEqual(MAX_SUBSCRIPTIONS_PER_OWNER);
  const grown = heapAfterGc(gc) - warm;
  // Without a bound, each cycle left a subscription record behind for five minutes.
  expect(grown).toBeLessThan(8 * 1024 * 1024);
}, 60_000);

test('a device whose live streams reach the cap is refused with a clear error; ending one lets it subscribe again', async () => {
  const conn = conns.connect(t.address, reader);
  const streams: StreamReader<SubscribeResponse>[] = [];
  for (let i = 0; i < MAX_SUBSCRIPTIONS_PER_OWNER; i++) streams.push(new StreamReader(conn.client(EventService).subscribe({ types: ['never.published'] })));
  for (const s of streams) expect((await s.next()).event?.type).toBe('subscribed');

  const refused = new StreamReader(conn.client(EventService).subscribe({ types: [] }));
  const end = await refused.endWithin(5000);
  expect({ code: grpc.status[grpcCodeOf(end.error) ?? -1], reason: end.error?.reason }).toEqual({ code: 'RESOURCE_EXHAUSTED', reason: 'TOO_MANY_SUBSCRIPTIONS' });
  expect(end.error?.message).toMatch(/at most \d+ event subscriptions/);

  await streams[0].cancel();
  await eventually('a stream fewer is attached', () => t.gw.hub.attached === MAX_SUBSCRIPTIONS_PER_OWNER - 1);
  const again = new StreamReader(conn.client(EventService).subscribe({ types: [] }));
  expect((await again.next()).event?.type).toBe('subscribed');
  for (const s of [...streams.slice(1), again]) s.call.cancel();
}, 30_000);
