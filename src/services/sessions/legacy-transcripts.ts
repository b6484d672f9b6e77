import { readLegacyFolder } from '../../store/legacy-import';
import { checkChatMessage, messageId, type ChatMessage, type MessageRecord, type SessionHead, type SessionRecord } from './session-records';

/** What the transcripts folder of an earlier release holds, as store records. */
export interface LegacyTranscripts {
  sessions: SessionRecord[];
  /** Heads and messages. */
  transcripts: (SessionHead | MessageRecord)[];
}

/** A transcript file of an earlier release: `<session id>.json`. */
const TRANSCRIPT_FILE = /^(sess_[0-9a-f]{16})\.json$/;

/**
 * Reads the transcripts folder of releases before the storage contract (one
 * `{"version":1,"session":{...},"messages":[...]}` file per session), every file checked
 * before anything is imported; keeps the newest `maxKeptMessages` of each session.
 * Undefined if there is no such folder.
 */
export function readLegacyTranscripts(dir: string, maxKeptMessages: number): LegacyTranscripts | undefined {
  const read = readLegacyFolder(dir, 'a session transcript', TRANSCRIPT_FILE, (doc, name) => parseTranscript(doc, TRANSCRIPT_FILE.exec(name)![1]));
  if (!read) return undefined;
  const out: LegacyTranscripts = { sessions: [], transcripts: [] };
  for (const { session, updatedAtMs, messages } of read) {
    const first = Math.max(0, messages.length - maxKeptMessages);
    out.sessions.push(session);
    out.transcripts.push({ id: session.id, kind: 'head', first, next: messages.length, updatedAtMs });
    for (let i = first; i < messages.length; i++) {
      out.transcripts.push({ ...messages[i], id: messageId(session.id, i), kind: 'message', sessionId: session.id, index: i });
    }
  }
  return out;
}

function parseTranscript(raw: unknown, expectedId: string): { session: SessionRecord; updatedAtMs: number; messages: ChatMessage[] } {
  const doc = raw as { version?: unknown; session?: Record<string, unknown>; messages?: unknown };
  if (!doc || typeof doc !== 'object' || doc.version !== 1) throw new Error('expected {"version":1,...}');
  const s = doc.session;
  if (!s || s.sessionId !== expectedId || typeof s.agentId !== 'string' || typeof s.createdAtMs !== 'number') {
    throw new Error('its session record is malformed (or names another session)');
  }
  if (!Array.isArray(doc.messages)) throw new Error('messages is not an array');
  const messages = doc.messages.map((m: Record<string, unknown>, i: number) => {
    // Fields earlier releases always wrote; defaults only for what they could leave out.
    const msg = { messageId: m?.messageId, role: m?.role, text: m?.text, tsMs: m?.tsMs ?? s.createdAtMs, runId: m?.runId ?? '', status: m?.status ?? 'ok' } as ChatMessage;
    checkChatMessage(msg, `message ${i + 1}`);
    return msg;
  });
  return {
    session: { id: expectedId, label: typeof s.label === 'string' ? s.label : '', agentId: s.agentId, createdAtMs: s.createdAtMs },
    updatedAtMs: typeof s.updatedAtMs === 'number' ? s.updatedAtMs : (messages.at(-1)?.tsMs ?? s.createdAtMs),
    messages,
  };
}
