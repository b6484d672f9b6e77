/** Time source passed into anything with a lifetime, so tests can move time. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock tests can set and advance. */
export class ManualClock implements Clock {
  constructor(private t: number = Date.now()) {}
  now(): number {
    return this.t;
  }
  set(ms: number): void {
    this.t = ms;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/**
 * This process's monotonic clock (milliseconds since some moment of this process, never
 * set back): for how long something lasted here, which no wall clock can say (it may be
 * set, and another machine's may be ahead or behind).
 */
export const monotonicClock: Clock = { now: () => performance.now() };
