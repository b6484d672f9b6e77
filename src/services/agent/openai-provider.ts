import { ErrorCode, GatewayError, errors } from '../../errors';
import type { Logger } from '../../logging';
import { abortedError, type AgentProvider, type ProviderStreamRequest } from './agent-provider';

/** Settings of an OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp server...). */
export interface OpenAiProviderOptions {
  /** Provider name used by agents in config; default `openai`. */
  id?: string;
  /** API root, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`. */
  baseUrl: string;
  /** Model served (and the default for agents of this provider). */
  model: string;
  /** The key itself (the caller reads it from the environment); empty sends no Authorization header. */
  apiKey?: string;
  /** Longest wait for the response or between two chunks of the stream, in ms (default 60000). */
  timeoutMs?: number;
  logger?: Logger;
}

const DEFAULT_TIMEOUT_MS = 60_000;
/** Network error codes that mean "we could not talk to the provider at all". */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/**
 * Streams chat completions from an OpenAI-compatible HTTP API (`POST /chat/completions`
 * with `stream: true`, server-sent events). Every failure becomes a GatewayError whose
 * reason says what went wrong (unreachable, auth, HTTP status, bad stream, timeout,
 * aborted); the API key never appears in a message, a detail or a log line.
 */
export class OpenAiProvider implements AgentProvider {
  readonly id: string;
  private readonly url: string;
  /** The endpoint without credentials or query, safe for messages and logs. */
  private readonly safeUrl: string;
  private readonly model: string;
  private readonly apiKey: string;
  private readonly timeoutMs: number;
  private readonly log?: Logger;

  constructor(options: OpenAiProviderOptions) {
    this.id = options.id ?? 'openai';
    let base: URL;
    try {
      base = new URL(options.baseUrl);
    } catch {
      throw errors.invalid('INVALID_PROVIDER_URL', `provider ${this.id}: baseUrl is not a valid URL`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw errors.invalid('INVALID_PROVIDER_URL', `provider ${this.id}: baseUrl must be http or https`);
    }
    if (base.username || base.password) {
      // fetch refuses such URLs, and credentials in a URL end up in logs: use apiKey.
      throw errors.invalid('INVALID_PROVIDER_URL', `provider ${this.id}: baseUrl must not contain credentials (use the API key setting)`);
    }
    const path = base.pathname.replace(/\/+$/, '');
    this.url = `${base.protocol}//${base.host}${path}/chat/completions${base.search}`;
    this.safeUrl = `${base.protocol}//${base.host}${path}/chat/completions`;
    if (!options.model) throw errors.invalid('INVALID_PROVIDER_MODEL', `provider ${this.id}: model is required`);
    this.model = options.model;
    this.apiKey = options.apiKey ?? '';
    this.timeoutMs = options.timeoutMs && options.timeoutMs > 0 ? options.timeoutMs : DEFAULT_TIMEOUT_MS;
    this.log = options.logger;
  }

  models(): string[] {
    return [this.model];
  }

  async *stream(req: ProviderStreamRequest): AsyncIterable<string> {
    if (req.signal.aborted) throw abortedError();
    // One controller ends the HTTP exchange for every reason (caller abort, idle
    // timeout, consumer stopped early); the flags say which one it was.
    const http = new AbortController();
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = true;
        http.abort();
      }, this.timeoutMs);
    };
    const onCallerAbort = (): void => http.abort();
    req.signal.addEventListener('abort', onCallerAbort, { once: true });
    const fail = (err: unknown, phase: 'connect' | 'read'): GatewayError => {
      if (req.signal.aborted) return abortedError();
      if (timedOut) {
        return new GatewayError(
          ErrorCode.DeadlineExceeded,
          'PROVIDER_TIMEOUT',
          `provider ${this.id} sent no data for ${this.timeoutMs} ms (${this.safeUrl})`,
        );
      }
      if (err instanceof GatewayError) return err;
      const code = networkCode(err);
      const what = phase === 'connect' ? 'is unreachable' : 'closed the connection mid-stream';
      return new GatewayError(
        ErrorCode.Unavailable,
        'PROVIDER_UNREACHABLE',
        `provider ${this.id} ${what} (${this.safeUrl}${code ? `: ${code}` : ''})`,
        { cause: err },
      );
    };

    arm();
    try {
      let res: Response;
      try {
        res = await fetch(this.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'text/event-stream',
            ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
          },
          body: JSON.stringify({ model: req.model || this.model, messages: req.messages, stream: true }),
          signal: http.signal,
        });
      } catch (err) {
        throw fail(err, 'connect');
      }
      arm();
      if (!res.ok) {
        const body = await readSnippet(res).catch(() => '');
        this.log?.warn(
          { provider: this.id, url: this.safeUrl, status: res.status, body: this.redact(body) },
          'provider returned an HTTP error',
        );
        throw this.httpError(res.status, res.statusText);
      }
      if (!res.body) throw this.badStream('response has no body');

      const contentType = res.headers.get('content-type') ?? '';
      if (contentType.includes('application/json')) {
        // Some servers ignore `stream: true` and answer with one completion object.
        let text: string;
        try {
          text = await res.text();
        } catch (err) {
          throw fail(err, 'read');
        }
        yield this.wholeCompletion(text);
        return;
      }

      const parser = new SseParser();
      const decoder = new TextDecoder();
      let done = false;
      let finished = false;
      const reader = res.body.getReader();
      try {
        while (!done) {
          let chunk: Awaited<ReturnType<typeof reader.read>>;
          try {
            chunk = await reader.read();
          } catch (err) {
            throw fail(err, 'read');
          }
          arm();
          const events = chunk.done ? parser.end(decoder.decode()) : parser.push(decoder.decode(chunk.value, { stream: true }));
          for (const data of events) {
            if (data === '[DONE]') {
              done = true;
              break;
            }
            const parsed = this.parseChunk(data);
            if (parsed.finished) finished = true;
            if (parsed.content) yield parsed.content;
            if (req.signal.aborted) throw abortedError();
          }
          if (chunk.done && !done) {
            // Without [DONE] a stream that never said why it stopped was cut short.
            if (finished) break;
            throw this.badStream('stream ended before [DONE]');
          }
        }
      } finally {
        reader.cancel().catch(() => undefined);
      }
    } finally {
      if (timer) clearTimeout(timer);
      req.signal.removeEventListener('abort', onCallerAbort);
      // Closes the connection when the consumer stopped iterating early.
      http.abort();
    }
  }

  private parseChunk(data: string): { content: string; finished: boolean } {
    let obj: unknown;
    try {
      obj = JSON.parse(data);
    } catch {
      throw this.badStream('a data line is not JSON');
    }
    if (!isRecord(obj)) throw this.badStream('a data line is not a JSON object');
    if (obj.error !== undefined) {
      this.log?.warn({ provider: this.id, url: this.safeUrl, error: this.redact(JSON.stringify(obj.error).slice(0, 500)) }, 'provider reported an error mid-stream');
      throw new GatewayError(ErrorCode.Unavailable, 'PROVIDER_ERROR', `provider ${this.id} reported an error mid-stream`);
    }
    const choices = obj.choices;
    if (!Array.isArray(choices)) throw this.badStream('a chunk has no choices array');
    // Usage-only chunks (stream_options.include_usage) carry an empty choices array.
    if (choices.length === 0) return { content: '', finished: false };
    const choice = choices[0];
    if (!isRecord(choice)) throw this.badStream('a chunk choice is not an object');
    const finished = typeof choice.finish_reason === 'string' && choice.finish_reason.length > 0;
    const delta = choice.delta;
    if (delta === undefined || delta === null) return { content: '', finished };
    if (!isRecord(delta)) throw this.badStream('a chunk delta is not an object');
    const content = delta.content;
    if (content === undefined || content === null) return { content: '', finished };
    if (typeof content !== 'string') throw this.badStream('a chunk delta content is not a string');
    return { content, finished };
  }

  private wholeCompletion(text: string): string {
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch {
      throw this.badStream('JSON response is not valid JSON');
    }
    const choice = isRecord(obj) && Array.isArray(obj.choices) ? obj.choices[0] : undefined;
    const message = isRecord(choice) ? choice.message : undefined;
    const content = isRecord(message) ? message.content : undefined;
    if (typeof content !== 'string') throw this.badStream('JSON response has no choices[0].message.content');
    return content;
  }

  private httpError(status: number, statusText: string): GatewayError {
    const label = `provider ${this.id} returned HTTP ${status}${statusText ? ` ${statusText}` : ''} (${this.safeUrl})`;
    if (status === 401 || status === 403) {
      return new GatewayError(ErrorCode.FailedPrecondition, 'PROVIDER_AUTH', `${label}: check the provider API key`);
    }
    if (status === 429) return new GatewayError(ErrorCode.ResourceExhausted, `PROVIDER_HTTP_${status}`, label);
    if (status >= 500) return new GatewayError(ErrorCode.Unavailable, `PROVIDER_HTTP_${status}`, label);
    return new GatewayError(ErrorCode.FailedPrecondition, `PROVIDER_HTTP_${status}`, label);
  }

  private badStream(why: string): GatewayError {
    return new GatewayError(ErrorCode.Unavailable, 'PROVIDER_BAD_STREAM', `provider ${this.id} sent a malformed stream: ${why}`);
  }

  /** Servers sometimes echo the key (or part of it) in error bodies; none of it reaches the log. */
  private redact(text: string): string {
    return this.apiKey ? text.split(this.apiKey).join('[redacted]') : text;
  }
}

/**
 * Incremental server-sent-events parser: feed decoded text, get the `data` payload of
 * every complete event (multi-line data joined with newlines; comments and other
 * fields ignored).
 */
export class SseParser {
  private buffer = '';
  private data: string[] = [];

  /** Adds text and returns the events it completed. */
  push(text: string): string[] {
    this.buffer += text;
    const out: string[] = [];
    let nl: number;
    while ((nl = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const sep = this.buffer.startsWith('\r\n', nl) ? 2 : 1;
      // A lone '\r' at the end may be the first half of '\r\n': wait for more text.
      if (sep === 1 && this.buffer[nl] === '\r' && nl === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + sep);
      this.line(line, out);
    }
    return out;
  }

  /** Flushes what is left when the stream ends. */
  end(text = ''): string[] {
    const out = this.push(text);
    if (this.buffer) this.line(this.buffer, out);
    this.buffer = '';
    this.line('', out);
    return out;
  }

  private line(line: string, out: string[]): void {
    if (line === '') {
      if (this.data.length) out.push(this.data.join('\n'));
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return code;
  }
  return undefined;
}

async function readSnippet(res: Response): Promise<string> {
  const text = await res.text();
  return text.slice(0, 500);
}
