import { errors } from '../../errors';
import { MAX_REF, truncate } from './cron-input';
import type { RunRecord } from './cron-records';
import type { CronTx } from './cron-store';
import type { CronRunResult } from './cron-types';

const MAX_OUTPUT_CHARS = 16 * 1024;
const MAX_ERROR_CHARS = 2 * 1024;

/** The life of a run as transaction steps: claimed by a worker, handed back, finished. */

/** pending -> running, held by `workerId` of `replicaId`; the first delivery's time is kept. */
export function claimRun(r: RunRecord, replicaId: string, workerId: string, now: number): void {
  r.status = 'running';
  r.replicaId = replicaId;
  r.workerId = workerId;
  if (!r.startedAtMs) r.startedAtMs = now;
}

/** running -> pending, held by nobody (its worker detached, or its replica died or stopped). */
export function releaseRun(r: RunRecord): void {
  r.status = 'pending';
  r.replicaId = '';
  r.workerId = '';
}

/**
 * Records a worker's result in a transaction: the run finishes, its job remembers the
 * outcome, and finished runs beyond `maxRunsPerJob` are pruned (`knownRunIds`: the job's
 * runs this replica knows of). A run that went back to pending may still be completed.
 * NOT_FOUND `RUN_NOT_FOUND`; FAILED_PRECONDITION `RUN_ALREADY_FINISHED`, or
 * `RUN_NOT_ASSIGNED` when `workerId` is given and another worker holds the run.
 */
export function finishRun(tx: CronTx, runId: string, result: CronRunResult, workerId: string | undefined, now: number, knownRunIds: (jobId: string) => string[], maxRunsPerJob: number): RunRecord {
  const r = tx.run(runId);
  if (!r) throw errors.notFound('RUN_NOT_FOUND', `cron run ${runId} not found`);
  if (r.status === 'ok' || r.status === 'error') throw errors.precondition('RUN_ALREADY_FINISHED', `cron run ${runId} already finished with status ${r.status}`);
  if (workerId && r.status === 'running' && r.workerId && r.workerId !== workerId) throw errors.precondition('RUN_NOT_ASSIGNED', `run ${runId} is assigned to another worker`);
  r.status = result.status;
  if (!r.startedAtMs) r.startedAtMs = now;
  r.finishedAtMs = now;
  r.durationMs = Math.max(0, now - r.startedAtMs);
  r.error = result.status === 'error' ? truncate(result.error || 'failed', MAX_ERROR_CHARS) : '';
  r.sessionId = truncate(result.sessionId ?? '', MAX_REF);
  r.output = truncate(result.output ?? '', MAX_OUTPUT_CHARS);
  tx.put(r);
  const job = tx.job(r.jobId);
  if (job) {
    job.lastStatus = result.status;
    job.lastRunAtMs = r.startedAtMs;
    tx.put(job);
  }
  tx.pruneFinished([...knownRunIds(r.jobId), r.runId], maxRunsPerJob);
  return r;
}
