import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { errors } from '../../errors';
import type { Logger } from '../../logging';
import type { Collection, CollectionTx, EventStaging, StoreBackend } from '../../store/collection';
import { importIntoEmpty, markLegacyImported } from '../../store/legacy-import';
import type { ProviderMessage } from '../agent/agent-provider';
import { watched, type BeatWatch } from '../liveness/beat-watch';
import { readLegacyTranscripts } from './legacy-transcripts';
import {
  chatMessageOf,
  claimBeat,
  isSessionId,
  messageId,
  SESSION_MESSAGES,
  SESSIONS,
  validateSessionRecord,
  validateTranscriptRecord,
  type ChatMessage,
  type MessageRecord,
  type SessionHead,
  type SessionRecord,
  type TranscriptRecord,
  type TurnClaim,
} from './session-records';

/** A session as stored: its directory entry and its head (an empty one before the first message). */
export interface SessionView {
  record: SessionRecord;
  head: SessionHead;
}

/** The two collections of sessions. */
export interface SessionCollections {
  sessions: Collection<SessionRecord>;
  messages: Collection<TranscriptRecord>;
}

/** How long a deleted session's head is kept as a tombstone (a claim racing the deletion is refused meanwhile). */
const TOMBSTONE_KEPT_MS = 24 * 3600_000;

/**
 * Opens the session collections. The first time a files backend opens them next to the
 * transcripts folder of an earlier release (`legacyDir`, one file per session), every
 * file is read and checked, then imported (transcripts, then the directory entries that
 * make them visible: each into its empty collection in one transaction; a crash between
 * the two leaves nothing visible half-imported and the next start imports the rest),
 * and the folder is renamed `<dir>.imported`. A broken file stops the start with the file
 * named (STATE_CORRUPT), nothing imported.
 */
export async function openSessionCollections(backend: StoreBackend, opts: { legacyDir?: string; maxKeptMessages: number }): Promise<SessionCollections> {
  const legacy = backend.kind === 'files' && opts.legacyDir ? readLegacyTranscripts(opts.legacyDir, opts.maxKeptMessages) : undefined;
  const sessions = await backend.collection(SESSIONS, validateSessionRecord);
  const messages = await backend.collection(SESSION_MESSAGES, validateTranscriptRecord);
  if (legacy && opts.legacyDir) {
    await importIntoEmpty(messages, legacy.transcripts);
    await importIntoEmpty(sessions, legacy.sessions);
    markLegacyImported(opts.legacyDir);
  }
  return { sessions, messages };
}

/** Stages the events announcing a change in the transaction that makes it. */
export type Announce = (tx: EventStaging) => void;

/** What claiming a turn needs. */
export interface ClaimRequest {
  sessionId: string;
  runId: string;
  text: string;
  now: number;
  leaseMs: number;
  maxContextMessages: number;
  maxKeptMessages: number;
}

/** What a claimed turn starts from. */
export interface ClaimedTurn {
  /** The user's message, as stored. */
  message: ChatMessage;
  /** Earlier `ok` messages (at most maxContextMessages) and the user's message, for the provider. */
  context: ProviderMessage[];
  /** A turn of a replica that stopped, whose claim ran out and was ended as lost by this claim. */
  lostRunId?: string;
}

/** What the session store is opened with. */
export interface SessionStoreOptions {
  legacyDir?: string;
  maxKeptMessages: number;
  now: number;
  log: Logger;
  /** Names this process in turn claims. */
  replica: string;
  /** Judges other replicas' claims (see `BeatWatch`); told how this store's transactions go. */
  watch: BeatWatch;
  /** How often claims of other replicas are looked at while there are any. */
  watchEveryMs: number;
}

/**
 * Sessions and transcripts in the store (see session-records.ts for the layout). Reads
 * come from the collections' local copies and never wait; every write is one
 * transaction that sees the freshest committed state, so two replicas can never run two
 * turns of one session at once nor interleave their messages.
 *
 * Whether another replica's turn claim still holds is judged by its renewals as this
 * process sees them (`held`): while the local copy shows claims of other replicas, a
 * transaction looks at them every `watchEveryMs`, which is also how the watch knows this
 * process reaches the store.
 */
export class SessionStore {
  /**
   * Deleted sessions' heads (tombstones) and when they were deleted, kept current from
   * the change feed: a sweep looks at these, not at every message.
   */
  private readonly tombstones = new Map<string, number>();
  /** Sessions with a turn claim (from the local copy). */
  private readonly claimed = new Set<string>();
  /** Of those, the ones whose claim is another replica's. */
  private readonly foreign = new Set<string>();
  private watchTimer?: NodeJS.Timeout;
  private closed = false;
  private readonly unsubscribe: () => void;

  private constructor(
    private readonly c: SessionCollections,
    private readonly opts: SessionStoreOptions,
  ) {
    this.unsubscribe = c.messages.subscribe((change) => this.noteHeads(change.ids));
    this.noteHeads(undefined);
  }

  private get log(): Logger {
    return this.opts.log;
  }

  /** Opens the collections (importing an earlier release's folder once) and finishes deletions a crash interrupted. */
  static async open(backend: StoreBackend, opts: SessionStoreOptions): Promise<SessionStore> {
    if (backend.kind !== 'files' && opts.legacyDir && existsSync(opts.legacyDir)) {
      // Imported into the state dir's own store only: say so rather than let the sessions look lost.
      opts.log.warn({ dir: opts.legacyDir }, 'session transcripts of an earlier release in this state dir are not read from a database store: copy them once with "openclaw-gateway migrate-store --to <url>"');
    }
    const store = new SessionStore(await openSessionCollections(backend, opts), opts);
    await store.sweep(opts.now);
    return store;
  }

  /**
   * Whether a claim still holds: its owner renewed it within the lease as this process
   * sees it (see `BeatWatch`). Judged on whatever record the
   * caller has (the local copy, or the committed one inside a transaction).
   */
  held(sessionId: string, turn: TurnClaim): boolean {
    const { key, beat } = claimBeat(sessionId, turn);
    return !this.opts.watch.gone(key, beat);
  }

  /** Looks at the committed claims of other replicas now (the timer does this while there are any). */
  async watchClaims(): Promise<void> {
    const ids = [...this.foreign];
    await this.tx((tx) => {
      for (const id of ids) {
        const turn = headIn(tx, id)?.turn;
        if (turn) this.held(id, turn);
      }
    });
    // Forget turns that ended.
    const keys: string[] = [];
    for (const id of this.claimed) {
      const turn = this.head(id)?.turn;
      if (turn) keys.push(claimBeat(id, turn).key);
    }
    this.opts.watch.keepOnly(keys);
  }

  /** Stops watching other replicas' claims (the collections belong to the backend). */
  close(): void {
    this.closed = true;
    this.unsubscribe();
    if (this.watchTimer) clearTimeout(this.watchTimer);
    this.watchTimer = undefined;
  }

  /** A visible session (created, not deleted), or undefined. */
  view(sessionId: string): SessionView | undefined {
    if (!isSessionId(sessionId)) return undefined;
    const record = this.c.sessions.get(sessionId);
    if (!record) return undefined;
    const head = this.head(sessionId);
    if (head?.deletedAtMs !== undefined) return undefined;
    return { record, head: head ?? emptyHead(record) };
  }

  /** Every visible session. */
  views(): SessionView[] {
    const out: SessionView[] = [];
    for (const record of this.c.sessions.list()) {
      const head = this.head(record.id);
      if (head?.deletedAtMs === undefined) out.push({ record, head: head ?? emptyHead(record) });
    }
    return out;
  }

  /** The session's head as stored now (undefined before its first message). */
  head(sessionId: string): SessionHead | undefined {
    const h = this.c.messages.get(sessionId);
    return h?.kind === 'head' ? h : undefined;
  }

  /** The last `limit` kept messages of a session (0 = all), oldest first. */
  history(head: SessionHead, limit: number): ChatMessage[] {
    const out: ChatMessage[] = [];
    for (let i = limit > 0 ? Math.max(head.first, head.next - limit) : head.first; i < head.next; i++) {
      const m = this.c.messages.get(messageId(head.id, i));
      if (m?.kind === 'message') out.push(chatMessageOf(m));
    }
    return out;
  }

  /** Stores a new session's directory entry (`announce` stages the events of that change). */
  async create(record: SessionRecord, announce?: Announce): Promise<void> {
    await this.c.sessions.mutate((tx) => {
      tx.put(record);
      announce?.(tx);
    });
  }

  /**
   * Stores a new session's directory entry unless a visible session already holds its
   * key; resolves with the record that holds the key. The check runs in the write
   * transaction, so two replicas creating the same key at once make one session.
   */
  createKeyed(record: SessionRecord & { key: string }, announce?: Announce): Promise<{ record: SessionRecord; created: boolean }> {
    return this.c.sessions.mutate((tx) => {
      const holder = tx.list().find((r) => r.key === record.key && this.head(r.id)?.deletedAtMs === undefined);
      if (holder) return { record: holder, created: false };
      tx.put(record);
      announce?.(tx);
      return { record, created: true };
    });
  }

  /**
   * Deletes a session: its messages and head (left as a tombstone) in one transaction,
   * refused with SESSION_BUSY while a turn holds it; then its directory entry. A crash
   * between the two is finished at the next start (`sweep`); meanwhile the session is
   * already gone for readers (`announce` stages the events of the first step).
   */
  async delete(sessionId: string, now: number, announce?: Announce): Promise<void> {
    await this.tx((tx) => {
      const head = headIn(tx, sessionId);
      if (head?.deletedAtMs !== undefined) return;
      if (head?.turn && this.held(sessionId, head.turn)) throw busyElsewhere(sessionId, head.turn, 'abort it before deleting');
      if (head) for (let i = head.first; i < head.next; i++) tx.delete(messageId(sessionId, i));
      const next = head?.next ?? 0;
      tx.put({ id: sessionId, kind: 'head', first: next, next, updatedAtMs: now, deletedAtMs: now });
      announce?.(tx);
    });
    await this.c.sessions.mutate((tx) => {
      tx.delete(sessionId);
    });
  }

  /**
   * Claims a turn of a session for this replica and stores the user's message, in one
   * transaction: refused with SESSION_BUSY while another claim holds (on any replica),
   * NOT_FOUND once the session is deleted. A claim that no longer holds (its replica
   * stopped renewing it) is ended here with an error entry, so the history explains the
   * missing reply. `announce` stages the events of the claim.
   */
  claim(req: ClaimRequest, announce?: Announce): Promise<ClaimedTurn> {
    const { sessionId, now } = req;
    return this.tx((tx) => {
      const head: SessionHead = headIn(tx, sessionId) ?? { id: sessionId, kind: 'head', first: 0, next: 0, updatedAtMs: now };
      if (head.deletedAtMs !== undefined) throw notFound(sessionId);
      let lostRunId: string | undefined;
      if (head.turn) {
        if (this.held(sessionId, head.turn)) throw busyElsewhere(sessionId, head.turn, 'wait for it or abort it');
        lostRunId = head.turn.runId;
        append(tx, head, {
          messageId: newMessageId(),
          role: 'assistant',
          text: `turn ${lostRunId} was lost: the gateway running it stopped before it ended`,
          tsMs: now,
          runId: lostRunId,
          status: 'error',
        });
      }
      const context: ProviderMessage[] = [];
      for (let i = head.next - 1; i >= head.first && context.length < req.maxContextMessages; i--) {
        const m = tx.get(messageId(sessionId, i));
        if (m?.kind === 'message' && m.status === 'ok') context.unshift({ role: m.role, content: m.text });
      }
      const message: ChatMessage = { messageId: newMessageId(), role: 'user', text: req.text, tsMs: now, runId: req.runId, status: 'ok' };
      append(tx, head, message);
      context.push({ role: 'user', content: req.text });
      head.turn = { runId: req.runId, replica: this.opts.replica, startedAtMs: now, beat: 0, leaseUntilMs: now + req.leaseMs };
      head.updatedAtMs = now;
      trim(tx, head, req.maxKeptMessages);
      tx.put(head);
      announce?.(tx);
      return { message, context, lostRunId };
    });
  }

  /**
   * Ends a claimed turn: stores its last message and releases the claim, in one
   * transaction. Refused (TURN_CLAIM_LOST) if the claim is no longer this turn's (this
   * replica stalled past its lease and another one took the session over). `announce`
   * stages the events of the turn's end.
   */
  finish(req: { sessionId: string; runId: string; message: Omit<ChatMessage, 'messageId'>; maxKeptMessages: number }, announce?: Announce): Promise<ChatMessage> {
    const { sessionId, runId } = req;
    return this.tx((tx) => {
      const head = headIn(tx, sessionId);
      if (!head || head.deletedAtMs !== undefined || head.turn?.runId !== runId) {
        throw errors.precondition('TURN_CLAIM_LOST', `turn ${runId} of session ${sessionId} lost its claim (this gateway did not renew it in time and the session was taken over); its end was not saved`);
      }
      const message: ChatMessage = { messageId: newMessageId(), ...req.message };
      append(tx, head, message);
      delete head.turn;
      head.updatedAtMs = message.tsMs;
      trim(tx, head, req.maxKeptMessages);
      tx.put(head);
      announce?.(tx);
      return message;
    });
  }

  /** Renews a turn's claim (its next beat); resolves with the claim as renewed, or undefined if the turn no longer holds it. */
  renew(sessionId: string, runId: string, now: number, leaseMs: number): Promise<TurnClaim | undefined> {
    return this.tx((tx) => {
      const head = headIn(tx, sessionId);
      if (!head || head.deletedAtMs !== undefined || head.turn?.runId !== runId) return undefined;
      head.turn.beat = (head.turn.beat ?? 0) + 1;
      head.turn.leaseUntilMs = now + leaseMs;
      tx.put(head);
      return head.turn;
    });
  }

  /** Asks the replica running a turn to abort it; false if that turn is not (or no longer) running. */
  requestAbort(sessionId: string, runId: string): Promise<boolean> {
    return this.tx((tx) => {
      const head = headIn(tx, sessionId);
      if (!head || head.deletedAtMs !== undefined || head.turn?.runId !== runId || !this.held(sessionId, head.turn)) return false;
      if (!head.turn.abortRequested) {
        head.turn.abortRequested = true;
        tx.put(head);
      }
      return true;
    });
  }

  /** Resolves true once turn `runId` of a session no longer holds it, false after `timeoutMs`. */
  whenTurnEnded(sessionId: string, runId: string, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const ended = () => this.head(sessionId)?.turn?.runId !== runId;
      let timer: NodeJS.Timeout | undefined;
      const off = this.c.messages.subscribe((change) => {
        if ((change.ids === undefined || change.ids.includes(sessionId)) && ended()) done(true);
      });
      const done = (result: boolean) => {
        off();
        if (timer) clearTimeout(timer);
        resolve(result);
      };
      if (ended()) return done(true);
      timer = setTimeout(() => done(false), timeoutMs);
    });
  }

  /** Calls `fn` with the session ids whose head another process changed (undefined: any may have). */
  onRemoteChange(fn: (ids: readonly string[] | undefined) => void): () => void {
    return this.c.messages.subscribe((change) => {
      if (!change.local) fn(change.ids);
    });
  }

  /** A transaction of `session_messages`, whose outcome tells the watch whether this process reaches the store. */
  private tx<R>(fn: (tx: CollectionTx<TranscriptRecord>) => R): Promise<R> {
    return watched(this.opts.watch, (f) => this.c.messages.mutate(f), fn);
  }

  /** Keeps `foreign` in line with the local copy and the watch timer running while it is not empty. */
  private noteClaims(ids: readonly string[] | undefined): void {
    const note = (id: string, turn: TurnClaim | undefined) => {
      if (turn) this.claimed.add(id);
      else this.claimed.delete(id);
      if (turn && turn.replica !== this.opts.replica) this.foreign.add(id);
      else this.foreign.delete(id);
    };
    if (ids === undefined) {
      this.claimed.clear();
      this.foreign.clear();
      for (const r of this.c.messages.list()) if (r.kind === 'head') note(r.id, r.turn);
    } else {
      for (const id of ids) if (isSessionId(id)) note(id, this.head(id)?.turn);
    }
    if (this.foreign.size > 0 && !this.watchTimer && !this.closed) this.armWatch();
  }

  private armWatch(): void {
    this.watchTimer = setTimeout(() => {
      void this.watchClaims()
        .catch((err: Error) => {
          if ((err as { reason?: string }).reason === 'STORE_CLOSED') this.closed = true;
          else this.log.debug({ err: err.message }, 'could not look at the turn claims of other replicas; trying again');
        })
        .finally(() => {
          this.watchTimer = undefined;
          if (this.foreign.size > 0 && !this.closed) this.armWatch();
        });
    }, this.opts.watchEveryMs);
    this.watchTimer.unref();
  }

  /**
   * At start and then periodically (SessionService): finishes deletions a crash
   * interrupted (a tombstone whose directory entry is still there) and forgets
   * tombstones old enough that no claim can race them. Looks only at the tombstones it
   * knows of and writes nothing when nothing is due. Returns how many tombstones it forgot.
   */
  async sweep(now: number): Promise<number> {
    const unfinished = [...this.tombstones.keys()].filter((id) => this.c.sessions.get(id) !== undefined);
    if (unfinished.length > 0) {
      await this.c.sessions.mutate((tx) => {
        for (const id of unfinished) tx.delete(id);
      });
      this.log.info({ sessions: unfinished.length }, 'finished deleting sessions whose deletion a stop interrupted');
    }
    const old = [...this.tombstones].filter(([, deletedAtMs]) => now - deletedAtMs > TOMBSTONE_KEPT_MS).map(([id]) => id);
    if (old.length === 0) return 0;
    return this.tx((tx) => {
      let n = 0;
      for (const id of old) {
        const h = headIn(tx, id);
        if (h?.deletedAtMs !== undefined && now - h.deletedAtMs > TOMBSTONE_KEPT_MS) {
          tx.delete(id);
          n++;
        }
      }
      return n;
    });
  }

  /** Follows the session heads the change feed names (undefined: anything may have changed): turn claims and tombstones. */
  private noteHeads(ids: readonly string[] | undefined): void {
    this.noteClaims(ids);
    if (ids === undefined) this.indexTombstones();
    else for (const id of ids) if (isSessionId(id)) this.noteHead(id);
  }

  /** Reads every tombstone from the local copy (at open, and when the change feed says "anything may have changed"). */
  private indexTombstones(): void {
    this.tombstones.clear();
    for (const r of this.c.messages.list()) if (r.kind === 'head' && r.deletedAtMs !== undefined) this.tombstones.set(r.id, r.deletedAtMs);
  }

  private noteHead(sessionId: string): void {
    const deletedAtMs = this.head(sessionId)?.deletedAtMs;
    if (deletedAtMs === undefined) this.tombstones.delete(sessionId);
    else this.tombstones.set(sessionId, deletedAtMs);
  }
}

/** The head of a session before its first message. */
function emptyHead(record: SessionRecord): SessionHead {
  return { id: record.id, kind: 'head', first: 0, next: 0, updatedAtMs: record.createdAtMs };
}

function headIn(tx: CollectionTx<TranscriptRecord>, sessionId: string): SessionHead | undefined {
  const h = tx.get(sessionId);
  return h?.kind === 'head' ? h : undefined;
}

/** Stages a message as the session's next one (the caller puts the head). */
function append(tx: CollectionTx<TranscriptRecord>, head: SessionHead, m: ChatMessage): void {
  const record: MessageRecord = { ...m, id: messageId(head.id, head.next), kind: 'message', sessionId: head.id, index: head.next };
  tx.put(record);
  head.next++;
}

/** Drops the oldest messages beyond the cap (the caller puts the head). */
function trim(tx: CollectionTx<TranscriptRecord>, head: SessionHead, maxKept: number): void {
  while (head.next - head.first > maxKept) {
    tx.delete(messageId(head.id, head.first));
    head.first++;
  }
}

function newMessageId(): string {
  return `msg_${randomBytes(8).toString('hex')}`;
}

function notFound(sessionId: string) {
  return errors.notFound('SESSION_NOT_FOUND', `session ${sessionId} not found`);
}

function busyElsewhere(sessionId: string, turn: TurnClaim, hint: string) {
  return errors.precondition('SESSION_BUSY', `session ${sessionId} is running turn ${turn.runId} in another gateway process (replica); ${hint}`, { runId: turn.runId });
}
