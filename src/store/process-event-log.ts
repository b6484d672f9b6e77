import { errors } from '../errors';
import { eventRetention, MAX_EVENT_PAGE, type EventLog, type EventLogRetention, type EventPage, type EventTailListener, type LoggedEvent, type NewEvent } from './event-log';

/**
 * The outbox of a store only one gateway process uses (files, memory): a bounded buffer
 * in this process's memory. Appending numbers the events and tells the tails at once,
 * synchronously, so a publisher's subscribers have the event when `append` returns. The
 * sequence starts again at 1 with the process: subscriptions do not outlive it either.
 */
export class ProcessEventLog implements EventLog {
  readonly shared = false;
  private readonly retention: EventLogRetention;
  /** Kept events, oldest first, from index `start` on (the front is dropped in batches). */
  private kept: LoggedEvent[] = [];
  private start = 0;
  private head = 0;
  private readonly tails = new Set<EventTailListener>();
  private closed = false;

  constructor(retention: Partial<EventLogRetention> = {}) {
    this.retention = eventRetention(retention);
  }

  append(events: readonly NewEvent[]): Promise<number[]> {
    if (this.closed) return Promise.reject(errors.unavailable('STORE_CLOSED', 'the event log is closed'));
    const batch: LoggedEvent[] = events.map((e) => ({ seq: ++this.head, type: e.type, ts: e.ts, payloadJson: e.payloadJson, origin: e.origin, id: e.id }));
    this.kept.push(...batch);
    if (batch.length > 0) this.trim(batch.reduce((t, e) => Math.max(t, e.ts), -Infinity));
    for (const t of [...this.tails]) t.events(batch);
    return Promise.resolve(batch.map((e) => e.seq));
  }

  read(afterSeq: number, limit: number): Promise<EventPage> {
    const n = Math.max(0, Math.min(limit, MAX_EVENT_PAGE));
    const keptFrom = this.keptFrom();
    // Sequences are contiguous in the buffer: the index of `afterSeq + 1` is computed, not searched.
    const from = this.start + Math.max(0, afterSeq + 1 - keptFrom);
    return Promise.resolve({ events: this.kept.slice(from, from + n).map((e) => ({ ...e })), head: this.head, keptFrom });
  }

  tail(listener: EventTailListener): { from: number; stop: () => void } {
    this.tails.add(listener);
    return { from: this.head, stop: () => this.tails.delete(listener) };
  }

  /**
   * Appends the events of a transaction that just committed (files and memory backends):
   * the tails have them before this returns. After `close` they have nowhere to go.
   */
  appendCommitted(events: readonly NewEvent[]): void {
    if (events.length === 0 || this.closed) return;
    void this.append(events);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const tails = [...this.tails];
    this.tails.clear();
    for (const t of tails) t.closed?.();
  }

  private keptFrom(): number {
    return this.kept.length > this.start ? this.kept[this.start].seq : this.head + 1;
  }

  /** Applies the retention rule (event-log.ts) with `now` the newest appended time. */
  private trim(now: number): void {
    const { keepEvents, keepMs, maxEvents } = this.retention;
    while (this.kept.length - this.start > keepEvents) {
      const size = this.kept.length - this.start;
      if (size <= maxEvents && this.kept[this.start].ts >= now - keepMs) break;
      this.start++;
    }
    // Dropped in batches, so that trimming stays O(1) per event on average.
    if (this.start > 1024 && this.start * 2 > this.kept.length) {
      this.kept = this.kept.slice(this.start);
      this.start = 0;
    }
  }
}
