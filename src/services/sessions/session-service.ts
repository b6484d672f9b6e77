import { randomBytes } from 'node:crypto';
import { errors, GatewayError, toGatewayError } from '../../errors';
import { monotonicClock, type Clock } from '../../clock';
import type { Logger } from '../../logging';
import type { EventStaging, StoreBackend } from '../../store/collection';
import type { EventPublisher } from '../events/event-publisher';
import { isAbortedError, type AgentProvider, type ProviderMessage } from '../agent/agent-provider';
import type { AgentDefinition } from '../agent/agent-catalog';
import { BeatWatch } from '../liveness/beat-watch';
import { abortable } from './abortable-stream';
import type { ChatMessage, ChatMessageStatus, TurnClaim } from './session-records';
import { SessionStore, type SessionView } from './session-store';

export type { ChatMessage, ChatMessageStatus, ChatRole } from './session-records';

/** A session as callers see it (mirrors `openclaw.sessions.v1.Session`). */
export interface SessionInfo {
  sessionId: string;
  label: string;
  agentId: string;
  createdAtMs: number;
  updatedAtMs: number;
  messageCount: number;
  /** Whether an agent turn is running right now. */
  busy: boolean;
  /** The key it was created with ('' if none). */
  key: string;
}

/** Output stream of a turn: lifecycle markers, assistant text, or the error that ended it. */
export type AgentOutputStream = 'lifecycle' | 'assistant' | 'error';

/** Lifecycle phase of a turn ('' on assistant deltas). */
export type AgentOutputPhase = 'start' | 'end' | 'error' | 'aborted';

/**
 * One chunk of a turn's output (mirrors `openclaw.sessions.v1.AgentOutput`; unset
 * strings are '' so the gRPC layer copies fields one to one).
 */
export interface AgentOutput {
  runId: string;
  sessionId: string;
  stream: AgentOutputStream;
  phase: AgentOutputPhase | '';
  /** Incremental assistant text (assistant stream). */
  delta: string;
  /** Whole assistant text so far; set on `end` and `aborted`. */
  text: string;
  /** 1, 2, 3... within the run. */
  seq: number;
  tsMs: number;
  /** Safe error message (error stream). */
  error: string;
  /** The output repeats a recent turn's state for a send that named that turn again (no turn started). */
  replayed: boolean;
}

/** What a session needs from the agent catalog (AgentCatalog satisfies it). */
export interface AgentResolver {
  resolve(agentId?: string): { agent: AgentDefinition; provider: AgentProvider };
}

/** Limits of the session service. */
export interface SessionLimits {
  /** Largest user message in UTF-8 bytes (default 64 KiB). */
  maxMessageBytes: number;
  /** How many earlier messages are sent to the provider with each turn (default 50). */
  maxContextMessages: number;
  /** Longest label in characters (default 200). */
  maxLabelLength: number;
  /** Messages kept per session (default 1000); beyond it the oldest are dropped. */
  maxKeptMessages: number;
  /**
   * How long a turn's claim holds without being renewed, as another replica sees it on its
   * own clock while it reaches the store (default 30 s); the owner renews it every third
   * of that.
   */
  turnLeaseMs: number;
  /** How long aborting a turn that runs on another replica waits for it to end (default 5 s). */
  abortWaitMs: number;
  /** How often deleted sessions' tombstones are looked at, to forget those older than a day (default hourly). */
  tombstoneSweepMs: number;
}

/** Default limits. */
export const DEFAULT_SESSION_LIMITS: SessionLimits = Object.freeze({
  maxMessageBytes: 64 * 1024,
  maxContextMessages: 50,
  maxLabelLength: 200,
  maxKeptMessages: 1000,
  turnLeaseMs: 30_000,
  abortWaitMs: 5000,
  tombstoneSweepMs: 3600_000,
});

/** What the session service is built from. */
export interface SessionServiceDeps {
  /** Where sessions and transcripts live (collections `sessions` and `session_messages`), shared by replicas on PostgreSQL. */
  store: StoreBackend;
  /** The one-file-per-session transcripts folder of earlier releases, imported once (files backend only). */
  legacyDir?: string;
  agents: AgentResolver;
  clock: Clock;
  /** This process's monotonic clock, for how long another replica's claim went unrenewed (default: `monotonicClock`). */
  monotonic?: Clock;
  events: EventPublisher;
  logger: Logger;
  limits?: Partial<SessionLimits>;
}

/** Per-send options. */
export interface SendOptions {
  /** Receives every output of the turn, in order, synchronously as it happens. */
  onOutput?: (output: AgentOutput) => void;
  /** A retry with the same key (same session, same process) gets the first send's result instead of a second turn. */
  idempotencyKey?: string;
  /**
   * Names the turn's run (default `run_<hex>`). A run id names one turn: a send naming a
   * run this process remembers starts nothing and replays that turn (ended well or not),
   * whichever session it names.
   */
  runId?: string;
}

/** Payload of `sessions.changed`. */
export interface SessionsChangedEvent {
  sessionId: string;
  reason: 'created' | 'deleted' | 'turn.started' | 'turn.finished';
}

/** A turn running in this process. */
interface ActiveTurn {
  sessionId: string;
  /** The session's key, or its id when it has none (what the legacy events name it by). */
  sessionKey: string;
  runId: string;
  controller: AbortController;
  agent: AgentDefinition;
  provider: AgentProvider;
  text: string;
  /** Settles once the turn ended and its end was written (or failed to be). */
  done: Promise<unknown>;
}

/** A turn remembered for sends that name it again (by run id or idempotency key). */
interface RecentTurn {
  sessionId: string;
  runId: string;
  startedAtMs: number;
  /** Whether the run id was the caller's: such a turn is remembered even when it failed. */
  named: boolean;
  ended: boolean;
  /** Its last output (end, aborted or error), once emitted. */
  last?: AgentOutput;
  result: Promise<ChatMessage>;
}

/** Idempotency keys remembered per process; old ones fall out first. */
const MAX_IDEMPOTENCY_KEYS = 512;

/** Run ids callers may choose: printable ASCII without spaces (legacy idempotency keys are UUIDs and the like). */
const RUN_ID = /^[\x21-\x7e]{1,200}$/;
/** Longest session key. */
const MAX_KEY_LENGTH = 256;

/**
 * Chat sessions with agents: create, list, describe, delete, history, and `send`, which
 * runs one agent turn and streams its output. Sessions and transcripts live in the
 * gateway's store (SessionStore): reads come from its local copy and never wait, and a
 * session created, written or deleted through one replica is seen by the others.
 *
 * A turn runs in the process that received `send`, in memory; its user message is
 * stored (with a claim on the session) before the provider is asked, and its reply
 * when the turn ends. One turn at a time per session, across replicas: a transcript is
 * an ordered conversation, and a second turn started before the first ends would be
 * answered without seeing it, so a concurrent send is refused with `SESSION_BUSY`.
 * A turn running on another replica is aborted through its claim (the owner watches it).
 */
export class SessionService {
  private readonly limits: SessionLimits;
  private readonly active = new Map<string, ActiveTurn>();
  private readonly recent = new Map<string, RecentTurn>();
  private readonly sweeper: NodeJS.Timeout;

  private constructor(
    private readonly deps: SessionServiceDeps,
    private readonly store: SessionStore,
    limits: SessionLimits,
  ) {
    this.limits = limits;
    this.sweeper = setInterval(() => {
      this.sweepTombstones().catch((err: unknown) => {
        if (!(err instanceof GatewayError && err.reason === 'STORE_CLOSED')) deps.logger.warn({ err: (err as Error).message }, 'sweeping deleted sessions failed; trying again later');
      });
    }, limits.tombstoneSweepMs);
    this.sweeper.unref();
    // Another replica asking to abort a turn of ours writes it into the turn's claim.
    store.onRemoteChange((ids) => {
      for (const turn of this.active.values()) if (ids === undefined || ids.includes(turn.sessionId)) this.followAbortRequest(turn);
    });
  }

  /** Opens the sessions of a store (importing an earlier release's transcripts folder once). */
  static async open(deps: SessionServiceDeps): Promise<SessionService> {
    const limits = { ...DEFAULT_SESSION_LIMITS, ...deps.limits };
    const renewEveryMs = Math.max(1, Math.floor(limits.turnLeaseMs / 3));
    const watch = new BeatWatch({ clock: deps.monotonic ?? monotonicClock, leaseMs: limits.turnLeaseMs, beatEveryMs: renewEveryMs });
    const store = await SessionStore.open(deps.store, {
      legacyDir: deps.legacyDir,
      maxKeptMessages: limits.maxKeptMessages,
      now: deps.clock.now(),
      log: deps.logger,
      replica: `rep_${randomBytes(6).toString('hex')}`,
      watch,
      watchEveryMs: Math.max(1, Math.floor(limits.turnLeaseMs / 6)),
    });
    return new SessionService(deps, store, limits);
  }

  /** Looks at other replicas' turn claims now (a timer does this while there are any); for tests driving time by hand. */
  watchClaims(): Promise<void> {
    return this.store.watchClaims();
  }

  /** Stops watching other replicas' turn claims (at shutdown, after `abortAll`). */
  close(): void {
    this.store.close();
  }

  /** Creates an empty session for an agent (empty = default agent; unknown -> `UNKNOWN_AGENT`). */
  async create(input: { label?: string; agentId?: string } = {}): Promise<SessionInfo> {
    if (input.label !== undefined && typeof input.label !== 'string') throw errors.invalid('INVALID_LABEL', 'label must be a string');
    const label = (input.label ?? '').trim();
    if (label.length > this.limits.maxLabelLength) {
      throw errors.invalid('INVALID_LABEL', `label is longer than ${this.limits.maxLabelLength} characters`);
    }
    const { agent } = this.deps.agents.resolve(input.agentId);
    const record = { id: `sess_${randomBytes(8).toString('hex')}`, label, agentId: agent.agentId, createdAtMs: this.deps.clock.now() };
    await this.store.create(record, (tx) => this.changed(tx, record.id, 'created'));
    return this.info({ record, head: { id: record.id, kind: 'head', first: 0, next: 0, updatedAtMs: record.createdAtMs } });
  }

  /**
   * The session holding `key`, created (empty, for an agent) if none does: keys name a
   * session for good, so every replica resolves one key to the same session.
   */
  async createWithKey(key: string, input: { label?: string; agentId?: string } = {}): Promise<{ session: SessionInfo; created: boolean }> {
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH || /[\u0000-\u001f\u007f]/.test(key)) {
      throw errors.invalid('INVALID_SESSION_KEY', `a session key has 1 to ${MAX_KEY_LENGTH} characters and no control characters`);
    }
    const label = (input.label ?? '').trim();
    if (label.length > this.limits.maxLabelLength) throw errors.invalid('INVALID_LABEL', `label is longer than ${this.limits.maxLabelLength} characters`);
    const existing = this.store.views().find((v) => v.record.key === key);
    if (existing) return { session: this.info(existing), created: false };
    const { agent } = this.deps.agents.resolve(input.agentId);
    const id = `sess_${randomBytes(8).toString('hex')}`;
    const { record, created } = await this.store.createKeyed({ id, label, agentId: agent.agentId, createdAtMs: this.deps.clock.now(), key }, (tx) => this.changed(tx, id, 'created'));
    const view = this.store.view(record.id);
    return { session: this.info(view ?? { record, head: { id: record.id, kind: 'head', first: 0, next: 0, updatedAtMs: record.createdAtMs } }), created };
  }

  /** All sessions, most recently active first. */
  list(): SessionInfo[] {
    return this.store
      .views()
      .map((v) => this.info(v))
      .sort((a, b) => b.updatedAtMs - a.updatedAtMs || a.sessionId.localeCompare(b.sessionId));
  }

  /** One session; NOT_FOUND `SESSION_NOT_FOUND` if unknown. */
  describe(sessionId: string): SessionInfo {
    return this.info(this.view(sessionId));
  }

  /** Deletes a session and its transcript. Refused with `SESSION_BUSY` while a turn runs, here or on another replica (abort it first). */
  async delete(sessionId: string): Promise<boolean> {
    this.view(sessionId);
    if (this.active.has(sessionId)) {
      throw errors.precondition('SESSION_BUSY', `session ${sessionId} is running a turn; abort it before deleting`);
    }
    await this.store.delete(sessionId, this.deps.clock.now(), (tx) => this.changed(tx, sessionId, 'deleted'));
    return true;
  }

  /** The last `limit` messages, oldest first (0 or absent = all kept). */
  history(sessionId: string, limit = 0): ChatMessage[] {
    if (!Number.isInteger(limit) || limit < 0) throw errors.invalid('INVALID_LIMIT', 'limit must be a non-negative integer');
    return this.store.history(this.view(sessionId).head, limit);
  }

  /**
   * Runs one agent turn: stores the user message (claiming the session), streams the
   * provider's reply as outputs (lifecycle start, assistant deltas, lifecycle end),
   * stores the reply, and resolves with it. An aborted turn resolves with the partial
   * reply (status `aborted`, final output phase `aborted`). A provider failure emits an
   * `error` output, stores an assistant entry with status `error`, and rejects with the
   * provider's GatewayError; the session stays usable.
   */
  async send(sessionId: string, text: string, options: SendOptions = {}): Promise<ChatMessage> {
    const named = options.runId !== undefined && options.runId !== '';
    if (named && (typeof options.runId !== 'string' || !RUN_ID.test(options.runId))) {
      throw errors.invalid('INVALID_RUN_ID', 'a run id has 1 to 200 printable ASCII characters and no spaces');
    }
    const keys = [...(named ? [`run\u0000${options.runId}`] : []), ...(options.idempotencyKey ? [`${sessionId}\u0000${options.idempotencyKey}`] : [])];
    for (const k of keys) {
      const earlier = this.recent.get(k);
      if (earlier) return this.replay(earlier, options.onOutput);
    }
    // Everything up to here and in reserve() is synchronous, so no second send can slip in.
    const turn = this.reserve(sessionId, text, named ? options.runId : undefined);
    const recent: RecentTurn = {
      sessionId,
      runId: turn.runId,
      startedAtMs: this.deps.clock.now(),
      named,
      ended: false,
      result: this.runTurn(turn, (o) => {
        if (o.phase === 'end' || o.phase === 'aborted' || o.phase === 'error') recent.last = o;
        options.onOutput?.(o);
      }),
    };
    const { result } = recent;
    turn.done = result.catch(() => undefined);
    for (const k of keys) {
      this.recent.set(k, recent);
      if (this.recent.size > MAX_IDEMPOTENCY_KEYS) this.recent.delete(this.recent.keys().next().value as string);
    }
    result.then(
      () => (recent.ended = true),
      () => {
        recent.ended = true;
        // A failed turn may be retried with the same idempotency key; a named run stays what it was.
        if (!named) for (const k of keys) if (this.recent.get(k) === recent) this.recent.delete(k);
      },
    );
    return result;
  }

  /**
   * Answers a send that named a remembered turn: replays its state through `onOutput`
   * (a `start` while it runs, then its last output once it ended) and settles like it.
   * A run id names the turn whichever session the send names (as the legacy gateway
   * treats an idempotency key); the outputs name the turn's own session.
   */
  private async replay(earlier: RecentTurn, onOutput?: (o: AgentOutput) => void): Promise<ChatMessage> {
    const emit = (o: AgentOutput): void => {
      try {
        onOutput?.({ ...o, replayed: true });
      } catch (err) {
        this.deps.logger.warn({ err: (err as Error).message }, 'output listener failed');
      }
    };
    if (!earlier.ended) {
      emit({ runId: earlier.runId, sessionId: earlier.sessionId, stream: 'lifecycle', phase: 'start', delta: '', text: '', error: '', seq: 1, tsMs: earlier.startedAtMs, replayed: true });
    }
    try {
      const message = await earlier.result;
      if (earlier.last) emit(earlier.last);
      return message;
    } catch (err) {
      if (earlier.last) emit(earlier.last);
      throw err;
    }
  }

  /**
   * Aborts the running turn of a session (only if it is `runId`, when given). True if
   * one was aborted. A turn running on another replica is asked to abort through its
   * claim and waited for (up to `abortWaitMs`); if that replica does not end it in time,
   * UNAVAILABLE `TURN_OWNER_UNRESPONSIVE` (the claim runs out once it went unrenewed for a lease).
   */
  async abort(sessionId: string, runId?: string): Promise<boolean> {
    const view = this.view(sessionId);
    const local = this.active.get(sessionId);
    if (local) {
      if ((runId && local.runId !== runId) || local.controller.signal.aborted) return false;
      local.controller.abort();
      return true;
    }
    const claim = view.head.turn;
    if (!claim || !this.store.held(sessionId, claim) || (runId && claim.runId !== runId)) return false;
    if (!(await this.store.requestAbort(sessionId, claim.runId))) return false;
    if (await this.store.whenTurnEnded(sessionId, claim.runId, this.limits.abortWaitMs)) return true;
    throw errors.unavailable(
      'TURN_OWNER_UNRESPONSIVE',
      `turn ${claim.runId} of session ${sessionId} runs in another gateway process (replica), which did not end it within ${this.limits.abortWaitMs} ms of the abort request; if that process stopped, the session is free again once its claim went unrenewed for ${Math.round(this.limits.turnLeaseMs / 1000)} s`,
      { runId: claim.runId },
    );
  }

  /**
   * Forgets deleted sessions' tombstones older than a day (and finishes deletions a stop
   * interrupted); runs every `tombstoneSweepMs`, on every replica (each change is decided
   * again in its transaction). Writes nothing when nothing is due. Returns how many it forgot.
   */
  sweepTombstones(): Promise<number> {
    return this.store.sweep(this.deps.clock.now());
  }

  /** Stops the periodic sweep, aborts the turns running here and stops watching other replicas' claims (shutdown). */
  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    await this.abortAll();
    this.close();
  }

  /** Aborts every turn running in this process (shutdown) and waits until their ends are stored; returns how many it aborted. */
  async abortAll(): Promise<number> {
    let n = 0;
    const ends: Promise<unknown>[] = [];
    for (const turn of this.active.values()) {
      if (!turn.controller.signal.aborted) {
        turn.controller.abort();
        n++;
      }
      ends.push(turn.done);
    }
    await Promise.all(ends);
    return n;
  }

  /** Checks a send and reserves the session in this process; all synchronous. */
  private reserve(sessionId: string, text: string, runId?: string): ActiveTurn {
    const view = this.view(sessionId);
    if (typeof text !== 'string' || text.trim() === '') throw errors.invalid('EMPTY_MESSAGE', 'message text is empty');
    const size = Buffer.byteLength(text, 'utf8');
    if (size > this.limits.maxMessageBytes) {
      throw errors.invalid('MESSAGE_TOO_LARGE', `message is ${size} bytes; the limit is ${this.limits.maxMessageBytes}`, {
        sizeBytes: size,
        limitBytes: this.limits.maxMessageBytes,
      });
    }
    const running = this.active.get(sessionId) ?? (this.claimHeld(sessionId, view.head.turn) ? view.head.turn : undefined);
    if (running) {
      throw errors.precondition('SESSION_BUSY', `session ${sessionId} is already running turn ${running.runId}; wait for it or abort it`, {
        runId: running.runId,
      });
    }
    const { agent, provider } = this.deps.agents.resolve(view.record.agentId);
    const turn: ActiveTurn = {
      sessionId,
      sessionKey: view.record.key || sessionId,
      runId: runId ?? `run_${randomBytes(8).toString('hex')}`,
      controller: new AbortController(),
      agent,
      provider,
      text,
      done: Promise.resolve(),
    };
    this.active.set(sessionId, turn);
    return turn;
  }

  private async runTurn(turn: ActiveTurn, onOutput?: (o: AgentOutput) => void): Promise<ChatMessage> {
    const { sessionId, runId } = turn;
    const log = this.deps.logger.child({ sessionId, runId, agentId: turn.agent.agentId });
    let context: ProviderMessage[];
    try {
      const claimed = await this.store.claim(
        {
          sessionId,
          runId,
          text: turn.text,
          now: this.deps.clock.now(),
          leaseMs: this.limits.turnLeaseMs,
          maxContextMessages: this.limits.maxContextMessages,
          maxKeptMessages: this.limits.maxKeptMessages,
        },
        (tx) => this.changed(tx, sessionId, 'turn.started'),
      );
      if (claimed.lostRunId) log.warn({ lostRunId: claimed.lostRunId }, 'ended a turn whose gateway stopped before it ended (its claim ran out)');
      context = claimed.context;
    } catch (err) {
      this.release(turn);
      throw err;
    }
    const renewal = setInterval(() => this.renew(turn, log), Math.max(1, Math.floor(this.limits.turnLeaseMs / 3)));
    renewal.unref();
    try {
      return await this.stream(turn, context, log, onOutput);
    } finally {
      clearInterval(renewal);
    }
  }

  /** Streams the provider's reply, stores the end of the turn and frees the session. */
  private async stream(turn: ActiveTurn, context: ProviderMessage[], log: Logger, onOutput?: (o: AgentOutput) => void): Promise<ChatMessage> {
    const { sessionId, runId, controller } = turn;
    let seq = 0;
    let finalMessage: ChatMessage | undefined;
    let text = '';
    const emit = (o: Pick<AgentOutput, 'stream'> & Partial<AgentOutput>): void => {
      const out: AgentOutput = { runId, sessionId, phase: '', delta: '', text: '', error: '', ...o, seq: ++seq, tsMs: this.deps.clock.now(), replayed: false };
      if (onOutput) {
        try {
          onOutput(out);
        } catch (err) {
          // A broken listener (e.g. a client that went away) must not break the turn or the transcript.
          log.warn({ err: (err as Error).message }, 'output listener failed');
        }
      }
      this.publishOutput(turn, out, text, finalMessage);
    };

    emit({ stream: 'lifecycle', phase: 'start' });
    let failure: GatewayError | undefined;
    let aborted = false;
    try {
      for await (const delta of abortable(turn.provider.stream({ model: turn.agent.model, messages: context, signal: controller.signal }), controller.signal)) {
        if (typeof delta !== 'string' || delta === '') continue;
        text += delta;
        emit({ stream: 'assistant', delta });
      }
    } catch (err) {
      if (isAbortedError(err) || controller.signal.aborted) aborted = true;
      else {
        failure = toGatewayError(err);
        log.warn({ reason: failure.reason, err: failure.message, cause: failure.cause instanceof Error ? failure.cause.message : undefined }, 'agent turn failed');
      }
    }

    const status: ChatMessageStatus = failure ? 'error' : aborted ? 'aborted' : 'ok';
    let message: ChatMessage | undefined;
    let saveError: GatewayError | undefined;
    try {
      // An error entry records why the turn failed, so the history explains the gap.
      message = await this.store.finish(
        {
          sessionId,
          runId,
          message: { role: 'assistant', text: failure ? failure.message : text, tsMs: this.deps.clock.now(), runId, status },
          maxKeptMessages: this.limits.maxKeptMessages,
        },
        (tx) => this.changed(tx, sessionId, 'turn.finished'),
      );
    } catch (err) {
      saveError = toGatewayError(err);
      log.error({ err: (err as Error).message }, 'could not save the end of the turn');
    }
    // Free the session before the final output, so a listener may send the next message at once.
    this.release(turn);
    // Its end could not be stored: the turn ended here all the same (nothing stored to announce it with).
    if (saveError) this.deps.events.publish('sessions.changed', { sessionId, reason: 'turn.finished' } satisfies SessionsChangedEvent);
    if (saveError || !message) {
      emit({ stream: 'error', phase: 'error', error: 'could not save the transcript' });
      throw saveError ?? errors.internal('TRANSCRIPT_WRITE', 'could not save the transcript');
    }
    if (failure) {
      emit({ stream: 'error', phase: 'error', error: failure.message });
      throw failure;
    }
    finalMessage = message;
    emit({ stream: 'lifecycle', phase: aborted ? 'aborted' : 'end', text });
    return message;
  }

  /** Keeps a running turn's claim alive; a turn that lost it, or whose abort was requested, is aborted. */
  private renew(turn: ActiveTurn, log: Logger): void {
    this.store.renew(turn.sessionId, turn.runId, this.deps.clock.now(), this.limits.turnLeaseMs).then(
      (claim) => {
        // A renewal that ran after the turn ended finds no claim of it: nothing to do then.
        if (this.active.get(turn.sessionId) !== turn) return;
        if (!claim) {
          log.warn('the turn lost its claim on the session; aborting it');
          turn.controller.abort();
        } else if (claim.abortRequested) turn.controller.abort();
      },
      (err: unknown) => log.warn({ err: (err as Error).message }, 'could not renew the claim of a running turn'),
    );
  }

  /** Aborts a turn of ours whose claim says another replica asked for it. */
  private followAbortRequest(turn: ActiveTurn): void {
    const claim = this.store.head(turn.sessionId)?.turn;
    if (claim?.runId === turn.runId && claim.abortRequested && !turn.controller.signal.aborted) {
      this.deps.logger.info({ sessionId: turn.sessionId, runId: turn.runId }, 'aborting a turn at the request of another replica');
      turn.controller.abort();
    }
  }

  private release(turn: ActiveTurn): void {
    if (this.active.get(turn.sessionId) === turn) this.active.delete(turn.sessionId);
  }

  /**
   * Mirrors an output as the legacy `agent` and `chat` events OpenClaw clients expect:
   * named by the session's key (its id when it has none); an error ends the run on the
   * `lifecycle` stream (phase `error`), where legacy clients look for it. `chat` events
   * have the legacy gateway's (protocol v4) shape: a delta carries the reply so far
   * (`deltaText`, with `replace: true`, and as `message`), the end the stored message
   * (`state: "final"` or `"aborted"`), a failure `state: "error"` with `errorMessage`.
   * `replySoFar` is the assistant text streamed up to this output.
   */
  private publishOutput(turn: ActiveTurn, o: AgentOutput, replySoFar: string, final?: ChatMessage): void {
    const data: Record<string, string> = {};
    if (o.phase) data.phase = o.phase;
    if (o.delta) data.delta = o.delta;
    if (o.text || o.phase === 'end' || o.phase === 'aborted') data.text = o.text;
    if (o.error) data.error = o.error;
    const { sessionKey } = turn;
    const agentId = turn.agent.agentId;
    const stream = o.stream === 'error' ? 'lifecycle' : o.stream;
    this.deps.events.publish('agent', { runId: o.runId, sessionKey, sessionId: o.sessionId, agentId, stream, data, seq: o.seq, ts: o.tsMs });
    const base = { runId: o.runId, sessionKey, agentId, seq: o.seq };
    if (o.stream === 'assistant') {
      const message = { role: 'assistant', content: [{ type: 'text', text: replySoFar }], timestamp: o.tsMs };
      this.deps.events.publish('chat', { ...base, state: 'delta', deltaText: replySoFar, replace: true, message });
    } else if (o.phase === 'end' || o.phase === 'aborted') {
      const message = final ? { ...final, content: [{ type: 'text', text: final.text }], timestamp: final.tsMs } : undefined;
      this.deps.events.publish('chat', { ...base, state: o.phase === 'end' ? 'final' : 'aborted', message });
    } else if (o.phase === 'error') {
      this.deps.events.publish('chat', { ...base, state: 'error', errorMessage: o.error });
    }
  }

  /** Stages `sessions.changed` in the transaction that makes the change. */
  private changed(tx: EventStaging, sessionId: string, reason: SessionsChangedEvent['reason']): void {
    const payload: SessionsChangedEvent = { sessionId, reason };
    this.deps.events.stage(tx, 'sessions.changed', payload);
  }

  private view(sessionId: string): SessionView {
    const v = typeof sessionId === 'string' ? this.store.view(sessionId) : undefined;
    if (!v) throw errors.notFound('SESSION_NOT_FOUND', `session ${sessionId} not found`);
    return v;
  }

  private info(v: SessionView): SessionInfo {
    const { record, head } = v;
    return {
      sessionId: record.id,
      label: record.label,
      agentId: record.agentId,
      createdAtMs: record.createdAtMs,
      updatedAtMs: head.updatedAtMs,
      messageCount: head.next - head.first,
      busy: this.active.has(record.id) || this.claimHeld(record.id, head.turn),
      key: record.key ?? '',
    };
  }

  private claimHeld(sessionId: string, turn: TurnClaim | undefined): boolean {
    return turn !== undefined && this.store.held(sessionId, turn);
  }
}
