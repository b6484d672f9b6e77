import { Cron } from 'croner';
import { errors } from '../../errors';

/** When a job runs: a cron expression (optionally in an IANA zone), a fixed interval, or once. */
export type CronSchedule =
  | { kind: 'cron'; expr: string; tz?: string }
  | { kind: 'every'; everyMs: number }
  | { kind: 'at'; atMs: number };

/** What a schedule is checked against. */
export interface ScheduleContext {
  /** Shortest allowed interval (the service defaults it to 1000 ms; tests lower it). */
  minEveryMs: number;
  /** The current time (from the service's Clock), for the "never fires" check. */
  nowMs: number;
}

function invalid(message: string): never {
  throw errors.invalid('INVALID_SCHEDULE', `schedule: ${message}`);
}

/**
 * Checks a schedule from a caller and returns a clean copy. Throws INVALID_ARGUMENT
 * `INVALID_SCHEDULE` with a message naming the problem (bad field, bad expression,
 * unknown time zone, an expression that never fires).
 */
export function parseSchedule(raw: unknown, ctx: ScheduleContext): CronSchedule {
  if (!raw || typeof raw !== 'object') invalid('required');
  const s = raw as Record<string, unknown>;
  switch (s.kind) {
    case 'cron': {
      if (typeof s.expr !== 'string' || s.expr.trim() === '') invalid('cron expression is required');
      const expr = s.expr.trim();
      let tz: string | undefined;
      if (s.tz !== undefined && s.tz !== null && s.tz !== '') {
        if (typeof s.tz !== 'string') invalid('tz must be a string');
        tz = s.tz;
      }
      let next: Date | null;
      try {
        // croner checks the pattern when built and the time zone only when computing.
        next = new Cron(expr, { timezone: tz, paused: true }).nextRun(new Date(ctx.nowMs));
      } catch (err) {
        invalid(`invalid cron expression "${expr}"${tz ? ` in time zone ${tz}` : ''}: ${(err as Error).message}`);
      }
      if (!next) invalid(`cron expression "${expr}" never fires`);
      return tz ? { kind: 'cron', expr, tz } : { kind: 'cron', expr };
    }
    case 'every': {
      const ms = s.everyMs;
      if (typeof ms !== 'number' || !Number.isSafeInteger(ms)) invalid('everyMs must be an integer number of milliseconds');
      if (ms < ctx.minEveryMs) invalid(`everyMs must be at least ${ctx.minEveryMs}`);
      return { kind: 'every', everyMs: ms };
    }
    case 'at': {
      const at = s.atMs;
      if (typeof at !== 'number' || !Number.isSafeInteger(at) || at <= 0) invalid('atMs must be a positive integer (Unix epoch milliseconds)');
      return { kind: 'at', atMs: at };
    }
    default:
      return invalid(`kind must be "cron", "every" or "at"`);
  }
}

/**
 * The first time a freshly set (or re-enabled) schedule fires, strictly after `nowMs`
 * for repeating kinds. A one-shot fires at its time even if that has passed, so a
 * job set a moment too late still runs once. 0 = never.
 */
export function firstRunAt(schedule: CronSchedule, nowMs: number): number {
  switch (schedule.kind) {
    case 'at':
      return schedule.atMs;
    case 'every':
      return nowMs + schedule.everyMs;
    case 'cron':
      return cronNext(schedule, nowMs);
  }
}

/**
 * The next time after a run that was due at `dueMs` and fired at `nowMs` (>= dueMs).
 * Missed periods are not made up: the job fired once for all of them, and resumes
 * on its own grid (interval: dueMs + k * everyMs; cron: the next match) after now.
 * A one-shot has no next time (0).
 */
export function nextRunAfter(schedule: CronSchedule, dueMs: number, nowMs: number): number {
  switch (schedule.kind) {
    case 'at':
      return 0;
    case 'every': {
      const periods = Math.floor((nowMs - dueMs) / schedule.everyMs) + 1;
      return dueMs + Math.max(1, periods) * schedule.everyMs;
    }
    case 'cron':
      return cronNext(schedule, nowMs);
  }
}

function cronNext(schedule: { expr: string; tz?: string }, afterMs: number): number {
  try {
    // Without a callback croner starts no timer; `paused` makes that explicit.
    const next = new Cron(schedule.expr, { timezone: schedule.tz, paused: true }).nextRun(new Date(afterMs));
    return next ? next.getTime() : 0;
  } catch {
    // Checked when the job was saved; this only happens if the runtime lost the time
    // zone since. "Never" (0) keeps one bad job from breaking every tick.
    return 0;
  }
}
