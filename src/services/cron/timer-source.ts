/** What a timer is for, so that a test driving time by hand can tell them apart. */
export type TimerPurpose = 'schedule' | 'heartbeat';

/** Where cron gets its timers, so tests can drive time by hand. */
export interface TimerSource {
  set(fn: () => void, delayMs: number, purpose: TimerPurpose): unknown;
  clear(handle: unknown): void;
}

/** Real timers, unref'd so a pending job never keeps a process alive on its own. */
export const systemTimers: TimerSource = {
  set(fn, delayMs) {
    const t = setTimeout(fn, delayMs);
    t.unref();
    return t;
  },
  clear(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};
