import { Metadata } from '@grpc/grpc-js';
import type { CronService as CronDesc, CronJob as CronJobMsg, CronRun as CronRunMsg, Schedule, CronPayload as CronPayloadMsg } from '../../../../gen/openclaw/cron/v1/cron_pb';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { CronJobSchema, CronRunSchema } from '../../../../gen/openclaw/cron/v1/cron_pb';
import { errors } from '../../../../errors';
import type { CronJob, CronPayload, CronRun, CronSchedule, CronService } from '../../../../services/cron/cron-service';
import type { ServiceImpl } from '../../service-definition';
import { serverStream, unary, type HandlerContext } from '../handler-kit';

function scheduleFromProto(s: Schedule | undefined): CronSchedule {
  switch (s?.kind.case) {
    case 'cron':
      return { kind: 'cron', expr: s.kind.value, tz: s.tz || undefined };
    case 'everyMs':
      return { kind: 'every', everyMs: Number(s.kind.value) };
    case 'atMs':
      return { kind: 'at', atMs: Number(s.kind.value) };
    default:
      throw errors.invalid('INVALID_SCHEDULE', 'schedule: one of cron, every_ms or at_ms is required');
  }
}

function payloadFromProto(p: CronPayloadMsg | undefined): CronPayload {
  switch (p?.kind.case) {
    case 'agentTurn':
      return { kind: 'agentTurn', message: p.kind.value.message, sessionKey: p.kind.value.sessionKey || undefined, agentId: p.kind.value.agentId || undefined };
    case 'systemEvent':
      return { kind: 'systemEvent', text: p.kind.value.text };
    default:
      throw errors.invalid('INVALID_PAYLOAD', 'payload: one of agent_turn or system_event is required');
  }
}

/** Maps a domain job to its proto shape. */
export function jobToProto(j: CronJob): MessageInitShape<typeof CronJobSchema> {
  const schedule =
    j.schedule.kind === 'cron'
      ? { kind: { case: 'cron' as const, value: j.schedule.expr }, tz: j.schedule.tz ?? '' }
      : j.schedule.kind === 'every'
        ? { kind: { case: 'everyMs' as const, value: BigInt(j.schedule.everyMs) } }
        : { kind: { case: 'atMs' as const, value: BigInt(j.schedule.atMs) } };
  const payload =
    j.payload.kind === 'agentTurn'
      ? { kind: { case: 'agentTurn' as const, value: { message: j.payload.message, sessionKey: j.payload.sessionKey ?? '', agentId: j.payload.agentId ?? '' } } }
      : { kind: { case: 'systemEvent' as const, value: { text: j.payload.text } } };
  return {
    jobId: j.jobId,
    name: j.name,
    enabled: j.enabled,
    schedule,
    payload,
    createdAtMs: BigInt(j.createdAtMs),
    updatedAtMs: BigInt(j.updatedAtMs),
    nextRunAtMs: BigInt(j.nextRunAtMs),
    lastRunAtMs: BigInt(j.lastRunAtMs),
    lastStatus: j.lastStatus,
  };
}

/** Maps a domain run to its proto shape. */
export function runToProto(r: CronRun): MessageInitShape<typeof CronRunSchema> {
  return {
    runId: r.runId,
    jobId: r.jobId,
    status: r.status,
    scheduledAtMs: BigInt(r.scheduledAtMs),
    startedAtMs: BigInt(r.startedAtMs),
    finishedAtMs: BigInt(r.finishedAtMs),
    durationMs: BigInt(r.durationMs),
    error: r.error,
    sessionId: r.sessionId,
    output: r.output,
    trigger: r.trigger,
  };
}

/** CronService: operators manage jobs; backend workers take due runs and report them. */
export function cronHandlers(ctx: HandlerContext, cron: CronService): ServiceImpl<typeof CronDesc> {
  return {
    listJobs: unary(ctx, () => ({ jobs: cron.list().map(jobToProto) })),
    getJob: unary(ctx, (req) => ({ job: jobToProto(cron.get(req.jobId)) })),
    addJob: unary(ctx, async (req) => ({
      job: jobToProto(await cron.add({ name: req.name, schedule: scheduleFromProto(req.schedule), payload: payloadFromProto(req.payload), enabled: req.enabled })),
    })),
    updateJob: unary(ctx, async (req) => ({
      job: jobToProto(
        await cron.update(req.jobId, {
          name: req.name,
          enabled: req.enabled,
          schedule: req.schedule ? scheduleFromProto(req.schedule) : undefined,
          payload: req.payload ? payloadFromProto(req.payload) : undefined,
        }),
      ),
    })),
    removeJob: unary(ctx, async (req) => ({ removed: await cron.remove(req.jobId) })),
    runJob: unary(ctx, async (req) => ({ run: runToProto(await cron.runNow(req.jobId)) })),
    listRuns: unary(ctx, (req) => ({ runs: cron.listRuns(req.jobId || undefined, req.limit).map(runToProto) })),
    getCronStatus: unary(ctx, () => {
      const s = cron.status();
      return { jobs: s.jobs, enabled: s.enabled, nextRunAtMs: BigInt(s.nextRunAtMs), runsPending: s.runsPending, workerConnected: s.workerConnected };
    }),
    watchDueRuns: serverStream(ctx, async (_req, caller, sink, call) => {
      // A worker is known by its certificate's device id: only it may complete its runs.
      const detach = cron.attachWorker(caller.deviceId, (run, job) => {
        sink.write({ run: runToProto(run), job: jobToProto(job) });
      });
      // Headers now, not with the first due run: the worker learns at once that it is attached.
      call.sendMetadata(new Metadata());
      await sink.closed;
      await detach();
    }),
    completeRun: unary(ctx, async (req, caller) => ({
      run: runToProto(await cron.completeRun(req.runId, { status: req.status as 'ok' | 'error', error: req.error, sessionId: req.sessionId, output: req.output }, caller.deviceId)),
    })),
  };
}

export type { CronJobMsg, CronRunMsg };
