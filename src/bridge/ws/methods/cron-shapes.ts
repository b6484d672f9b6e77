import { createHash } from 'node:crypto';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { CronJob, CronPayloadSchema, CronRun, ScheduleSchema } from '../../../gen/openclaw/cron/v1/cron_pb';
import { ms, msOrUndefined, type Params } from './params';

type ScheduleInit = MessageInitShape<typeof ScheduleSchema>;
type PayloadInit = MessageInitShape<typeof CronPayloadSchema>;

/** A legacy schedule (`{kind:"cron",expr,tz?}`, `{kind:"every",everyMs}`, `{kind:"at",at|atMs}`) as a proto Schedule. */
export function scheduleFromLegacy(s: Params): ScheduleInit {
  const kind = s.need('kind');
  switch (kind) {
    case 'cron':
      return { kind: { case: 'cron', value: s.need('expr', 'cron') }, tz: s.str('tz') ?? '' };
    case 'every': {
      const every = s.int('everyMs', 1, Number.MAX_SAFE_INTEGER);
      if (every === undefined) s.fail('schedule.everyMs is required');
      return { kind: { case: 'everyMs', value: BigInt(every) } };
    }
    case 'at': {
      const at = s.get('at') ?? s.get('atMs');
      const when = typeof at === 'number' ? at : typeof at === 'string' ? Date.parse(at) : NaN;
      if (!Number.isSafeInteger(when) || when <= 0) s.fail('schedule.at must be an ISO time or epoch milliseconds');
      return { kind: { case: 'atMs', value: BigInt(when) } };
    }
    default:
      s.fail('schedule.kind must be cron, every or at');
  }
}

/** A legacy payload (`{kind:"agentTurn",message}` or `{kind:"systemEvent",text}`) as a proto payload. */
export function payloadFromLegacy(p: Params, extra: { agentId?: string; sessionKey?: string }): PayloadInit {
  const kind = p.need('kind');
  if (kind === 'agentTurn') {
    return { kind: { case: 'agentTurn', value: { message: p.need('message', 'text'), agentId: extra.agentId ?? p.str('agentId') ?? '', sessionKey: extra.sessionKey ?? p.str('sessionKey') ?? '' } } };
  }
  if (kind === 'systemEvent') return { kind: { case: 'systemEvent', value: { text: p.need('text', 'message') } } };
  p.fail('payload.kind must be agentTurn or systemEvent');
}

/**
 * A proto job in the legacy shape (`id`, `schedule`, `payload`, `state`, and the
 * top-level `nextRunAtMs` and `effectiveAgentId` the legacy UI sorts and filters by:
 * the job's agent, else the gateway's default agent `defaultAgentId`).
 * Real gateway 2026.9.6 (a job made by cron.add): {id, name, enabled, createdAtMs, updatedAtMs,
 * schedule:{kind:"every", everyMs, anchorMs}, sessionTarget, wakeMode, payload:{kind:"agentTurn", message},
 * delivery, state:{nextRunAtMs}, configRevision, nextRunAtMs, effectiveAgentId:"main"}.
 */
export function jobToLegacy(j: CronJob, defaultAgentId: string): Record<string, unknown> {
  const s = j.schedule?.kind;
  const schedule =
    s?.case === 'cron'
      ? { kind: 'cron', expr: s.value, ...(j.schedule!.tz ? { tz: j.schedule!.tz } : {}) }
      : s?.case === 'everyMs'
        ? { kind: 'every', everyMs: ms(s.value) }
        : s?.case === 'atMs'
          ? { kind: 'at', at: new Date(ms(s.value)).toISOString(), atMs: ms(s.value) }
          : { kind: 'unknown' };
  const p = j.payload?.kind;
  const payload =
    p?.case === 'agentTurn'
      ? { kind: 'agentTurn', message: p.value.message, ...(p.value.sessionKey ? { sessionKey: p.value.sessionKey } : {}) }
      : p?.case === 'systemEvent'
        ? { kind: 'systemEvent', text: p.value.text }
        : { kind: 'unknown' };
  const legacy = {
    id: j.jobId,
    name: j.name,
    enabled: j.enabled,
    ...(p?.case === 'agentTurn' && p.value.agentId ? { agentId: p.value.agentId } : {}),
    createdAtMs: ms(j.createdAtMs),
    updatedAtMs: ms(j.updatedAtMs),
    schedule,
    sessionTarget: p?.case === 'agentTurn' ? 'isolated' : 'main',
    wakeMode: 'now',
    payload,
    state: {
      nextRunAtMs: msOrUndefined(j.nextRunAtMs),
      lastRunAtMs: msOrUndefined(j.lastRunAtMs),
      lastStatus: j.lastStatus || undefined,
      lastRunStatus: j.lastStatus || undefined,
    },
    nextRunAtMs: msOrUndefined(j.nextRunAtMs),
    effectiveAgentId: (p?.case === 'agentTurn' && p.value.agentId) || defaultAgentId,
  };
  return { ...legacy, configRevision: configRevision(j) };
}

/**
 * The revision of a job's definition (`configRevision`, `sha256:<base64url>`): it changes
 * whenever the job is changed. The legacy UI sends it back as `expectedConfigRevision`
 * when it pauses, resumes or edits a job, and refuses to act on a job without one.
 */
export function configRevision(j: CronJob): string {
  const s = j.schedule;
  const definition = JSON.stringify([j.jobId, j.name, j.enabled, s?.kind.case, String(s?.kind.value ?? ''), s?.tz ?? '', j.payload?.kind.case, j.payload?.kind.value, String(j.updatedAtMs)], (_k, v: unknown) =>
    typeof v === 'bigint' ? String(v) : v,
  );
  return `sha256:${createHash('sha256').update(definition).digest('base64url')}`;
}

/** A proto run as a legacy run-log entry. */
export function runToLegacy(r: CronRun): Record<string, unknown> {
  return {
    ts: ms(r.finishedAtMs) || ms(r.startedAtMs) || ms(r.scheduledAtMs),
    jobId: r.jobId,
    runId: r.runId,
    action: r.status === 'ok' || r.status === 'error' ? 'finished' : r.status,
    status: r.status,
    ...(r.error ? { error: r.error } : {}),
    ...(r.output ? { summary: r.output } : {}),
    ...(r.sessionId ? { sessionId: r.sessionId } : {}),
    runAtMs: msOrUndefined(r.startedAtMs) ?? ms(r.scheduledAtMs),
    durationMs: ms(r.durationMs),
    trigger: r.trigger,
  };
}
