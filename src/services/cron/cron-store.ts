import { SerialQueue, type Collection, type CollectionChange, type CollectionTx, type EventStaging, type StoreBackend } from '../../store/collection';
import type { NewEvent } from '../../store/event-log';
import { importLegacyRecords, readLegacyRecords } from '../../store/legacy-import';
import {
  COUNTER_ID,
  CRON,
  jobKey,
  kindOfKey,
  recordsOfLegacyDoc,
  replicaKey,
  runKey,
  validateCronRecord,
  type CounterRecord,
  type CronRecord,
  type JobRecord,
  type ReplicaRecord,
  type RunRecord,
} from './cron-records';
import type { CronTrigger } from './cron-types';

/** Which kinds of cron records changed, and whether this process changed them. */
export interface CronChange {
  kinds: ReadonlySet<CronRecord['kind']>;
  local: boolean;
}

const ALL_KINDS: ReadonlySet<CronRecord['kind']> = new Set(['job', 'run', 'replica', 'counter']);

/**
 * Typed access to the `cron` collection. Reads come from an index of the collection's
 * local copy, kept current by its change feed (this replica's writes and the others'),
 * so they never wait and never copy the whole collection; callers must treat what they
 * get as read-only. Writes go through `mutate`, whose function sees the freshest
 * committed state through a `CronTx`.
 */
export class CronStore {
  private readonly jobs = new Map<string, JobRecord>();
  private readonly runs = new Map<string, RunRecord>();
  private readonly runsByJob = new Map<string, Set<string>>();
  private readonly replicas = new Map<string, ReplicaRecord>();
  private readonly listeners = new Set<(change: CronChange) => void>();
  private readonly unsubscribe: () => void;
  /** This process's cron writes, one at a time (they would otherwise only queue on the backend's lock). */
  private readonly queue = new SerialQueue();

  constructor(private readonly collection: Collection<CronRecord>) {
    this.rebuild();
    this.unsubscribe = collection.subscribe((ch) => this.apply(ch));
  }

  /** Opens the cron collection of a backend (see `openCron`) and indexes it. */
  static async open(backend: StoreBackend, legacyJson?: string): Promise<CronStore> {
    return new CronStore(await openCron(backend, legacyJson));
  }

  job(jobId: string): JobRecord | undefined {
    return this.jobs.get(jobId);
  }

  /** Every job, in no particular order. */
  allJobs(): IterableIterator<JobRecord> {
    return this.jobs.values();
  }

  /** Every job, in creation order. */
  jobList(): JobRecord[] {
    return [...this.jobs.values()].sort((a, b) => a.seq - b.seq);
  }

  run(runId: string): RunRecord | undefined {
    return this.runs.get(runId);
  }

  /** The runs of one job, in no particular order. */
  runsOf(jobId: string): RunRecord[] {
    return [...(this.runsByJob.get(jobId) ?? [])].map((id) => this.runs.get(id) as RunRecord);
  }

  /** Every run, in no particular order. */
  allRuns(): IterableIterator<RunRecord> {
    return this.runs.values();
  }

  replicaList(): ReplicaRecord[] {
    return [...this.replicas.values()];
  }

  /** Runs `fn` on the freshest committed state and commits what it staged, atomically (see `Collection.mutate`). */
  mutate<R>(fn: (tx: CronTx) => R): Promise<R> {
    return this.queue.run(() => this.collection.mutate((tx) => fn(new CronTx(tx))));
  }

  /** Calls `fn` after cron records changed, here or on another replica (after the index is current). */
  onChange(fn: (change: CronChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Stops following the collection (the collection itself belongs to the backend). */
  close(): void {
    this.unsubscribe();
    this.listeners.clear();
  }

  private apply(ch: CollectionChange): void {
    let kinds: ReadonlySet<CronRecord['kind']>;
    if (!ch.ids) {
      this.rebuild();
      kinds = ALL_KINDS;
    } else {
      const seen = new Set<CronRecord['kind']>();
      for (const id of ch.ids) {
        const kind = kindOfKey(id);
        if (!kind) continue;
        seen.add(kind);
        const r = this.collection.get(id);
        if (r) this.index(r);
        else this.unindex(id, kind);
      }
      kinds = seen;
    }
    if (kinds.size === 0) return;
    for (const fn of [...this.listeners]) fn({ kinds, local: ch.local });
  }

  private rebuild(): void {
    this.jobs.clear();
    this.runs.clear();
    this.runsByJob.clear();
    this.replicas.clear();
    for (const r of this.collection.list()) this.index(r);
  }

  private index(r: CronRecord): void {
    switch (r.kind) {
      case 'job':
        this.jobs.set(r.jobId, r);
        break;
      case 'run': {
        this.runs.set(r.runId, r);
        let ids = this.runsByJob.get(r.jobId);
        if (!ids) this.runsByJob.set(r.jobId, (ids = new Set()));
        ids.add(r.runId);
        break;
      }
      case 'replica':
        this.replicas.set(r.replicaId, r);
        break;
      case 'counter':
        break;
    }
  }

  private unindex(id: string, kind: CronRecord['kind']): void {
    const key = id.slice(id.indexOf(':') + 1);
    if (kind === 'job') this.jobs.delete(key);
    else if (kind === 'replica') this.replicas.delete(key);
    else if (kind === 'run') {
      const r = this.runs.get(key);
      if (!r) return;
      this.runs.delete(key);
      const ids = this.runsByJob.get(r.jobId);
      ids?.delete(key);
      if (ids?.size === 0) this.runsByJob.delete(r.jobId);
    }
  }
}

/**
 * Opens the cron collection of a backend. The first time a files backend opens it next to
 * a `cron.json` of an earlier release, that file's jobs and runs are imported (once, in one
 * transaction; the file is then renamed `cron.json.imported`).
 */
export async function openCron(backend: StoreBackend, legacyJson?: string): Promise<Collection<CronRecord>> {
  const legacy = backend.kind === 'files' && legacyJson ? readLegacyRecords(legacyJson, 'cron jobs and runs', recordsOfLegacyDoc) : undefined;
  const collection = await backend.collection(CRON, validateCronRecord);
  if (legacy && legacyJson) await importLegacyRecords(collection, legacyJson, legacy);
  return collection;
}

/** A cron transaction: typed reads of the committed state, staged writes and events. Records read are copies the caller may change and put. */
export class CronTx implements EventStaging {
  constructor(private readonly tx: CollectionTx<CronRecord>) {}

  stageEvent(event: NewEvent): void {
    this.tx.stageEvent(event);
  }

  job(jobId: string): JobRecord | undefined {
    const r = this.tx.get(jobKey(jobId));
    return r?.kind === 'job' ? r : undefined;
  }

  run(runId: string): RunRecord | undefined {
    const r = this.tx.get(runKey(runId));
    return r?.kind === 'run' ? r : undefined;
  }

  replica(replicaId: string): ReplicaRecord | undefined {
    const r = this.tx.get(replicaKey(replicaId));
    return r?.kind === 'replica' ? r : undefined;
  }

  put(record: CronRecord): void {
    this.tx.put(record);
  }

  deleteJob(jobId: string): boolean {
    return this.tx.delete(jobKey(jobId));
  }

  deleteRun(runId: string): boolean {
    return this.tx.delete(runKey(runId));
  }

  deleteReplica(replicaId: string): boolean {
    return this.tx.delete(replicaKey(replicaId));
  }

  /** The next value of the creation counter (staged with the rest of the transaction). */
  nextSeq(): number {
    const c = this.tx.get(COUNTER_ID) as CounterRecord | undefined;
    const value = (c?.value ?? 0) + 1;
    this.tx.put({ id: COUNTER_ID, kind: 'counter', value });
    return value;
  }

  /** Creates a pending run of a job and stages it. */
  newRun(runId: string, jobId: string, scheduledAtMs: number, trigger: CronTrigger): RunRecord {
    const run: RunRecord = {
      id: runKey(runId),
      kind: 'run',
      seq: this.nextSeq(),
      runId,
      jobId,
      status: 'pending',
      scheduledAtMs,
      startedAtMs: 0,
      finishedAtMs: 0,
      durationMs: 0,
      error: '',
      sessionId: '',
      output: '',
      trigger,
      replicaId: '',
      workerId: '',
    };
    this.tx.put(run);
    return run;
  }

  /**
   * Keeps the newest `max` finished runs of a job among `runIds` (the runs this replica
   * knows of, plus any just finished): older finished ones are deleted; pending and
   * running runs never are. A run another replica created that this one has not heard
   * of yet is pruned next time.
   */
  pruneFinished(runIds: Iterable<string>, max: number): void {
    const finished: RunRecord[] = [];
    for (const id of new Set(runIds)) {
      const r = this.run(id);
      if (r && (r.status === 'ok' || r.status === 'error')) finished.push(r);
    }
    if (finished.length <= max) return;
    finished.sort((a, b) => b.seq - a.seq);
    for (const r of finished.slice(max)) this.deleteRun(r.runId);
  }
}
