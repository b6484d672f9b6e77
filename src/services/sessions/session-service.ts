import { randomBytes } from 'node:crypto';
import { errors, toGatewayError, type GatewayError } from '../../errors';
import type { Clock } from '../../clock';
import type { Logger } from '../../logging';
import type { EventPublisher } from '../events/event-publisher';
import { abortedError, isAbortedError, type AgentProvider, type ProviderMessage } from '../agent/agent-provider';
import type { AgentDefinition } from '../agent/agent-catalog';
import { TranscriptStore, type ChatMessage, type ChatMessageStatus, type Transcript } from './transcript-store';

export type { ChatMessage, ChatMessageStatus, ChatRole } from './transcript-store';

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
}

/** Default limits. */
export const DEFAULT_SESSION_LIMITS: SessionLimits = Object.freeze({
  maxMessageBytes: 64 * 1024,
  maxContextMessages: 50,
  maxLabelLength: 200,
});

/** What the session service is built from. */
export interface SessionServiceDeps {
  /** Folder of transcripts, one file per session; owned by this process. */
  dir: string;
  agents: AgentResolver;
  clock: Clock;
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
}

/** Payload of `sessions.changed`. */
export interface SessionsChangedEvent {
  sessionId: string;
  reason: 'created' | 'deleted' | 'turn.started' | 'turn.finished';
}

interface ActiveTurn {
  runId: string;
  controller: AbortController;
}

interface StartedTurn {
  sessionId: string;
  runId: string;
  controller: AbortController;
  agent: AgentDefinition;
  provider: AgentProvider;
  context: ProviderMessage[];
}

/** Idempotency keys remembered per process; old ones fall out first. */
const MAX_IDEMPOTENCY_KEYS = 512;

/**
 * Chat sessions with agents: create, list, describe, delete, history, and `send`, which
 * runs one agent turn and streams its output. Each session's transcript is its own file
 * (see TranscriptStore) and is kept in memory too, so reads never touch the disk.
 *
 * One turn at a time per session: a transcript is an ordered conversation, and a
 * second turn started before the first ends would be answered without seeing it (and
 * interleave with it on disk), so a concurrent send is refused with `SESSION_BUSY`.
 */
export class SessionService {
  private readonly store: TranscriptStore;
  private readonly limits: SessionLimits;
  private readonly sessions = new Map<string, Transcript>();
  private readonly active = new Map<string, ActiveTurn>();
  private readonly idempotent = new Map<string, Promise<ChatMessage>>();

  constructor(private readonly deps: SessionServiceDeps) {
    this.limits = { ...DEFAULT_SESSION_LIMITS, ...deps.limits };
    this.store = new TranscriptStore(deps.dir, deps.logger);
    for (const t of this.store.loadAll()) this.sessions.set(t.session.sessionId, t);
  }

  /** Creates an empty session for an agent (empty = default agent; unknown -> `UNKNOWN_AGENT`). */
  create(input: { label?: string; agentId?: string } = {}): SessionInfo {
    if (input.label !== undefined && typeof input.label !== 'string') throw errors.invalid('INVALID_LABEL', 'label must be a string');
    const label = (input.label ?? '').trim();
    if (label.length > this.limits.maxLabelLength) {
      throw errors.invalid('INVALID_LABEL', `label is longer than ${this.limits.maxLabelLength} characters`);
    }
    const { agent } = this.deps.agents.resolve(input.agentId);
    const now = this.deps.clock.now();
    const t: Transcript = {
      session: { sessionId: `sess_${randomBytes(8).toString('hex')}`, label, agentId: agent.agentId, createdAtMs: now, updatedAtMs: now },
      messages: [],
    };
    this.store.save(t);
    this.sessions.set(t.session.sessionId, t);
    this.changed(t.session.sessionId, 'created');
    return this.info(t);
  }

  /** All sessions, most recently active first. */
  list(): SessionInfo[] {
    return [...this.sessions.values()]
      .map((t) => this.info(t))
      .sort((a, b) => b.updatedAtMs - a.updatedAtMs || a.sessionId.localeCompare(b.sessionId));
  }

  /** One session; NOT_FOUND `SESSION_NOT_FOUND` if unknown. */
  describe(sessionId: string): SessionInfo {
    return this.info(this.transcript(sessionId));
  }

  /** Deletes a session and its transcript. Refused with `SESSION_BUSY` while a turn runs (abort it first). */
  delete(sessionId: string): boolean {
    this.transcript(sessionId);
    if (this.active.has(sessionId)) {
      throw errors.precondition('SESSION_BUSY', `session ${sessionId} is running a turn; abort it before deleting`);
    }
    this.store.remove(sessionId);
    this.sessions.delete(sessionId);
    this.changed(sessionId, 'deleted');
    return true;
  }

  /** The last `limit` messages, oldest first (0 or absent = all). */
  history(sessionId: string, limit = 0): ChatMessage[] {
    if (!Number.isInteger(limit) || limit < 0) throw errors.invalid('INVALID_LIMIT', 'limit must be a non-negative integer');
    const msgs = this.transcript(sessionId).messages;
    return (limit > 0 ? msgs.slice(-limit) : msgs).map((m) => ({ ...m }));
  }

  /**
   * Runs one agent turn: persists the user message, streams the provider's reply as
   * outputs (lifecycle start, assistant deltas, lifecycle end), persists the reply,
   * and resolves with it. An aborted turn resolves with the partial reply (status
   * `aborted`, final output phase `aborted`). A provider failure emits an `error`
   * output, persists an assistant entry with status `error`, and rejects with the
   * provider's GatewayError; the session stays usable.
   */
  async send(sessionId: string, text: string, options: SendOptions = {}): Promise<ChatMessage> {
    const key = options.idempotencyKey ? `${sessionId}\u0000${options.idempotencyKey}` : undefined;
    const earlier = key ? this.idempotent.get(key) : undefined;
    if (earlier) return earlier;
    const turn = this.startTurn(sessionId, text);
    const result = this.runTurn(turn, options.onOutput);
    if (key) {
      this.idempotent.set(key, result);
      if (this.idempotent.size > MAX_IDEMPOTENCY_KEYS) this.idempotent.delete(this.idempotent.keys().next().value as string);
      // A failed turn may be retried with the same key.
      result.catch(() => this.idempotent.delete(key));
    }
    return result;
  }

  /** Aborts the running turn of a session (only if it is `runId`, when given). True if one was aborted. */
  abort(sessionId: string, runId?: string): boolean {
    this.transcript(sessionId);
    const turn = this.active.get(sessionId);
    if (!turn || (runId && turn.runId !== runId) || turn.controller.signal.aborted) return false;
    turn.controller.abort();
    return true;
  }

  /** Aborts every running turn (shutdown); returns how many. */
  abortAll(): number {
    let n = 0;
    for (const turn of this.active.values()) {
      if (!turn.controller.signal.aborted) {
        turn.controller.abort();
        n++;
      }
    }
    return n;
  }

  /** Checks the request, claims the session and persists the user message; all synchronous, so no second send can slip in. */
  private startTurn(sessionId: string, text: string): StartedTurn {
    const t = this.transcript(sessionId);
    if (typeof text !== 'string' || text.trim() === '') throw errors.invalid('EMPTY_MESSAGE', 'message text is empty');
    const size = Buffer.byteLength(text, 'utf8');
    if (size > this.limits.maxMessageBytes) {
      throw errors.invalid('MESSAGE_TOO_LARGE', `message is ${size} bytes; the limit is ${this.limits.maxMessageBytes}`, {
        sizeBytes: size,
        limitBytes: this.limits.maxMessageBytes,
      });
    }
    const running = this.active.get(sessionId);
    if (running) {
      throw errors.precondition('SESSION_BUSY', `session ${sessionId} is already running turn ${running.runId}; wait for it or abort it`, {
        runId: running.runId,
      });
    }
    const { agent, provider } = this.deps.agents.resolve(t.session.agentId);
    const runId = `run_${randomBytes(8).toString('hex')}`;
    const context = t.messages
      .filter((m) => m.status === 'ok')
      .slice(-this.limits.maxContextMessages)
      .map((m) => ({ role: m.role, content: m.text }));
    this.append(sessionId, { role: 'user', text, runId, status: 'ok' });
    context.push({ role: 'user', content: text });
    const controller = new AbortController();
    this.active.set(sessionId, { runId, controller });
    return { sessionId, runId, controller, agent, provider, context };
  }

  private async runTurn(turn: StartedTurn, onOutput?: (o: AgentOutput) => void): Promise<ChatMessage> {
    const { sessionId, runId, controller } = turn;
    const log = this.deps.logger.child({ sessionId, runId, agentId: turn.agent.agentId });
    let seq = 0;
    let finalMessage: ChatMessage | undefined;
    const emit = (o: Pick<AgentOutput, 'stream'> & Partial<AgentOutput>): void => {
      const out: AgentOutput = { runId, sessionId, phase: '', delta: '', text: '', error: '', ...o, seq: ++seq, tsMs: this.deps.clock.now() };
      if (onOutput) {
        try {
          onOutput(out);
        } catch (err) {
          // A broken listener (e.g. a client that went away) must not break the turn or the transcript.
          log.warn({ err: (err as Error).message }, 'output listener failed');
        }
      }
      this.publishOutput(out, finalMessage);
    };

    this.changed(sessionId, 'turn.started');
    emit({ stream: 'lifecycle', phase: 'start' });
    let text = '';
    let failure: GatewayError | undefined;
    let aborted = false;
    try {
      for await (const delta of abortable(turn.provider.stream({ model: turn.agent.model, messages: turn.context, signal: controller.signal }), controller.signal)) {
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
      message = this.append(sessionId, { role: 'assistant', text: failure ? failure.message : text, runId, status });
    } catch (err) {
      saveError = toGatewayError(err);
      log.error({ err: (err as Error).message }, 'could not save the end of the turn');
    }
    // Free the session before the final output, so a listener may send the next message at once.
    this.active.delete(sessionId);
    this.changed(sessionId, 'turn.finished');
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

  /** Appends a message and persists the transcript; memory changes only if the write succeeded. */
  private append(sessionId: string, m: Omit<ChatMessage, 'messageId' | 'tsMs'>): ChatMessage {
    const t = this.transcript(sessionId);
    const now = this.deps.clock.now();
    const message: ChatMessage = { messageId: `msg_${randomBytes(8).toString('hex')}`, tsMs: now, ...m };
    const next: Transcript = { session: { ...t.session, updatedAtMs: now }, messages: [...t.messages, message] };
    this.store.save(next);
    this.sessions.set(sessionId, next);
    return { ...message };
  }

  /** Mirrors an output as the legacy `agent` and `chat` events OpenClaw clients expect. */
  private publishOutput(o: AgentOutput, final?: ChatMessage): void {
    const data: Record<string, string> = {};
    if (o.phase) data.phase = o.phase;
    if (o.delta) data.delta = o.delta;
    if (o.text || o.phase === 'end' || o.phase === 'aborted') data.text = o.text;
    if (o.error) data.error = o.error;
    const sessionKey = o.sessionId;
    this.deps.events.publish('agent', { runId: o.runId, sessionKey, stream: o.stream, data, seq: o.seq, ts: o.tsMs });
    const base = { runId: o.runId, sessionKey, seq: o.seq };
    if (o.stream === 'assistant') {
      this.deps.events.publish('chat', { ...base, state: 'delta', delta: o.delta });
    } else if (o.phase === 'end' || o.phase === 'aborted') {
      this.deps.events.publish('chat', { ...base, state: o.phase === 'end' ? 'final' : 'aborted', message: final ? { ...final } : undefined });
    } else if (o.phase === 'error') {
      this.deps.events.publish('chat', { ...base, state: 'error', errorMessage: o.error });
    }
  }

  private changed(sessionId: string, reason: SessionsChangedEvent['reason']): void {
    const payload: SessionsChangedEvent = { sessionId, reason };
    this.deps.events.publish('sessions.changed', payload);
  }

  private transcript(sessionId: string): Transcript {
    const t = typeof sessionId === 'string' ? this.sessions.get(sessionId) : undefined;
    if (!t) throw errors.notFound('SESSION_NOT_FOUND', `session ${sessionId} not found`);
    return t;
  }

  private info(t: Transcript): SessionInfo {
    return { ...t.session, messageCount: t.messages.length, busy: this.active.has(t.session.sessionId) };
  }
}

/**
 * Iterates a provider stream but stops as soon as `signal` aborts, even if the
 * provider ignores the signal and never yields again; the provider's iterator is
 * closed in the background.
 */
async function* abortable<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(abortedError());
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  let finished = false;
  try {
    for (;;) {
      const next = it.next();
      // If the abort wins the race, the provider may still reject later: not unhandled.
      next.catch(() => undefined);
      const r = await Promise.race([next, aborted]);
      if (r.done) {
        finished = true;
        return;
      }
      yield r.value;
    }
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
    if (!finished && it.return) {
      Promise.resolve()
        .then(() => it.return?.())
        .catch(() => undefined);
    }
  }
}
