/**
 * Whether a cron replica is alive is judged by what each replica sees on its own
 * monotonic clock while it reaches the store, never by comparing wall clocks (two
 * replicas on a real PostgreSQL server, default lease: 3 s heartbeat, 9 s lease):
 * - a replica whose clock is 7 s ahead takes a live one for dead no more than one whose
 *   clock is right, and one whose clock is behind still notices a dead one in time;
 * - after 20 s without any heartbeat (the database unreachable), after a heartbeat waited
 *   20 s for a lock, or after heartbeats that failed for 20 s, the first replica to write
 *   again takes nobody for dead;
 * - a replica that really stopped is still noticed about a lease after its last heartbeat.
 * A run is only ever handed to a second worker when its replica is gone.
 */
import { Client } from 'pg';
import { ManualClock } from '../../../src/clock';
import { errors } from '../../../src/errors';
import type { CronService } from '../../../src/services/cron/cron-service';
import type { Collection, StoreBackend, StoredRecord } from '../../../src/store/collection';
import { caught } from '../helpers';
import { eventually } from '../../helpers/eventually';
import { HOUR, recorder, T0, until, useCronWorld } from './cron-harness';

const LEASE = { heartbeatMs: 3000, leaseMs: 9000 };
const ping = { kind: 'systemEvent' as const, text: 'ping' };

/** A run's status as a replica's copy has it ('' while its copy does not have the job yet). */
const statusOf = (svc: CronService, jobId: string, runId: string): string => (svc.list().some((j) => j.jobId === jobId) ? (svc.listRuns(jobId, 500).find((r) => r.runId === runId)?.status ?? '') : '');

/** A backend whose collections refuse every transaction while `outage.on` (the database unreachable). */
function withOutage(backend: StoreBackend, outage: { on: boolean }): StoreBackend {
  const down = () => Promise.reject(errors.unavailable('DATABASE_UNREACHABLE', 'cannot reach the database (test outage)'));
  return {
    kind: backend.kind,
    eventLog: () => backend.eventLog(),
    close: () => backend.close(),
    async collection<T extends StoredRecord>(name: string, validate: (raw: unknown) => T): Promise<Collection<T>> {
      const c = await backend.collection(name, validate);
      return {
        name: c.name,
        get: (id) => c.get(id),
        list: () => c.list(),
        mutate: (fn) => (outage.on ? down() : c.mutate(fn)),
        subscribe: (fn) => c.subscribe(fn),
        refresh: () => (outage.on ? down() : c.refresh()),
        close: () => c.close(),
      };
    },
  };
}

describe('cron replica liveness on PostgreSQL', () => {
  const world = useCronWorld('postgres');

  /** Replica a (clock `wallA`) holds a long run on worker wa; replica b (clock `wallB`) has worker wb waiting. */
  async function holding(wallA: ManualClock, wallB: ManualClock, stores?: [StoreBackend, StoreBackend]) {
    const { clock } = world();
    const a = await world().make({ clock: wallA, monotonic: clock, options: { lease: LEASE }, ...(stores ? { store: stores[0] } : {}) });
    const b = await world().make({ clock: wallB, monotonic: clock, options: { lease: LEASE }, ...(stores ? { store: stores[1] } : {}) });
    const wa = recorder();
    a.attachWorker('wa', wa.deliver);
    const job = await a.add({ name: 'long', schedule: { kind: 'every', everyMs: HOUR }, payload: ping });
    const run = await a.runNow(job.jobId);
    await until(() => wa.deliveries.length === 1, 5000, 'the run delivered on a');
    const wb = recorder();
    b.attachWorker('wb', wb.deliver);
    await until(() => statusOf(b, job.jobId, run.runId) === 'running', 5000, 'b to see the run running');
    /** Time moves on by `ms` for everyone (both wall clocks and the monotonic one); then `who` heartbeat, in order. */
    const step = async (ms: number, ...who: CronService[]) => {
      clock.advance(ms);
      wallA.advance(ms);
      wallB.advance(ms);
      for (const s of who) await s.heartbeat();
    };
    /** Both heartbeat on time for a minute (every 3 s, b 2.5 s after a). */
    const healthyMinute = async () => {
      for (let i = 0; i < 20; i++) {
        await step(500, a);
        await step(2500, b);
      }
    };
    /** Only b heartbeats (a stopped) until b hands the run to wb; how long that took after a's last heartbeat. */
    const untilTakenOver = async () => {
      let waited = 0;
      while (wb.deliveries.length === 0) {
        expect(waited).toBeLessThanOrEqual(LEASE.leaseMs + 2 * LEASE.heartbeatMs);
        await step(LEASE.heartbeatMs, b);
        waited += LEASE.heartbeatMs;
        await b.idle();
      }
      return waited;
    };
    return { a, b, wa, wb, job, run, step, healthyMinute, untilTakenOver };
  }

  it('a replica whose clock is 7 s ahead does not take a live replica for dead: the run stays on its first worker', async () => {
    const r = await holding(new ManualClock(T0), new ManualClock(T0 + 7000));
    await r.healthyMinute();
    await r.b.idle();
    expect(r.wb.deliveries).toEqual([]);
    expect(statusOf(r.b, r.job.jobId, r.run.runId)).toBe('running');
    // a stops: b notices on its own clock, one lease and at most two heartbeats after a's last one.
    await r.step(1000, r.a);
    const waited = await r.untilTakenOver();
    expect(waited).toBeGreaterThan(LEASE.leaseMs);
    expect(r.wb.deliveries.map((d) => d.run.runId)).toEqual([r.run.runId]);
    expect(r.wa.deliveries).toHaveLength(1);
  });

  it('a replica whose clock is a minute behind still notices a dead replica about a lease after its last heartbeat', async () => {
    const r = await holding(new ManualClock(T0 + 60_000), new ManualClock(T0));
    await r.healthyMinute();
    expect(r.wb.deliveries).toEqual([]);
    await r.step(1000, r.a);
    const waited = await r.untilTakenOver();
    expect(waited).toBeGreaterThan(LEASE.leaseMs);
    expect(r.wb.deliveries.map((d) => d.run.runId)).toEqual([r.run.runId]);
  });

  it('after 20 s in which nobody could write a heartbeat, the first replica to write takes nobody for dead', async () => {
    const r = await holding(new ManualClock(T0), new ManualClock(T0));
    await r.healthyMinute();
    // The database is unreachable for 20 s (a failover): no heartbeat commits, both processes live on.
    await r.step(20_000);
    // It is back; b's heartbeat commits first, then a's, and both go on as before.
    await r.step(0, r.b, r.a);
    await r.healthyMinute();
    await r.b.idle();
    expect(r.wb.deliveries).toEqual([]);
    expect(statusOf(r.b, r.job.jobId, r.run.runId)).toBe('running');
    // A replica that really stops afterwards is still noticed.
    await r.step(1000, r.a);
    await r.untilTakenOver();
    expect(r.wb.deliveries.map((d) => d.run.runId)).toEqual([r.run.runId]);
  });

  it('a heartbeat that waited 20 s for a lock takes nobody for dead when it gets it', async () => {
    const r = await holding(new ManualClock(T0), new ManualClock(T0));
    await r.healthyMinute();
    const blocker = new Client({ connectionString: world().place });
    await blocker.connect();
    const waiting = async () => Number((await blocker.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")).rows[0].n);
    try {
      // Someone holds the cron collection's lock (a long transaction, a stuck connection).
      await blocker.query('BEGIN');
      await blocker.query("SELECT 1 FROM openclaw_collections WHERE name = 'cron' FOR UPDATE");
      const hb = r.b.heartbeat();
      await eventually('b waiting for the lock', async () => (await waiting()) === 1);
      // 20 s later the lock is released; b's heartbeat (and what it hands out) goes first.
      await r.step(20_000);
      await blocker.query('COMMIT');
      await hb;
    } finally {
      await blocker.end();
    }
    await r.b.idle();
    expect(r.wb.deliveries).toEqual([]);
    await r.step(0, r.a);
    await r.healthyMinute();
    await r.b.idle();
    expect(r.wb.deliveries).toEqual([]);
    expect(statusOf(r.b, r.job.jobId, r.run.runId)).toBe('running');
  });

  it('heartbeats that failed for 20 s (store errors on both): afterwards the first to succeed takes nobody for dead', async () => {
    const outage = { on: false };
    const stores: [StoreBackend, StoreBackend] = [withOutage(await world().openBackend(), outage), withOutage(await world().openBackend(), outage)];
    const r = await holding(new ManualClock(T0), new ManualClock(T0), stores);
    await r.healthyMinute();
    outage.on = true;
    for (let i = 0; i < 7; i++) {
      await r.step(3000);
      for (const s of [r.b, r.a]) expect((await caught(() => s.heartbeat())).reason).toBe('DATABASE_UNREACHABLE');
    }
    outage.on = false;
    await r.step(0, r.b, r.a);
    await r.healthyMinute();
    await r.b.idle();
    expect(r.wb.deliveries).toEqual([]);
    await r.step(1000, r.a);
    await r.untilTakenOver();
    expect(r.wb.deliveries.map((d) => d.run.runId)).toEqual([r.run.runId]);
  });
});
