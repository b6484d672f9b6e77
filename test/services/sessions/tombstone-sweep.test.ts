/**
 * A deleted session leaves its head as a tombstone for a day; tombstones older than that
 * are forgotten by a sweep that runs while the gateway runs (every `tombstoneSweepMs`),
 * not only at start, on both backends. Time is a ManualClock; the sweep's interval is
 * shortened so the test waits for the condition, never for an hour.
 */
import { ManualClock } from '../../../src/clock';
import { silentLogger } from '../../../src/logging';
import { RecordingPublisher } from '../../../src/services/events/event-publisher';
import { AgentCatalog, DEFAULT_AGENT } from '../../../src/services/agent/agent-catalog';
import { BuiltinProvider } from '../../../src/services/agent/builtin-provider';
import { SessionService, type SessionLimits } from '../../../src/services/sessions/session-service';
import { SESSION_MESSAGES, validateTranscriptRecord } from '../../../src/services/sessions/session-records';
import type { Collection, StoreBackend, StoredRecord } from '../../../src/store/collection';
import { eventually } from '../../helpers/eventually';
import { startPostgres, type TestPostgres } from '../../helpers/postgres';
import { filePlaces, postgresPlaces, type StorePlaces } from './store-places';

const HOUR = 3600_000;

let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
});

/** A backend whose collections count their transactions (what a sweep with nothing due must not start). */
function countingWrites(backend: StoreBackend): { backend: StoreBackend; writes: Map<string, number> } {
  const writes = new Map<string, number>();
  const counted: StoreBackend = {
    kind: backend.kind,
    eventLog: () => backend.eventLog(),
    close: () => backend.close(),
    collection: async <T extends StoredRecord>(name: string, validate: (raw: unknown) => T): Promise<Collection<T>> => {
      const c = await backend.collection(name, validate);
      return new Proxy(c, {
        get(target, prop) {
          if (prop === 'mutate') {
            return (fn: Parameters<Collection<T>['mutate']>[0]) => {
              writes.set(name, (writes.get(name) ?? 0) + 1);
              return target.mutate(fn);
            };
          }
          const v = Reflect.get(target, prop) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    },
  };
  return { backend: counted, writes };
}

describe.each<[string, () => StorePlaces]>([
  ['files', filePlaces],
  ['PostgreSQL', () => postgresPlaces(() => pg)],
])('deleted sessions on %s', (_label, placesOf) => {
  const places = placesOf();
  const catalog = new AgentCatalog({ providers: [new BuiltinProvider()], agents: [DEFAULT_AGENT] });
  let clock: ManualClock;
  const services: SessionService[] = [];
  const open = async (backend: StoreBackend, limits: Partial<SessionLimits> = {}) => {
    const svc = await SessionService.open({ store: backend, agents: catalog, clock, events: new RecordingPublisher(), logger: silentLogger(), limits });
    services.push(svc);
    return svc;
  };
  beforeEach(() => {
    clock = new ManualClock(1_700_000_000_000);
  });
  afterEach(async () => {
    for (const s of services.splice(0)) await s.stop();
    await places.closeAll();
  });

  test('a tombstone older than a day is forgotten while the gateway runs, without a restart', async () => {
    const backend = await places.open(await places.newPlace());
    const svc = await open(backend, { tombstoneSweepMs: 20 });
    const { sessionId } = await svc.create();
    await svc.send(sessionId, 'hello');
    await svc.delete(sessionId);
    const messages = await backend.collection(SESSION_MESSAGES, validateTranscriptRecord);
    expect(messages.get(sessionId)).toMatchObject({ kind: 'head', deletedAtMs: clock.now() });

    clock.advance(23 * HOUR);
    expect(await svc.sweepTombstones()).toBe(0);
    expect(messages.get(sessionId)).toMatchObject({ deletedAtMs: expect.any(Number) });

    clock.advance(2 * HOUR);
    // Nobody calls anything: the periodic sweep does it.
    await eventually('the day-old tombstone is forgotten', () => messages.get(sessionId) === undefined);
    expect(messages.list()).toEqual([]);
  });

  test('the sweep looks only at tombstones: with nothing due it starts no transaction', async () => {
    const place = await places.newPlace();
    const { backend, writes } = countingWrites(await places.open(place));
    const svc = await open(backend);
    const kept = (await svc.create()).sessionId;
    await svc.send(kept, 'stays');
    const gone = (await svc.create()).sessionId;
    await svc.delete(gone);
    clock.advance(HOUR);
    writes.clear();
    expect(await svc.sweepTombstones()).toBe(0);
    expect(Object.fromEntries(writes)).toEqual({});

    // Deleted on another replica: this one's sweep learns of the tombstone from the change feed.
    const other = await open(await places.open(place));
    const elsewhere = (await other.create()).sessionId;
    await eventually('this replica sees the session', () => svc.list().some((s) => s.sessionId === elsewhere));
    await other.delete(elsewhere);
    await eventually('this replica sees the deletion', () => !svc.list().some((s) => s.sessionId === elsewhere));
    // A day after the first deletion, only its tombstone is due; an hour later the other one.
    clock.advance(23 * HOUR + 1);
    expect(await svc.sweepTombstones()).toBe(1);
    clock.advance(HOUR);
    expect(await svc.sweepTombstones()).toBe(1);
    const messages = await backend.collection(SESSION_MESSAGES, validateTranscriptRecord);
    expect(messages.list().filter((r) => r.kind === 'head').map((r) => r.id)).toEqual([kept]);
  });
});
