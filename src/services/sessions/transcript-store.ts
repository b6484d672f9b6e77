import { readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir, writeFileAtomicSync } from '../../store/atomic-file';
import type { Logger } from '../../logging';

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

/** The persisted facts of a session (busy and message count are derived, not stored). */
export interface SessionRecord {
  sessionId: string;
  label: string;
  agentId: string;
  createdAtMs: number;
  updatedAtMs: number;
}

/** A session and its whole history: the unit written to one file. */
export interface Transcript {
  session: SessionRecord;
  messages: ChatMessage[];
}

/** Session ids the service generates; anything else in the folder is not ours. */
const SESSION_FILE = /^(sess_[0-9a-f]{16})\.json$/;

/** Whether a string has the shape of a generated session id (guards file names). */
export function isSessionId(id: string): boolean {
  return SESSION_FILE.test(`${id}.json`);
}

/**
 * One JSON file per session in a folder the gateway owns. Each change rewrites that
 * session's file atomically, so a crash leaves the old or the new transcript and a
 * large session never slows another. Single writer by design: only the gateway
 * process touches this folder, so no cross-process lock is taken.
 */
export class TranscriptStore {
  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** Every readable transcript in the folder; unreadable files are logged and left alone. */
  loadAll(): Transcript[] {
    ensureDir(this.dir);
    const out: Transcript[] = [];
    for (const name of readdirSync(this.dir).sort()) {
      const m = SESSION_FILE.exec(name);
      if (!m) continue;
      const path = join(this.dir, name);
      try {
        out.push(parseTranscript(JSON.parse(readFileSync(path, 'utf8')), m[1]));
      } catch (err) {
        // One damaged transcript must not take every other session down with it.
        this.log.error({ file: name, err: (err as Error).message }, 'skipping unreadable session transcript');
      }
    }
    return out;
  }

  /** Writes a transcript (whole file, atomically). */
  save(t: Transcript): void {
    this.assertId(t.session.sessionId);
    writeFileAtomicSync(this.fileOf(t.session.sessionId), JSON.stringify({ version: 1, ...t }) + '\n', 0o600);
  }

  /** Deletes a transcript file; missing is fine. */
  remove(sessionId: string): void {
    this.assertId(sessionId);
    try {
      unlinkSync(this.fileOf(sessionId));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  private fileOf(sessionId: string): string {
    return join(this.dir, `${sessionId}.json`);
  }

  private assertId(sessionId: string): void {
    // Ids come from the service, never from a caller, but a path is built from them.
    if (!isSessionId(sessionId)) throw new Error(`refusing to use "${sessionId}" as a session file name`);
  }
}

function parseTranscript(raw: unknown, expectedId: string): Transcript {
  const doc = raw as { version?: unknown; session?: SessionRecord; messages?: ChatMessage[] };
  if (!doc || typeof doc !== 'object' || doc.version !== 1) throw new Error('expected {"version":1,...}');
  const s = doc.session;
  if (!s || s.sessionId !== expectedId || typeof s.agentId !== 'string' || typeof s.createdAtMs !== 'number') {
    throw new Error('session record is malformed');
  }
  if (!Array.isArray(doc.messages)) throw new Error('messages is not an array');
  for (const m of doc.messages) {
    if (!m || typeof m.messageId !== 'string' || typeof m.text !== 'string' || typeof m.role !== 'string') {
      throw new Error('a message is malformed');
    }
  }
  return {
    session: {
      sessionId: s.sessionId,
      label: typeof s.label === 'string' ? s.label : '',
      agentId: s.agentId,
      createdAtMs: s.createdAtMs,
      updatedAtMs: typeof s.updatedAtMs === 'number' ? s.updatedAtMs : s.createdAtMs,
    },
    messages: doc.messages,
  };
}
