/**
 * The event hub on the store's event log. In one process (memory backend): delivery is
 * synchronous, resumption replays what was missed, retention bounds it. On PostgreSQL
 * with two hubs as two replicas: an event published on one reaches the other's
 * subscribers; a subscription resumes on the other replica with no gap and no repeat
 * (its stream on the first one ends); what a caller may see is its own, not stored;
 * replica-local types (tick, shutdown) go to their replica's streams only, without the
 * log; another owner's resume is refused and audited; a stream taken over while it was
 * still replaying ends; detached subscriptions expire everywhere; closing leaves
 * subscriptions resumable and ends streams.
 */
import { ManualClock } from '../../../src/clock';
import { silentLogger } from '../../../src/logging';
import { EventHub, type AttachedSubscription, type DeliveredEvent } from '../../../src/services/events/event-hub';
import { EVENT_SUBSCRIPTIONS, validateSubscription } from '../../../src/services/events/subscription-record';
import { MemoryBackend } from '../../../src/store/memory-backend';
import { PostgresBackend } from '../../../src/store/postgres/postgres-backend';
import type { EventLog, EventLogRetention } from '../../../src/store/event-log';
import { startPostgres, type TestPostgres } from '../../helpers/postgres';
import { eventually } from '../../helpers/eventually';
import { capturingLogger, caught } from '../helpers';

const logger = silentLogger();

/** A stream as a test holds it: what it got, and the hub's handle. */
interface TestStream {
  got: DeliveredEvent[];
  sub: AttachedSubscription;
  n: () => number[];
}

async function stream(hub: EventHub, input: Partial<Parameters<EventHub['subscribe']>[0]> = {}): Promise<TestStream> {
  const got: DeliveredEvent[] = [];
  // What a stream may read of what it is handed (the same object for every stream).
  const sub = await hub.subscribe({ owner: 'dev-1', types: [], ...input }, (e) => got.push({ seq: e.seq, type: e.type, ts: e.ts, payloadJson: e.payloadJson }));
  return { got, sub, n: () => got.map((e) => (JSON.parse(e.payloadJson) as { n: number }).n) };
}

describe('in one process (memory backend)', () => {
  const clock = new ManualClock(1_000_000);
  const open = (retention?: Partial<EventLogRetention>) => EventHub.open({ store: new MemoryBackend({ eventRetention: retention }), clock, logger });

  test('subscribers have a published event when publish returns; seq increases; a type filter leaves holes', async () => {
    const hub = await open();
    const all = await stream(hub);
    const some = await stream(hub, { types: ['b'] });
    hub.publish('a', { n: 1 });
    expect(all.n()).toEqual([1]);
    hub.publish('b', { n: 2 });
    expect(all.got.map((e) => [e.type, e.seq])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect(some.got.map((e) => [e.type, e.seq])).toEqual([['b', 2]]);
    await hub.close();
  });

  test('detached, then resumed after the last seq: exactly the missed events, then live ones', async () => {
    const hub = await open();
    const s1 = await stream(hub);
    hub.publish('a', { n: 1 });
    s1.sub.detach();
    hub.publish('a', { n: 2 });
    hub.publish('a', { n: 3 });
    const s2 = await stream(hub, { subscriptionId: s1.sub.subscriptionId, resumeAfterSeq: s1.got[0].seq });
    hub.publish('a', { n: 4 });
    expect(s2.n()).toEqual([2, 3, 4]);
    expect((await caught(() => stream(hub, { subscriptionId: s1.sub.subscriptionId }))).reason).toBe('SUBSCRIPTION_ACTIVE');
    expect((await caught(() => stream(hub, { owner: 'dev-2', subscriptionId: s1.sub.subscriptionId }))).reason).toBe('SUBSCRIPTION_NOT_FOUND');
    s2.sub.detach();
    expect((await caught(() => stream(hub, { subscriptionId: s1.sub.subscriptionId, resumeAfterSeq: 99 }))).reason).toBe('RESUME_AHEAD');
    // Nothing before the subscription existed is replayed, whatever resume point is given.
    const s3 = await stream(hub, { subscriptionId: s1.sub.subscriptionId, resumeAfterSeq: 0 });
    expect(s3.n()).toEqual([1, 2, 3, 4]);
    await hub.close();
  });

  test('resuming another owner\'s subscription is refused as unknown and audited (caller, subscription, no payloads)', async () => {
    const { logger: audited, lines } = capturingLogger();
    const hub = await EventHub.open({ store: new MemoryBackend(), clock, logger: audited });
    const s = await stream(hub);
    hub.publish('a', { n: 1, secret: 'payload-text' });
    const denials = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === true && l.event === 'events.resume.denied');
    // Held by a stream here, then detached (read from the stored subscription).
    expect((await caught(() => stream(hub, { owner: 'dev-2', subscriptionId: s.sub.subscriptionId }))).reason).toBe('SUBSCRIPTION_NOT_FOUND');
    s.sub.detach();
    expect((await caught(() => stream(hub, { owner: 'dev-3', subscriptionId: s.sub.subscriptionId, resumeAfterSeq: 0 }))).reason).toBe('SUBSCRIPTION_NOT_FOUND');
    // Unknown ids are no decision about an owner: not audited.
    expect((await caught(() => stream(hub, { owner: 'dev-2', subscriptionId: 'no-such-subscription' }))).reason).toBe('SUBSCRIPTION_NOT_FOUND');
    expect(denials().map(({ caller, subscriptionId, reason, allowed }) => ({ caller, subscriptionId, reason, allowed }))).toEqual([
      { caller: 'dev-2', subscriptionId: s.sub.subscriptionId, reason: 'SUBSCRIPTION_OWNER_MISMATCH', allowed: false },
      { caller: 'dev-3', subscriptionId: s.sub.subscriptionId, reason: 'SUBSCRIPTION_OWNER_MISMATCH', allowed: false },
    ]);
    expect(lines.join('\n')).not.toContain('payload-text');
    await hub.close();
  });

  test('a resume point older than the log keeps: RESUME_TOO_OLD', async () => {
    const hub = await open({ keepEvents: 3, keepMs: 0, maxEvents: 3 });
    const s = await stream(hub);
    hub.publish('a', { n: 1 });
    s.sub.detach();
    for (let n = 2; n <= 10; n++) hub.publish('a', { n });
    const err = await caught(() => stream(hub, { subscriptionId: s.sub.subscriptionId, resumeAfterSeq: 1 }));
    expect({ reason: err.reason, message: err.message }).toEqual({ reason: 'RESUME_TOO_OLD', message: 'events after seq 1 are no longer kept (oldest kept: 8); subscribe again' });
    await hub.close();
  });

  test('a store closed under the hub ends its streams; it then refuses new ones', async () => {
    const store = new MemoryBackend();
    const hub = await EventHub.open({ store, clock, logger });
    const s = await stream(hub);
    await store.close();
    expect(await s.sub.ended).toMatchObject({ reason: 'GATEWAY_STOPPING' });
    expect((await caught(() => stream(hub))).reason).toBe('GATEWAY_STOPPING');
    hub.publish('a', { n: 1 });
    expect(s.got).toEqual([]);
  });

  test('a detached subscription expires after its TTL', async () => {
    const hub = await EventHub.open({ store: new MemoryBackend(), clock, logger, options: { detachedTtlMs: 60_000 } });
    const s = await stream(hub);
    s.sub.detach();
    clock.advance(60_001);
    expect((await caught(() => stream(hub, { subscriptionId: s.sub.subscriptionId }))).reason).toBe('SUBSCRIPTION_NOT_FOUND');
    await hub.close();
  });

  test('an owner holds at most maxPerOwner subscriptions: a new one replaces its longest-detached one; with all attached it is refused', async () => {
    const hub = await EventHub.open({ store: new MemoryBackend(), clock, logger, options: { maxPerOwner: 3 } });
    const olds: TestStream[] = [];
    for (let i = 0; i < 3; i++) {
      olds.push(await stream(hub));
      clock.advance(1000);
    }
    // Detached in the order they were made: the first is the longest detached.
    for (const s of olds) {
      s.sub.detach();
      clock.advance(1000);
    }
    await eventually('all three are detached', () => hub.attached === 0);
    const other = await stream(hub, { owner: 'dev-2' });
    const fresh = await stream(hub);
    expect(hub.retained).toBe(4);
    expect((await caught(() => stream(hub, { subscriptionId: olds[0].sub.subscriptionId }))).reason).toBe('SUBSCRIPTION_NOT_FOUND');
    const resumed = await stream(hub, { subscriptionId: olds[2].sub.subscriptionId });
    const resumed2 = await stream(hub, { subscriptionId: olds[1].sub.subscriptionId });
    // dev-1 holds three attached: a fourth is refused, dev-2 is not concerned.
    const refused = await caught(() => stream(hub));
    expect({ code: refused.code, reason: refused.reason }).toEqual({ code: 'RESOURCE_EXHAUSTED', reason: 'TOO_MANY_SUBSCRIPTIONS' });
    expect(refused.message).toContain('at most 3 event subscriptions');
    await stream(hub, { owner: 'dev-2' });
    // Ending one for good makes room.
    expect(await hub.unsubscribe('dev-1', resumed.sub.subscriptionId)).toBe(true);
    expect(await resumed.sub.ended).toBeNull();
    await stream(hub);
    for (const s of [other, fresh, resumed2]) s.sub.detach();
    await hub.close();
  });

  test('a subscription may ask for a larger cap (the shared token-only principal): bounded by that one', async () => {
    const hub = await EventHub.open({ store: new MemoryBackend(), clock, logger, options: { maxPerOwner: 2 } });
    const held: TestStream[] = [];
    for (let i = 0; i < 4; i++) held.push(await stream(hub, { owner: 'token', maxHeld: 4 }));
    const refused = await caught(() => stream(hub, { owner: 'token', maxHeld: 4 }));
    expect({ reason: refused.reason, message: refused.message }).toEqual({ reason: 'TOO_MANY_SUBSCRIPTIONS', message: expect.stringContaining('at most 4 event subscriptions') });
    // Without it the owner's usual cap applies.
    await stream(hub, { owner: 'dev-9' });
    await stream(hub, { owner: 'dev-9' });
    expect((await caught(() => stream(hub, { owner: 'dev-9' }))).reason).toBe('TOO_MANY_SUBSCRIPTIONS');
    await hub.close();
  });
});

describe('two replicas on PostgreSQL', () => {
  let pg: TestPostgres;
  const backends: PostgresBackend[] = [];
  const hubs: EventHub[] = [];
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(async () => {
    for (const h of hubs) await h.close();
    for (const b of backends) await b.close();
    await pg?.stop();
  });

  async function replicas(clock = new ManualClock(1_000_000), options = {}): Promise<[EventHub, EventHub, PostgresBackend[]]> {
    const url = await pg.createDatabase();
    const stores = await Promise.all([0, 1].map(() => PostgresBackend.open({ url, log: logger, poolSize: 4 })));
    backends.push(...stores);
    const [a, b] = await Promise.all(stores.map((store) => EventHub.open({ store, clock, logger, options })));
    hubs.push(a, b);
    return [a, b, stores];
  }

  test('an event published on one replica reaches subscribers on the other within a second', async () => {
    const [a, b] = await replicas();
    const onB = await stream(b);
    const onA = await stream(a);
    const t0 = Date.now();
    a.publish('cron', { n: 1 });
    await eventually('B got it', () => onB.got.length === 1);
    expect(Date.now() - t0).toBeLessThan(1000);
    await eventually('A got it', () => onA.got.length === 1);
    expect(onB.got[0]).toEqual(onA.got[0]);
  });

  test('resumed on the other replica after the last seq: every missed event once, in order; the first stream ends', async () => {
    const [a, b, stores] = await replicas();
    const s1 = await stream(a);
    for (let n = 1; n <= 3; n++) b.publish('x', { n });
    await eventually('A delivered three', () => s1.got.length === 3);
    // The client stops reading at n = 2 (say its connection broke); events go on on both replicas.
    const last = s1.got[1].seq;
    for (let n = 4; n <= 20; n++) (n % 2 ? a : b).publish('x', { n });
    const s2 = await stream(b, { subscriptionId: s1.sub.subscriptionId, resumeAfterSeq: last });
    for (let n = 21; n <= 25; n++) (n % 2 ? a : b).publish('x', { n });
    await eventually('B delivered 21 to 25', () => [21, 22, 23, 24, 25].every((n) => s2.n().includes(n)));
    // Exactly what the log holds after `last`, in its order (the two replicas' events interleave in commit order).
    const logged = (await (await stores[0].eventLog()).read(last, 1000)).events;
    expect(s2.got.map((e) => [e.seq, e.payloadJson])).toEqual(logged.map((e) => [e.seq, e.payloadJson]));
    expect(s2.n().sort((x, y) => x - y)).toEqual(Array.from({ length: 23 }, (_, i) => i + 3));
    expect(s2.got[0].seq).toBe(last + 1);
    // The stream on A was taken over: the hub ends it.
    expect(await s1.sub.ended).toMatchObject({ reason: 'SUBSCRIPTION_ACTIVE' });
    expect(a.attached).toBe(0);
  });

  test('two resumes at once: the replica still replaying when another took the subscription over ends its stream (SUBSCRIPTION_ACTIVE)', async () => {
    const url = await pg.createDatabase();
    const clock = new ManualClock(1_000_000);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let replaying = false;
    const replica = async (gated: boolean) => {
      const store = await PostgresBackend.open({ url, log: logger, poolSize: 4 });
      backends.push(store);
      const real = await store.eventLog();
      // The gated replica's replay waits at the gate: it is "still replaying" as long as the test wants.
      const gatedRead = async (after: number, limit: number) => {
        replaying = true;
        await gate;
        return real.read(after, limit);
      };
      const log: EventLog = gated ? { shared: real.shared, append: (e) => real.append(e), tail: (l) => real.tail(l), close: () => real.close(), read: gatedRead } : real;
      const subscriptions = await store.collection(EVENT_SUBSCRIPTIONS, validateSubscription);
      const hub = new EventHub({ log, subscriptions, clock, logger });
      hubs.push(hub);
      return { hub, subscriptions };
    };
    const [a, b, c] = [await replica(false), await replica(true), await replica(false)];
    const first = await stream(a.hub);
    const id = first.sub.subscriptionId;
    first.sub.detach();
    const onB = stream(b.hub, { subscriptionId: id, resumeAfterSeq: 0 });
    try {
      await eventually('B took the subscription and replays', () => replaying);
      const onC = await stream(c.hub, { subscriptionId: id, resumeAfterSeq: 0 });
      await eventually('B heard that C took it over', () => b.subscriptions.get(id)?.attachedTo === c.hub.replicaId);
      release();
      const sB = await onB;
      let endedB: unknown;
      void sB.sub.ended.then((e) => (endedB = e));
      await eventually('B\'s stream ended', () => endedB);
      expect(endedB).toMatchObject({ reason: 'SUBSCRIPTION_ACTIVE' });
      expect(b.hub.attached).toBe(0);
      a.hub.publish('x', { n: 1 });
      await eventually('C got the next event', () => onC.n().includes(1));
      expect(sB.got).toEqual([]);
      expect(c.subscriptions.get(id)?.attachedTo).toBe(c.hub.replicaId);
    } finally {
      release();
    }
  });

  test('what the caller may see is derived on the resuming replica, not stored', async () => {
    const [a, b, stores] = await replicas();
    const s1 = await stream(a, { accept: () => true });
    s1.sub.detach();
    a.publish('device.pair.requested', { n: 1 });
    a.publish('cron', { n: 2 });
    // Resumed by a caller that may no longer see pairing events.
    const s2 = await stream(b, { subscriptionId: s1.sub.subscriptionId, accept: (t) => !t.startsWith('device.pair.') });
    b.publish('device.pair.requested', { n: 3 });
    b.publish('cron', { n: 4 });
    await eventually('B delivered n 4', () => s2.n().includes(4));
    expect(s2.got.map((e) => e.type)).toEqual(['cron', 'cron']);
    const stored = await stores[0].collection(EVENT_SUBSCRIPTIONS, validateSubscription);
    expect(Object.keys(stored.get(s1.sub.subscriptionId) ?? {}).sort()).toEqual(['attachedTo', 'id', 'lastActive', 'owner', 'startSeq', 'types']);
  });

  test('tick and shutdown go to this replica\'s streams without the log: no sequence of their own, never replayed', async () => {
    const [a, b, stores] = await replicas();
    const onA = await stream(a);
    const onB = await stream(b);
    const typed = await stream(a, { types: ['cron'] });
    a.publish('tick', { n: 1 });
    b.publish('tick', { n: 2 });
    a.publish('cron', { n: 3 });
    await eventually('both have the cron event', () => onA.n().includes(3) && onB.n().includes(3));
    a.publish('shutdown', { n: 4 });
    expect(onA.n()).toEqual([1, 3, 4]);
    expect(onB.n()).toEqual([2, 3]);
    expect(typed.n()).toEqual([3]);
    // Each carries the sequence of the last log event before it: resuming after it loses nothing.
    expect(onA.got.map((e) => [e.type, e.seq])).toEqual([
      ['tick', 0],
      ['cron', 1],
      ['shutdown', 1],
    ]);
    expect((await (await stores[0].eventLog()).read(0, 100)).events.map((e) => e.type)).toEqual(['cron']);
    onA.sub.detach();
    const resumed = await stream(b, { subscriptionId: onA.sub.subscriptionId, resumeAfterSeq: 0 });
    expect(resumed.n()).toEqual([3]);
  });

  test('a detached subscription expires on every replica; closing leaves subscriptions resumable and ends streams', async () => {
    const clock = new ManualClock(1_000_000);
    const [a, b, stores] = await replicas(clock, { detachedTtlMs: 60_000, touchMs: 20 });
    const subs = await stores[1].collection(EVENT_SUBSCRIPTIONS, validateSubscription);
    const gone = await stream(a);
    const kept = await stream(a);
    gone.sub.detach();
    await eventually('B sees it detached', () => subs.get(gone.sub.subscriptionId) && subs.get(gone.sub.subscriptionId)!.attachedTo === undefined);
    // Time passes; the replica holding `kept` confirms it (every touchMs), the detached one ages.
    clock.advance(40_000);
    await eventually('A confirmed the one it holds', () => subs.get(kept.sub.subscriptionId)?.lastActive === clock.now());
    clock.advance(40_000);
    // Removed by the replicas' sweeps; the attached one is confirmed alive and stays.
    await eventually('B no longer has it', () => subs.get(gone.sub.subscriptionId) === undefined);
    expect(subs.get(kept.sub.subscriptionId)).toMatchObject({ attachedTo: a.replicaId });
    a.publish('shutdown', { n: 1 });
    await a.close();
    expect(kept.n()).toEqual([1]);
    expect(await kept.sub.ended).toMatchObject({ reason: 'GATEWAY_STOPPING' });
    await eventually('B sees it detached', () => subs.get(kept.sub.subscriptionId)?.attachedTo === undefined);
    const again = await stream(b, { subscriptionId: kept.sub.subscriptionId, resumeAfterSeq: kept.got[0].seq });
    b.publish('cron', { n: 2 });
    await eventually('resumed on B', () => again.n().includes(2));
    expect(again.n()).toEqual([2]);
  });
});
