import { createHash } from 'node:crypto';
import { CronService } from '../../../gen/openclaw/cron/v1/cron_pb';
import { unaryCall } from '../../../transport/grpc/client/gateway-connection';
import { jobToLegacy, payloadFromLegacy, runToLegacy, scheduleFromLegacy } from './cron-shapes';
import { ms, msOrUndefined, Params } from './params';
import type { LegacyMethod, MethodContext } from './types';

function cron(ctx: MethodContext) {
  return ctx.gateway.client(CronService);
}

/** Legacy clients name a job `id`; some send `jobId`. */
const jobIdOf = (p: Params): string => p.need('id', 'jobId');

async function add(ctx: MethodContext): Promise<unknown> {
  const p = Params.of(ctx.method, ctx.params);
  const target = { agentId: p.str('agentId'), sessionKey: p.str('sessionKey') };
  const c = cron(ctx);
  const res = await unaryCall(
    c,
    c.addJob,
    {
      name: p.need('name'),
      enabled: p.bool('enabled') ?? true,
      schedule: scheduleFromLegacy(p.nested('schedule', true)!),
      payload: payloadFromLegacy(p.nested('payload', true)!, target),
    },
    ctx.call,
  );
  return jobToLegacy(res.job!);
}

async function update(ctx: MethodContext): Promise<unknown> {
  const p = Params.of(ctx.method, ctx.params);
  const jobId = jobIdOf(p);
  // Legacy clients send the changes under `patch`; accept them at the top level too.
  const patch = p.nested('patch') ?? p;
  const target = { agentId: patch.str('agentId'), sessionKey: patch.str('sessionKey') };
  const c = cron(ctx);
  let payloadParams = patch.nested('payload');
  if (!payloadParams && (target.agentId || target.sessionKey)) {
    // Retargeting an agent turn without a new payload: keep the current message.
    const current = await unaryCall(c, c.getJob, { jobId }, ctx.call);
    const k = current.job?.payload?.kind;
    if (k?.case !== 'agentTurn') return patch.fail('agentId and sessionKey only apply to agentTurn jobs');
    payloadParams = Params.of(ctx.method, { kind: 'agentTurn', message: k.value.message, agentId: k.value.agentId, sessionKey: k.value.sessionKey });
  }
  const res = await unaryCall(
    c,
    c.updateJob,
    {
      jobId,
      name: patch.str('name'),
      enabled: patch.bool('enabled'),
      schedule: patch.has('schedule') ? scheduleFromLegacy(patch.nested('schedule')!) : undefined,
      payload: payloadParams ? payloadFromLegacy(payloadParams, target) : undefined,
    },
    ctx.call,
  );
  return jobToLegacy(res.job!);
}

/** cron.list, cron.status, cron.get, cron.runs, cron.add, cron.update, cron.remove, cron.run. */
export const CRON_METHODS: readonly LegacyMethod[] = [
  {
    method: 'cron.list',
    scope: 'operator.read',
    handler: async (ctx) => {
      const p = Params.of(ctx.method, ctx.params);
      const includeDisabled = p.bool('includeDisabled') ?? false;
      const agentId = p.str('agentId');
      const limit = p.int('limit', 1, 200) ?? 200;
      const offset = p.int('offset', 0, Number.MAX_SAFE_INTEGER) ?? 0;
      const c = cron(ctx);
      const res = await unaryCall(c, c.listJobs, {}, ctx.call);
      const all = res.jobs.filter((j) => (includeDisabled || j.enabled) && (!agentId || (j.payload?.kind.case === 'agentTurn' && j.payload.kind.value.agentId === agentId)));
      const jobs = all.slice(offset, offset + limit).map(jobToLegacy);
      // The current legacy CLI pages through cron.list and wants this canonical metadata;
      // the revision changes whenever a job is added, changed or removed.
      const snapshotRevision = createHash('sha256')
        .update(all.map((j) => `${j.jobId}:${j.updatedAtMs}`).join(','))
        .digest('hex')
        .slice(0, 16);
      const hasMore = offset + jobs.length < all.length;
      return { jobs, total: all.length, offset, limit, hasMore, nextOffset: hasMore ? offset + jobs.length : null, snapshotRevision };
    },
  },
  {
    method: 'cron.status',
    scope: 'operator.read',
    handler: async (ctx) => {
      const c = cron(ctx);
      const s = await unaryCall(c, c.getCronStatus, {}, ctx.call);
      return { enabled: true, jobs: s.jobs, enabledJobs: s.enabled, nextWakeAtMs: msOrUndefined(s.nextRunAtMs) ?? null, runsPending: s.runsPending, workerConnected: s.workerConnected };
    },
  },
  {
    method: 'cron.get',
    scope: 'operator.read',
    handler: async (ctx) => {
      const c = cron(ctx);
      const res = await unaryCall(c, c.getJob, { jobId: jobIdOf(Params.of(ctx.method, ctx.params)) }, ctx.call);
      return jobToLegacy(res.job!);
    },
  },
  {
    method: 'cron.runs',
    scope: 'operator.read',
    handler: async (ctx) => {
      const p = Params.of(ctx.method, ctx.params);
      const c = cron(ctx);
      const res = await unaryCall(c, c.listRuns, { jobId: p.str('id', 'jobId') ?? '', limit: p.int('limit', 1, 5000) ?? 0 }, ctx.call);
      return { entries: res.runs.map(runToLegacy) };
    },
  },
  { method: 'cron.add', scope: 'operator.admin', handler: add },
  { method: 'cron.update', scope: 'operator.admin', handler: update },
  {
    method: 'cron.remove',
    scope: 'operator.admin',
    handler: async (ctx) => {
      const c = cron(ctx);
      const res = await unaryCall(c, c.removeJob, { jobId: jobIdOf(Params.of(ctx.method, ctx.params)) }, ctx.call);
      return { ok: true, removed: res.removed };
    },
  },
  {
    method: 'cron.run',
    scope: 'operator.admin',
    handler: async (ctx) => {
      const c = cron(ctx);
      const res = await unaryCall(c, c.runJob, { jobId: jobIdOf(Params.of(ctx.method, ctx.params)) }, ctx.call);
      return { ok: true, ran: true, runId: res.run?.runId ?? '', scheduledAtMs: res.run ? ms(res.run.scheduledAtMs) : undefined };
    },
  },
];
