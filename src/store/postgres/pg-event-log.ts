import type { Pool, PoolClient } from 'pg';
import { errors } from '../../errors';
import type { Logger } from '../../logging';
import { SerialQueue } from '../collection';
import { eventRetention, MAX_EVENT_PAGE, type EventLog, type EventLogRetention, type EventPage, type EventTailListener, type LoggedEvent, type NewEvent } from '../event-log';
import { checkout, type CheckedOutClient } from './pg-checkout';

/** The channel new events are announced on; the payload is only the new head sequence. */
export const EVENTS_CHANNEL = 'openclaw_events';

/** Events written per transaction, at most. */
const BATCH = 500;
/** Events waiting for the database, at most; beyond, the oldest are dropped (and logged). */
const MAX_QUEUED = 20_000;
/** Retry delays of a failed append. */
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;
/** Attempts at one batch before it is dropped (about a minute and a quarter of retrying). */
const MAX_ATTEMPTS = 20;

/** Options of the PostgreSQL outbox. */
export interface PgEventLogOptions {
  pool: Pool;
  log: Logger;
  retention?: Partial<EventLogRetention>;
  /** Retention is applied when the head crosses a multiple of this (it costs a scan of what it removes). */
  retentionEvery?: number;
  /**
   * Runs inside an append's transaction once its sequences are taken, just before COMMIT
   * (tests hold a transaction open here to show that another appender waits for it).
   */
  beforeCommit?: (seqs: readonly number[]) => Promise<void>;
}

interface Queued {
  event: NewEvent;
  done: { resolve: (seqs: number[]) => void; reject: (err: unknown) => void; left: number; seqs: number[] };
  index: number;
}

/**
 * The outbox in PostgreSQL (`openclaw_events`, `openclaw_event_head`). Events that
 * announce a change are written by that change's transaction (`writeIn`, called by a
 * collection's `mutate`); events published on their own (`append`) are queued and written
 * in batches, one transaction each. Either way the next sequences come from the head row
 * (locked until COMMIT: commit order is sequence order) and NOTIFY carries the new head.
 * The backend's LISTEN connection and heartbeat call `noticeHead`; the tail then reads
 * `seq > last delivered` from the pool, in order, so a lost notification or a dropped
 * connection only delays events, never skips one.
 */
export class PgEventLog implements EventLog {
  readonly shared = true;
  private readonly retention: EventLogRetention;
  private readonly retentionEvery: number;
  private readonly tails = new Set<EventTailListener>();
  /** The last sequence delivered to the tails. */
  private position: number;
  private readonly queue: Queued[] = [];
  private writing = false;
  /** The batch being written, if any (awaited by close). */
  private inflight: Promise<void> = Promise.resolve();
  /** Failed attempts at the batch at the front of the queue. */
  private failures = 0;
  /** Catch-ups and local deliveries, one at a time, in order. */
  private readonly tailQueue = new SerialQueue();
  private closed = false;
  private retryTimer?: NodeJS.Timeout;
  /** Events queued by `append` so far, and how many of them were written (or given up). */
  private enqueued = 0;
  private settled = 0;
  /** Callers of `drained` waiting for the queue to reach a count. */
  private readonly drains = new Set<{ upTo: number; resolve: () => void }>();

  private constructor(
    private readonly opts: PgEventLogOptions,
    head: number,
  ) {
    this.retention = eventRetention(opts.retention);
    this.retentionEvery = Math.max(1, opts.retentionEvery ?? 100);
    this.position = head;
  }

  /** Opens the log; tails start after the current head. */
  static async open(opts: PgEventLogOptions): Promise<PgEventLog> {
    const res = await opts.pool.query<{ seq: string }>('SELECT seq FROM openclaw_event_head WHERE id = 1');
    return new PgEventLog(opts, Number(res.rows[0].seq));
  }

  append(events: readonly NewEvent[]): Promise<number[]> {
    if (this.closed) return Promise.reject(errors.unavailable('STORE_CLOSED', 'the event log is closed'));
    if (events.length === 0) return Promise.resolve([]);
    return new Promise<number[]>((resolve, reject) => {
      const done = { resolve, reject, left: events.length, seqs: new Array<number>(events.length) };
      events.forEach((event, index) => this.queue.push({ event, done, index }));
      this.enqueued += events.length;
      if (this.queue.length > MAX_QUEUED) {
        const dropped = this.queue.splice(0, this.queue.length - MAX_QUEUED);
        this.opts.log.error({ dropped: dropped.length }, 'the database is not taking events fast enough; dropping the oldest unwritten ones');
        const err = errors.unavailable('EVENTS_DROPPED', 'the event could not be stored in time');
        for (const q of dropped) q.done.reject(err);
        this.settle(dropped.length);
      }
      this.write();
    });
  }

  read(afterSeq: number, limit: number): Promise<EventPage> {
    return this.withClient((c) => this.readWith(c, afterSeq, limit));
  }

  /**
   * Resolves once the events `append` queued before this call are written (or given up),
   * or as soon as writing them fails (at once while it is failing): a change whose
   * transaction stages events waits for this first, so this process's events keep the
   * order they were published in, yet no transaction waits out a database outage here.
   */
  drained(): Promise<void> {
    const upTo = this.enqueued;
    if (this.settled >= upTo || this.closed || this.failures > 0) return Promise.resolve();
    return new Promise((resolve) => this.drains.add({ upTo, resolve }));
  }

  /**
   * Writes events inside the caller's open transaction (a collection's `mutate`, which
   * already holds its collection's lock: that lock, then this one, always in that order).
   * Takes the head row's lock until that transaction ends, then numbers, inserts, applies
   * retention and notifies; the caller commits, then calls `committed`.
   * `mayBeStored`: the events may already be in the log (a retry whose COMMIT answer was
   * lost); those are not stored again and keep their sequence.
   */
  async writeIn(c: PoolClient, events: readonly NewEvent[], mayBeStored = false): Promise<number[]> {
    const known = new Map<string, number>();
    if (mayBeStored) {
      // Under the head row's lock every earlier append has ended: what it stored is visible.
      await c.query('SELECT seq FROM openclaw_event_head WHERE id = 1 FOR UPDATE');
      const found = await c.query<{ id: string; seq: string }>('SELECT id, seq FROM openclaw_events WHERE id = ANY($1::text[])', [events.map((e) => e.id)]);
      for (const r of found.rows) known.set(r.id, Number(r.seq));
    }
    const fresh = events.filter((e) => !known.has(e.id));
    if (fresh.length > 0) {
      // The row lock taken here is held until COMMIT: the next appender waits for it.
      const head = await c.query<{ seq: string; kept_from: string }>('UPDATE openclaw_event_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, kept_from', [fresh.length]);
      const last = Number(head.rows[0].seq);
      const first = last - fresh.length + 1;
      fresh.forEach((e, i) => known.set(e.id, first + i));
      await c.query(
        `INSERT INTO openclaw_events (seq, id, ts, type, origin, payload)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[])`,
        [fresh.map((e) => known.get(e.id)), fresh.map((e) => e.id), fresh.map((e) => Math.floor(e.ts)), fresh.map((e) => e.type), fresh.map((e) => e.origin), fresh.map((e) => e.payloadJson)],
      );
      if (Math.floor(last / this.retentionEvery) !== Math.floor((first - 1) / this.retentionEvery)) {
        await this.applyRetention(c, last, Number(head.rows[0].kept_from), fresh.reduce((t, e) => Math.max(t, e.ts), -Infinity));
      }
      // Only the head: a NOTIFY payload is limited to 8,000 bytes; readers fetch the rows.
      await c.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, String(last)]);
    }
    return events.map((e) => known.get(e.id) as number);
  }

  /** A transaction that wrote these events (`writeIn`) committed: this process's tails get them. */
  committed(batch: readonly LoggedEvent[]): void {
    if (this.closed || batch.length === 0) return;
    void this.tailQueue.run(() => this.deliverOwn([...batch]));
  }

  tail(listener: EventTailListener): { from: number; stop: () => void } {
    this.tails.add(listener);
    return { from: this.position, stop: () => this.tails.delete(listener) };
  }

  /** Another process (or this one) committed up to `head`: deliver what we have not. */
  noticeHead(head: number): void {
    if (this.closed || !(head > this.position)) return;
    void this.tailQueue.run(() => this.catchUp(head));
  }

  /** Reads the head now and catches up (after the LISTEN connection was lost, and by the heartbeat). */
  async checkHead(): Promise<void> {
    if (this.closed) return;
    const res = await this.opts.pool.query<{ seq: string }>('SELECT seq FROM openclaw_event_head WHERE id = 1');
    this.noticeHead(Number(res.rows[0].seq));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const err = errors.unavailable('STORE_CLOSED', 'the event log closed before the event was stored');
    for (const q of this.queue.splice(0)) q.done.reject(err);
    this.releaseDrains();
    await this.inflight;
    const tails = [...this.tails];
    this.tails.clear();
    await this.tailQueue.idle();
    for (const t of tails) t.closed?.();
  }

  /** Writes queued events, a batch per transaction, until none are left. */
  private write(): void {
    if (this.writing || this.closed || this.retryTimer || this.queue.length === 0) return;
    this.writing = true;
    const batch = this.queue.splice(0, BATCH);
    // A batch written before may have committed although its COMMIT's answer was lost.
    this.inflight = this.writeBatch(batch.map((q) => q.event), this.failures > 0).then(
      (seqs) => {
        this.writing = false;
        this.failures = 0;
        this.settle(batch.length);
        const delivered = batch.map((q, i): LoggedEvent => ({ seq: seqs[i], ...q.event }));
        // Resolved once this process's tails have them too (the next batch is written meanwhile).
        void this.tailQueue
          .run(() => this.deliverOwn(delivered))
          .then(() =>
            batch.forEach((q, i) => {
              q.done.seqs[q.index] = seqs[i];
              if (--q.done.left === 0) q.done.resolve(q.done.seqs);
            }),
          );
        this.write();
      },
      (err: unknown) => {
        this.writing = false;
        this.failures++;
        // Nobody waits out an outage for these (see `drained`).
        this.releaseDrains();
        if (this.closed || this.failures >= MAX_ATTEMPTS) {
          if (!this.closed) this.opts.log.error({ err: (err as Error).message, events: batch.length }, 'storing events kept failing; dropping them');
          for (const q of batch) q.done.reject(err);
          this.settle(batch.length);
          this.failures = 0;
          this.write();
          return;
        }
        // Kept, in order, for the next attempt: publishers do not wait, and a short outage loses nothing.
        this.queue.unshift(...batch);
        const delay = Math.min(RETRY_MIN_MS * 2 ** (this.failures - 1), RETRY_MAX_MS);
        this.opts.log.error({ err: (err as Error).message, queued: this.queue.length, retryInMs: delay }, 'storing events failed; retrying');
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.write();
        }, delay);
        this.retryTimer.unref();
      },
    );
  }

  private writeBatch(events: NewEvent[], mayBeStored: boolean): Promise<number[]> {
    return this.withClient(async (c) => {
      try {
        await c.query('BEGIN');
        const seqs = await this.writeIn(c, events, mayBeStored);
        if (this.opts.beforeCommit) await this.opts.beforeCommit(seqs);
        await c.query('COMMIT');
        return seqs;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  /** `n` more queued events were written or given up: wake who waited for them. */
  private settle(n: number): void {
    this.settled += n;
    for (const d of [...this.drains]) {
      if (this.settled >= d.upTo) {
        this.drains.delete(d);
        d.resolve();
      }
    }
  }

  private releaseDrains(): void {
    for (const d of [...this.drains]) d.resolve();
    this.drains.clear();
  }

  /** The retention rule of event-log.ts, under the head row's lock. */
  private async applyRetention(c: PoolClient, head: number, keptFrom: number, now: number): Promise<void> {
    const { keepEvents, keepMs, maxEvents } = this.retention;
    const byCount = head - keepEvents + 1;
    if (byCount <= keptFrom) return;
    // Events beyond the last keepEvents go once older than keepMs: the first one to keep
    // follows the last old one (times grow with sequences, up to the replicas' clock skew).
    const old = await c.query<{ last: string | null }>('SELECT max(seq) AS last FROM openclaw_events WHERE seq >= $1 AND seq < $2 AND ts < $3', [keptFrom, byCount, now - keepMs]);
    const byAge = old.rows[0].last === null ? keptFrom : Number(old.rows[0].last) + 1;
    const from = Math.max(byAge, head - maxEvents + 1);
    if (from <= keptFrom) return;
    await c.query('DELETE FROM openclaw_events WHERE seq < $1', [from]);
    await c.query('UPDATE openclaw_event_head SET kept_from = $1 WHERE id = 1', [from]);
  }

  /** This process's committed batch: handed over directly when nothing is missing before or within it, else read. */
  private async deliverOwn(batch: LoggedEvent[]): Promise<void> {
    const last = batch[batch.length - 1].seq;
    if (this.closed || last <= this.position) return;
    // A retried batch may hold events stored before others' (their old sequences): not contiguous then.
    if (batch[0].seq === this.position + 1 && batch.every((e, i) => e.seq === batch[0].seq + i)) {
      this.position = last;
      this.emit(batch);
      return;
    }
    await this.catchUp(last);
  }

  /** Reads and delivers everything after `position`, up to at least `head`. */
  private async catchUp(head: number): Promise<void> {
    try {
      while (!this.closed && this.position < head) {
        const page = await this.read(this.position, MAX_EVENT_PAGE);
        if (this.closed) return;
        if (page.keptFrom > this.position + 1) {
          const after = this.position;
          this.position = page.keptFrom - 1;
          this.opts.log.error({ after, keptFrom: page.keptFrom }, 'events were removed by retention before this replica read them');
          for (const t of [...this.tails]) t.lost(after, page.keptFrom);
        }
        const fresh = page.events.filter((e) => e.seq > this.position);
        if (fresh.length > 0) {
          this.position = fresh[fresh.length - 1].seq;
          this.emit(fresh);
        }
        head = Math.max(head, page.head);
        if (page.events.length === 0) break;
      }
    } catch (err) {
      // The heartbeat asks again; nothing was delivered past what was read.
      this.opts.log.warn({ err: (err as Error).message }, 'reading new events failed; retrying at the next heartbeat');
    }
  }

  private emit(batch: readonly LoggedEvent[]): void {
    for (const t of [...this.tails]) {
      try {
        t.events(batch);
      } catch (err) {
        this.opts.log.error({ err }, 'an event tail failed');
      }
    }
  }

  private async readWith(c: CheckedOutClient, afterSeq: number, limit: number): Promise<EventPage> {
    try {
      // One snapshot: the head and kept_from describe exactly the rows read.
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const head = await c.query<{ seq: string; kept_from: string }>('SELECT seq, kept_from FROM openclaw_event_head WHERE id = 1');
      const rows = await c.query<{ seq: string; id: string; ts: string; type: string; origin: string; payload: string }>(
        'SELECT seq, id, ts, type, origin, payload FROM openclaw_events WHERE seq > $1 ORDER BY seq LIMIT $2',
        [Math.max(0, Math.floor(afterSeq)), Math.max(0, Math.min(limit, MAX_EVENT_PAGE))],
      );
      await c.query('COMMIT');
      return {
        events: rows.rows.map((r) => ({ seq: Number(r.seq), ts: Number(r.ts), type: r.type, origin: r.origin, payloadJson: r.payload, id: r.id })),
        head: Number(head.rows[0].seq),
        keptFrom: Number(head.rows[0].kept_from),
      };
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  private async withClient<R>(fn: (c: CheckedOutClient) => Promise<R>): Promise<R> {
    const c = await checkout(this.opts.pool);
    try {
      const r = await fn(c);
      c.done();
      return r;
    } catch (err) {
      c.done(err);
      throw err;
    }
  }
}
