import type { EventLog, NewEvent } from './event-log';
import type { StoreFreshness } from './freshness';

/**
 * The storage contract every backend implements (see README.md in this folder): records
 * of one kind with string ids, read synchronously from a local copy that the backend's
 * change feed keeps current, written through asynchronous transactions that see the
 * freshest committed state and commit atomically.
 */

/** A record kept in a collection. Records are plain JSON values; `id` is their key. */
export interface StoredRecord {
  id: string;
}

/** Where a transaction stages the events that announce its change. */
export interface EventStaging {
  /**
   * Stages an event announcing this transaction's change: it is stored if and only if the
   * change commits. PostgreSQL writes it in the same transaction as the records; the files
   * and memory backends append it to their in-process log right after the commit (one
   * process owns those events).
   */
  stageEvent(event: NewEvent): void;
}

/** What a transaction may do: read the committed state, stage changes and the events announcing them. */
export interface CollectionTx<T extends StoredRecord> extends EventStaging {
  /** The committed record (or what this transaction staged for it). */
  get(id: string): T | undefined;
  /**
   * Every record, with this transaction's staged changes applied; with `where`, only those
   * it accepts (it sees each record before it is copied out: it must only read it).
   */
  list(where?: (record: Readonly<T>) => boolean): T[];
  /** Stages a record to be written (a new one, or a new version of an existing one). */
  put(record: T): void;
  /** Stages a record to be deleted; false if there is none. */
  delete(id: string): boolean;
}

/** Who changed which records: what `subscribe` listeners receive. */
export interface CollectionChange {
  /** Ids written or deleted; `undefined` means "anything may have changed" (a reload). */
  ids?: readonly string[];
  /** Whether this process made the change itself. */
  local: boolean;
}

/** Records of one kind. */
export interface Collection<T extends StoredRecord> {
  /** The collection's name (a file name or a table name: lowercase letters, digits, `_`). */
  readonly name: string;
  /** One record from the local copy, or undefined. Never waits. */
  get(id: string): T | undefined;
  /** Every record from the local copy, in no particular order. Never waits. */
  list(): T[];
  /**
   * Runs `fn` on the freshest committed state under the collection's write lock and
   * commits what it staged as one atomic, durable step; resolves with `fn`'s result
   * once committed. If `fn` throws, nothing is written and the error is passed on.
   * `fn` must not wait on anything (it runs inside the lock). Events it staged are in the
   * store's event log when this resolves (see `EventStaging`).
   */
  mutate<R>(fn: (tx: CollectionTx<T>) => R): Promise<R>;
  /** Calls `fn` after records changed (here or in another process); returns the unsubscribe function. */
  subscribe(fn: (change: CollectionChange) => void): () => void;
  /**
   * Brings the local copy up to the committed state now (what another process or replica
   * committed a moment ago), reading only what changed, without the write lock: a read,
   * for a service that must not answer from a copy a moment behind.
   */
  refresh(): Promise<void>;
  /** Stops the change feed; the collection must not be used afterwards. */
  close(): Promise<void>;
}

/** Opens collections of one backend. */
export interface StoreBackend {
  /** Which backend this is, for messages and `status`. */
  readonly kind: 'files' | 'postgres';
  /** How current the local copies are known to be (freshness.ts); absent: always current. */
  freshness?(): StoreFreshness;
  /**
   * Opens (creating if needed) a collection; `validate` checks each record read from
   * the backend and returns it typed, or throws to say what is wrong with it.
   */
  collection<T extends StoredRecord>(name: string, validate: (raw: unknown) => T): Promise<Collection<T>>;
  /** The store's event outbox (the same one on every call; see event-log.ts). */
  eventLog(): Promise<EventLog>;
  /**
   * The clock of the server that replicas on several machines share (ms since the
   * epoch), for what must fall due at one moment on all of them; absent when the store
   * is on this machine (files).
   */
  serverTime?(): Promise<number>;
  /** Closes every collection, the event log and every connection. */
  close(): Promise<void>;
}

/** The names collections may have: safe as a file name and as an SQL identifier. */
export const COLLECTION_NAME = /^[a-z][a-z0-9_]{0,39}$/;

/** A staging area shared by the backends: the committed records plus this transaction's changes. */
export class StagedChanges<T extends StoredRecord> implements CollectionTx<T> {
  readonly puts = new Map<string, T>();
  readonly deletes = new Set<string>();
  /** Events to store with this transaction, in the order staged. */
  readonly events: NewEvent[] = [];

  constructor(private readonly committed: ReadonlyMap<string, T>) {}

  // Copies out, so that a function that changes a record in place and then throws
  // leaves the committed copy untouched.
  get(id: string): T | undefined {
    if (this.deletes.has(id)) return undefined;
    const r = this.puts.get(id) ?? this.committed.get(id);
    return r === undefined ? undefined : structuredClone(r);
  }

  list(where?: (record: Readonly<T>) => boolean): T[] {
    const out: T[] = [];
    for (const [id, r] of this.committed) if (!this.deletes.has(id) && !this.puts.has(id) && (!where || where(r))) out.push(structuredClone(r));
    for (const r of this.puts.values()) if (!where || where(r)) out.push(structuredClone(r));
    return out;
  }

  put(record: T): void {
    if (!record || typeof record.id !== 'string' || record.id === '') throw new TypeError('a stored record needs a non-empty string id');
    // A deep copy: what was staged cannot change behind the transaction's back.
    const copy = structuredClone(record);
    this.deletes.delete(copy.id);
    this.puts.set(copy.id, copy);
  }

  delete(id: string): boolean {
    const existed = this.get(id) !== undefined;
    this.puts.delete(id);
    if (this.committed.has(id)) this.deletes.add(id);
    return existed;
  }

  stageEvent(event: NewEvent): void {
    if (!event || typeof event.id !== 'string' || event.id === '' || typeof event.type !== 'string' || typeof event.payloadJson !== 'string') {
      throw new TypeError('a staged event needs an id, a type and a serialized payload');
    }
    this.events.push({ ...event });
  }

  /** Whether any record was staged (events aside). */
  get empty(): boolean {
    return this.puts.size === 0 && this.deletes.size === 0;
  }

  /** The ids this transaction touched. */
  ids(): string[] {
    return [...this.puts.keys(), ...this.deletes];
  }
}

/**
 * A backend's local copy of a collection: reads hand out copies, so that a caller that
 * changes what it got cannot change the copy behind everyone's back.
 */
export class LocalCopy<T extends StoredRecord> {
  records = new Map<string, T>();

  get(id: string): T | undefined {
    const r = this.records.get(id);
    return r === undefined ? undefined : structuredClone(r);
  }

  list(): T[] {
    return [...this.records.values()].map((r) => structuredClone(r));
  }
}

/** Runs async work one piece at a time, in call order (one collection's transactions in one process). */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<R>(fn: () => R | Promise<R>): Promise<R> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Resolves once everything queued so far has finished. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}

/** Fan-out of change notifications to a collection's subscribers (a failing listener does not stop the others). */
export class ChangeListeners {
  private readonly fns = new Set<(change: CollectionChange) => void>();

  add(fn: (change: CollectionChange) => void): () => void {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }

  emit(change: CollectionChange, onError: (err: unknown) => void): void {
    for (const fn of [...this.fns]) {
      try {
        fn(change);
      } catch (err) {
        onError(err);
      }
    }
  }
}

/**
 * A transaction over the whole collection as a plain object of records, for rules that
 * span it (e.g. "rotating a name revokes every other active device with that name").
 * `fn` changes, adds or removes entries in place; only the records that actually
 * changed are written (compared as JSON), so the cost of storing stays per change.
 */
export function mutateAll<T extends StoredRecord, R>(collection: Collection<T>, fn: (records: Record<string, T>) => R): Promise<R> {
  return collection.mutate((tx) => {
    const before = new Map<string, string>();
    const records: Record<string, T> = {};
    for (const r of tx.list()) {
      before.set(r.id, JSON.stringify(r));
      records[r.id] = r;
    }
    const result = fn(records);
    for (const [id, r] of Object.entries(records)) {
      if (r.id !== id) throw new TypeError(`record stored under "${id}" has id "${r.id}"`);
      if (before.get(id) !== JSON.stringify(r)) tx.put(r);
    }
    for (const id of before.keys()) if (!(id in records)) tx.delete(id);
    return result;
  });
}
