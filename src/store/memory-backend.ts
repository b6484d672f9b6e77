import { errors } from '../errors';
import type { EventLog, EventLogRetention, NewEvent } from './event-log';
import { ProcessEventLog } from './process-event-log';
import { ChangeListeners, COLLECTION_NAME, LocalCopy, SerialQueue, StagedChanges, type Collection, type CollectionChange, type CollectionTx, type StoreBackend, type StoredRecord } from './collection';

/**
 * Collections in this process's memory only: for tests and embedding. A gateway keeps in
 * memory only what starts over with its process anyway: with the files backend, its
 * event subscriptions (a MemoryCollection in the event hub, next to the in-process event
 * log whose sequences they refer to); everything that must outlive the process is in
 * the files or PostgreSQL backend.
 */
export class MemoryBackend implements StoreBackend {
  readonly kind = 'files' as const;
  private readonly open = new Map<string, MemoryCollection<StoredRecord>>();
  private readonly events: ProcessEventLog;

  constructor(opts: { eventRetention?: Partial<EventLogRetention> } = {}) {
    this.events = new ProcessEventLog(opts.eventRetention);
  }

  async collection<T extends StoredRecord>(name: string, validate: (raw: unknown) => T): Promise<Collection<T>> {
    if (!COLLECTION_NAME.test(name)) throw errors.invalid('BAD_COLLECTION', `collection name "${name}" is not allowed`);
    let c = this.open.get(name);
    if (!c) {
      c = new MemoryCollection<StoredRecord>(name, validate as (raw: unknown) => StoredRecord, (events) => this.events.appendCommitted(events));
      this.open.set(name, c);
    }
    return c as unknown as Collection<T>;
  }

  async eventLog(): Promise<EventLog> {
    return this.events;
  }

  async close(): Promise<void> {
    await this.events.close();
    this.open.clear();
  }
}

/**
 * One in-memory collection (lost with the process); transactions run one at a time, as
 * in the other backends. The events a transaction stages go to `committed` once it
 * applied (a collection made without it refuses them).
 */
export class MemoryCollection<T extends StoredRecord> implements Collection<T> {
  private readonly copy = new LocalCopy<T>();
  private readonly listeners = new ChangeListeners();
  private readonly queue = new SerialQueue();

  constructor(
    readonly name: string,
    private readonly validate: (raw: unknown) => T,
    private readonly committed?: (events: readonly NewEvent[]) => void,
  ) {}

  get(id: string): T | undefined {
    return this.copy.get(id);
  }

  list(): T[] {
    return this.copy.list();
  }

  mutate<R>(fn: (tx: CollectionTx<T>) => R): Promise<R> {
    return this.queue.run(() => {
      const staged = new StagedChanges(this.copy.records);
      const result = fn(staged);
      if (result instanceof Promise) throw new TypeError('a transaction function must not be async');
      if (staged.events.length > 0 && !this.committed) throw new TypeError(`collection ${this.name} has no event log to store events in`);
      // As stored elsewhere: through JSON and the validator, all of it before any of it applies.
      const checked = [...staged.puts].map(([id, r]) => [id, this.validate(JSON.parse(JSON.stringify(r)))] as const);
      for (const [id, r] of checked) this.copy.records.set(id, r);
      for (const id of staged.deletes) this.copy.records.delete(id);
      this.committed?.(staged.events);
      if (!staged.empty) this.listeners.emit({ ids: staged.ids(), local: true }, () => undefined);
      return result;
    });
  }

  subscribe(fn: (change: CollectionChange) => void): () => void {
    return this.listeners.add(fn);
  }

  async refresh(): Promise<void> {}

  async close(): Promise<void> {}
}
