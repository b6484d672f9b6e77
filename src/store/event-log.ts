/**
 * The event outbox contract (see README.md in this folder): an append-only log of gateway
 * events numbered by one global, strictly increasing sequence, that every process of the
 * store tails. A subscriber that reconnects elsewhere resumes by reading the events after
 * its last sequence; what retention removed can no longer be resumed from.
 */

/** An event as the log holds it. */
export interface LoggedEvent {
  /** Global sequence: strictly increasing in commit order; never reused. */
  seq: number;
  type: string;
  /** When it was published, ms since the epoch (the publisher's clock). */
  ts: number;
  /** The payload, serialized once by the publisher and kept as is. */
  payloadJson: string;
  /** Which process published it (e.g. a replica id). */
  origin: string;
  /**
   * Unique per event, given by its publisher (its origin and a counter of that process):
   * an append retried after the answer to its COMMIT was lost does not store it twice.
   */
  id: string;
}

/** An event to append: everything but the sequence, which the log assigns. */
export type NewEvent = Omit<LoggedEvent, 'seq'>;

/** A bounded read of the log, consistent in itself. */
export interface EventPage {
  /** Events after the asked sequence, in order (at most the asked number). */
  events: LoggedEvent[];
  /** The last sequence assigned so far (0 for an empty log). */
  head: number;
  /**
   * The first sequence still kept: every event from here to `head` can be read. Events
   * before it may have been removed by retention (`head + 1` when nothing is kept).
   */
  keptFrom: number;
}

/** What a tail is told. */
export interface EventTailListener {
  /** New events, in sequence order, each exactly once per listener. */
  events(batch: readonly LoggedEvent[]): void;
  /**
   * Events after `after` and before `keptFrom` were removed before this process could
   * read them (it was cut off from the log for longer than retention keeps events).
   */
  lost(after: number, keptFrom: number): void;
  /** The log was closed (its store is closing): nothing more will come. */
  closed?(): void;
}

/**
 * How much the log keeps. An event is removed once it is neither among the last
 * `keepEvents` nor younger than `keepMs` (by its `ts`, against the newest appended one);
 * whatever its age, no more than `maxEvents` are kept.
 */
export interface EventLogRetention {
  keepEvents: number;
  keepMs: number;
  maxEvents: number;
}

/**
 * Defaults: a subscriber away for as long as a detached subscription lives (5 min) can
 * resume unless more than 50,000 events were published meanwhile; the last 10,000 are
 * kept however old.
 */
export const DEFAULT_EVENT_RETENTION: EventLogRetention = { keepEvents: 10_000, keepMs: 5 * 60_000, maxEvents: 50_000 };

/** The most events one `read` returns. */
export const MAX_EVENT_PAGE = 1000;

/** The outbox of one store. */
export interface EventLog {
  /**
   * False when only this process appends and tails (the files backend: one gateway owns
   * its state dir); true when other processes (replicas) share it.
   */
  readonly shared: boolean;
  /**
   * Appends events in call order and resolves with their sequences once durable and this
   * process's tails were told. An in-process log tells them before returning; a shared
   * one once committed, after every event with a smaller sequence.
   */
  append(events: readonly NewEvent[]): Promise<number[]>;
  /** Up to `limit` (at most MAX_EVENT_PAGE) events with a sequence above `afterSeq`. */
  read(afterSeq: number, limit: number): Promise<EventPage>;
  /**
   * Tells `listener` of every event after `from` (the last sequence this process had
   * delivered when it was added), in order, exactly once; `stop` ends that.
   */
  tail(listener: EventTailListener): { from: number; stop: () => void };
  /** Stops tailing and appending; events not yet appended are dropped (and their promises rejected). */
  close(): Promise<void>;
}

/** Applies a partial retention over the defaults, refusing values that would keep nothing. */
export function eventRetention(partial: Partial<EventLogRetention> = {}): EventLogRetention {
  const r = { ...DEFAULT_EVENT_RETENTION, ...partial };
  if (!(r.keepEvents >= 1) || !(r.maxEvents >= r.keepEvents) || !(r.keepMs >= 0)) {
    throw new RangeError(`event retention needs keepEvents >= 1, maxEvents >= keepEvents and keepMs >= 0 (got ${JSON.stringify(r)})`);
  }
  return r;
}
