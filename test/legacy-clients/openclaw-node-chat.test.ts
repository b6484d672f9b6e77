/**
 * openclaw-node (npm, Node 24) as a paired device talking to our builtin echo agent.
 * Its chat() sends `agent` with idempotencyKey = its request id and keeps only the
 * `agent` events whose runId equals that id, so the run id must be the idempotency key
 * in both answers and in every event (as on the real gateway), or the text is lost.
 */
import type { OpenclawNodeProcess, ChatReport } from './openclaw-node-process';
import { useLegacyClientsSuite } from './suite';

const s = useLegacyClientsSuite();
let node: OpenclawNodeProcess;
let hello: Record<string, any>;

beforeAll(async () => {
  node = s.openclawNode({ token: s.token });
  await expect(node.call('connect')).rejects.toThrow('WebSocket closed before handshake completed');
  const { requestId } = await node.waitEvent('pairingRequired');
  await s.ours.json('devices', 'approve', requestId);
  hello = await node.call('connect');
});

test('chat() yields the echo agent text as it streams, then done; one run id, the idempotency key', async () => {
  const report = await node.call<ChatReport>('chat', { message: 'hello from openclaw-node', options: { sessionKey: 'main' } });
  const key = report.request.params.idempotencyKey as string;
  expect(report.request).toMatchObject({ method: 'agent', params: { message: 'hello from openclaw-node', sessionKey: 'main', idempotencyKey: expect.any(String) } });

  // What the application sees: the text in several pieces, then done; no error.
  const texts = report.chunks.filter((c) => c.type === 'text').map((c) => c.text);
  expect(texts.length).toBeGreaterThanOrEqual(3);
  expect(texts.join('')).toBe('Echo: hello from openclaw-node (3 words)');
  expect(report.chunks.filter((c) => c.type === 'error')).toEqual([]);
  expect(report.chunks[report.chunks.length - 1]).toMatchObject({ type: 'done' });
  expect(report.chunks.map((c) => c.runId)).toEqual(report.chunks.map(() => key));

  // The two answers to the one request: accepted, then the result, both with runId = idempotencyKey.
  expect(report.responses).toEqual([
    expect.objectContaining({ ok: true, payload: expect.objectContaining({ runId: key, status: 'accepted' }) }),
    expect.objectContaining({ ok: true, payload: expect.objectContaining({ runId: key }) }),
  ]);
  expect(report.agentEvents.length).toBeGreaterThan(0);
  expect(report.agentEvents.map((e) => e.payload.runId)).toEqual(report.agentEvents.map(() => key));
});

test('an unknown method from a read/write device is refused for lack of operator.admin', async () => {
  await expect(node.call('request', { method: 'no.such.method', params: {} })).rejects.toThrow(/^missing scope: operator\.admin\b/);
});

test('hello-ok advertises presence and health events, and a health event arrives after connecting', async () => {
  expect(hello.features.events).toEqual(expect.arrayContaining(['presence', 'health']));
  const health = await node.waitEvent('gateway-event', (f) => f.event === 'health', 5_000);
  expect(health.payload).toMatchObject({ ok: true, ts: expect.any(Number) });
});
