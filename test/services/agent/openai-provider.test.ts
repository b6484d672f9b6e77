/**
 * The OpenAI-compatible provider against real HTTP servers on 127.0.0.1:0 that play
 * the upstream: streaming success, auth failure, HTTP errors, malformed streams, a
 * server that hangs, a closed port, and an abort mid-stream.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OpenAiProvider, SseParser } from '../../../src/services/agent/openai-provider';
import { caught, capturingLogger } from '../helpers';

const API_KEY = 'sk-test-very-secret-key-123';

interface Upstream {
  baseUrl: string;
  requests: { url: string; headers: IncomingMessage['headers']; body: unknown }[];
  /** Resolves when the server saw a request's connection close. */
  closed: Promise<void>;
  close(): Promise<void>;
}

async function upstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Upstream> {
  const requests: Upstream['requests'] = [];
  let markClosed!: () => void;
  const closed = new Promise<void>((r) => (markClosed = r));
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString('utf8')));
    req.on('end', () => {
      requests.push({ url: req.url ?? '', headers: req.headers, body: text ? JSON.parse(text) : undefined });
      res.on('close', () => markClosed());
      handler(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    closed,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function sse(res: ServerResponse, status = 200): void {
  res.writeHead(status, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
}

const chunk = (content: string | undefined, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: finish }] })}\n\n`;

const messages = [{ role: 'user' as const, content: 'hi there' }];

async function collect(p: OpenAiProvider, signal = new AbortController().signal, model = 'test-model'): Promise<string[]> {
  const out: string[] = [];
  for await (const d of p.stream({ model, messages, signal })) out.push(d);
  return out;
}

describe('OpenAiProvider', () => {
  let server: Upstream | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('streams content deltas from SSE chunks and sends the right request', async () => {
    server = await upstream((_req, res) => {
      sse(res);
      res.write(': keep-alive comment\n\n');
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { role: 'assistant' }, finish_reason: null }] })}\n\n`);
      // One event split across two writes, and two events in one write.
      const first = chunk('Hel');
      res.write(first.slice(0, 20));
      res.write(first.slice(20) + chunk('lo'));
      res.write(chunk(', world').replace(/\n\n$/, '\r\n\r\n'));
      res.write(chunk(undefined, 'stop'));
      res.end('data: [DONE]\n\n');
    });
    const p = new OpenAiProvider({ baseUrl: server.baseUrl, model: 'test-model', apiKey: API_KEY, timeoutMs: 5000 });
    expect(await collect(p)).toEqual(['Hel', 'lo', ', world']);
    const req = server.requests[0];
    expect(req.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(req.body).toEqual({ model: 'test-model', messages, stream: true });
    expect(p.models()).toEqual(['test-model']);
    expect(p.id).toBe('openai');
  });

  it('sends no Authorization header without a key, and keeps a base URL path and trailing slash right', async () => {
    server = await upstream((_req, res) => {
      sse(res);
      res.end(chunk('ok', 'stop') + 'data: [DONE]\n\n');
    });
    const p = new OpenAiProvider({ baseUrl: `${server.baseUrl}/`, model: 'm' });
    expect(await collect(p)).toEqual(['ok']);
    expect(server.requests[0].headers.authorization).toBeUndefined();
    expect(server.requests[0].url).toBe('/v1/chat/completions');
  });

  it('accepts a stream that ends after a finish_reason without [DONE]', async () => {
    server = await upstream((_req, res) => {
      sse(res);
      res.end(chunk('done', 'stop'));
    });
    expect(await collect(new OpenAiProvider({ baseUrl: server.baseUrl, model: 'm' }))).toEqual(['done']);
  });

  it('accepts a plain JSON completion from servers that ignore stream:true', async () => {
    server = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: 'whole reply' } }] }));
    });
    expect(await collect(new OpenAiProvider({ baseUrl: server.baseUrl, model: 'm' }))).toEqual(['whole reply']);
  });

  it('maps 401 to PROVIDER_AUTH and never leaks the key into the error or the log', async () => {
    server = await upstream((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${API_KEY}` } }));
    });
    const { logger, lines } = capturingLogger();
    const p = new OpenAiProvider({ baseUrl: server.baseUrl, model: 'm', apiKey: API_KEY, logger });
    const err = await caught(() => collect(p));
    expect(err.reason).toBe('PROVIDER_AUTH');
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(err.message).toContain('401');
    expect(err.message).not.toContain(API_KEY);
    expect(JSON.stringify(err.details)).not.toContain(API_KEY);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('\n')).not.toContain(API_KEY);
    expect(lines.join('\n')).toContain('[redacted]');
  });

  it('maps 403 to PROVIDER_AUTH as well', async () => {
    server = await upstream((_req, res) => {
      res.writeHead(403);
      res.end('forbidden');
    });
    expect((await caught(() => collect(new OpenAiProvider({ baseUrl: server!.baseUrl, model: 'm', apiKey: API_KEY })))).reason).toBe('PROVIDER_AUTH');
  });

  it.each([
    [500, 'UNAVAILABLE'],
    [404, 'FAILED_PRECONDITION'],
    [429, 'RESOURCE_EXHAUSTED'],
  ])('maps HTTP %i to PROVIDER_HTTP_<status> (%s)', async (status, code) => {
    server = await upstream((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'nope' } }));
    });
    const err = await caught(() => collect(new OpenAiProvider({ baseUrl: server!.baseUrl, model: 'm' })));
    expect(err.reason).toBe(`PROVIDER_HTTP_${status}`);
    expect(err.code).toBe(code);
    expect(err.message).toContain(String(status));
  });

  it.each([
    ['a data line that is not JSON', 'data: {not json\n\n', 'not JSON'],
    ['a chunk without choices', `data: ${JSON.stringify({ id: 'x' })}\n\n`, 'no choices'],
    ['a non-string content', `data: ${JSON.stringify({ choices: [{ delta: { content: 42 } }] })}\n\n`, 'not a string'],
    ['a stream cut short before [DONE]', chunk('partial'), 'before [DONE]'],
  ])('refuses %s with PROVIDER_BAD_STREAM', async (_name, body, hint) => {
    server = await upstream((_req, res) => {
      sse(res);
      res.end(body);
    });
    const err = await caught(() => collect(new OpenAiProvider({ baseUrl: server!.baseUrl, model: 'm' })));
    expect(err.reason).toBe('PROVIDER_BAD_STREAM');
    expect(err.message).toContain(hint);
  });

  it('refuses a malformed JSON completion with PROVIDER_BAD_STREAM', async () => {
    server = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"choices": "nope"}');
    });
    expect((await caught(() => collect(new OpenAiProvider({ baseUrl: server!.baseUrl, model: 'm' })))).reason).toBe('PROVIDER_BAD_STREAM');
  });

  it('reports an error object sent mid-stream as PROVIDER_ERROR', async () => {
    server = await upstream((_req, res) => {
      sse(res);
      res.end(chunk('a') + `data: ${JSON.stringify({ error: { message: 'model overloaded' } })}\n\n`);
    });
    const seen: string[] = [];
    const err = await caught(async () => {
      for await (const d of new OpenAiProvider({ baseUrl: server!.baseUrl, model: 'm' }).stream({ model: 'm', messages, signal: new AbortController().signal })) {
        seen.push(d);
      }
    });
    expect(seen).toEqual(['a']);
    expect(err.reason).toBe('PROVIDER_ERROR');
  });

  it('times out with PROVIDER_TIMEOUT when the server never answers', async () => {
    server = await upstream(() => {
      /* never respond */
    });
    const err = await caught(() => collect(new OpenAiProvider({ baseUrl: server!.baseUrl, model: 'm', timeoutMs: 200 })));
    expect(err.reason).toBe('PROVIDER_TIMEOUT');
    expect(err.code).toBe('DEADLINE_EXCEEDED');
    expect(err.message).toContain('200 ms');
  });

  it('times out with PROVIDER_TIMEOUT when the stream stalls after some data', async () => {
    server = await upstream((_req, res) => {
      sse(res);
      res.write(chunk('first'));
    });
    const seen: string[] = [];
    const err = await caught(async () => {
      for await (const d of new OpenAiProvider({ baseUrl: server!.baseUrl, model: 'm', timeoutMs: 200 }).stream({ model: 'm', messages, signal: new AbortController().signal })) {
        seen.push(d);
      }
    });
    expect(seen).toEqual(['first']);
    expect(err.reason).toBe('PROVIDER_TIMEOUT');
    await server.closed;
  });

  it('reports a closed port as PROVIDER_UNREACHABLE', async () => {
    const probe = await upstream(() => undefined);
    const baseUrl = probe.baseUrl;
    await probe.close();
    const err = await caught(() => collect(new OpenAiProvider({ baseUrl, model: 'm', apiKey: API_KEY })));
    expect(err.reason).toBe('PROVIDER_UNREACHABLE');
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.message).not.toContain(API_KEY);
  });

  it('ends with ABORTED and closes the upstream connection when the caller aborts mid-stream', async () => {
    server = await upstream((_req, res) => {
      sse(res);
      res.write(chunk('one'));
      // ...then nothing: only the abort can end this.
    });
    const ac = new AbortController();
    const seen: string[] = [];
    const err = await caught(async () => {
      for await (const d of new OpenAiProvider({ baseUrl: server!.baseUrl, model: 'm', timeoutMs: 30_000 }).stream({ model: 'm', messages, signal: ac.signal })) {
        seen.push(d);
        ac.abort();
      }
    });
    expect(seen).toEqual(['one']);
    expect(err.reason).toBe('ABORTED');
    await server.closed;
  });

  it('refuses to start on an already aborted signal without calling the server', async () => {
    server = await upstream((_req, res) => res.end());
    const ac = new AbortController();
    ac.abort();
    expect((await caught(() => collect(new OpenAiProvider({ baseUrl: server!.baseUrl, model: 'm' }), ac.signal))).reason).toBe('ABORTED');
    expect(server.requests).toHaveLength(0);
  });

  it('closes the connection when the consumer stops early', async () => {
    server = await upstream((_req, res) => {
      sse(res);
      res.write(chunk('one'));
    });
    for await (const d of new OpenAiProvider({ baseUrl: server.baseUrl, model: 'm', timeoutMs: 30_000 }).stream({ model: 'm', messages, signal: new AbortController().signal })) {
      expect(d).toBe('one');
      break;
    }
    await server.closed;
  });

  it('checks its settings', async () => {
    expect((await caught(() => new OpenAiProvider({ baseUrl: 'not a url', model: 'm' }))).reason).toBe('INVALID_PROVIDER_URL');
    expect((await caught(() => new OpenAiProvider({ baseUrl: 'ftp://host/v1', model: 'm' }))).reason).toBe('INVALID_PROVIDER_URL');
    const withCreds = await caught(() => new OpenAiProvider({ baseUrl: 'http://user:pw@host/v1', model: 'm' }));
    expect(withCreds.reason).toBe('INVALID_PROVIDER_URL');
    expect(withCreds.message).not.toContain('pw');
    expect((await caught(() => new OpenAiProvider({ baseUrl: 'http://host/v1', model: '' }))).reason).toBe('INVALID_PROVIDER_MODEL');
  });
});

describe('SseParser', () => {
  it('joins multi-line data, handles CRLF split across chunks, ignores comments and other fields', () => {
    const p = new SseParser();
    expect(p.push('event: x\r')).toEqual([]);
    expect(p.push('\ndata: a\r\ndata:b\r\n')).toEqual([]);
    expect(p.push('\r\n: comment\n\nid: 3\ndata: c')).toEqual(['a\nb']);
    expect(p.end()).toEqual(['c']);
  });
});
