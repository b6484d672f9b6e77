import { closeSync, existsSync, fstatSync, fsyncSync, ftruncateSync, openSync, readdirSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import lockfile from 'proper-lockfile';
import { errors } from '../errors';
import type { Logger } from '../logging';
import { ensureDir, fsyncDir, removeStaleTempFiles, writeFileAtomicSync } from './atomic-file';
import type { EventLog, EventLogRetention, NewEvent } from './event-log';
import { ProcessEventLog } from './process-event-log';
import { ChangeListeners, COLLECTION_NAME, LocalCopy, StagedChanges, type Collection, type CollectionChange, type CollectionTx, type StoreBackend, type StoredRecord } from './collection';
import { keepAsPreviousGeneration } from './journal-generations';
import { applyLine, FORMAT, isDamaged, lineText, readLine, snapshotText, type JournalLine } from './journal-lines';
import { recoverJournal } from './journal-recovery';

/** Compact when the journal has this many lines more than a snapshot would. */
const MIN_COMPACT_LINES = 1000;
/** How often other processes' appends are looked for when someone subscribed. */
const POLL_MS = 200;

/** Options of the files backend. */
export interface FilesBackendOptions {
  /** Folder of the journals (`<state>/store`). */
  dir: string;
  log: Logger;
  /** How long a writer waits for another process's lock before giving up. */
  lockWaitMs?: number;
  /** What the event outbox keeps (in this process's memory: one gateway owns a state dir's events). */
  eventRetention?: Partial<EventLogRetention>;
}

/** The embedded backend: one append-only journal file per collection. */
export class FilesBackend implements StoreBackend {
  readonly kind = 'files' as const;
  private readonly open = new Map<string, Promise<JournalCollection<StoredRecord>>>();
  private swept = false;
  private events?: ProcessEventLog;

  constructor(private readonly opts: FilesBackendOptions) {}

  async collection<T extends StoredRecord>(name: string, validate: (raw: unknown) => T): Promise<Collection<T>> {
    if (!COLLECTION_NAME.test(name)) throw errors.invalid('BAD_COLLECTION', `collection name "${name}" is not allowed`);
    let opening = this.open.get(name);
    if (!opening) {
      ensureDir(this.opts.dir);
      this.sweepTempFiles();
      const c = new JournalCollection<T>(name, join(this.opts.dir, `${name}.journal`), validate, this.opts.log, this.opts.lockWaitMs ?? 30_000, (events) => this.processLog().appendCommitted(events));
      opening = c.open().then(
        () => c as unknown as JournalCollection<StoredRecord>,
        async (err: unknown) => {
          await c.close();
          throw err;
        },
      );
      this.open.set(name, opening);
      // A collection that could not be opened (damaged beyond recovery) is tried afresh next time.
      opening.catch(() => this.open.delete(name));
    }
    return (await opening) as unknown as Collection<T>;
  }

  async eventLog(): Promise<EventLog> {
    return this.processLog();
  }

  private processLog(): ProcessEventLog {
    this.events ??= new ProcessEventLog(this.opts.eventRetention);
    return this.events;
  }

  async close(): Promise<void> {
    await this.events?.close();
    const opened = [...this.open.values()];
    this.open.clear();
    for (const c of await Promise.allSettled(opened)) if (c.status === 'fulfilled') await c.value.close();
  }

  /** Temp files that writers killed while compacting or recovering left here (theirs only: a live writer's are kept). */
  private sweepTempFiles(): void {
    if (this.swept) return;
    this.swept = true;
    const removed = removeStaleTempFiles(this.opts.dir, { depth: 0 });
    if (removed.length > 0) this.opts.log.warn({ dir: this.opts.dir, removed: removed.map((f) => relative(this.opts.dir, f)) }, 'removed temp files left by interrupted journal writes');
  }
}

/**
 * A collection kept in one journal file (format and crash behaviour: README.md). Reads
 * look at the file's size first (a stat), so another process's append is seen at once.
 */
export class JournalCollection<T extends StoredRecord> implements Collection<T> {
  private readonly copy = new LocalCopy<T>();
  /** Bytes of the file read so far (the end of the last complete line). */
  private offset = 0;
  private ino = -1;
  /**
   * An open handle on the file `ino` names. Holding it keeps that inode from being reused
   * for a new file while we still compare against it (two compactions by another process
   * could otherwise give the new journal our old inode number, and we would read it from
   * a wrong offset).
   */
  private pinned?: number;
  /** Complete lines in the file, to decide when to compact. */
  private lines = 0;
  private readonly listeners = new ChangeListeners();
  private poller?: NodeJS.Timeout;
  private closed = false;
  /**
   * Other processes' changes that a read or a write took in before the poller looked:
   * announced by the next poll (or after the write), so subscribers never miss one.
   * Kept only while someone subscribed.
   */
  private readonly unheard = new Set<string>();
  private unheardReload = false;
  /**
   * The first damaged line of the journal `ino` names, once a read reached it: reads stop
   * before it (serving what the lines before it hold) until the journal is recovered.
   */
  private damage?: { line: number; problem: string; recovering: boolean };

  constructor(
    readonly name: string,
    readonly path: string,
    private readonly validate: (raw: unknown) => T,
    private readonly log: Logger,
    private readonly lockWaitMs: number,
    /** Where the events a transaction staged go once it committed (this process's event log). */
    private readonly committed?: (events: readonly NewEvent[]) => void,
  ) {}

  get(id: string): T | undefined {
    this.catchUpForReading();
    return this.copy.get(id);
  }

  list(): T[] {
    this.catchUpForReading();
    return this.copy.list();
  }

  async mutate<R>(fn: (tx: CollectionTx<T>) => R): Promise<R> {
    if (this.closed) throw errors.unavailable('STORE_CLOSED', `collection ${this.name} is closed`);
    const { release, check } = await this.lock();
    let staged: StagedChanges<T>;
    let result: R;
    try {
      this.catchUp({ truncateTornTail: true });
      if (this.damage) {
        check();
        this.recoverHeld();
      }
      staged = new StagedChanges(this.copy.records);
      result = fn(staged);
      if (result instanceof Promise) throw new TypeError('a transaction function must not be async');
      if (staged.events.length > 0 && !this.committed) throw new TypeError(`collection ${this.name} has no event log to store events in`);
      if (!staged.empty) this.append(staged, check);
      // Committed (durable): its events go to this process's log now, before anything else is written.
      this.committed?.(staged.events);
      if (this.lines > Math.max(MIN_COMPACT_LINES, this.copy.records.size * 2)) {
        // The write is committed already; a failed compaction (disk full) must not say otherwise.
        try {
          check();
          this.compact();
        } catch (err) {
          this.log.warn({ collection: this.name, err: (err as Error).message }, 'compacting the journal failed; it stays as it is');
        }
      }
    } finally {
      await release().catch(() => undefined);
      // Others' changes read under the lock are announced even when this transaction failed.
      this.announce();
    }
    if (!staged.empty) this.listeners.emit({ ids: staged.ids(), local: true }, (err) => this.log.error({ err, collection: this.name }, 'a change listener failed'));
    return result;
  }

  subscribe(fn: (change: CollectionChange) => void): () => void {
    const off = this.listeners.add(fn);
    // Other processes (certs-tools next to a running gateway) are noticed by polling.
    this.poller ??= setInterval(() => {
      try {
        this.catchUpForReading();
        this.announce();
      } catch (err) {
        this.log.error({ err, collection: this.name }, 'reading the journal failed');
      }
    }, POLL_MS);
    this.poller.unref();
    return off;
  }

  /**
   * Reads what other processes appended since the last look (the whole file only if it
   * was replaced), without the write lock; only a damaged line makes it take the lock,
   * to recover the journal before answering.
   */
  async refresh(): Promise<void> {
    this.catchUp();
    if (this.damage) await this.recoverUnderLock();
    this.announce();
  }

  /** Reads the journal when the collection is opened, recovering it first if it is damaged. */
  async open(): Promise<void> {
    this.load();
    if (this.damage) await this.recoverUnderLock();
    else if (this.leftoverTemps().length > 0) {
      // Temp files of this journal belong to a writer that died compacting or recovering:
      // under the write lock nobody else can be writing one, whatever its process id says.
      const { release, check } = await this.lock();
      try {
        check();
        this.removeLeftoverTemps();
      } finally {
        await release().catch(() => undefined);
      }
    }
  }

  /** Temp files of this journal (`.<name>.journal.<pid>.<hex>.tmp`). */
  private leftoverTemps(): string[] {
    const prefix = `.${basename(this.path)}.`;
    try {
      return readdirSync(dirname(this.path)).filter((f) => f.startsWith(prefix) && f.endsWith('.tmp'));
    } catch {
      return [];
    }
  }

  /** Removes this journal's temp files; the caller holds the write lock. */
  private removeLeftoverTemps(): void {
    const removed = this.leftoverTemps();
    for (const f of removed) rmSync(join(dirname(this.path), f), { force: true });
    if (removed.length > 0) this.log.warn({ collection: this.name, removed }, 'removed temp files a writer that died left next to the journal');
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.poller) clearInterval(this.poller);
    this.unpin();
  }

  /** Reads the whole journal (at open, after a recovery). */
  private load(): void {
    this.copy.records = new Map();
    this.offset = 0;
    this.lines = 0;
    this.ino = -1;
    this.damage = undefined;
    this.catchUp();
  }

  /**
   * `catchUp` for reads (no lock held): a damaged line found is recovered in the
   * background, under the lock, while reads serve what the lines before it hold.
   */
  private catchUpForReading(): void {
    this.catchUp();
    if (this.damage && !this.damage.recovering && !this.closed) {
      this.recoverUnderLock().catch((err: unknown) =>
        this.log.error({ err, collection: this.name, file: this.path }, 'the journal is damaged and could not be recovered; reads serve the records before the damaged line, writes are refused'),
      );
    }
  }

  /** Takes the write lock and recovers the journal (unless another process did meanwhile), then reads it anew. */
  private async recoverUnderLock(): Promise<void> {
    if (this.damage) this.damage.recovering = true;
    const { release, check } = await this.lock();
    try {
      check();
      this.recoverHeld();
    } finally {
      await release().catch(() => undefined);
      this.announce();
    }
  }

  /** Recovers the journal (see journal-recovery.ts); the caller holds the write lock. */
  private recoverHeld(): void {
    // A writer that died compacting or recovering may have left its temp files too.
    this.removeLeftoverTemps();
    recoverJournal({ path: this.path, name: this.name, validate: this.validate, log: this.log });
    this.load();
  }

  /** Applies whatever was appended since the last look, remembering what subscribers have not heard yet. */
  private catchUp(opts: { truncateTornTail?: boolean } = {}): void {
    const ids = this.readNew(opts);
    if (!this.poller) return;
    if (ids === undefined) this.unheardReload = true;
    else for (const id of ids) this.unheard.add(id);
  }

  /** Tells subscribers about other processes' changes taken in since they last heard. */
  private announce(): void {
    if (!this.unheardReload && this.unheard.size === 0) return;
    const ids = this.unheardReload ? undefined : [...this.unheard];
    this.unheard.clear();
    this.unheardReload = false;
    this.listeners.emit({ ids, local: false }, (err) => this.log.error({ err, collection: this.name }, 'a change listener failed'));
  }

  /**
   * Reads whatever was appended since the last look. Returns the ids that changed,
   * `undefined` after a full reload, `[]` when nothing did.
   */
  private readNew(opts: { truncateTornTail?: boolean } = {}): string[] | undefined {
    // A cheap look first (one stat): nothing new is the common case on the hot path.
    // No exception for a missing file: collections nobody wrote yet are read on every call.
    const st = statSync(this.path, { throwIfNoEntry: false });
    if (st && st.ino === this.ino && (st.size === this.offset || this.damage)) return [];
    // Still no journal, and none seen before: nothing to read (and no failed open to pay for).
    if (!st && this.ino === -1 && this.copy.records.size === 0) return [];
    let fd: number;
    try {
      fd = openSync(this.path, opts.truncateTornTail ? 'r+' : 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (this.ino !== -1 || this.copy.records.size > 0) {
        // The journal was removed (a reset): what we hold is no longer the state.
        this.copy.records = new Map();
        this.offset = 0;
        this.lines = 0;
        this.ino = -1;
        return undefined;
      }
      return [];
    }
    try {
      // Everything below is about the file we opened (fstat), not whatever the path names
      // by now: another process may replace it (compaction) at any moment.
      const { ino, size } = fstatSync(fd);
      let reloaded = false;
      if (ino !== this.ino || size < this.offset) {
        this.copy.records = new Map();
        this.offset = 0;
        this.lines = 0;
        this.ino = ino;
        this.damage = undefined;
        this.pin();
        reloaded = true;
      }
      if (size === this.offset) return reloaded ? undefined : [];
      const buf = Buffer.alloc(size - this.offset);
      let got = 0;
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, this.offset + got);
        if (n === 0) break;
        got += n;
      }
      const text = buf.subarray(0, got).toString('utf8');
      const changed = new Set<string>();
      let pos = 0;
      for (;;) {
        const nl = text.indexOf('\n', pos);
        if (nl < 0) break;
        const line = readLine(text.slice(pos, nl), this.lines + 1, this.path, this.name, this.validate);
        if (isDamaged(line)) {
          this.damage = { line: line.line, problem: line.problem, recovering: false };
          this.log.warn({ collection: this.name, file: this.path, line: line.line, problem: line.problem }, 'the journal has a damaged line; it is recovered under the write lock');
          break;
        }
        applyLine(this.copy.records, line, changed);
        pos = nl + 1;
        this.lines++;
      }
      const consumed = Buffer.byteLength(text.slice(0, pos), 'utf8');
      this.offset += consumed;
      if (!this.damage && consumed < got && opts.truncateTornTail) {
        // A line without its newline: a write a crash cut short. Never acknowledged, so
        // dropped; cut off here (under the write lock) before the next append.
        this.log.warn({ collection: this.name, file: this.path, bytes: got - consumed }, 'dropping an incomplete last line of the journal (a write interrupted by a crash)');
        ftruncateSync(fd, this.offset);
        fsyncSync(fd);
      }
      return reloaded ? undefined : [...changed];
    } finally {
      closeSync(fd);
    }
  }

  /** Appends one committed transaction as one line and makes it durable before returning. */
  private append(staged: StagedChanges<T>, stillLocked: () => void): void {
    // What could not be read back must never be written: it would stop every later open.
    for (const r of staged.puts.values()) this.validate(JSON.parse(JSON.stringify(r)));
    stillLocked();
    // Nobody may have written since we read under the lock (a lock taken from us while we
    // stalled): then what we computed is stale, and appending it would lose their write.
    try {
      const st = statSync(this.path);
      if (st.ino !== this.ino || st.size !== this.offset) throw errors.unavailable('STATE_LOCKED', `${this.path} changed while this process held its lock; try again`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || this.ino !== -1) throw err;
    }
    const line: JournalLine = { v: FORMAT };
    if (staged.puts.size > 0) line.put = [...staged.puts.values()];
    if (staged.deletes.size > 0) line.del = [...staged.deletes];
    const bytes = Buffer.from(lineText(line), 'utf8');
    const fd = openSync(this.path, 'a', 0o600);
    try {
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      fsyncSync(fd);
      if (this.ino === -1) {
        // A new journal: its name in the folder must survive a crash as well as its bytes.
        fsyncDir(dirname(this.path));
        this.ino = fstatSync(fd).ino;
        this.pin();
      }
    } finally {
      closeSync(fd);
    }
    this.offset += bytes.length;
    this.lines++;
    for (const [id, r] of staged.puts) this.copy.records.set(id, r);
    for (const id of staged.deletes) this.copy.records.delete(id);
  }

  /**
   * Replaces the journal by one snapshot line (atomically: readers see the old or the new
   * file); the old journal becomes the previous generation (`<journal>.1`), from which a
   * damaged snapshot line can be rebuilt.
   */
  private compact(): void {
    // Under the write lock, any temp file of this journal belongs to a writer that died
    // while compacting: remove it, or it would stay forever.
    this.removeLeftoverTemps();
    // The old journal is kept once the new one is durable, right before it takes its name.
    writeFileAtomicSync(this.path, snapshotText(this.copy.records.values()), 0o600, { beforeReplace: () => keepAsPreviousGeneration(this.path) });
    const st = statSync(this.path);
    this.ino = st.ino;
    this.offset = st.size;
    this.lines = 1;
    this.pin();
  }

  /** Holds a handle on the file the path names now, if it is the one `ino` says (see `pinned`). */
  private pin(): void {
    this.unpin();
    try {
      const fd = openSync(this.path, 'r');
      if (fstatSync(fd).ino === this.ino) this.pinned = fd;
      else closeSync(fd);
    } catch {
      /* gone again: the next look reloads */
    }
  }

  private unpin(): void {
    if (this.pinned !== undefined) {
      try {
        closeSync(this.pinned);
      } catch {
        /* already closed */
      }
      this.pinned = undefined;
    }
  }

  /** The cross-process write lock of this journal, waited for without blocking the event loop. */
  private async lock(): Promise<{ release: () => Promise<void>; check: () => void }> {
    const deadline = Date.now() + this.lockWaitMs;
    // Taken over as stale after 20 s without its holder touching it (it does every 5 s), so
    // a writer that died does not block the others for long. A holder that only stalled
    // writes nothing once it lost the lock: `check` and, before appending, the file must be
    // exactly as read under the lock.
    let lost: Error | undefined;
    const check = () => {
      if (lost) throw errors.unavailable('STATE_LOCKED', `lost the lock of ${this.path} while writing (${lost.message}); try again`);
    };
    for (let step = 5; ; step = Math.min(step * 2, 100)) {
      try {
        const release = await lockfile.lock(this.path, {
          realpath: false,
          stale: 20_000,
          update: 5_000,
          lockfilePath: `${this.path}.lock`,
          onCompromised: (err) => {
            lost = err;
            this.log.error({ collection: this.name, err: err.message }, 'the journal lock was taken from this process');
          },
        });
        return { release, check };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
        if (Date.now() >= deadline) throw errors.unavailable('STATE_LOCKED', `${this.path} is locked by another process; try again`);
        await new Promise((resolve) => setTimeout(resolve, step + Math.floor(Math.random() * step)));
      }
    }
  }
}

/** Whether a folder already holds a journal for a collection (e.g. to decide on importing older state). */
export function journalExists(dir: string, name: string): boolean {
  return existsSync(join(dir, `${name}.journal`));
}
