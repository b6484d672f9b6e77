/**
 * What sessions keep in the store: a session's directory entry in `sessions`, and in
 * `session_messages` one record per message plus one small head record per session
 * (its message range, last activity and the claim of a running turn). Everything a
 * turn changes lives in `session_messages`, so claiming a turn with its user message,
 * or ending it with the reply, is one transaction of about the size of that message.
 */

/** Who wrote a transcript message. */
export type ChatRole = 'user' | 'assistant' | 'system';

/** How a transcript message came out: `ok`, or the end of a failed / aborted turn. */
export type ChatMessageStatus = 'ok' | 'error' | 'aborted';

/** One message of a session's history (mirrors `openclaw.sessions.v1.ChatMessage`). */
export interface ChatMessage {
  messageId: string;
  role: ChatRole;
  text: string;
  tsMs: number;
  /** Agent run that the message belongs to ('' if none). */
  runId: string;
  status: ChatMessageStatus;
}

/** Name of the collection of session directory entries. */
export const SESSIONS = 'sessions';
/** Name of the collection of messages and per-session heads. */
export const SESSION_MESSAGES = 'session_messages';

/** A session's directory entry (collection `sessions`, id = session id): what never changes after create. */
export interface SessionRecord {
  id: string;
  label: string;
  agentId: string;
  createdAtMs: number;
  /** The key it was created with (legacy session keys); absent in sessions made without one. Unique. */
  key?: string;
}

/**
 * A turn in progress, claimed by the replica running it. The owner renews the claim
 * while the turn runs (`beat` counts the renewals); a replica that has seen the same
 * beat for longer than the turn lease of its own time, while it reached the store,
 * takes the owner for stopped (its session may take a new turn). No clocks of two
 * replicas are compared.
 */
export interface TurnClaim {
  runId: string;
  /** Which gateway process runs it (random per process). */
  replica: string;
  startedAtMs: number;
  /** Renewals so far (absent in claims of earlier releases, whose `leaseUntilMs` changes at each renewal instead). */
  beat?: number;
  /** The owner's clock plus the lease: what earlier releases judged by (meaningless against another machine's clock). */
  leaseUntilMs: number;
  /** Set by another replica's abort; the owner ends the turn when it sees it. */
  abortRequested?: boolean;
}

/**
 * Per session, in `session_messages` (id = session id): messages `first` to `next - 1`
 * are kept (older ones were dropped by the cap). A deleted session keeps its head as a
 * tombstone (`deletedAtMs`), so a turn claimed on a replica that has not yet heard of
 * the deletion is refused instead of recreating it.
 */
export interface SessionHead {
  id: string;
  kind: 'head';
  first: number;
  next: number;
  updatedAtMs: number;
  turn?: TurnClaim;
  deletedAtMs?: number;
}

/** One message (collection `session_messages`, id = `<session id>:<index, zero-padded>`). */
export interface MessageRecord extends ChatMessage {
  id: string;
  kind: 'message';
  sessionId: string;
  index: number;
}

/** A record of `session_messages`. */
export type TranscriptRecord = SessionHead | MessageRecord;

/** Session ids the service generates; anything else is not a session. */
const SESSION_ID = /^sess_[0-9a-f]{16}$/;
/** Digits of a message index in its id: ids sort like the messages. */
const INDEX_DIGITS = 10;

/** Whether a string has the shape of a generated session id. */
export function isSessionId(id: unknown): id is string {
  return typeof id === 'string' && SESSION_ID.test(id);
}

/** The record id of a session's message number `index`. */
export function messageId(sessionId: string, index: number): string {
  return `${sessionId}:${String(index).padStart(INDEX_DIGITS, '0')}`;
}

/** The message fields of a stored message. */
export function chatMessageOf(r: MessageRecord): ChatMessage {
  return { messageId: r.messageId, role: r.role, text: r.text, tsMs: r.tsMs, runId: r.runId, status: r.status };
}

/** What another replica watches of a claim: which turn, and its renewals. */
export function claimBeat(sessionId: string, turn: TurnClaim): { key: string; beat: string } {
  return { key: `${sessionId}/${turn.runId}`, beat: turn.beat !== undefined ? String(turn.beat) : `until:${turn.leaseUntilMs}` };
}

const ROLES: readonly string[] = ['user', 'assistant', 'system'];
const STATUSES: readonly string[] = ['ok', 'error', 'aborted'];
const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** Checks a session directory entry read from the store. */
export function validateSessionRecord(raw: unknown): SessionRecord {
  const s = raw as SessionRecord;
  if (!s || typeof s !== 'object' || !isSessionId(s.id)) throw new Error('a session record needs an id like sess_<16 hex>');
  if (typeof s.label !== 'string' || typeof s.agentId !== 'string' || typeof s.createdAtMs !== 'number' || (s.key !== undefined && typeof s.key !== 'string')) {
    throw new Error(`session record ${s.id} is malformed`);
  }
  return s;
}

/** Checks a message fields (shared by the store and the import of earlier transcripts). */
export function checkChatMessage(m: ChatMessage, where: string): void {
  if (!m || typeof m !== 'object' || typeof m.messageId !== 'string' || typeof m.text !== 'string' || typeof m.tsMs !== 'number' || typeof m.runId !== 'string') {
    throw new Error(`${where} is malformed`);
  }
  if (!ROLES.includes(m.role)) throw new Error(`${where} has role ${JSON.stringify(m.role)}`);
  if (!STATUSES.includes(m.status)) throw new Error(`${where} has status ${JSON.stringify(m.status)}`);
}

/** Checks a record of `session_messages` read from the store. */
export function validateTranscriptRecord(raw: unknown): TranscriptRecord {
  const r = raw as TranscriptRecord;
  if (!r || typeof r !== 'object' || typeof r.id !== 'string') throw new Error('a transcript record needs an id');
  if (r.kind === 'head') {
    if (!isSessionId(r.id) || !isCount(r.first) || !isCount(r.next) || r.first > r.next || typeof r.updatedAtMs !== 'number') throw new Error(`session head ${r.id} is malformed`);
    const t = r.turn;
    if (t !== undefined && (!t || typeof t.runId !== 'string' || typeof t.replica !== 'string' || typeof t.leaseUntilMs !== 'number' || (t.beat !== undefined && typeof t.beat !== 'number'))) throw new Error(`session head ${r.id} has a malformed turn`);
    return r;
  }
  if (r.kind === 'message') {
    if (!isSessionId(r.sessionId) || !isCount(r.index) || r.id !== messageId(r.sessionId, r.index)) throw new Error(`message record ${r.id} is malformed`);
    checkChatMessage(r, `message record ${r.id}`);
    return r;
  }
  throw new Error(`record ${(r as { id: string }).id} is neither a session head nor a message`);
}
