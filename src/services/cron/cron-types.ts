import type { CronSchedule } from './schedule';

export type { CronSchedule } from './schedule';

/** What a job does: run an agent turn, or emit a system event. Executed by a worker, not here. */
export type CronPayload =
  | { kind: 'agentTurn'; message: string; sessionKey?: string; agentId?: string }
  | { kind: 'systemEvent'; text: string };

/** Life of a run: created `pending`, `running` once a worker has it, then `ok` or `error`. */
export type CronRunStatus = 'pending' | 'running' | 'ok' | 'error';

/** What created a run. */
export type CronTrigger = 'schedule' | 'manual';

/** A scheduled job (mirrors `openclaw.cron.v1.CronJob`; 0 / '' mean "none"). */
export interface CronJob {
  jobId: string;
  name: string;
  enabled: boolean;
  schedule: CronSchedule;
  payload: CronPayload;
  createdAtMs: number;
  updatedAtMs: number;
  /** Next time the scheduler fires the job; 0 when disabled or finished. */
  nextRunAtMs: number;
  /** Start of the last finished run; 0 if none. */
  lastRunAtMs: number;
  lastStatus: 'ok' | 'error' | '';
}

/** One execution of a job (mirrors `openclaw.cron.v1.CronRun`; 0 / '' mean "not yet"). */
export interface CronRun {
  runId: string;
  jobId: string;
  status: CronRunStatus;
  /** When the run was due (the schedule's time, or the moment of a manual trigger). */
  scheduledAtMs: number;
  /** First delivery to a worker. */
  startedAtMs: number;
  finishedAtMs: number;
  durationMs: number;
  error: string;
  sessionId: string;
  output: string;
  trigger: CronTrigger;
}

/** Fields of a new job. */
export interface CronJobInput {
  name: string;
  schedule: CronSchedule;
  payload: CronPayload;
  /** Default true. */
  enabled?: boolean;
}

/** A partial update; absent fields stay as they are. */
export interface CronJobPatch {
  name?: string;
  schedule?: CronSchedule;
  payload?: CronPayload;
  enabled?: boolean;
}

/** What a worker reports when it finishes a run. */
export interface CronRunResult {
  status: 'ok' | 'error';
  error?: string;
  sessionId?: string;
  output?: string;
}

/** Scheduler counters (mirrors `GetCronStatusResponse`). */
export interface CronStatus {
  jobs: number;
  enabled: number;
  /** Earliest next run of any enabled job; 0 if none. */
  nextRunAtMs: number;
  /** Runs waiting for a worker (on any replica). */
  runsPending: number;
  /** Whether a worker is attached to this replica. */
  workerConnected: boolean;
}

/** Hands a due run to a worker (e.g. writes it to the worker's WatchDueRuns stream). Must not block. */
export type CronDeliver = (run: CronRun, job: CronJob) => void;

/** Payload of the `cron` event. */
export interface CronEvent {
  action: 'added' | 'updated' | 'removed' | 'started' | 'finished';
  jobId: string;
  runId?: string;
  status?: CronRunStatus;
  trigger?: CronTrigger;
  workerId?: string;
  durationMs?: number;
  error?: string;
  sessionId?: string;
  job?: CronJob;
}
