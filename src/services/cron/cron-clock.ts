import type { Clock } from '../../clock';
import type { Logger } from '../../logging';

/** How far this machine's clock may be from the database server's before a warning. */
export const CLOCK_WARN_MS = 1000;
/** How often the difference is measured again (either clock may be set meanwhile). */
const REMEASURE_MS = 60_000;

/** What cron's clock is built from. */
export interface CronClockDeps {
  /** This machine's clock. */
  local: Clock;
  /** This process's monotonic clock (when to measure again). */
  monotonic: Clock;
  /** The database server's clock, when replicas on several machines share it (PostgreSQL); absent: the local clock is cron's. */
  serverTime?: () => Promise<number>;
  logger: Logger;
}

/**
 * Cron's clock. On a store that replicas on several machines share (PostgreSQL), it is
 * this machine's clock moved onto the database server's: a job falls due at the same
 * moment on every replica, and one whose clock is ahead does not fire early by as much.
 * The difference is measured when cron opens (a warning when it is over a second) and
 * again every minute; a measure that fails keeps the last one. On the files backend
 * (one machine) it is the local clock.
 */
export class CronClock implements Clock {
  private offsetMs = 0;
  private measuredAt?: number;
  private measuring?: Promise<void>;

  constructor(private readonly deps: CronClockDeps) {}

  now(): number {
    return this.deps.local.now() + this.offsetMs;
  }

  /** The database's clock minus this machine's, as last measured (0 without a database). */
  get offset(): number {
    return this.offsetMs;
  }

  /** Measures the difference now (half a round trip is the error); rejects if the database does not answer. */
  async measure(): Promise<void> {
    const { serverTime, local, logger } = this.deps;
    if (!serverTime) return;
    const before = local.now();
    const server = await serverTime();
    const after = local.now();
    const offset = Math.round(server - (before + after) / 2);
    const far = Math.abs(offset) > CLOCK_WARN_MS;
    const wasFar = Math.abs(this.offsetMs) > CLOCK_WARN_MS;
    if (far && (this.measuredAt === undefined || !wasFar)) {
      logger.warn(
        { offsetMs: offset },
        `this machine's clock is ${(Math.abs(offset) / 1000).toFixed(1)} s ${offset < 0 ? 'ahead of' : 'behind'} the database server's: cron follows the database's clock (keep every replica's clock synchronised, e.g. with NTP)`,
      );
    } else if (!far && wasFar) {
      logger.info({ offsetMs: offset }, "this machine's clock is within a second of the database server's again");
    }
    this.offsetMs = offset;
    this.measuredAt = this.deps.monotonic.now();
  }

  /** Measures again in the background when the last measure is a minute old. */
  refresh(): void {
    if (!this.deps.serverTime || this.measuring) return;
    if (this.measuredAt !== undefined && this.deps.monotonic.now() - this.measuredAt < REMEASURE_MS) return;
    this.measuring = this.measure()
      .catch((err: Error) => this.deps.logger.warn({ err: err.message }, "could not read the database server's clock; cron keeps the last difference measured"))
      .finally(() => {
        this.measuring = undefined;
      });
  }
}
