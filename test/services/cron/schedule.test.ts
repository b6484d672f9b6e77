import { firstRunAt, nextRunAfter, parseSchedule } from '../../../src/services/cron/schedule';
import { caught } from '../helpers';

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);
const ctx = { minEveryMs: 1000, nowMs: T0 };

describe('schedule', () => {
  it('cleans up what it accepts', () => {
    expect(parseSchedule({ kind: 'cron', expr: ' 0 7 * * * ', tz: '' }, ctx)).toEqual({ kind: 'cron', expr: '0 7 * * *' });
    expect(parseSchedule({ kind: 'cron', expr: '0 7 * * *', tz: 'Asia/Tokyo', extra: 1 }, ctx)).toEqual({ kind: 'cron', expr: '0 7 * * *', tz: 'Asia/Tokyo' });
    expect(parseSchedule({ kind: 'every', everyMs: 1000 }, ctx)).toEqual({ kind: 'every', everyMs: 1000 });
    expect(parseSchedule({ kind: 'at', atMs: T0 }, ctx)).toEqual({ kind: 'at', atMs: T0 });
  });

  it('refuses a tz that is not a string', async () => {
    expect((await caught(() => parseSchedule({ kind: 'cron', expr: '* * * * *', tz: 5 }, ctx))).message).toBe('schedule: tz must be a string');
  });

  it('computes the first run of each kind', () => {
    expect(firstRunAt({ kind: 'every', everyMs: 5000 }, T0)).toBe(T0 + 5000);
    expect(firstRunAt({ kind: 'at', atMs: T0 - 1 }, T0)).toBe(T0 - 1);
    expect(firstRunAt({ kind: 'cron', expr: '30 12 * * *', tz: 'UTC' }, T0)).toBe(T0 + 30 * 60_000);
  });

  it('keeps interval jobs on their grid and skips missed periods', () => {
    const every = { kind: 'every' as const, everyMs: 10_000 };
    expect(nextRunAfter(every, T0, T0)).toBe(T0 + 10_000);
    expect(nextRunAfter(every, T0, T0 + 9_999)).toBe(T0 + 10_000);
    expect(nextRunAfter(every, T0, T0 + 10_000)).toBe(T0 + 20_000);
    expect(nextRunAfter(every, T0, T0 + 123_456)).toBe(T0 + 130_000);
  });

  it('gives one-shots no next run and cron jobs the next match after now', () => {
    expect(nextRunAfter({ kind: 'at', atMs: T0 }, T0, T0 + 1)).toBe(0);
    expect(nextRunAfter({ kind: 'cron', expr: '0 * * * *', tz: 'UTC' }, T0, T0 + 5 * 3_600_000 + 1)).toBe(T0 + 6 * 3_600_000);
  });

  it('answers "never" instead of throwing when a stored time zone is unknown', () => {
    expect(nextRunAfter({ kind: 'cron', expr: '0 * * * *', tz: 'Gone/Zone' }, T0, T0)).toBe(0);
  });
});
