/**
 * Sessions shared by two gateway processes on a real PostgreSQL (started by this file),
 * as replicas behind one address: a session created and talked to (built-in provider,
 * no network) on A is listed with its history on B; deleted on B, it is gone on A; a
 * turn running on A is aborted through B; and A killed with SIGKILL right after its
 * sends were acknowledged has lost none of them. The slow turn talks to a small
 * OpenAI-compatible server on 127.0.0.1 that streams one word and then holds.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readCertsDir } from '../../src/identity';
import { ConfigService } from '../../src/gen/openclaw/config/v1/config_pb';
import { SessionService, type SendMessageResponse } from '../../src/gen/openclaw/sessions/v1/sessions_pb';
import { GatewayConnection, unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { eventually } from '../helpers/eventually';
import { BIN, startNode, type Child } from '../helpers/processes';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { runCertsTools } from '../helpers/run-cli';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp';
import { StreamReader } from '../helpers/grpc-kit';

let pg: TestPostgres;
let root: string;
let url: string;
let upstream: Server;
const held: ServerResponse[] = [];
let a: { child: Child; address: string };
let b: { child: Child; address: string };
const conns: GatewayConnection[] = [];

async function startReplica(): Promise<{ child: Child; address: string }> {
  const child = startNode(BIN.gateway, ['start', '--state-dir', `${root}/state`, '--grpc-port', '0', '--no-bridge', '--no-worker', '--log-level', 'warn'], { OPENCLAW_DATABASE_URL: url });
  const port = (await child.waitFor(/gRPC \(mTLS\):\s+127\.0\.0\.1:(\d+)/))[1];
  return { child, address: `127.0.0.1:${port}` };
}

/** The SessionService client of the operator identity on a replica. */
function sessionsOn(r: { address: string }) {
  const c = readCertsDir(`${root}/ops`);
  const conn = new GatewayConnection(r.address, { caPem: c.caPem, keyPem: c.keyPem, certPem: c.certPem }, { 'grpc.use_local_subchannel_pool': 1 });
  conns.push(conn);
  return conn.client(SessionService);
}

type Sessions = ReturnType<typeof sessionsOn>;

/** Sends a message and reads the turn's outputs until the stream ends (the send is then acknowledged). */
async function send(s: Sessions, sessionId: string, text: string): Promise<SendMessageResponse['output'][]> {
  const stream = new StreamReader<SendMessageResponse>(s.sendMessage({ sessionId, text, idempotencyKey: '' }));
  const end = await stream.endWithin(10_000);
  expect(end.error).toBeUndefined();
  return stream.pending.map((m) => m.output);
}

const reasonOf = (err: unknown) => (err as { reason?: string }).reason;

beforeAll(async () => {
  pg = await startPostgres();
  url = await pg.createDatabase('openclaw');
  root = makeTmpDir('sessions-replicas-');
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'thinking' }, finish_reason: null }] })}\n\n`);
      held.push(res); // ...and nothing more, until the gateway gives up on it.
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const env = { OPENCLAW_DATABASE_URL: url };
  expect((await runCertsTools(['--state-dir', `${root}/state`, 'init'], { env })).code).toBe(0);
  a = await startReplica();
  b = await startReplica();
  const r = await runCertsTools(['--state-dir', `${root}/state`, 'issue', '--role', 'operator', '--name', 'ops', '--out', `${root}/ops`], { env });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  // The agents, set once through A: the runtime config is shared by the replicas.
  const c = readCertsDir(`${root}/ops`);
  const admin = new GatewayConnection(a.address, { caPem: c.caPem, keyPem: c.keyPem, certPem: c.certPem }, { 'grpc.use_local_subchannel_pool': 1 });
  conns.push(admin);
  const config = admin.client(ConfigService);
  await unaryCall(config, config.patchConfig, {
    baseHash: '',
    patchJson: JSON.stringify({
      agents: { default: 'main', list: [{ id: 'main', provider: 'builtin' }, { id: 'slow', provider: 'openai', model: 'slow-1' }] },
      providers: { openai: { baseUrl: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`, apiKeyEnv: 'OPENCLAW_TEST_UPSTREAM_KEY' } },
    }),
  });
  // ...and applied on B too (its agent list is rebuilt by the config listener).
  const onB = sessionsOn(b);
  await eventually('B knows the agent "slow"', async () => (await unaryCall(onB, onB.listAgents, {})).agents.find((x) => x.agentId === 'slow'));
}, 60_000);

afterAll(async () => {
  for (const c of conns) c.close();
  for (const r of [a, b]) await r?.child.kill();
  for (const res of held) res.destroy();
  upstream?.closeAllConnections();
  await new Promise((resolve) => upstream?.close(resolve));
  await pg?.stop();
  if (root) removeTmpDir(root);
});

test('a session created and talked to on A is listed with its history on B', async () => {
  const [onA, onB] = [sessionsOn(a), sessionsOn(b)];
  const { session } = await unaryCall(onA, onA.createSession, { label: 'shared', agentId: '' });
  const outputs = await send(onA, session!.sessionId, 'hello from a');
  expect(outputs.at(-1)).toMatchObject({ stream: 'lifecycle', phase: 'end', text: 'Echo: hello from a (3 words)' });

  const listed = await eventually('B lists the session with both messages', async () => {
    const res = await unaryCall(onB, onB.listSessions, {});
    return res.sessions.find((s) => s.sessionId === session!.sessionId && s.messageCount === 2);
  });
  expect(listed).toMatchObject({ label: 'shared', agentId: 'main', busy: false });
  const onBHistory = await unaryCall(onB, onB.getHistory, { sessionId: session!.sessionId, limit: 0 });
  expect(onBHistory.messages.map((m) => [m.role, m.text, m.status])).toEqual([
    ['user', 'hello from a', 'ok'],
    ['assistant', 'Echo: hello from a (3 words)', 'ok'],
  ]);
  expect(onBHistory.messages).toEqual((await unaryCall(onA, onA.getHistory, { sessionId: session!.sessionId, limit: 0 })).messages);
});

test('deleted on B: gone on A, which refuses to send to it', async () => {
  const [onA, onB] = [sessionsOn(a), sessionsOn(b)];
  const { session } = await unaryCall(onA, onA.createSession, { label: 'doomed', agentId: '' });
  const sessionId = session!.sessionId;
  await send(onA, sessionId, 'soon gone');
  await eventually('B knows the session', async () => (await unaryCall(onB, onB.describeSession, { sessionId })).session);
  expect((await unaryCall(onB, onB.deleteSession, { sessionId })).deleted).toBe(true);

  const err = await eventually('A no longer knows it', async () => {
    try {
      await unaryCall(onA, onA.describeSession, { sessionId });
      return undefined;
    } catch (e) {
      return e;
    }
  });
  expect(reasonOf(err)).toBe('SESSION_NOT_FOUND');
  expect((await unaryCall(onA, onA.listSessions, {})).sessions.map((s) => s.sessionId)).not.toContain(sessionId);
  const stream = new StreamReader<SendMessageResponse>(onA.sendMessage({ sessionId, text: 'anyone?', idempotencyKey: '' }));
  expect((await stream.endWithin(5000)).error?.reason).toBe('SESSION_NOT_FOUND');
});

test('a turn running on A is busy on B and aborted through B', async () => {
  const [onA, onB] = [sessionsOn(a), sessionsOn(b)];
  const { session } = await unaryCall(onA, onA.createSession, { label: 'slow', agentId: 'slow' });
  const sessionId = session!.sessionId;
  const turn = new StreamReader<SendMessageResponse>(onA.sendMessage({ sessionId, text: 'take your time', idempotencyKey: '' }));
  expect((await turn.next()).output).toMatchObject({ stream: 'lifecycle', phase: 'start' });
  const first = (await turn.next()).output!;
  expect(first).toMatchObject({ stream: 'assistant', delta: 'thinking' });

  await eventually('B shows the session busy', async () => ((await unaryCall(onB, onB.describeSession, { sessionId })).session?.busy ? true : undefined));
  const busy = await unaryCall(onB, onB.deleteSession, { sessionId }).catch((e: unknown) => e);
  expect(reasonOf(busy)).toBe('SESSION_BUSY');

  expect((await unaryCall(onB, onB.abortTurn, { sessionId, runId: first.runId })).aborted).toBe(true);
  // By then A has ended the turn and stored how it ended.
  await turn.endWithin(5000);
  expect(turn.pending.at(-1)?.output).toMatchObject({ stream: 'lifecycle', phase: 'aborted', text: 'thinking' });
  const history = await unaryCall(onB, onB.getHistory, { sessionId, limit: 0 });
  expect(history.messages.map((m) => [m.role, m.text, m.status])).toEqual([
    ['user', 'take your time', 'ok'],
    ['assistant', 'thinking', 'aborted'],
  ]);
  expect((await unaryCall(onB, onB.describeSession, { sessionId })).session?.busy).toBe(false);
});

test('A killed with SIGKILL right after acknowledging sends: B has every message and goes on with the session', async () => {
  const [onA, onB] = [sessionsOn(a), sessionsOn(b)];
  const { session } = await unaryCall(onA, onA.createSession, { label: 'survivor', agentId: '' });
  const sessionId = session!.sessionId;
  const replies: string[] = [];
  for (const text of ['one', 'two words', 'three words here']) replies.push((await send(onA, sessionId, text)).at(-1)!.text);
  a.child.proc.kill('SIGKILL');
  await a.child.exited;

  const history = await eventually('B has all six messages', async () => {
    const res = await unaryCall(onB, onB.getHistory, { sessionId, limit: 0 });
    return res.messages.length === 6 ? res.messages : undefined;
  });
  expect(history.map((m) => m.text)).toEqual(['one', replies[0], 'two words', replies[1], 'three words here', replies[2]]);
  expect(history.every((m) => m.status === 'ok')).toBe(true);
  // No claim was left behind: B takes the next turn at once.
  expect((await send(onB, sessionId, 'still here')).at(-1)).toMatchObject({ phase: 'end', text: 'Echo: still here (2 words)' });
});
