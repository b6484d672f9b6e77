import { randomBytes } from 'node:crypto';
import type { Clock } from '../../clock';
import { errors } from '../../errors';
import { BeatWatch } from '../liveness/beat-watch';
import { replicaKey } from './cron-records';
import { releaseRun } from './cron-runs';
import type { CronStore, CronTx } from './cron-store';

/** How long a replica's claims outlive its last heartbeat. */
export interface LeaseOptions {
  /** How often a replica writes its heartbeat (default 3 s). */
  heartbeatMs: number;
  /**
   * How long a replica's heartbeat may stay unchanged, as another replica sees it on its
   * own monotonic clock while it reaches the store, before it counts as dead (default
   * 9 s, three heartbeats; at least three).
   */
  leaseMs: number;
}

/** Default lease: a replica that died is noticed within about 12 s. */
export const DEFAULT_LEASE: LeaseOptions = Object.freeze({ heartbeatMs: 3000, leaseMs: 9000 });

/** Checks lease options: INVALID_ARGUMENT `CRON_LEASE_INVALID` naming the problem. */
export function checkLease(lease: LeaseOptions): LeaseOptions {
  const { heartbeatMs, leaseMs } = lease;
  if (!Number.isSafeInteger(heartbeatMs) || heartbeatMs < 10) throw errors.invalid('CRON_LEASE_INVALID', `cron heartbeat must be an integer of at least 10 ms (got ${heartbeatMs})`);
  if (!Number.isSafeInteger(leaseMs) || leaseMs < 3 * heartbeatMs) throw errors.invalid('CRON_LEASE_INVALID', `cron lease must be an integer of at least three heartbeats, ${3 * heartbeatMs} ms (got ${leaseMs})`);
  return { heartbeatMs, leaseMs };
}

/** The lease for a value of `OPENCLAW_CRON_LEASE_MS` (heartbeat a third of it); the default when unset. */
export function leaseFromSetting(value: string | undefined): LeaseOptions {
  if (value === undefined || value.trim() === '') return DEFAULT_LEASE;
  if (!/^\d+$/.test(value.trim())) throw errors.invalid('CRON_LEASE_INVALID', `OPENCLAW_CRON_LEASE_MS must be a number of milliseconds (got "${value}")`);
  const leaseMs = Number(value);
  return checkLease({ heartbeatMs: Math.floor(leaseMs / 3), leaseMs });
}

/** What liveness is built from. */
export interface ReplicaLivenessDeps {
  store: CronStore;
  /** Cron's clock: only for `aliveUntilMs`, which earlier releases read. */
  clock: Clock;
  /** This process's monotonic clock: how long another replica's heartbeat stayed the same. */
  monotonic: Clock;
  lease: LeaseOptions;
  /**
   * Whether every replica runs on this machine (the files backend): then a replica whose
   * process is gone is dead at once, not only when its lease ends (a restarted gateway
   * takes its previous process's runs back immediately).
   */
  oneMachine: boolean;
  host: string;
  pid: number;
  /** Whether a process of this machine exists. */
  processAlive?: (pid: number) => boolean;
}

/** What a sweep found. */
export interface SweepResult {
  /** Runs returned to pending. */
  runs: number;
  /** Replicas found dead (their heartbeats deleted, their runs returned). */
  replicas: string[];
}

/**
 * This replica's heartbeat and the judgement of the others'. A replica's claims (runs
 * `running` under its id) count while its heartbeat record keeps changing: each heartbeat
 * writes the next `beat`, and a replica whose beat this one has seen unchanged for longer
 * than the lease, measured on this process's monotonic clock while its own heartbeats
 * reached the store (see `BeatWatch`), is dead; so is one whose record is missing, and on
 * one machine one whose process is gone. No two replicas' clocks are ever compared, and a
 * database outage or stall, which stops everyone's heartbeats alike, kills nobody.
 */
export class ReplicaLiveness {
  readonly replicaId = `rep_${randomBytes(6).toString('hex')}`;
  private readonly startedAtMs: number;
  private beat = 0;
  /** What this replica has seen of the others' heartbeats; told by `CronDispatcher.heartbeat` how the store answers. */
  readonly watch: BeatWatch;

  constructor(private readonly deps: ReplicaLivenessDeps) {
    this.startedAtMs = deps.clock.now();
    this.watch = new BeatWatch({ clock: deps.monotonic, leaseMs: deps.lease.leaseMs, beatEveryMs: deps.lease.heartbeatMs });
  }

  get lease(): LeaseOptions {
    return this.deps.lease;
  }

  /** Stages this replica's heartbeat: its next beat. */
  stamp(tx: CronTx): void {
    const { host, pid } = this.deps;
    this.beat++;
    tx.put({ id: replicaKey(this.replicaId), kind: 'replica', replicaId: this.replicaId, beat: this.beat, aliveUntilMs: this.deps.clock.now() + this.deps.lease.leaseMs, startedAtMs: this.startedAtMs, host, pid });
  }

  /** Stages the removal of this replica's heartbeat (a clean stop). */
  leave(tx: CronTx): void {
    tx.deleteReplica(this.replicaId);
  }

  /**
   * In a transaction: deletes the heartbeats of replicas that stopped answering and
   * returns their runs to pending (runs claimed under a replica with no heartbeat at all,
   * e.g. imported from an earlier release, too). Candidates come from the local copy,
   * each re-checked on the committed state. Run in the heartbeat's transaction only: the
   * watch counts time while those reach the store.
   */
  sweep(tx: CronTx): SweepResult {
    const verdicts = new Map<string, boolean>();
    const dead = (replicaId: string): boolean => {
      if (replicaId === this.replicaId) return false;
      let d = verdicts.get(replicaId);
      if (d === undefined) {
        d = this.isDead(tx, replicaId);
        verdicts.set(replicaId, d);
      }
      return d;
    };
    const replicas: string[] = [];
    const alive: string[] = [];
    for (const r of this.deps.store.replicaList()) {
      if (dead(r.replicaId) && tx.deleteReplica(r.replicaId)) replicas.push(r.replicaId);
      else alive.push(r.replicaId);
    }
    this.watch.keepOnly(alive);
    let runs = 0;
    for (const candidate of this.deps.store.allRuns()) {
      if (candidate.status !== 'running' || !dead(candidate.replicaId)) continue;
      const r = tx.run(candidate.runId);
      if (!r || r.status !== 'running' || r.replicaId !== candidate.replicaId) continue;
      releaseRun(r);
      tx.put(r);
      runs++;
    }
    return { runs, replicas };
  }

  private isDead(tx: CronTx, replicaId: string): boolean {
    const r = tx.replica(replicaId);
    if (!r) return true;
    const { oneMachine, host, pid } = this.deps;
    if (oneMachine && r.host === host && r.pid !== pid && !(this.deps.processAlive ?? processAlive)(r.pid)) return true;
    return this.watch.gone(replicaId, r.beat ?? `until:${r.aliveUntilMs}`);
  }
}

/** Whether a process of this machine exists (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
