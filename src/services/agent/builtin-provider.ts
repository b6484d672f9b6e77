import { abortedError, type AgentProvider, type ProviderStreamRequest } from './agent-provider';

/** The one model the built-in provider serves. */
export const BUILTIN_MODEL = 'builtin-echo';

/** Options for the built-in provider. */
export interface BuiltinProviderOptions {
  /** Pause before each delta, in ms (default 0). Demos use it to make streaming visible. */
  deltaDelayMs?: number;
}

/**
 * A deterministic offline model: replies `Echo: <last user text> (<n> words)`, streamed
 * word by word. It exists so the gateway, its tests and demos run end to end without
 * network access or API keys, and so stream ordering and abort can be checked exactly.
 */
export class BuiltinProvider implements AgentProvider {
  readonly id = 'builtin';
  private readonly deltaDelayMs: number;

  constructor(options: BuiltinProviderOptions = {}) {
    this.deltaDelayMs = Math.max(0, options.deltaDelayMs ?? 0);
  }

  models(): string[] {
    return [BUILTIN_MODEL];
  }

  async *stream(req: ProviderStreamRequest): AsyncIterable<string> {
    for (const delta of builtinReplyDeltas(req.messages)) {
      // Yield to the event loop before every delta, so an abort requested by a
      // listener of the previous delta is seen before more text is produced.
      await pause(this.deltaDelayMs, req.signal);
      yield delta;
    }
  }
}

/** The full reply the built-in provider gives for a conversation (tests compare against it). */
export function builtinReply(messages: readonly { role: string; content: string }[]): string {
  return builtinReplyDeltas(messages).join('');
}

function builtinReplyDeltas(messages: readonly { role: string; content: string }[]): string[] {
  let last = '';
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i].role === 'user') {
      last = messages[i].content;
      break;
    }
  }
  const words = last.trim().split(/\s+/).filter(Boolean);
  const count = `(${words.length} ${words.length === 1 ? 'word' : 'words'})`;
  // One delta per word keeps a normal message at >= 3 deltas ("Echo:", words, count).
  return ['Echo:', ...(words.length ? words : ['(nothing)']), count].map((w, i) => (i === 0 ? w : ` ${w}`));
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(abortedError());
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clear();
      reject(abortedError());
    };
    const done = (): void => {
      signal.removeEventListener('abort', onAbort);
      if (signal.aborted) reject(abortedError());
      else resolve();
    };
    const clear = ms > 0 ? clearTimeoutOf(setTimeout(done, ms)) : clearImmediateOf(setImmediate(done));
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function clearTimeoutOf(t: NodeJS.Timeout): () => void {
  return () => clearTimeout(t);
}

function clearImmediateOf(t: NodeJS.Immediate): () => void {
  return () => clearImmediate(t);
}
