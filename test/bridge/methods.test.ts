import { startBridge } from '../../src/bridge/ws';
import { silentLogger } from '../../src/logging';
import { connectParams, LegacyClient, type Frame } from './legacy-client';
import { LEGACY_TOKEN, startBridgeFixture, type BridgeFixture } from './fixture';

let f: BridgeFixture;
let admin: LegacyClient;
let reader: LegacyClient;
beforeAll(async () => {
  f = await startBridgeFixture();
  const device = await f.pairDevice(['operator.read', 'operator.write', 'operator.admin', 'operator.pairing']);
  admin = (await f.deviceClient(device, ['operator.read', 'operator.write', 'operator.admin'])).client;
  reader = await f.tokenClient();
});
afterAll(async () => {
  await f.close();
});

test('cron add, list, get, update, run, runs, remove through the bridge', async () => {
  const added = await admin.request('cron.add', {
    name: 'morning brief',
    schedule: { kind: 'cron', expr: '0 7 * * *', tz: 'UTC' },
    sessionTarget: 'isolated',
    wakeMode: 'now',
    payload: { kind: 'agentTurn', message: 'good morning' },
  });
  expect(added.ok).toBe(true);
  const job = added.payload;
  expect(job).toMatchObject({ id: expect.any(String), name: 'morning brief', enabled: true, schedule: { kind: 'cron', expr: '0 7 * * *', tz: 'UTC' }, payload: { kind: 'agentTurn', message: 'good morning' }, state: { nextRunAtMs: expect.any(Number) } });

  const listed = await reader.request('cron.list');
  expect(listed.payload.jobs.map((j: { id: string }) => j.id)).toContain(job.id);
  expect(await reader.request('cron.get', { id: job.id })).toMatchObject({ ok: true, payload: { id: job.id } });
  expect(await reader.request('cron.status')).toMatchObject({ ok: true, payload: { enabled: true, jobs: expect.any(Number) } });

  const updated = await admin.request('cron.update', { id: job.id, patch: { enabled: false, schedule: { kind: 'every', everyMs: 60_000 } } });
  expect(updated.payload).toMatchObject({ enabled: false, schedule: { kind: 'every', everyMs: 60_000 } });
  expect((await reader.request('cron.list')).payload.jobs.map((j: { id: string }) => j.id)).not.toContain(job.id);
  expect((await reader.request('cron.list', { includeDisabled: true })).payload.jobs.map((j: { id: string }) => j.id)).toContain(job.id);

  const run = await admin.request('cron.run', { id: job.id, mode: 'force' });
  expect(run.payload).toMatchObject({ ok: true, ran: true, runId: expect.any(String) });
  const runs = await reader.request('cron.runs', { id: job.id });
  expect(runs.payload.entries.map((e: { runId: string }) => e.runId)).toContain(run.payload.runId);

  expect(await admin.request('cron.remove', { id: job.id })).toMatchObject({ ok: true, payload: { ok: true, removed: true } });
  expect((await reader.request('cron.list', { includeDisabled: true })).payload.jobs.map((j: { id: string }) => j.id)).not.toContain(job.id);
  expect(await reader.request('cron.get', { id: job.id })).toMatchObject({ ok: false, error: { code: 'INVALID_REQUEST' } });
});

test('cron.list pages with the canonical metadata the current legacy CLI checks', async () => {
  const ids: string[] = [];
  for (const name of ['page-a', 'page-b', 'page-c']) {
    const added = await admin.request('cron.add', { name, schedule: { kind: 'every', everyMs: 3_600_000 }, payload: { kind: 'systemEvent', text: name } });
    ids.push(added.payload.id);
  }
  const first = (await reader.request('cron.list', { limit: 2, offset: 0 })).payload;
  expect(first).toMatchObject({ offset: 0, limit: 2, hasMore: true, nextOffset: 2, snapshotRevision: expect.any(String) });
  expect(first.jobs).toHaveLength(2);
  const second = (await reader.request('cron.list', { limit: 2, offset: first.nextOffset })).payload;
  expect(second).toMatchObject({ offset: 2, hasMore: false, nextOffset: null, total: first.total, snapshotRevision: first.snapshotRevision });
  expect([...first.jobs, ...second.jobs].map((j: { id: string }) => j.id)).toEqual(expect.arrayContaining(ids));
  // Any change to the inventory changes the revision, so a paging client restarts.
  await admin.request('cron.remove', { id: ids[0] });
  const after = (await reader.request('cron.list', { limit: 2 })).payload;
  expect(after.snapshotRevision).not.toBe(first.snapshotRevision);
  expect(after.total).toBe(first.total - 1);
  for (const id of ids.slice(1)) await admin.request('cron.remove', { id });
});

test('bad method params are INVALID_REQUEST naming the method', async () => {
  const res = await admin.request('cron.add', { name: 'x', schedule: { kind: 'weekly' }, payload: { kind: 'systemEvent', text: 'x' } });
  expect(res.error).toMatchObject({ code: 'INVALID_REQUEST', message: 'invalid cron.add params: schedule.kind must be cron, every or at' });
  expect((await admin.request('cron.remove', 'not-an-object')).error).toMatchObject({ code: 'INVALID_REQUEST', message: 'invalid cron.remove params: params must be an object' });
  expect((await admin.request('cron.remove', {})).error).toMatchObject({ message: 'invalid cron.remove params: id is required' });
});

// Real gateway 2026.9.6 (raw frames): `no.such.method` from a read-only caller ->
// FORBIDDEN "missing scope: operator.admin" {code:"MISSING_SCOPE", missingScope:"operator.admin",
// requiredScopes:["operator.admin"]}; from an admin -> INVALID_REQUEST "unknown method: no.such.method";
// a second `connect` after hello (read-only caller) -> the same FORBIDDEN. The socket stays open.
const ADMIN_MISSING = { code: 'FORBIDDEN', message: 'missing scope: operator.admin', details: { code: 'MISSING_SCOPE', missingScope: 'operator.admin', requiredScopes: ['operator.admin'] } };

test('unserved methods: callers without operator.admin get the missing-scope error, admins "unknown method"; never a fake answer', async () => {
  // Real methods this bridge does not serve (skill details, wizard) and a made-up one.
  const methods = ['skills.detail', 'wizard.start', 'no.such.method'];
  for (const method of methods) {
    expect(await reader.request(method, {})).toEqual({ type: 'res', id: expect.any(String), ok: false, error: ADMIN_MISSING });
    expect(await admin.request(method, {})).toEqual({ type: 'res', id: expect.any(String), ok: false, error: { code: 'INVALID_REQUEST', message: `unknown method: ${method}` } });
  }
  // No scopes at all: the same missing-scope answer.
  const { client: bare, hello } = await f.connect(connectParams({ scopes: ['operator.pairing'], auth: { token: LEGACY_TOKEN } }));
  expect(hello.payload.auth.scopes).toEqual([]);
  expect((await bare.request('no.such.method')).error).toEqual(ADMIN_MISSING);
  await bare.close();
  expect((await reader.request('health')).ok).toBe(true);
});

// Real gateway (checked): an admin's second connect -> INVALID_REQUEST "connect is only valid as the first request".
test('connect again after hello: missing scope for a reader (as an unclassified method), refused for an admin', async () => {
  expect((await reader.request('connect', connectParams())).error).toEqual(ADMIN_MISSING);
  expect((await admin.request('connect', connectParams())).error).toEqual({ code: 'INVALID_REQUEST', message: 'connect is only valid as the first request' });
  expect((await reader.request('health')).ok).toBe(true);
  expect((await admin.request('health')).ok).toBe(true);
});

test('missing scope: a token-only client calling cron.add is FORBIDDEN before any gateway call', async () => {
  const res = await reader.request('cron.add', { name: 'x', schedule: { kind: 'every', everyMs: 60_000 }, payload: { kind: 'systemEvent', text: 'x' } });
  expect(res.error).toEqual({ code: 'FORBIDDEN', message: expect.stringMatching(/^missing scope: operator\.admin \(/), details: { code: 'MISSING_SCOPE', missingScope: 'operator.admin', requiredScopes: ['operator.admin'] } });
});

test('the gateway has the last word: a bridge that over-reports token scopes still gets FORBIDDEN', async () => {
  const lax = await startBridge({ port: 0, gateway: f.gateway, legacyToken: LEGACY_TOKEN, log: silentLogger(), tokenOnlyScopes: ['operator.read', 'operator.admin'] });
  try {
    const c = await LegacyClient.open(lax.url);
    await c.challenge();
    const hello = await c.request('connect', connectParams({ scopes: ['operator.read', 'operator.admin'], auth: { token: LEGACY_TOKEN } }));
    expect(hello.payload.auth.scopes).toEqual(['operator.read', 'operator.admin']);
    const res = await c.request('cron.add', { name: 'x', schedule: { kind: 'every', everyMs: 60_000 }, payload: { kind: 'systemEvent', text: 'x' } });
    expect(res.error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/^missing scope: operator\.admin/), details: { code: 'MISSING_SCOPE', missingScope: 'operator.admin' } });
    await c.close();
  } finally {
    await lax.close();
  }
});

test('health answers with no scopes at all; everything else needs them', async () => {
  const { client, hello } = await f.connect(connectParams({ scopes: ['operator.pairing'], auth: { token: LEGACY_TOKEN } }));
  expect(hello.payload.auth.scopes).toEqual([]);
  expect(await client.request('health')).toMatchObject({ ok: true, payload: { ok: true, ts: expect.any(Number) } });
  expect((await client.request('status')).error).toMatchObject({ code: 'FORBIDDEN', message: 'missing scope: operator.read' });
  await client.close();
});

test('status, system-presence, logs.tail', async () => {
  expect((await reader.request('status')).payload).toMatchObject({ ok: true, version: expect.any(String), devices: { active: expect.any(Number) } });
  // The gateway first (reason "self"), then the clients it lists (this CLI-mode reader is not one).
  const presence = await reader.request('system-presence');
  expect(presence.payload[0]).toMatchObject({ mode: 'gateway', reason: 'self', host: expect.any(String), version: expect.any(String), text: expect.stringMatching(/^Gateway: /) });
  expect(presence.payload.filter((e: { clientId?: string }) => e.clientId === 'cli')).toEqual([]);
  // The test gateway logs to the test's capture, not to its tail buffer: the answer's shape is what is checked here.
  const logs = await reader.request('logs.tail', { limit: 20 });
  expect(logs.payload).toMatchObject({ file: 'gateway', lines: expect.any(Array), cursor: expect.any(String), truncated: false, reset: false });
  expect((await reader.request('logs.tail', { cursor: 'gone', limit: 200 })).payload.reset).toBe(true);
});

test('config.get, config.patch and config.set (with baseHash)', async () => {
  const got = await reader.request('config.get');
  expect(got.payload).toMatchObject({ exists: true, valid: true, hash: expect.any(String), config: { pairing: expect.any(Object) } });
  const patched = await admin.request('config.patch', { raw: JSON.stringify({ pairing: { pendingTtlSeconds: 600 } }), baseHash: got.payload.hash });
  expect(patched.payload).toMatchObject({ ok: true, config: { pairing: { pendingTtlSeconds: 600 } } });
  expect((await admin.request('config.patch', { raw: '{}', baseHash: got.payload.hash })).error).toMatchObject({ code: 'INVALID_REQUEST' });
  const full = { ...patched.payload.config, pairing: { ...patched.payload.config.pairing, pendingTtlSeconds: 300 } };
  const set = await admin.request('config.set', { raw: JSON.stringify(full), baseHash: patched.payload.hash });
  expect(set.payload.config.pairing.pendingTtlSeconds).toBe(300);
  expect((await admin.request('config.set', { raw: '{ not json', baseHash: set.payload.hash })).error).toMatchObject({ message: 'invalid config.set params: raw must be JSON (JSON5 is not supported)' });
  expect((await reader.request('config.patch', { raw: '{}' })).error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/^missing scope: operator\.admin/) });
});

/** Checks per-connection seq: events after hello count 1, 2, 3... without gaps. */
function expectContiguousSeq(c: LegacyClient): void {
  const seqs = c.events().filter((e) => e.seq !== undefined).map((e) => e.seq!);
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0] + i));
  expect(seqs[0]).toBe(1);
}

test('chat.send answers with the run id and streams agent and chat events in seq order', async () => {
  const sub = await reader.request('sessions.subscribe');
  expect(sub.payload).toEqual({ subscribed: true });
  const res = await admin.request('chat.send', { sessionKey: 'main', message: 'hello brave new world', idempotencyKey: 'k-1' });
  expect(res.payload).toEqual({ runId: 'k-1', status: 'started' });
  const runId = res.payload.runId as string;
  const final = await admin.waitFor((e) => e.event === 'chat' && e.payload.runId === runId && e.payload.state === 'final');
  const agent = admin.events('agent').filter((e) => e.payload.runId === runId);
  expect(agent[0].payload).toMatchObject({ runId, sessionKey: expect.any(String), stream: 'lifecycle', data: { phase: 'start' }, seq: 1, ts: expect.any(Number) });
  const end = agent[agent.length - 1].payload;
  expect(end).toMatchObject({ stream: 'lifecycle', data: { phase: 'end', text: 'Echo: hello brave new world (4 words)' } });
  const deltas = agent.filter((e) => e.payload.stream === 'assistant').map((e) => e.payload.data.delta as string);
  expect(deltas.join('')).toBe('Echo: hello brave new world (4 words)');
  expect(agent.map((e) => e.payload.seq)).toEqual(agent.map((_, i) => i + 1));
  expect(final.payload.message).toMatchObject({ role: 'assistant', text: 'Echo: hello brave new world (4 words)' });
  expectContiguousSeq(admin);

  // Other operators see the run too, and the subscribed one sees sessions.changed.
  await reader.waitFor((e) => e.event === 'chat' && e.payload.runId === runId && e.payload.state === 'final');
  expect(reader.events('sessions.changed').length).toBeGreaterThan(0);
  expectContiguousSeq(reader);

  const history = await reader.request('chat.history', { sessionKey: 'main' });
  expect(history.payload.messages.map((m: { role: string; text: string }) => [m.role, m.text])).toEqual([
    ['user', 'hello brave new world'],
    ['assistant', 'Echo: hello brave new world (4 words)'],
  ]);
  const sessions = await reader.request('sessions.list');
  expect(sessions.payload.sessions.find((s: { key: string }) => s.key === 'agent:main:main')).toMatchObject({ sessionId: expect.stringMatching(/^sess_/), messageCount: 2 });
});

test('agent answers twice on the same id (accepted, then the result); agent.wait sees the end', async () => {
  const id = admin.sendRequest('agent', { message: 'one two', sessionKey: 'agent-test', idempotencyKey: 'a-1' });
  const [accepted, done] = await admin.responses(id, 2);
  expect(accepted.payload).toMatchObject({ status: 'accepted', runId: 'a-1', sessionKey: 'agent:main:agent-test' });
  expect(done.payload).toMatchObject({ runId: accepted.payload.runId, status: 'ok', result: { payloads: [{ text: 'Echo: one two (2 words)' }] } });
  const waited = await reader.request('agent.wait', { runId: accepted.payload.runId, timeoutMs: 1000 });
  expect(waited.ok).toBe(false);
  expect(waited.error).toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/^missing scope: operator\.write/) });
  expect((await admin.request('agent.wait', { runId: accepted.payload.runId })).payload).toMatchObject({ runId: accepted.payload.runId, status: 'ok', endedAt: expect.any(Number) });
  expect((await admin.request('agent.wait', { runId: 'run_unknown', timeoutMs: 10 })).payload).toEqual({ runId: 'run_unknown', status: 'timeout' });
});

test('agents.list, models.list, sessions.create/describe/delete', async () => {
  expect((await reader.request('agents.list')).payload).toMatchObject({ defaultId: 'main', agents: [expect.objectContaining({ id: 'main' })] });
  expect((await reader.request('models.list')).payload.models.length).toBeGreaterThan(0);
  const created = await admin.request('sessions.create', { label: 'scratch' });
  const key = created.payload.key as string;
  expect((await reader.request('sessions.describe', { key })).payload).toEqual({ session: expect.objectContaining({ key, label: 'scratch', messageCount: 0 }) });
  expect((await admin.request('sessions.delete', { key })).payload).toMatchObject({ ok: true, deleted: true });
  // Real gateway 2026.9.6: a key without a session -> {session: null}.
  expect((await reader.request('sessions.describe', { key })).payload).toEqual({ session: null });
});

test('garbage after the handshake is answered INVALID_REQUEST and the connection goes on', async () => {
  const c = await f.tokenClient();
  const before = c.frames.length;
  c.send('{"type":"req"');
  c.send({ type: 'req', id: 'g1', method: 'health', extra: 1 });
  c.send({ type: 'req', id: 5, method: 'health' });
  c.send([1, 2, 3]);
  c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  const answers: Frame[] = [];
  for (let i = 0; i < 5; i++) answers.push(await c.waitFor((x) => x.type === 'res' && !answers.includes(x), 5000, before));
  expect(answers.every((a) => a.ok === false && a.error.code === 'INVALID_REQUEST' && String(a.error.message).startsWith('invalid request frame: '))).toBe(true);
  expect(answers.find((a) => a.id === 'g1')?.error.message).toBe("invalid request frame: at root: unexpected property 'extra'");
  expect((await c.request('health')).ok).toBe(true);
  await c.close();
});
