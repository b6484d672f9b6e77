/**
 * The event outbox contract as tests, run against every backend's log (in-process,
 * PostgreSQL): global increasing sequences in append order, bounded reads, a tail that
 * delivers each event once and in order, retention by count, age and cap.
 */
import type { EventLog, EventLogRetention, LoggedEvent, NewEvent } from '../../src/store/event-log';
import { eventually } from '../helpers/eventually';

/** How a test gets logs: a fresh place each call; two opens of one place share it (two replicas) when `shared`. */
export interface EventLogFactory {
  newPlace(): Promise<string>;
  /** The log of a place as one process opens it; `close` closes what was opened for it. */
  open(place: string, retention?: Partial<EventLogRetention>): Promise<{ log: EventLog; close: () => Promise<void> }>;
  /** Whether another process can append to and tail the same log. */
  shared: boolean;
}

/** A test event; `n` tells events apart. */
export function ev(n: number, over: Partial<NewEvent> = {}): NewEvent {
  return { type: 'test', ts: 1_000_000 + n, payloadJson: JSON.stringify({ n }), origin: 'o1', id: `${over.origin ?? 'o1'}:${n}`, ...over };
}

/** Collects what a tail delivers. */
export function collect(log: EventLog): { seen: LoggedEvent[]; lost: [number, number][]; from: number; stop: () => void } {
  const seen: LoggedEvent[] = [];
  const lost: [number, number][] = [];
  const t = log.tail({ events: (b) => seen.push(...b), lost: (a, k) => lost.push([a, k]) });
  return { seen, lost, from: t.from, stop: t.stop };
}

/** Registers the contract tests for one kind of log. */
export function describeEventLogContract(label: string, factory: () => EventLogFactory): void {
  describe(`event log contract: ${label}`, () => {
    const closers: (() => Promise<void>)[] = [];
    const open = async (place: string, retention?: Partial<EventLogRetention>) => {
      const o = await factory().open(place, retention);
      closers.push(o.close);
      return o.log;
    };
    const fresh = async (retention?: Partial<EventLogRetention>) => open(await factory().newPlace(), retention);
    afterAll(async () => {
      for (const c of closers) await c();
    });

    test('an empty log: nothing to read, head 0, everything from 1 on kept', async () => {
      const log = await fresh();
      expect(await log.read(0, 10)).toEqual({ events: [], head: 0, keptFrom: 1 });
    });

    test('appends get increasing sequences in call order; events read back intact; reads are bounded', async () => {
      const log = await fresh();
      const odd = { type: 'chat', ts: 1_700_000_000_123, payloadJson: JSON.stringify({ text: 'ünï 😀 "q" \n', big: 'x'.repeat(100_000), nul: '\u0000' }), origin: 'replica-ä', id: 'replica-ä:ü' };
      const p1 = log.append([ev(1), ev(2)]);
      const p2 = log.append([odd]);
      const p3 = log.append([ev(3)]);
      expect(await Promise.all([p1, p2, p3])).toEqual([[1, 2], [3], [4]]);
      const all = await log.read(0, 100);
      expect(all).toEqual({ events: [{ seq: 1, ...ev(1) }, { seq: 2, ...ev(2) }, { seq: 3, ...odd }, { seq: 4, ...ev(3) }], head: 4, keptFrom: 1 });
      expect((await log.read(1, 2)).events.map((e) => e.seq)).toEqual([2, 3]);
      expect((await log.read(4, 10)).events).toEqual([]);
      expect((await log.read(1000, 10)).events).toEqual([]);
      expect(await log.append([])).toEqual([]);
    });

    test('a tail gets every event after its start exactly once, in order, until stopped', async () => {
      const log = await fresh();
      await log.append([ev(1)]);
      const t = collect(log);
      expect(t.from).toBe(1);
      const appends: Promise<number[]>[] = [];
      for (let i = 2; i <= 60; i++) appends.push(log.append(i % 3 === 0 ? [ev(i), ev(i + 1000)] : [ev(i)]));
      await Promise.all(appends);
      await eventually('the tail got every event', () => t.seen.length === 79);
      expect(t.seen.map((e) => e.seq)).toEqual(Array.from({ length: 79 }, (_, i) => i + 2));
      expect(t.lost).toEqual([]);
      t.stop();
      await log.append([ev(99)]);
      // Another tail still hears it: the stopped one did not.
      const other = collect(log);
      await log.append([ev(100)]);
      await eventually('the other tail got the next event', () => other.seen.length === 1);
      expect(t.seen).toHaveLength(79);
    });

    test('retention by count: only the last keepEvents are kept once older than keepMs', async () => {
      const log = await fresh({ keepEvents: 5, keepMs: 0, maxEvents: 5 });
      for (let i = 1; i <= 23; i++) await log.append([ev(i)]);
      const page = await log.read(0, 100);
      expect(page.head).toBe(23);
      expect(page.keptFrom).toBe(19);
      expect(page.events.map((e) => e.seq)).toEqual(Array.from({ length: 24 - page.keptFrom }, (_, i) => page.keptFrom + i));
      // A reader behind what is kept can tell: the first event it gets is past the one it needs.
      expect((await log.read(3, 1)).events[0].seq).toBe(page.keptFrom);
    });

    test('retention by age: events beyond keepEvents stay while younger than keepMs, up to maxEvents', async () => {
      const log = await fresh({ keepEvents: 2, keepMs: 60_000, maxEvents: 30 });
      // 20 young events (same minute): all kept although more than keepEvents.
      for (let i = 1; i <= 20; i++) await log.append([ev(i, { ts: 1_000_000 + i })]);
      expect((await log.read(0, 100)).keptFrom).toBe(1);
      // Past maxEvents, the oldest go even if young.
      for (let i = 21; i <= 40; i++) await log.append([ev(i, { ts: 1_000_000 + i })]);
      const capped = await log.read(0, 100);
      expect(capped.keptFrom).toBe(11);
      // A minute later, everything but the last keepEvents is old enough to go.
      await log.append([ev(41, { ts: 1_000_000 + 40 + 120_000 })]);
      const aged = await log.read(0, 100);
      expect({ keptFrom: aged.keptFrom, seqs: aged.events.map((e) => e.seq) }).toEqual({ keptFrom: 40, seqs: [40, 41] });
    });

    test('closing tells the tails; a closed log refuses appends', async () => {
      const place = await factory().newPlace();
      const o = await factory().open(place);
      let told = 0;
      o.log.tail({ events: () => undefined, lost: () => undefined, closed: () => told++ });
      await o.close();
      expect(told).toBe(1);
      await expect(o.log.append([ev(1)])).rejects.toMatchObject({ reason: 'STORE_CLOSED' });
    });

    if (factory().shared) {
      test('two processes share one sequence: each one\'s tail gets the other\'s events', async () => {
        const place = await factory().newPlace();
        const a = await open(place);
        const b = await open(place);
        expect(a.shared && b.shared).toBe(true);
        const ta = collect(a);
        const tb = collect(b);
        await Promise.all([a.append([ev(1, { origin: 'a' })]), b.append([ev(2, { origin: 'b' })]), a.append([ev(3, { origin: 'a' })])]);
        await eventually('both tails have the three events', () => ta.seen.length === 3 && tb.seen.length === 3);
        expect(ta.seen).toEqual(tb.seen);
        expect(ta.seen.map((e) => e.seq)).toEqual([1, 2, 3]);
        expect(ta.seen.map((e) => e.payloadJson).sort()).toEqual([ev(1).payloadJson, ev(2).payloadJson, ev(3).payloadJson]);
      });
    }
  });
}
