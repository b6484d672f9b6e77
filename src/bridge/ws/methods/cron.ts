import { createHash } from 'node:crypto';
import { CronService } from '../../../gen/openclaw/cron/v1/cron_pb';
import { unaryCall } from '../../../transport/grpc/client/gateway-connection';
import { legacyErrors } from '../legacy-errors';
import { configRevision, jobToLegacy, payloadFromLegacy, runToLegacy, scheduleFromLegacy } from './cron-shapes';
import { ms, msOrUndefined, Params } from './params';
import { loadAgents } from './session-defaults';
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
  return jobToLegacy(res.job!, (await loadAgents(ctx)).defaultId);
}

async function update(ctx: MethodContext): Promise<unknown> {
  const p = Params.of(ctx.method, ctx.params);
  const jobId = jobIdOf(p);
  // Legacy clients send the changes under `patch`; accept them at the top level too.
  const patch = p.nested('patch') ?? p;
  const target = { agentId: patch.str('agentId'), sessionKey: patch.str('sessionKey') };
  const c = cron(ctx);
  const expected = p.str('expectedConfigRevision');
  if (expected) {
    // The UI edits what it last loaded: refuse when the job changed since (the real gateway's answer).
    // Checked just before the update; a change in between is not caught (UpdateJob has no precondition).
    const current = (await unaryCall(c, c.getJob, { jobId }, ctx.call)).job!;
    const actual = configRevision(current);
    if (actual !== expected) {
      throw legacyErrors.invalidRequest('cron job definition no longer matches the loaded version; review the latest version before retrying', {
        code: 'CRON_JOB_CHANGED',
        expectedConfigRevision: expected,
        actualConfigRevision: actual,
      });
    }
  }
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
  return jobToLegacy(res.job!, (await loadAgents(ctx)).defaultId);
}

const ENABLED_FILTERS = ['all', 'enabled', 'disabled'] as const;
const SCHEDULE_KINDS = ['all', 'every', 'cron', 'at'] as const;
const SORT_KEYS = ['nextRunAtMs', 'name', 'updatedAtMs', 'createdAtMs', 'lastRunAtMs'] as const;

/** One of `allowed`, or undefined when absent. */
function oneOf<T extends string>(p: Params, name: string, allowed: readonly T[]): T | undefined {
  const v = p.str(name);
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) p.fail(`${name} must be one of ${allowed.join(', ')}`);
  return v as T;
}

/** Ascending order of two optional numbers, missing last. */
function byNumber(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined) return a === b ? 0 : a === undefined ? 1 : -1;
  return a - b;
}

/**
 * `cron.list`: the jobs, whoever made them (CLI, gRPC, legacy), filtered and paged as
 * the legacy UI asks: `agentId` (a job's agent, else the default agent's, as the real
 * gateway's `effectiveAgentId`), `includeDisabled` or `enabled` (all|enabled|disabled),
 * `scheduleKind`, `query` (name), `sortBy`/`sortDir`, `limit`/`offset`. With neither
 * `includeDisabled` nor `enabled`, disabled jobs are left out.
 */
async function list(ctx: MethodContext): Promise<unknown> {
  const p = Params.of(ctx.method, ctx.params);
  const agentId = p.str('agentId');
  const enabled = oneOf(p, 'enabled', ENABLED_FILTERS) ?? (p.bool('includeDisabled') ? 'all' : 'enabled');
  const scheduleKind = oneOf(p, 'scheduleKind', SCHEDULE_KINDS) ?? 'all';
  const sortBy = oneOf(p, 'sortBy', SORT_KEYS);
  const sortDir = oneOf(p, 'sortDir', ['asc', 'desc'] as const) ?? 'asc';
  const query = p.str('query')?.toLowerCase();
  const limit = p.int('limit', 1, 200) ?? 200;
  const offset = p.int('offset', 0, Number.MAX_SAFE_INTEGER) ?? 0;
  const c = cron(ctx);
  const [res, agents] = await Promise.all([unaryCall(c, c.listJobs, {}, ctx.call), loadAgents(ctx)]);
  const rows = res.jobs.map((j) => jobToLegacy(j, agents.defaultId));
  const all = rows.filter(
    (j) =>
      (enabled === 'all' || j.enabled === (enabled === 'enabled')) &&
      (!agentId || j.effectiveAgentId === agentId) &&
      (scheduleKind === 'all' || (j.schedule as { kind: string }).kind === scheduleKind) &&
      (!query || String(j.name).toLowerCase().includes(query)),
  );
  if (sortBy) {
    const key = (j: Record<string, unknown>): number | string | undefined =>
      sortBy === 'name' ? String(j.name) : sortBy === 'lastRunAtMs' ? (j.state as { lastRunAtMs?: number }).lastRunAtMs : (j[sortBy] as number | undefined);
    const dir = sortDir === 'desc' ? -1 : 1;
    all.sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      if (typeof ka === 'string' || typeof kb === 'string') return dir * String(ka).localeCompare(String(kb));
      const missing = ka === undefined || kb === undefined;
      // Jobs without a next run go last whatever the direction.
      return missing ? byNumber(ka, kb) : dir * byNumber(ka, kb);
    });
  }
  const jobs = all.slice(offset, offset + limit);
  // The current legacy CLI pages through cron.list and wants this canonical metadata;
  // the revision changes whenever a job is added, changed or removed.
  const snapshotRevision = createHash('sha256')
    .update(res.jobs.map((j) => `${j.jobId}:${j.updatedAtMs}`).join(','))
    .digest('hex')
    .slice(0, 16);
  const hasMore = offset + jobs.length < all.length;
  return { jobs, total: all.length, offset, limit, hasMore, nextOffset: hasMore ? offset + jobs.length : null, snapshotRevision };
}

/** Most runs the gateway lists in one call (newest first); `cron.runs` pages within them. */
const RUNS_WINDOW = 500;

/**
 * `cron.runs`: run-log entries, newest first (`sortDir: "asc"` reverses), of one job
 * (`id`/`jobId`, or `scope: "job"`) or of every job (of `agentId`'s jobs when given),
 * filtered by `status`/`statuses`, paged with `limit`/`offset`.
 * Real gateway 2026.9.6: {entries, total, offset, limit, hasMore, nextOffset}.
 */
async function runs(ctx: MethodContext): Promise<unknown> {
  const p = Params.of(ctx.method, ctx.params);
  const jobId = p.str('id', 'jobId');
  const scope = oneOf(p, 'scope', ['all', 'job'] as const) ?? (jobId ? 'job' : 'all');
  if (scope === 'job' && !jobId) p.fail('id is required when scope is job');
  const agentId = p.str('agentId');
  const status = p.str('status');
  const statuses = p.strings('statuses') ?? (status && status !== 'all' ? [status] : undefined);
  const sortDir = oneOf(p, 'sortDir', ['asc', 'desc'] as const) ?? 'desc';
  const limit = p.int('limit', 1, RUNS_WINDOW) ?? 50;
  const offset = p.int('offset', 0, Number.MAX_SAFE_INTEGER) ?? 0;
  const c = cron(ctx);
  const [res, jobs, agents] = await Promise.all([
    unaryCall(c, c.listRuns, { jobId: scope === 'job' ? jobId : '', limit: RUNS_WINDOW }, ctx.call),
    unaryCall(c, c.listJobs, {}, ctx.call),
    loadAgents(ctx),
  ]);
  const jobById = new Map(jobs.jobs.map((j) => [j.jobId, jobToLegacy(j, agents.defaultId)]));
  const all = res.runs
    .map((r) => ({ run: r, job: jobById.get(r.jobId) }))
    .filter(({ run, job }) => (!agentId || job?.effectiveAgentId === agentId) && (!statuses || statuses.includes(run.status)))
    .map(({ run, job }) => ({ ...runToLegacy(run), ...(job ? { jobName: job.name } : {}) }));
  if (sortDir === 'asc') all.reverse();
  const entries = all.slice(offset, offset + limit);
  const hasMore = offset + entries.length < all.length;
  return { entries, total: all.length, offset, limit, hasMore, nextOffset: hasMore ? offset + entries.length : null };
}

/** cron.list, cron.status, cron.get, cron.runs, cron.add, cron.update, cron.remove, cron.run. */
export const CRON_METHODS: readonly LegacyMethod[] = [
  { method: 'cron.list', scope: 'operator.read', handler: list },
  {
    method: 'cron.status',
    scope: 'operator.read',
    // Real gateway 2026.9.6: {enabled, triggersEnabled, storePath, storage, sqlitePath, jobs, nextWakeAtMs}.
    // Jobs here have no script triggers; the store is the gateway's, not a path a client can use.
    handler: async (ctx) => {
      const c = cron(ctx);
      const s = await unaryCall(c, c.getCronStatus, {}, ctx.call);
      return { enabled: true, triggersEnabled: false, jobs: s.jobs, enabledJobs: s.enabled, nextWakeAtMs: msOrUndefined(s.nextRunAtMs) ?? null, runsPending: s.runsPending, workerConnected: s.workerConnected };
    },
  },
  {
    method: 'cron.get',
    scope: 'operator.read',
    handler: async (ctx) => {
      const c = cron(ctx);
      const res = await unaryCall(c, c.getJob, { jobId: jobIdOf(Params.of(ctx.method, ctx.params)) }, ctx.call);
      return jobToLegacy(res.job!, (await loadAgents(ctx)).defaultId);
    },
  },
  { method: 'cron.runs', scope: 'operator.read', handler: runs },
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
    // `mode: "force"` (the default) runs the job now; `"due"` (the UI's "Run if due") only when its next run has come.
    // Real gateway 2026.9.6: {ok:true, enqueued:true, runId, processInstanceId}; not due: {ok:true, ran:false, reason:"not-due"}.
    handler: async (ctx) => {
      const p = Params.of(ctx.method, ctx.params);
      const jobId = jobIdOf(p);
      const mode = oneOf(p, 'mode', ['force', 'due'] as const) ?? 'force';
      const c = cron(ctx);
      if (mode === 'due') {
        const job = (await unaryCall(c, c.getJob, { jobId }, ctx.call)).job!;
        const next = msOrUndefined(job.nextRunAtMs);
        if (!job.enabled || next === undefined || next > ctx.clock.now()) return { ok: true, ran: false, reason: 'not-due' };
      }
      const res = await unaryCall(c, c.runJob, { jobId }, ctx.call);
      return { ok: true, enqueued: true, ran: true, runId: res.run?.runId ?? '', scheduledAtMs: res.run ? ms(res.run.scheduledAtMs) : undefined };
    },
  },
];
