import { createHash } from 'node:crypto';
import { parseName, parsePayload } from '../../services/cron/cron-input';
import { jobKey, type JobRecord } from '../../services/cron/cron-records';
import type { CronPayload, CronSchedule } from '../../services/cron/cron-types';
import { firstRunAt, parseSchedule } from '../../services/cron/schedule';
import type { ReportItem } from './report';
import type { CronRow } from './source';

/**
 * OpenClaw cron jobs -> our cron jobs: name, schedule (cron expression + time zone,
 * interval, one-shot), enabled state and payload (an agent turn, or a system event).
 * A job id here is derived from the OpenClaw job id, so importing twice finds it.
 */

/** A job ready to be stored; `seq` and `nextRunAtMs` are set when it is written. */
export interface PlannedJob {
  record: Omit<JobRecord, 'seq'>;
  item: ReportItem;
}

/** Our job id for an OpenClaw job id (stable). */
export function importedJobId(openclawJobId: string): string {
  return `job_${createHash('sha256').update(`openclaw:${openclawJobId}`).digest('hex').slice(0, 16)}`;
}

// Fields of an OpenClaw job that this gateway has no place for, said once per job when set
// to something other than OpenClaw's defaults.
const PAYLOAD_KEYS_KEPT = new Set(['kind', 'message', 'text']);

/** Plans one job; one that cannot be imported is a skipped item saying why. */
export function planJob(row: CronRow, nowMs: number): PlannedJob | ReportItem {
  const source = `${row.name} (${row.job_id})`;
  const skip = (reason: string): ReportItem => ({ kind: 'cron-job', source, outcome: 'skipped', reason });
  if (row.declaration_key) {
    return skip(`kept up by OpenClaw itself (declaration ${row.declaration_key}); OpenClaw's own maintenance has no equivalent here`);
  }
  let job: Record<string, unknown>;
  let state: Record<string, unknown>;
  try {
    job = JSON.parse(row.job_json) as Record<string, unknown>;
    state = JSON.parse(row.state_json || '{}') as Record<string, unknown>;
    if (!job || typeof job !== 'object' || !state || typeof state !== 'object') throw new Error();
  } catch {
    return skip('its stored definition is not a JSON object');
  }
  const notes: string[] = [];
  const s = job.schedule as Record<string, unknown> | undefined;
  let schedule: CronSchedule;
  try {
    if (!s || typeof s !== 'object') throw new Error('no schedule');
    let raw: unknown;
    if (s.kind === 'cron') {
      raw = { kind: 'cron', expr: s.expr, tz: s.tz };
      if (typeof s.staggerMs === 'number' && s.staggerMs > 0) notes.push(`stagger window (${s.staggerMs} ms) not kept: it fires on the expression's time`);
    } else if (s.kind === 'every') {
      raw = { kind: 'every', everyMs: s.everyMs };
      if (s.anchorMs !== undefined) notes.push('interval anchor not kept: the first run is one interval after the import');
    } else if (s.kind === 'at') {
      const atMs = typeof s.at === 'string' ? Date.parse(s.at) : typeof s.atMs === 'number' ? s.atMs : NaN;
      if (!Number.isFinite(atMs)) throw new Error(`one-shot time ${JSON.stringify(s.at ?? s.atMs)} is not a date`);
      raw = { kind: 'at', atMs };
    } else throw new Error(`schedule kind ${JSON.stringify(s.kind)} has no equivalent here (cron, every, at)`);
    schedule = parseSchedule(raw, { minEveryMs: 1000, nowMs });
  } catch (err) {
    return skip((err as Error).message);
  }

  const p = job.payload as Record<string, unknown> | undefined;
  let payload: CronPayload;
  try {
    if (!p || typeof p !== 'object') throw new Error('no payload');
    if (p.kind === 'agentTurn') {
      const agentId = typeof job.agentId === 'string' ? job.agentId : (row.agent_id ?? undefined);
      const sessionKey = typeof job.sessionKey === 'string' ? job.sessionKey : undefined;
      payload = parsePayload({ kind: 'agentTurn', message: p.message, agentId, sessionKey });
    } else if (p.kind === 'systemEvent') {
      payload = parsePayload({ kind: 'systemEvent', text: p.text });
    } else throw new Error(`payload kind "${String(p.kind)}" has no equivalent here (agent turns and system events only)`);
    const extra = Object.keys(p).filter((k) => !PAYLOAD_KEYS_KEPT.has(k) && !(k === 'toolsAllow' && JSON.stringify(p[k]) === '["*"]'));
    if (extra.length) notes.push(`payload options not carried: ${extra.join(', ')}`);
  } catch (err) {
    return skip((err as Error).message);
  }
  let name: string;
  try {
    name = parseName(job.name ?? row.name);
  } catch (err) {
    return skip((err as Error).message);
  }
  const delivery = job.delivery as Record<string, unknown> | undefined;
  if (delivery && delivery.mode && delivery.mode !== 'none') notes.push(`delivery (${String(delivery.mode)}${delivery.channel ? ` to ${String(delivery.channel)}` : ''}) not carried: a run's output stays in its run record`);
  if (payload.kind === 'agentTurn' && job.sessionTarget && job.sessionTarget !== 'isolated' && !job.sessionKey) notes.push(`session target "${String(job.sessionTarget)}" not carried: each run gets a session of its own`);
  if (job.deleteAfterRun === true) notes.push('"delete after run" not carried: the one-shot stays, disabled once it ran');

  const enabled = job.enabled === undefined ? row.enabled !== 0 : job.enabled === true;
  const lastRunAtMs = typeof state.lastRunAtMs === 'number' ? state.lastRunAtMs : 0;
  const lastStatus = state.lastStatus === 'ok' || state.lastStatus === 'error' ? state.lastStatus : '';
  const jobId = importedJobId(row.job_id);
  const createdAtMs = typeof job.createdAtMs === 'number' ? job.createdAtMs : row.updated_at;
  // A one-shot that already ran in OpenClaw does not run again.
  const ranAlready = schedule.kind === 'at' && lastRunAtMs >= schedule.atMs;
  if (ranAlready) notes.push('the one-shot already ran in OpenClaw: it will not run again');
  const record: Omit<JobRecord, 'seq'> = {
    id: jobKey(jobId),
    kind: 'job',
    activeRunId: '',
    jobId,
    name,
    enabled,
    schedule,
    payload,
    createdAtMs,
    updatedAtMs: row.updated_at || createdAtMs,
    nextRunAtMs: enabled && !ranAlready ? firstRunAt(schedule, nowMs) : 0,
    lastRunAtMs,
    lastStatus,
  };
  return { record, item: { kind: 'cron-job', source, target: jobId, outcome: 'imported', reason: describe(schedule, enabled), notes } };
}

function describe(s: CronSchedule, enabled: boolean): string {
  const when = s.kind === 'cron' ? `cron "${s.expr}"${s.tz ? ` ${s.tz}` : ''}` : s.kind === 'every' ? `every ${s.everyMs} ms` : `once at ${new Date(s.atMs).toISOString()}`;
  return `${when}${enabled ? '' : ', disabled'}`;
}
