/**
 * What the cron unit tests share: the two storage backends (files in a temp folder, a
 * real PostgreSQL server this test file starts), timers that fire only when a test says
 * so, workers that record what they were given, and services built on a "place" (a
 * folder or a database) the way a gateway process, or a replica, would open it.
 */
import { ManualClock } from '../../../src/clock';
import { silentLogger, type Logger } from '../../../src/logging';
import { RecordingPublisher } from '../../../src/services/events/event-publisher';
import { CronService, type CronJob, type CronRun, type CronServiceDeps, type TimerSource } from '../../../src/services/cron/cron-service';
import type { TimerPurpose } from '../../../src/services/cron/timer-source';
import type { StoreBackend } from '../../../src/store/collection';
import { FilesBackend } from '../../../src/store/journal-collection';
import { PostgresBackend } from '../../../src/store/postgres/postgres-backend';
import { startPostgres, type TestPostgres } from '../../helpers/postgres';
import { makeTmpDir, removeTmpDir } from '../../helpers/tmp';
import { eventually } from '../../helpers/eventually';

/** The backends every storage-touching cron test runs on. */
export const BACKENDS = ['files', 'postgres'] as const;
export type BackendKind = (typeof BACKENDS)[number];

/** Timers that only fire when the test says so. */
export class FakeTimers implements TimerSource {
  armed: { fn: () => void; delayMs: number; purpose: TimerPurpose }[] = [];
  set(fn: () => void, delayMs: number, purpose: TimerPurpose): unknown {
    const t = { fn, delayMs, purpose };
    this.armed.push(t);
    return t;
  }
  clear(handle: unknown): void {
    this.armed = this.armed.filter((t) => t !== handle);
  }
  /** The armed timers for one purpose. */
  of(purpose: TimerPurpose): { fn: () => void; delayMs: number }[] {
    return this.armed.filter((t) => t.purpose === purpose);
  }
  /** The one armed scheduling timer's delay (undefined if none). */
  get delay(): number | undefined {
    const s = this.of('schedule');
    expect(s.length).toBeLessThanOrEqual(1);
    return s[0]?.delayMs;
  }
  /** Fires the armed timer of a purpose (the only one). */
  fire(purpose: TimerPurpose = 'schedule'): void {
    const t = this.armed.find((x) => x.purpose === purpose);
    if (!t) throw new Error(`no ${purpose} timer armed`);
    this.armed = this.armed.filter((x) => x !== t);
    t.fn();
  }
}

/** A worker that records what it was given. */
export function recorder(): { deliveries: { run: CronRun; job: CronJob }[]; deliver: (run: CronRun, job: CronJob) => void } {
  const deliveries: { run: CronRun; job: CronJob }[] = [];
  return { deliveries, deliver: (run, job) => deliveries.push({ run, job }) };
}

/** `eventually` (test/helpers/eventually.ts) with the cron tests' argument order: waits until `cond` holds; fails after `ms`. */
export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  await eventually(what, cond, ms);
}

export const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);
export const MIN = 60_000;
export const HOUR = 60 * MIN;

/** One test's world: a place, a clock, events, timers, and services opened on the place. */
export interface CronWorld {
  kind: BackendKind;
  place: string;
  clock: ManualClock;
  events: RecordingPublisher;
  timers: FakeTimers;
  /** A new backend on the place (as a new process or replica would open it). */
  openBackend(): Promise<StoreBackend>;
  /** A service on a new backend on the place. */
  make(over?: Partial<CronServiceDeps>): Promise<CronService>;
  /** `cron` event payloads so far. */
  cronEvents(): Record<string, any>[];
}

let pg: TestPostgres | undefined;
let pgStarting: Promise<TestPostgres> | undefined;

/**
 * Registers hooks giving each test a fresh world on `kind`; returns the world of the
 * running test. The PostgreSQL server is started once per test file, when first needed.
 */
export function useCronWorld(kind: BackendKind, logger: Logger = silentLogger()): () => CronWorld {
  let world: CronWorld | undefined;
  const backends: StoreBackend[] = [];
  const services: CronService[] = [];
  const dirs: string[] = [];

  afterAll(async () => {
    if (pg) await pg.stop();
    pg = undefined;
    pgStarting = undefined;
  });

  beforeEach(async () => {
    let place: string;
    if (kind === 'files') {
      place = makeTmpDir('cron-');
      dirs.push(place);
    } else {
      pgStarting ??= startPostgres();
      pg = await pgStarting;
      place = await pg.createDatabase();
    }
    const clock = new ManualClock(T0);
    const events = new RecordingPublisher();
    const timers = new FakeTimers();
    const openBackend = async (): Promise<StoreBackend> => {
      const b = kind === 'files' ? new FilesBackend({ dir: `${place}/store`, log: logger }) : await PostgresBackend.open({ url: place, log: logger, poolSize: 3 });
      backends.push(b);
      return b;
    };
    world = {
      kind,
      place,
      clock,
      events,
      timers,
      openBackend,
      make: async (over = {}) => {
        // One clock for the wall and the monotonic time unless a test gives a replica its own;
        // on PostgreSQL cron keeps the local (manual) clock unless a test asks for the database's.
        const svc = await CronService.open({ store: over.store ?? (await openBackend()), clock, monotonic: over.monotonic ?? clock, events, logger, timers, ...over, options: { databaseClock: false, ...over.options } });
        services.push(svc);
        return svc;
      },
      cronEvents: () => events.events.filter((e) => e.type === 'cron').map((e) => e.payload as Record<string, any>),
    };
  });

  afterEach(async () => {
    for (const s of services.splice(0)) await s.stop().catch(() => undefined);
    for (const b of backends.splice(0)) await b.close();
    for (const d of dirs.splice(0)) removeTmpDir(d);
    world = undefined;
  });

  return () => {
    if (!world) throw new Error('no cron world outside a test');
    return world;
  };
}
