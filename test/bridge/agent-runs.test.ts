/**
 * `agent` and `chat.send` as the real OpenClaw gateway 2026.9.6 answers them (raw
 * frames recorded against it; quoted next to each test): the run id is the request's
 * idempotency key everywhere (answers and events: openclaw-node's chat() keeps only
 * `agent` events whose runId equals the key it sent), the session key comes back
 * canonical (`main` -> `agent:main:main`, one session for both spellings), and the
 * same key again gets the run's outcome, not a second run.
 *
 * Besides the built-in echo agent, agent `remote` talks to a small OpenAI-compatible
 * server run here: it answers HTTP 500 (a failing model), or holds a request whose
 * message says "hold" until the test releases it (a run that is still going).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { ConfigService } from '../../src/gen/openclaw/config/v1/config_pb';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import type { Frame, LegacyClient } from './legacy-client';
import { startBridgeFixture, type BridgeFixture } from './fixture';

/** The fake model endpoint: 500 at once, or a held request (its conversation says "hold") answered when released. */
class ModelServer {
  readonly server: Server;
  private held: ServerResponse[] = [];
  private heldWaiters: (() => void)[] = [];
  constructor() {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (body.includes('hold')) {
          this.held.push(res);
          for (const w of this.heldWaiters.splice(0)) w();
          return;
        }
        res.writeHead(500, 'Internal Server Error').end('{"error":"down"}');
      });
    });
  }
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}/v1`;
  }
  /** Resolves once a request is being held. */
  holding(): Promise<void> {
    return this.held.length > 0 ? Promise.resolve() : new Promise((resolve) => this.heldWaiters.push(resolve));
  }
  release(text: string): void {
    for (const res of this.held.splice(0)) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: text } }] }));
    }
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let f: BridgeFixture;
let model: ModelServer;
let admin: LegacyClient;
let reader: LegacyClient;
let failure = '';
beforeAll(async () => {
  model = new ModelServer();
  const baseUrl = await model.listen();
  failure = `provider openai returned HTTP 500 Internal Server Error (${baseUrl}/chat/completions)`;
  f = await startBridgeFixture();
  const cfg = f.t.connect('cli').client(ConfigService);
  await unaryCall(cfg, cfg.patchConfig, {
    patchJson: JSON.stringify({
      providers: { openai: { baseUrl, model: 'test-model' } },
      agents: { default: 'main', list: [{ id: 'main', provider: 'builtin' }, { id: 'remote', provider: 'openai' }] },
    }),
  });
  const device = await f.pairDevice(['operator.read', 'operator.write']);
  admin = (await f.deviceClient(device, ['operator.read', 'operator.write'])).client;
  reader = await f.tokenClient();
});
afterAll(async () => {
  await f.close();
  await model.close();
});

const agentEvents = (c: LegacyClient, runId: string): Frame[] => c.events('agent').filter((e) => e.payload.runId === runId);

/** Waits until the gateway's event log has passed everything published so far (a later run's end comes after it). */
async function barrier(c: LegacyClient, tag: string): Promise<void> {
  const res = await c.request('chat.send', { sessionKey: `barrier-${tag}`, message: 'x', idempotencyKey: `barrier-${tag}` });
  await c.waitFor((e) => e.event === 'chat' && e.payload.runId === res.payload.runId && e.payload.state === 'final');
}

// Real: {"type":"res","id":"agent-1","ok":true,"payload":{"runId":"idem-1796583958519","sessionKey":"agent:main:main",
// "agentId":"main","status":"accepted","acceptedAt":...}}, then `agent` events
// {"runId":"idem-1796583958519","agentId":"main","sessionId":"47f38702-...","sessionKey":"agent:main:main","stream":"lifecycle",...}.
test('agent: runId = idempotencyKey in the accepted answer, every agent event and the final answer; sessionKey main comes back as agent:main:main', async () => {
  const id = admin.sendRequest('agent', { message: 'hello from openclaw-node', sessionKey: 'main', idempotencyKey: 'idem-1' });
  const [accepted, final] = await admin.responses(id, 2);
  expect(accepted).toEqual({ type: 'res', id, ok: true, payload: { runId: 'idem-1', sessionKey: 'agent:main:main', agentId: 'main', status: 'accepted', acceptedAt: expect.any(Number) } });
  expect(final.payload).toMatchObject({
    runId: 'idem-1',
    status: 'ok',
    summary: 'completed',
    result: { payloads: [{ text: 'Echo: hello from openclaw-node (3 words)' }], meta: { sessionKey: 'agent:main:main', agentId: 'main', sessionId: expect.stringMatching(/^sess_/) } },
  });
  // What openclaw-node's chat() keeps: agent events whose runId is the key it sent.
  const events = agentEvents(admin, 'idem-1');
  expect(events.length).toBeGreaterThanOrEqual(3);
  expect(events.every((e) => e.payload.sessionKey === 'agent:main:main' && e.payload.agentId === 'main')).toBe(true);
  expect(events[0].payload).toMatchObject({ stream: 'lifecycle', data: { phase: 'start' } });
  expect(events.filter((e) => e.payload.stream === 'assistant').map((e) => e.payload.data.delta).join('')).toBe('Echo: hello from openclaw-node (3 words)');
  expect(events.at(-1)!.payload).toMatchObject({ stream: 'lifecycle', data: { phase: 'end' } });
  // Every `chat` event of the run carries the same names; a reader (another client) sees them too.
  await reader.waitFor((e) => e.event === 'chat' && e.payload.runId === 'idem-1' && e.payload.state === 'final');
  expect(reader.events('chat').filter((e) => e.payload.runId === 'idem-1').every((e) => e.payload.sessionKey === 'agent:main:main')).toBe(true);
});

// Real: "agent again with the same idempotencyKey -> " the stored final answer (one frame), no new run.
test('agent: the same idempotencyKey again answers once with the stored outcome and starts no second run', async () => {
  const before = (await reader.request('chat.history', { sessionKey: 'main' })).payload.messages.length;
  const id = admin.sendRequest('agent', { message: 'hello from openclaw-node', sessionKey: 'main', idempotencyKey: 'idem-1' });
  const [answer] = await admin.responses(id, 1);
  expect(answer.payload).toMatchObject({ runId: 'idem-1', status: 'ok', result: { payloads: [{ text: 'Echo: hello from openclaw-node (3 words)' }] } });
  const eventsBefore = agentEvents(admin, 'idem-1').length;
  await barrier(admin, 'retry');
  expect(admin.frames.filter((x) => x.type === 'res' && x.id === id)).toHaveLength(1);
  expect(agentEvents(admin, 'idem-1')).toHaveLength(eventsBefore);
  expect((await reader.request('chat.history', { sessionKey: 'main' })).payload.messages).toHaveLength(before);
});

// Real: one session `agent:main:main` whether a client says `main` or `agent:main:main`.
test('main and agent:main:main are one session: no second session, one history', async () => {
  const id = admin.sendRequest('agent', { message: 'second turn', sessionKey: 'agent:main:main', idempotencyKey: 'idem-2' });
  const [accepted] = await admin.responses(id, 2);
  expect(accepted.payload).toMatchObject({ runId: 'idem-2', sessionKey: 'agent:main:main' });
  const viaMain = (await reader.request('chat.history', { sessionKey: 'main' })).payload;
  const viaFull = (await reader.request('chat.history', { sessionKey: 'agent:main:main' })).payload;
  expect(viaMain).toEqual(viaFull);
  expect(viaMain.sessionKey).toBe('agent:main:main');
  expect(viaMain.messages.map((m: { text: string }) => m.text)).toEqual(['hello from openclaw-node', 'Echo: hello from openclaw-node (3 words)', 'second turn', 'Echo: second turn (2 words)']);
  const rows = (await reader.request('sessions.list')).payload.sessions as { key: string; label: string }[];
  expect(rows.filter((r) => r.key === 'agent:main:main')).toHaveLength(1);
  expect(rows.filter((r) => r.key === 'main' || r.label === 'main')).toEqual([]);
});

// Real (no model configured): accepted, then `agent` {"stream":"lifecycle","data":{"phase":"error","error":"No route-compatible ..."}},
// then {"type":"res","id":"agent-1","ok":false,"payload":{"runId":"idem-...","status":"error","summary":"No route-compatible ..."},
// "error":{"code":"UNAVAILABLE","message":"No route-compatible ..."}}; the same key again -> that same ok:false frame.
test('agent: a failing model gives accepted, a lifecycle error event, then ok:false with payload and error; the key again repeats it', async () => {
  const id = admin.sendRequest('agent', { message: 'please fail', agentId: 'remote', sessionKey: 'main', idempotencyKey: 'idem-fail' });
  const [accepted, final] = await admin.responses(id, 2);
  expect(accepted.payload).toMatchObject({ runId: 'idem-fail', sessionKey: 'agent:remote:main', agentId: 'remote', status: 'accepted' });
  expect(final).toEqual({ type: 'res', id, ok: false, payload: { runId: 'idem-fail', status: 'error', summary: failure }, error: { code: 'UNAVAILABLE', message: failure } });
  expect(agentEvents(admin, 'idem-fail').at(-1)!.payload).toMatchObject({ runId: 'idem-fail', sessionKey: 'agent:remote:main', stream: 'lifecycle', data: { phase: 'error', error: failure } });

  const again = admin.sendRequest('agent', { message: 'please fail', agentId: 'remote', sessionKey: 'main', idempotencyKey: 'idem-fail' });
  const [replayed] = await admin.responses(again, 1);
  expect(replayed).toEqual({ ...final, id: again });
  await barrier(admin, 'fail');
  expect(admin.frames.filter((x) => x.type === 'res' && x.id === again)).toHaveLength(1);
});

// Real (agent-dedupe): a key whose run is still going is answered {runId, status:"in_flight", sessionKey, agentId}.
test('agent: the key of a run still going gets one in_flight answer; the first request still gets its final answer', async () => {
  const id = admin.sendRequest('agent', { message: 'hold this', sessionKey: 'agent:remote:held', idempotencyKey: 'idem-held' });
  await admin.responses(id, 1);
  await model.holding();
  const again = admin.sendRequest('agent', { message: 'hold this', sessionKey: 'agent:remote:held', idempotencyKey: 'idem-held' });
  const [inFlight] = await admin.responses(again, 1);
  expect(inFlight).toEqual({ type: 'res', id: again, ok: true, payload: { runId: 'idem-held', status: 'in_flight', sessionKey: 'agent:remote:held', agentId: 'remote' } });
  model.release('held reply');
  const [, final] = await admin.responses(id, 2);
  expect(final.payload).toMatchObject({ runId: 'idem-held', status: 'ok', result: { payloads: [{ text: 'held reply' }] } });
  expect(admin.frames.filter((x) => x.type === 'res' && x.id === again)).toHaveLength(1);
  expect((await admin.request('agent.wait', { runId: 'idem-held' })).payload).toMatchObject({ runId: 'idem-held', status: 'ok' });
});

// Real (checked again for this test): chat.send with the key of a run still going ->
// {"ok":true,"payload":{"runId":"chatprobe-...","status":"in_flight"}}; after that run failed ->
// {"ok":false,"payload":{"runId":"chatprobe-...","status":"error","summary":"⚠️ Agent failed before reply: ..."},"error":{"code":"UNAVAILABLE",...}}.
test('chat.send: the key of a run still going answers in_flight; of a failed run, ok:false with payload and error', async () => {
  const res = await admin.request('chat.send', { sessionKey: 'agent:remote:chat', message: 'hold on', idempotencyKey: 'chat-held' });
  expect(res.payload).toEqual({ runId: 'chat-held', status: 'started' });
  await model.holding();
  expect((await admin.request('chat.send', { sessionKey: 'agent:remote:chat', message: 'hold on', idempotencyKey: 'chat-held' })).payload).toEqual({ runId: 'chat-held', status: 'in_flight' });
  model.release('done holding');
  await admin.waitFor((e) => e.event === 'chat' && e.payload.runId === 'chat-held' && e.payload.state === 'final');

  // Another session: the model sees the whole conversation, and this one said "hold".
  await admin.request('chat.send', { sessionKey: 'agent:remote:chat2', message: 'fail now', idempotencyKey: 'chat-fail' });
  await admin.waitFor((e) => e.event === 'chat' && e.payload.runId === 'chat-fail' && e.payload.state === 'error');
  const again = await admin.request('chat.send', { sessionKey: 'agent:remote:chat2', message: 'fail now', idempotencyKey: 'chat-fail' });
  expect(again).toEqual({ type: 'res', id: again.id, ok: false, payload: { runId: 'chat-fail', status: 'error', summary: failure }, error: { code: 'UNAVAILABLE', message: failure } });
});

// Real: chat.send -> {"runId":"chat-1796583966525","status":"started"} (runId = its idempotencyKey), events with that runId.
test('chat.send: {runId: idempotencyKey, status:"started"}, events named by it; the key again gets the outcome', async () => {
  const res = await admin.request('chat.send', { sessionKey: 'main', message: 'chat hello', idempotencyKey: 'chat-1' });
  expect(res.payload).toEqual({ runId: 'chat-1', status: 'started' });
  const final = await admin.waitFor((e) => e.event === 'chat' && e.payload.runId === 'chat-1' && e.payload.state === 'final');
  expect(final.payload).toMatchObject({ sessionKey: 'agent:main:main', agentId: 'main', message: { text: 'Echo: chat hello (2 words)' } });
  expect(agentEvents(admin, 'chat-1').every((e) => e.payload.sessionKey === 'agent:main:main')).toBe(true);
  expect((await admin.request('chat.send', { sessionKey: 'main', message: 'chat hello', idempotencyKey: 'chat-1' })).payload).toEqual({ runId: 'chat-1', status: 'ok' });
});

// Real: `agent` with a key already used, naming another session -> the stored answer of that run
// (here {"ok":false,"payload":{"runId":"probe-...","status":"error","summary":...},"error":{"code":"UNAVAILABLE",...}}); nothing runs.
test('an idempotencyKey already used in another session gets the outcome of its run and runs nothing', async () => {
  const res = await admin.request('chat.send', { sessionKey: 'elsewhere', message: 'chat hello', idempotencyKey: 'chat-1' });
  expect(res.payload).toEqual({ runId: 'chat-1', status: 'ok' });
  expect((await reader.request('chat.history', { sessionKey: 'elsewhere' })).payload.messages).toEqual([]);
});
