/**
 * cron list|get|add|update|enable|disable|rm|run|runs|status.
 *
 * --json prints the RPC response as protobuf JSON: list -> ListJobsResponse,
 * get/add/update/enable/disable -> { job }, rm -> { removed }, run -> { run },
 * runs -> ListRunsResponse, status -> GetCronStatusResponse.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import {
  AddJobResponseSchema,
  CronService,
  GetCronStatusResponseSchema,
  GetJobResponseSchema,
  ListJobsResponseSchema,
  ListRunsResponseSchema,
  RemoveJobResponseSchema,
  RunJobResponseSchema,
  UpdateJobResponseSchema,
  type CronJob,
  type CronPayloadSchema,
  type ScheduleSchema,
} from '../gen/openclaw/cron/v1/cron_pb';
import { errors } from '../errors';
import type { CliContext } from './cli-context';
import { humanDuration, isoTime, relativeTime } from './output';
import { parseDuration, wholeNumber } from './args';
import { protoJson } from './proto-json';

/** Schedule and payload options shared by `cron add` and `cron update`. */
export interface CronJobOptions {
  name?: string;
  cron?: string;
  tz?: string;
  every?: string;
  at?: string;
  message?: string;
  session?: string;
  agent?: string;
  systemEvent?: string;
  disabled?: boolean;
}

type ScheduleInit = MessageInitShape<typeof ScheduleSchema>;
type PayloadInit = MessageInitShape<typeof CronPayloadSchema>;

function describeSchedule(job: CronJob): string {
  const s = job.schedule;
  if (!s) return '-';
  switch (s.kind.case) {
    case 'cron':
      return `cron "${s.kind.value}"${s.tz ? ` (${s.tz})` : ''}`;
    case 'everyMs':
      return `every ${humanDuration(s.kind.value)}`;
    case 'atMs':
      return `at ${isoTime(s.kind.value)}`;
    default:
      return '-';
  }
}

function clip(text: string, n = 40): string {
  const one = text.replace(/\s+/g, ' ');
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}

function describePayload(job: CronJob): string {
  const p = job.payload?.kind;
  if (p?.case === 'agentTurn') return `agent: "${clip(p.value.message)}"${p.value.sessionKey ? ` -> ${p.value.sessionKey}` : ''}`;
  if (p?.case === 'systemEvent') return `event: "${clip(p.value.text)}"`;
  return '-';
}

/** Schedule from the options, or undefined when none was given; usage error when more than one. */
function scheduleFrom(o: CronJobOptions): ScheduleInit | undefined {
  const given = [o.cron !== undefined, o.every !== undefined, o.at !== undefined].filter(Boolean).length;
  if (given > 1) throw errors.invalid('SCHEDULE_AMBIGUOUS', 'give only one of --cron, --every and --at');
  if (o.tz !== undefined && o.cron === undefined) throw errors.invalid('TZ_WITHOUT_CRON', '--tz applies to --cron expressions only');
  if (o.cron !== undefined) return { kind: { case: 'cron', value: o.cron }, tz: o.tz ?? '' };
  if (o.every !== undefined) return { kind: { case: 'everyMs', value: BigInt(parseDuration(o.every, '--every')) } };
  if (o.at !== undefined) {
    const at = Date.parse(o.at);
    if (Number.isNaN(at)) throw errors.invalid('BAD_TIME', `--at: "${o.at}" is not an ISO time (e.g. 2030-01-01T07:00:00Z)`);
    return { kind: { case: 'atMs', value: BigInt(at) } };
  }
  return undefined;
}

/** Payload from the options, merged over `current` for updates; undefined when none was given. */
function payloadFrom(o: CronJobOptions, current?: CronJob): PayloadInit | undefined {
  const agentOpts = o.message !== undefined || o.session !== undefined || o.agent !== undefined;
  if (agentOpts && o.systemEvent !== undefined) throw errors.invalid('PAYLOAD_AMBIGUOUS', 'give either --message (with --session/--agent) or --system-event, not both');
  if (o.systemEvent !== undefined) return { kind: { case: 'systemEvent', value: { text: o.systemEvent } } };
  if (!agentOpts) return undefined;
  const base = current?.payload?.kind.case === 'agentTurn' ? current.payload.kind.value : undefined;
  const message = o.message ?? base?.message ?? '';
  if (!message) throw errors.invalid('MESSAGE_REQUIRED', '--session and --agent need --message (the text the agent gets)');
  return { kind: { case: 'agentTurn', value: { message, sessionKey: o.session ?? base?.sessionKey ?? '', agentId: o.agent ?? base?.agentId ?? '' } } };
}

function jobFields(ctx: CliContext, job: CronJob): string {
  const now = ctx.now();
  return ctx.out.fields([
    ['job', job.jobId],
    ['name', job.name],
    ['enabled', job.enabled ? 'yes' : 'no'],
    ['schedule', describeSchedule(job)],
    ['payload', describePayload(job)],
    ['next run', job.nextRunAtMs ? `${isoTime(job.nextRunAtMs)} (${relativeTime(job.nextRunAtMs, now)})` : '-'],
    ['last run', job.lastRunAtMs ? `${isoTime(job.lastRunAtMs)} (${job.lastStatus || 'unknown'})` : 'never'],
  ]);
}

/** `cron list` */
export async function cronList(ctx: CliContext): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(CronService.method.listJobs, {});
  const now = ctx.now();
  ctx.out.result(
    () => protoJson(ListJobsResponseSchema, res),
    () =>
      ctx.out.table(
        ['ID', 'NAME', 'ENABLED', 'SCHEDULE', 'NEXT RUN', 'LAST', 'PAYLOAD'],
        res.jobs.map((j) => [j.jobId, j.name, j.enabled ? 'yes' : 'no', describeSchedule(j), relativeTime(j.nextRunAtMs, now), j.lastStatus || '-', describePayload(j)]),
        'No cron jobs. Add one with "openclaw-cli cron add --name <name> --every 1h --message <text>".',
      ),
  );
}

/** `cron get <id>` */
export async function cronGet(ctx: CliContext, jobId: string): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(CronService.method.getJob, { jobId });
  ctx.out.result(
    () => protoJson(GetJobResponseSchema, res),
    () => (res.job ? jobFields(ctx, res.job) : `No job ${jobId}.`),
  );
}

/** `cron add` */
export async function cronAdd(ctx: CliContext, o: CronJobOptions): Promise<void> {
  if (!o.name) throw errors.invalid('NAME_REQUIRED', 'cron add needs --name');
  const schedule = scheduleFrom(o);
  if (!schedule) throw errors.invalid('SCHEDULE_REQUIRED', 'cron add needs one of --cron EXPR [--tz TZ], --every DURATION or --at ISO-TIME');
  const payload = payloadFrom(o);
  if (!payload) throw errors.invalid('PAYLOAD_REQUIRED', 'cron add needs --message TEXT [--session ID] [--agent ID] or --system-event TEXT');
  const conn = await ctx.connect();
  const res = await conn.unary(CronService.method.addJob, { name: o.name, schedule, payload, enabled: !o.disabled });
  ctx.out.result(
    () => protoJson(AddJobResponseSchema, res),
    () => `Added job ${res.job?.jobId} "${res.job?.name}" (${res.job ? describeSchedule(res.job) : '-'}${res.job?.enabled ? `, next run ${isoTime(res.job.nextRunAtMs)}` : ', disabled'})`,
  );
}

async function update(ctx: CliContext, jobId: string, patch: { name?: string; enabled?: boolean; schedule?: ScheduleInit; payload?: PayloadInit }, verb: string): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(CronService.method.updateJob, { jobId, ...patch });
  ctx.out.result(
    () => protoJson(UpdateJobResponseSchema, res),
    () => `${verb} job ${jobId}${res.job ? ` "${res.job.name}" (${describeSchedule(res.job)}, ${res.job.enabled ? 'enabled' : 'disabled'})` : ''}`,
  );
}

/** `cron update <id>`: only the given options change. */
export async function cronUpdate(ctx: CliContext, jobId: string, o: CronJobOptions & { enable?: boolean }): Promise<void> {
  let schedule = scheduleFrom(o);
  let current: CronJob | undefined;
  const partialPayload = o.systemEvent === undefined && o.message === undefined && (o.session !== undefined || o.agent !== undefined);
  if (partialPayload || (o.tz !== undefined && o.cron === undefined)) {
    const conn = await ctx.connect();
    current = (await conn.unary(CronService.method.getJob, { jobId })).job;
  }
  if (!schedule && o.tz !== undefined) {
    // --tz alone: keep the current cron expression, change its zone.
    if (current?.schedule?.kind.case !== 'cron') throw errors.invalid('TZ_WITHOUT_CRON', `job ${jobId} has no cron schedule; --tz applies to --cron expressions only`);
    schedule = { kind: { case: 'cron', value: current.schedule.kind.value }, tz: o.tz };
  }
  const payload = payloadFrom(o, current);
  if (o.enable && o.disabled) throw errors.invalid('ENABLED_AMBIGUOUS', 'give either --enable or --disabled');
  const enabled = o.enable ? true : o.disabled ? false : undefined;
  if (o.name === undefined && !schedule && !payload && enabled === undefined) throw errors.invalid('NOTHING_TO_UPDATE', 'nothing to update: give --name, a schedule, a payload, --enable or --disabled');
  await update(ctx, jobId, { name: o.name, schedule, payload, enabled }, 'Updated');
}

/** `cron enable <id>` / `cron disable <id>` */
export async function cronSetEnabled(ctx: CliContext, jobId: string, enabled: boolean): Promise<void> {
  await update(ctx, jobId, { enabled }, enabled ? 'Enabled' : 'Disabled');
}

/** `cron rm <id>` */
export async function cronRemove(ctx: CliContext, jobId: string): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(CronService.method.removeJob, { jobId });
  if (!res.removed) throw errors.notFound('JOB_NOT_FOUND', `no cron job ${jobId}`);
  ctx.out.result(
    () => protoJson(RemoveJobResponseSchema, res),
    () => `Removed job ${jobId}`,
  );
}

/** `cron run <id>`: runs a job now. */
export async function cronRun(ctx: CliContext, jobId: string): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(CronService.method.runJob, { jobId });
  ctx.out.result(
    () => protoJson(RunJobResponseSchema, res),
    () => `Started run ${res.run?.runId} of job ${jobId} (${res.run?.status}); see "openclaw-cli cron runs ${jobId}"`,
  );
}

/** `cron runs <id>` */
export async function cronRuns(ctx: CliContext, jobId: string, o: { limit?: string }): Promise<void> {
  const limit = wholeNumber(o.limit, '--limit') ?? 0;
  const conn = await ctx.connect();
  const res = await conn.unary(CronService.method.listRuns, { jobId, limit });
  ctx.out.result(
    () => protoJson(ListRunsResponseSchema, res),
    () =>
      ctx.out.table(
        ['RUN', 'STATUS', 'TRIGGER', 'SCHEDULED', 'DURATION', 'RESULT'],
        res.runs.map((r) => [r.runId, r.status, r.trigger, isoTime(r.scheduledAtMs), r.finishedAtMs ? humanDuration(r.durationMs) : '-', clip(r.error || r.output || '', 50)]),
        `No runs of job ${jobId} yet.`,
      ),
  );
}

/** `cron status`: scheduler counters. */
export async function cronStatus(ctx: CliContext): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(CronService.method.getCronStatus, {});
  ctx.out.result(
    () => protoJson(GetCronStatusResponseSchema, res),
    () =>
      ctx.out.fields([
        ['jobs', `${res.jobs} (${res.enabled} enabled)`],
        ['next run', isoTime(res.nextRunAtMs)],
        ['runs pending', String(res.runsPending)],
        ['worker', res.workerConnected ? 'connected' : 'not connected'],
      ]),
  );
}
