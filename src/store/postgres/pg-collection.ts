import type { Pool, PoolClient } from 'pg';
import { checkout, type CheckedOutClient } from './pg-checkout';
import { errors } from '../../errors';
import type { Logger } from '../../logging';
import { ChangeListeners, LocalCopy, SerialQueue, StagedChanges, type Collection, type CollectionChange, type CollectionTx, type StoredRecord } from '../collection';
import type { LoggedEvent } from '../event-log';
import type { PgEventLog } from './pg-event-log';

/** Deletions remembered per collection; a copy further behind than this reloads everything. */
const TOMBSTONES_KEPT = 10_000;
/** Channel name, repeated here so this module does not import the backend (no cycle). */
const CHANGES_CHANNEL = 'openclaw_changes';

/**
 * A collection in PostgreSQL. Each commit bumps the collection's version (its row in
 * `openclaw_collections`, locked FOR UPDATE: writers of one collection are serialized
 * across replicas) and stamps the rows it wrote with it, so a copy at version v catches
 * up by reading rows and tombstones newer than v, never the whole table. Catch-ups use
 * their own small pool (`reads`): writers waiting for a collection's lock hold
 * connections of the main pool, and must not delay another collection's catch-up (a
 * revocation) behind them. Events a transaction stages are written by it, into the
 * store's outbox (`PgEventLog.writeIn`).
 */
export class PgCollection<T extends StoredRecord> implements Collection<T> {
  private readonly copy = new LocalCopy<T>();
  private version = 0;
  /** Whether the copy was read in full once (at open). */
  private loaded = false;
  private readonly listeners = new ChangeListeners();
  /** In-process queue: this process's transactions and catch-ups of one collection run one at a time. */
  private readonly queue = new SerialQueue();
  private closed = false;

  constructor(
    readonly name: string,
    private readonly pool: Pool,
    private readonly reads: Pool,
    private readonly validate: (raw: unknown) => T,
    private readonly log: Logger,
    /** The store's event outbox (opened once per backend). */
    private readonly outbox: () => Promise<PgEventLog>,
  ) {}

  get(id: string): T | undefined {
    return this.copy.get(id);
  }

  list(): T[] {
    return this.copy.list();
  }

  mutate<R>(fn: (tx: CollectionTx<T>) => R): Promise<R> {
    return this.queue.run(async () => {
      if (this.closed) throw errors.unavailable('STORE_CLOSED', `collection ${this.name} is closed`);
      const outbox = await this.outbox();
      const client = await this.connect();
      let staged: StagedChanges<T> | undefined;
      let result: R;
      let newVersion = this.version;
      let caughtUp: string[] | undefined = [];
      let events: LoggedEvent[] = [];
      try {
        await client.query('BEGIN');
        await client.query('INSERT INTO openclaw_collections (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [this.name]);
        const head = await client.query<{ version: string; tombstones_from: string }>('SELECT version, tombstones_from FROM openclaw_collections WHERE name = $1 FOR UPDATE', [this.name]);
        // Under the lock: bring the copy to the committed state before the function sees it.
        caughtUp = await this.catchUpWith(client, Number(head.rows[0].version), Number(head.rows[0].tombstones_from));
        staged = new StagedChanges(this.copy.records);
        result = fn(staged);
        if (result instanceof Promise) throw new TypeError('a transaction function must not be async');
        if (!staged.empty) {
          // What could not be read back must never be written.
          for (const r of staged.puts.values()) this.validate(JSON.parse(JSON.stringify(r)));
          newVersion = this.version + 1;
          for (const r of staged.puts.values()) {
            await client.query(
              `INSERT INTO openclaw_records (collection, id, version, doc) VALUES ($1, $2, $3, $4)
               ON CONFLICT (collection, id) DO UPDATE SET version = EXCLUDED.version, doc = EXCLUDED.doc`,
              [this.name, r.id, newVersion, JSON.stringify(r)],
            );
          }
          if (staged.puts.size > 0) await client.query('DELETE FROM openclaw_tombstones WHERE collection = $1 AND id = ANY($2)', [this.name, [...staged.puts.keys()]]);
          if (staged.deletes.size > 0) {
            const ids = [...staged.deletes];
            await client.query('DELETE FROM openclaw_records WHERE collection = $1 AND id = ANY($2)', [this.name, ids]);
            await client.query(
              `INSERT INTO openclaw_tombstones (collection, id, version) SELECT $1, unnest($2::text[]), $3
               ON CONFLICT (collection, id) DO UPDATE SET version = EXCLUDED.version`,
              [this.name, ids, newVersion],
            );
          }
          let tombstonesFrom = Number(head.rows[0].tombstones_from);
          if (newVersion - tombstonesFrom > 2 * TOMBSTONES_KEPT) {
            tombstonesFrom = newVersion - TOMBSTONES_KEPT;
            await client.query('DELETE FROM openclaw_tombstones WHERE collection = $1 AND version < $2', [this.name, tombstonesFrom]);
          }
          await client.query('UPDATE openclaw_collections SET version = $2, tombstones_from = $3 WHERE name = $1', [this.name, newVersion, tombstonesFrom]);
          // Ids stay out of the payload (NOTIFY carries at most 8,000 bytes): the version says enough.
          await client.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, `${this.name}:${newVersion}`]);
        }
        if (staged.events.length > 0) {
          // What this process published on its own before is stored first (its events keep
          // their order); then the head row's lock, after this collection's (always in this order).
          await outbox.drained();
          const seqs = await outbox.writeIn(client, staged.events);
          events = staged.events.map((e, i) => ({ ...e, seq: seqs[i] }));
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        client.done(err);
        // What the copy took in before the function failed was committed by others: say so.
        if (caughtUp === undefined || caughtUp.length > 0) this.emit({ ids: caughtUp, local: false });
        throw err;
      }
      client.done();
      outbox.committed(events);
      if (caughtUp === undefined || caughtUp.length > 0) this.emit({ ids: caughtUp, local: false });
      if (staged && !staged.empty) {
        for (const [id, r] of staged.puts) this.copy.records.set(id, r);
        for (const id of staged.deletes) this.copy.records.delete(id);
        this.version = newVersion;
        this.emit({ ids: staged.ids(), local: true });
      }
      return result;
    });
  }

  subscribe(fn: (change: CollectionChange) => void): () => void {
    return this.listeners.add(fn);
  }

  /**
   * Brings the copy up to the committed version (at open: from nothing), reading only
   * what changed since its version in a read-only transaction on the catch-up pool:
   * never the collection's lock.
   */
  refresh(): Promise<void> {
    return this.catchUp();
  }

  /** Resolves once the copy holds version `v` (or a later one); rejects if catching up failed. */
  catchUpTo(v: number): Promise<void> {
    return v > this.version ? this.catchUp(v) : Promise.resolve();
  }

  /** Another replica committed version `v`: catch up (reading only what changed) unless we have it. */
  noticeRemote(v: number): void {
    if (!(v > this.version) || this.closed) return;
    this.catchUp(v).catch((err: Error) => {
      if (!this.closed) this.log.error({ err: err.message, collection: this.name }, 'catching up with another replica failed');
    });
  }

  /** One catch-up, queued behind this process's earlier transactions of the collection; `target`: skipped if the copy has it by then. */
  private catchUp(target?: number): Promise<void> {
    return this.queue.run(async () => {
      if (this.closed) throw errors.unavailable('STORE_CLOSED', `collection ${this.name} is closed`);
      if (target !== undefined && !(target > this.version)) return;
      const client = await checkout(this.reads);
      let ids: string[] | undefined = [];
      try {
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const head = await client.query<{ version: string; tombstones_from: string }>('SELECT version, tombstones_from FROM openclaw_collections WHERE name = $1', [this.name]);
        ids = await this.catchUpWith(client, Number(head.rows[0]?.version ?? 0), Number(head.rows[0]?.tombstones_from ?? 0));
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        client.done(err);
        throw err;
      } finally {
        // What the copy took in (read in one snapshot) is announced even if COMMIT then failed.
        if (ids === undefined || ids.length > 0) this.emit({ ids, local: false });
      }
      client.done();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue.idle();
  }

  /**
   * Applies what was committed after our version up to `head` (in the caller's
   * transaction). Returns the changed ids, or undefined after a full read: the first one
   * (the collection opened: every row, whatever version it carries, so a record that
   * cannot be read is refused at open), or when we were so far behind that deletions
   * were already forgotten.
   */
  private async catchUpWith(client: PoolClient, head: number, tombstonesFrom: number): Promise<string[] | undefined> {
    if (this.loaded && head === this.version) return [];
    if (!this.loaded || head < this.version || this.version < tombstonesFrom) {
      const rows = await client.query<{ id: string; doc: unknown }>('SELECT id, doc FROM openclaw_records WHERE collection = $1', [this.name]);
      const fresh = new Map<string, T>();
      for (const row of rows.rows) fresh.set(row.id, this.check(row.doc, row.id));
      this.copy.records = fresh;
      this.version = head;
      this.loaded = true;
      return undefined;
    }
    const rows = await client.query<{ id: string; doc: unknown }>('SELECT id, doc FROM openclaw_records WHERE collection = $1 AND version > $2 AND version <= $3', [this.name, this.version, head]);
    const gone = await client.query<{ id: string }>('SELECT id FROM openclaw_tombstones WHERE collection = $1 AND version > $2 AND version <= $3', [this.name, this.version, head]);
    const ids: string[] = [];
    for (const row of rows.rows) {
      this.copy.records.set(row.id, this.check(row.doc, row.id));
      ids.push(row.id);
    }
    for (const row of gone.rows) {
      this.copy.records.delete(row.id);
      ids.push(row.id);
    }
    this.version = head;
    return ids;
  }

  private check(doc: unknown, id: string): T {
    try {
      return this.validate(typeof doc === 'string' ? JSON.parse(doc) : doc);
    } catch (err) {
      throw errors.precondition('STATE_CORRUPT', `record ${id} of collection ${this.name} in the database is invalid: ${(err as Error).message}`);
    }
  }

  private connect(): Promise<CheckedOutClient> {
    return checkout(this.pool);
  }

  private emit(change: CollectionChange): void {
    this.listeners.emit(change, (err) => this.log.error({ err, collection: this.name }, 'a change listener failed'));
  }

}
