import type { StoredRecord } from '../../store/collection';
import type { CronJob, CronRun } from './cron-types';

/**
 * What the `cron` collection holds: jobs, runs, one heartbeat per live replica and the
 * creation counter, told apart by `kind` and by the prefix of their id (`job:<jobId>`,
 * `run:<runId>`, `replica:<replicaId>`, `counter:seq`). One collection, so that firing a
 * job (its next time moves, its run is created) or claiming a run while checking its
 * claimant's heartbeat is one atomic transaction.
 */
export type CronRecord = JobRecord | RunRecord | ReplicaRecord | CounterRecord;

/** A job as stored. */
export interface JobRecord extends CronJob, StoredRecord {
  kind: 'job';
  /** Creation order (from the counter): the order jobs are listed in. */
  seq: number;
  /** The last run the schedule created ('' if none): while it is pending or running, a due period is skipped. */
  activeRunId: string;
}

/** A run as stored, with its claim. */
export interface RunRecord extends CronRun, StoredRecord {
  kind: 'run';
  /** Creation order (from the counter): the order runs are listed in, newest first. */
  seq: number;
  /** The replica whose worker holds the run while `running` ('' otherwise). */
  replicaId: string;
  /** The worker holding it while `running` ('' otherwise). */
  workerId: string;
}

/**
 * A replica's heartbeat: its claims count while the others see `beat` change (see
 * `ReplicaLiveness`). Written by the replica itself at every heartbeat.
 */
export interface ReplicaRecord extends StoredRecord {
  kind: 'replica';
  replicaId: string;
  /** Counts the replica's heartbeats; absent in records of earlier releases (whose `aliveUntilMs` changes at each heartbeat instead). */
  beat?: number;
  /** The writer's clock plus its lease: what earlier releases judged by (other machines' clocks make it meaningless to anyone else). */
  aliveUntilMs: number;
  startedAtMs: number;
  /** Host name and process id: on one machine (files backend), a replica whose process is gone is dead at once. */
  host: string;
  pid: number;
}

/** The creation counter: every job and run takes the next value. */
export interface CounterRecord extends StoredRecord {
  kind: 'counter';
  value: number;
}

/** Name of the cron collection. */
export const CRON = 'cron';
/** Id of the creation counter. */
export const COUNTER_ID = 'counter:seq';

export const jobKey = (jobId: string): string => `job:${jobId}`;
export const runKey = (runId: string): string => `run:${runId}`;
export const replicaKey = (replicaId: string): string => `replica:${replicaId}`;

/** The kind a record id belongs to (its prefix). */
export function kindOfKey(id: string): CronRecord['kind'] | undefined {
  const kind = id.slice(0, id.indexOf(':'));
  return kind === 'job' || kind === 'run' || kind === 'replica' || kind === 'counter' ? kind : undefined;
}

/** A job as callers see it (a copy, without what only storage needs). */
export function jobOf(r: JobRecord): CronJob {
  const { id: _id, kind: _kind, seq: _seq, activeRunId: _active, ...job } = r;
  return structuredClone(job);
}

/** A run as callers see it (a copy, without its claim). */
export function runOf(r: RunRecord): CronRun {
  const { id: _id, kind: _kind, seq: _seq, replicaId: _replica, workerId: _worker, ...run } = r;
  return structuredClone(run);
}

const RUN_STATUSES = ['pending', 'running', 'ok', 'error'];
const SCHEDULE_KINDS = ['cron', 'every', 'at'];
const PAYLOAD_KINDS = ['agentTurn', 'systemEvent'];

/** Checks a record read from storage and returns it typed; throws saying what is wrong. */
export function validateCronRecord(raw: unknown): CronRecord {
  const r = raw as Record<string, unknown>;
  if (!r || typeof r !== 'object' || typeof r.id !== 'string') throw new Error('a cron record needs a string id');
  const bad = (what: string): never => {
    throw new Error(`cron record ${r.id}: ${what}`);
  };
  const str = (k: string) => typeof r[k] === 'string' || bad(`${k} must be a string`);
  const num = (k: string) => (typeof r[k] === 'number' && Number.isFinite(r[k])) || bad(`${k} must be a number`);
  switch (r.kind) {
    case 'job': {
      str('jobId');
      if (r.id !== jobKey(r.jobId as string)) bad('id must be job:<jobId>');
      str('name');
      if (typeof r.enabled !== 'boolean') bad('enabled must be a boolean');
      const s = r.schedule as { kind?: unknown } | undefined;
      if (!s || typeof s !== 'object' || !SCHEDULE_KINDS.includes(s.kind as string)) bad('schedule is malformed');
      const p = r.payload as { kind?: unknown } | undefined;
      if (!p || typeof p !== 'object' || !PAYLOAD_KINDS.includes(p.kind as string)) bad('payload is malformed');
      for (const k of ['createdAtMs', 'updatedAtMs', 'nextRunAtMs', 'lastRunAtMs', 'seq']) num(k);
      if (!['ok', 'error', ''].includes(r.lastStatus as string)) bad('lastStatus must be "ok", "error" or ""');
      str('activeRunId');
      return r as unknown as JobRecord;
    }
    case 'run': {
      str('runId');
      if (r.id !== runKey(r.runId as string)) bad('id must be run:<runId>');
      str('jobId');
      if (!RUN_STATUSES.includes(r.status as string)) bad('status is not a run status');
      if (r.trigger !== 'schedule' && r.trigger !== 'manual') bad('trigger must be "schedule" or "manual"');
      for (const k of ['scheduledAtMs', 'startedAtMs', 'finishedAtMs', 'durationMs', 'seq']) num(k);
      for (const k of ['error', 'sessionId', 'output', 'replicaId', 'workerId']) str(k);
      return r as unknown as RunRecord;
    }
    case 'replica':
      str('replicaId');
      if (r.id !== replicaKey(r.replicaId as string)) bad('id must be replica:<replicaId>');
      for (const k of ['aliveUntilMs', 'startedAtMs', 'pid']) num(k);
      if (r.beat !== undefined) num('beat');
      str('host');
      return r as unknown as ReplicaRecord;
    case 'counter':
      if (r.id !== COUNTER_ID) bad(`the counter's id must be ${COUNTER_ID}`);
      num('value');
      return r as unknown as CounterRecord;
    default:
      return bad('kind must be job, run, replica or counter');
  }
}

/**
 * The records of an earlier release's cron.json (`{"version":1,"jobs":[...],"runs":[...]}`),
 * in their order: runs left running there have no live replica, so they become pending
 * again at the first start.
 */
export function recordsOfLegacyDoc(raw: unknown): CronRecord[] {
  const doc = raw as { version?: number; jobs?: unknown; runs?: unknown };
  if (!doc || doc.version !== 1 || !Array.isArray(doc.jobs) || !Array.isArray(doc.runs)) throw new Error('expected {"version":1,"jobs":[...],"runs":[...]}');
  const active = new Map<string, string>();
  for (const r of doc.runs as CronRun[]) if (r && r.trigger === 'schedule' && (r.status === 'pending' || r.status === 'running')) active.set(r.jobId, r.runId);
  let seq = 0;
  const jobs = (doc.jobs as CronJob[]).map((job) => validateCronRecord({ ...job, id: jobKey(String(job?.jobId)), kind: 'job', seq: ++seq, activeRunId: active.get(job?.jobId) ?? '' }));
  const runs = (doc.runs as CronRun[]).map((run) => validateCronRecord({ ...run, id: runKey(String(run?.runId)), kind: 'run', seq: ++seq, replicaId: '', workerId: '' }));
  return [...jobs, ...runs, { id: COUNTER_ID, kind: 'counter', value: seq }];
}
