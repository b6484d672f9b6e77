/**
 * SessionService on both storage backends (a files journal in a temp folder, and a real
 * PostgreSQL server this file starts), with the built-in provider and small fake
 * providers (failing, gated, deaf to abort). "Restart" is a new service over a new
 * backend on the same place.
 */
import { ManualClock } from '../../../src/clock';
import { ErrorCode, GatewayError } from '../../../src/errors';
import { silentLogger } from '../../../src/logging';
import { RecordingPublisher } from '../../../src/services/events/event-publisher';
import { AgentCatalog, DEFAULT_AGENT } from '../../../src/services/agent/agent-catalog';
import type { AgentProvider, ProviderStreamRequest } from '../../../src/services/agent/agent-provider';
import { BuiltinProvider } from '../../../src/services/agent/builtin-provider';
import { SessionService, type AgentOutput, type SessionServiceDeps } from '../../../src/services/sessions/session-service';
import { SESSION_MESSAGES, validateTranscriptRecord } from '../../../src/services/sessions/session-records';
import type { StoreBackend } from '../../../src/store/collection';
import { caught } from '../helpers';
import { bothBackends } from './store-places';

/** Yields "partial", then fails like an unreachable provider — but only `failures` times. */
class FlakyProvider implements AgentProvider {
  readonly id = 'flaky';
  calls = 0;
  constructor(private failures: number) {}
  models(): string[] {
    return ['flaky-1'];
  }
  async *stream(_req: ProviderStreamRequest): AsyncIterable<string> {
    this.calls++;
    if (this.failures > 0) {
      this.failures--;
      yield 'partial';
      throw new GatewayError(ErrorCode.Unavailable, 'PROVIDER_UNREACHABLE', 'provider flaky is unreachable');
    }
    yield 'fine';
    yield ' now';
  }
}

/** Records the conversations it was given and answers "ok". */
class RecordingProvider implements AgentProvider {
  readonly id = 'recording';
  readonly requests: ProviderStreamRequest[] = [];
  models(): string[] {
    return ['rec-1'];
  }
  async *stream(req: ProviderStreamRequest): AsyncIterable<string> {
    this.requests.push({ ...req, messages: req.messages.map((m) => ({ ...m })) });
    yield 'ok';
  }
}

/** Never yields and ignores the abort signal: only the session's own abort handling can end a turn on it. */
class DeafProvider implements AgentProvider {
  readonly id = 'deaf';
  models(): string[] {
    return ['deaf-1'];
  }
  stream(): AsyncIterable<string> {
    return { [Symbol.asyncIterator]: () => ({ next: () => new Promise<IteratorResult<string>>(() => undefined) }) };
  }
}

/** Throws a plain Error (not a GatewayError). */
class BrokenProvider implements AgentProvider {
  readonly id = 'broken';
  models(): string[] {
    return ['broken-1'];
  }
  async *stream(): AsyncIterable<string> {
    throw new Error('socket hang up with secret details');
  }
}

/** The built-in provider with a one-minute pause before each delta, under its own id. */
function slowProvider(): AgentProvider {
  const inner = new BuiltinProvider({ deltaDelayMs: 60_000 });
  return { id: 'slow', models: () => inner.models(), stream: (req) => inner.stream(req) };
}

const backends = bothBackends();

describe.each(backends)('SessionService on %s', (_label, placesOf) => {
  const places = placesOf();
  let place: string;
  let backend: StoreBackend;
  let clock: ManualClock;
  let events: RecordingPublisher;
  let flaky: FlakyProvider;
  let recording: RecordingProvider;
  let catalog: AgentCatalog;

  const make = (over: Partial<SessionServiceDeps> = {}) => SessionService.open({ store: backend, agents: catalog, clock, events, logger: silentLogger(), ...over });
  /** A new service over a new backend on the same place: a restart, or another replica. */
  const reopen = async (over: Partial<SessionServiceDeps> = {}) => make({ store: await places.open(place), ...over });

  beforeEach(async () => {
    place = await places.newPlace();
    backend = await places.open(place);
    clock = new ManualClock(1_700_000_000_000);
    events = new RecordingPublisher();
    flaky = new FlakyProvider(1);
    recording = new RecordingProvider();
    catalog = new AgentCatalog({
      providers: [new BuiltinProvider(), flaky, recording, new DeafProvider(), new BrokenProvider(), slowProvider()],
      agents: [
        DEFAULT_AGENT,
        { agentId: 'flaky', name: 'Flaky', provider: 'flaky', model: 'flaky-1' },
        { agentId: 'rec', name: 'Rec', provider: 'recording', model: 'rec-1' },
        { agentId: 'deaf', name: 'Deaf', provider: 'deaf', model: 'deaf-1' },
        { agentId: 'broken', name: 'Broken', provider: 'broken', model: 'broken-1' },
        { agentId: 'slow', name: 'Slow', provider: 'slow', model: 'builtin-echo' },
      ],
    });
  });
  afterEach(() => places.closeAll());

  it('creates, lists and describes sessions, defaulting to the default agent', async () => {
    const svc = await make();
    const a = await svc.create({ label: ' first ' });
    clock.advance(10);
    const b = await svc.create({ agentId: 'rec' });
    expect(a).toMatchObject({ label: 'first', agentId: 'main', messageCount: 0, busy: false, createdAtMs: 1_700_000_000_000 });
    expect(a.sessionId).toMatch(/^sess_[0-9a-f]{16}$/);
    expect(b.agentId).toBe('rec');
    expect(svc.list().map((s) => s.sessionId)).toEqual([b.sessionId, a.sessionId]);
    expect(svc.describe(a.sessionId)).toEqual(a);
    expect(events.events.filter((e) => e.type === 'sessions.changed').map((e) => e.payload)).toEqual([
      { sessionId: a.sessionId, reason: 'created' },
      { sessionId: b.sessionId, reason: 'created' },
    ]);
    // Stored: a restarted service lists the same.
    expect((await reopen()).list()).toEqual(svc.list());
  });

  it('refuses an unknown agent and an overlong label, creating nothing', async () => {
    const svc = await make();
    const err = await caught(() => svc.create({ agentId: 'ghost' }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.reason).toBe('UNKNOWN_AGENT');
    expect((await caught(() => svc.create({ label: 'x'.repeat(201) }))).reason).toBe('INVALID_LABEL');
    expect((await caught(() => svc.create({ label: 42 as never }))).reason).toBe('INVALID_LABEL');
    expect(svc.list()).toEqual([]);
    expect((await reopen()).list()).toEqual([]);
  });

  it('streams a turn in order: lifecycle start, assistant deltas, lifecycle end with the final text', async () => {
    const svc = await make();
    const { sessionId } = await svc.create();
    const outputs: AgentOutput[] = [];
    const reply = await svc.send(sessionId, 'hello big world', { onOutput: (o) => outputs.push(o) });

    expect(reply).toMatchObject({ role: 'assistant', text: 'Echo: hello big world (3 words)', status: 'ok' });
    expect(outputs.map((o) => [o.stream, o.phase])).toEqual([
      ['lifecycle', 'start'],
      ['assistant', ''],
      ['assistant', ''],
      ['assistant', ''],
      ['assistant', ''],
      ['assistant', ''],
      ['lifecycle', 'end'],
    ]);
    expect(outputs.map((o) => o.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(outputs.filter((o) => o.stream === 'assistant').map((o) => o.delta).join('')).toBe(reply.text);
    expect(outputs.at(-1)).toMatchObject({ text: reply.text, error: '', runId: reply.runId, sessionId });
    expect(new Set(outputs.map((o) => o.runId)).size).toBe(1);

    const history = svc.history(sessionId);
    expect(history.map((m) => [m.role, m.text, m.status])).toEqual([
      ['user', 'hello big world', 'ok'],
      ['assistant', reply.text, 'ok'],
    ]);
    expect(history[0].runId).toBe(reply.runId);
    expect(svc.describe(sessionId)).toMatchObject({ messageCount: 2, busy: false });
  });

  it('publishes legacy agent and chat events mirroring the outputs', async () => {
    const svc = await make();
    const { sessionId } = await svc.create();
    const reply = await svc.send(sessionId, 'one two');
    const agent = events.events.filter((e) => e.type === 'agent').map((e) => e.payload as Record<string, any>);
    expect(agent[0]).toEqual({ runId: reply.runId, sessionKey: sessionId, sessionId, agentId: 'main', stream: 'lifecycle', data: { phase: 'start' }, seq: 1, ts: clock.now() });
    expect(agent[1]).toMatchObject({ stream: 'assistant', data: { delta: 'Echo:' }, seq: 2 });
    expect(agent.at(-1)).toMatchObject({ stream: 'lifecycle', data: { phase: 'end', text: reply.text } });
    const chat = events.events.filter((e) => e.type === 'chat').map((e) => e.payload as Record<string, any>);
    // Legacy v4 deltas: the reply so far (deltaText, replace) and as an assistant message.
    const deltas = chat.slice(0, -1);
    expect(deltas.every((c) => c.state === 'delta' && c.replace === true && c.message.content[0].text === c.deltaText)).toBe(true);
    const pieces = agent.filter((a) => a.stream === 'assistant').map((a) => a.data.delta as string);
    expect(deltas.map((c) => c.deltaText)).toEqual(pieces.map((_p, i) => pieces.slice(0, i + 1).join('')));
    expect(deltas.at(-1)!.deltaText).toBe(reply.text);
    expect(chat.at(-1)).toMatchObject({ runId: reply.runId, sessionKey: sessionId, state: 'final', message: { text: reply.text, role: 'assistant' } });
    const reasons = events.events.filter((e) => e.type === 'sessions.changed').map((e) => (e.payload as any).reason);
    expect(reasons).toEqual(['created', 'turn.started', 'turn.finished']);
  });

  it('keeps sessions and history across a restart (new service over the same folder)', async () => {
    const first = await make();
    const { sessionId } = await first.create({ label: 'keep me' });
    await first.send(sessionId, 'remember this');
    const second = await reopen();
    expect(second.list()).toEqual(first.list());
    expect(second.history(sessionId)).toEqual(first.history(sessionId));
    // ...and the restored session keeps working, with the earlier turn as context.
    await second.send(sessionId, 'and this');
    expect(second.history(sessionId)).toHaveLength(4);
    const third = await reopen();
    expect(third.history(sessionId)).toEqual(second.history(sessionId));
    expect(third.describe(sessionId)).toMatchObject({ label: 'keep me', messageCount: 4, busy: false });
  });

  it('sends earlier ok messages as context, capped by maxContextMessages', async () => {
    const svc = await make({ limits: { maxContextMessages: 2 } });
    const { sessionId } = await svc.create({ agentId: 'rec' });
    await svc.send(sessionId, 'one');
    await svc.send(sessionId, 'two');
    await svc.send(sessionId, 'three');
    expect(recording.requests.map((r) => r.messages.map((m) => `${m.role}:${m.content}`))).toEqual([
      ['user:one'],
      ['user:one', 'assistant:ok', 'user:two'],
      ['user:two', 'assistant:ok', 'user:three'],
    ]);
    expect(recording.requests[0].model).toBe('rec-1');
  });

  it('aborts a turn mid-stream: partial text kept with status aborted, final phase aborted', async () => {
    const svc = await make();
    const { sessionId } = await svc.create();
    const outputs: AgentOutput[] = [];
    let aborted: Promise<boolean> | undefined;
    const reply = await svc.send(sessionId, 'a b c d e f', {
      onOutput: (o) => {
        outputs.push(o);
        if (o.stream === 'assistant' && aborted === undefined) aborted = svc.abort(sessionId, o.runId);
      },
    });
    expect(await aborted).toBe(true);
    expect(reply).toMatchObject({ status: 'aborted', text: 'Echo:' });
    expect(outputs.at(-1)).toMatchObject({ stream: 'lifecycle', phase: 'aborted', text: 'Echo:' });
    expect(outputs.filter((o) => o.stream === 'assistant')).toHaveLength(1);
    expect(svc.history(sessionId).map((m) => m.status)).toEqual(['ok', 'aborted']);
    const chat = events.events.filter((e) => e.type === 'chat').map((e) => e.payload as Record<string, any>);
    expect(chat.at(-1)).toMatchObject({ state: 'aborted', message: { status: 'aborted' } });
    // Not busy any more, and aborted replies are not sent as context next time.
    expect(svc.describe(sessionId).busy).toBe(false);
    expect(await svc.abort(sessionId)).toBe(false);
  });

  it('aborts a provider waiting between deltas (delay) at once, without waiting for the delay', async () => {
    const svc = await make();
    const { sessionId } = await svc.create({ agentId: 'slow' });
    const started = Date.now();
    const pending = svc.send(sessionId, 'take your time');
    expect(svc.describe(sessionId).busy).toBe(true);
    expect(await svc.abort(sessionId, 'run_not_this_one')).toBe(false);
    expect(await svc.abort(sessionId)).toBe(true);
    const reply = await pending;
    expect(reply.status).toBe('aborted');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('ends a turn on abort even if the provider ignores the signal', async () => {
    const svc = await make();
    const { sessionId } = await svc.create({ agentId: 'deaf' });
    const pending = svc.send(sessionId, 'hello?');
    expect(await svc.abort(sessionId)).toBe(true);
    expect(await svc.abortAll()).toBe(0);
    await expect(pending).resolves.toMatchObject({ status: 'aborted', text: '' });
    expect(svc.describe(sessionId).busy).toBe(false);
  });

  it('abortAll aborts every running turn', async () => {
    const svc = await make();
    const a = (await svc.create({ agentId: 'deaf' })).sessionId;
    const b = (await svc.create({ agentId: 'slow' })).sessionId;
    const pa = svc.send(a, 'x');
    const pb = svc.send(b, 'y');
    expect(await svc.abortAll()).toBe(2);
    expect((await pa).status).toBe('aborted');
    expect((await pb).status).toBe('aborted');
  });

  it('refuses a second send while a turn runs with SESSION_BUSY, and accepts one after', async () => {
    const svc = await make();
    const { sessionId } = await svc.create();
    const first = svc.send(sessionId, 'first');
    const err = await caught(() => svc.send(sessionId, 'second'));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(err.reason).toBe('SESSION_BUSY');
    expect(err.details.runId).toEqual(expect.stringMatching(/^run_/));
    await first;
    await svc.send(sessionId, 'second');
    expect(svc.history(sessionId).filter((m) => m.role === 'user').map((m) => m.text)).toEqual(['first', 'second']);
  });

  it('lets the final-output listener send the next message at once', async () => {
    const svc = await make();
    const { sessionId } = await svc.create();
    let next: Promise<unknown> | undefined;
    await svc.send(sessionId, 'first', {
      onOutput: (o) => {
        if (o.phase === 'end') next = svc.send(sessionId, 'follow-up');
      },
    });
    await next;
    expect(svc.history(sessionId)).toHaveLength(4);
  });

  it('refuses empty and oversized messages, persisting nothing', async () => {
    const svc = await make();
    const { sessionId } = await svc.create();
    expect((await caught(() => svc.send(sessionId, '   '))).reason).toBe('EMPTY_MESSAGE');
    const big = await caught(() => svc.send(sessionId, 'x'.repeat(64 * 1024 + 1)));
    expect(big.code).toBe('INVALID_ARGUMENT');
    expect(big.reason).toBe('MESSAGE_TOO_LARGE');
    expect(big.details).toEqual({ sizeBytes: 64 * 1024 + 1, limitBytes: 64 * 1024 });
    // Exactly at the limit is fine; the limit counts UTF-8 bytes, not characters.
    await svc.send(sessionId, 'x'.repeat(64 * 1024));
    const small = await make({ limits: { maxMessageBytes: 4 } });
    expect((await caught(() => small.send(sessionId, 'éé€'))).reason).toBe('MESSAGE_TOO_LARGE');
    expect(svc.history(sessionId)).toHaveLength(2);
  });

  it('answers SESSION_NOT_FOUND for unknown sessions everywhere', async () => {
    const svc = await make();
    for (const call of [
      () => svc.describe('sess_0000000000000000'),
      () => svc.history('nope'),
      () => svc.send('../../etc/passwd', 'hi'),
      () => svc.delete('nope'),
      () => svc.abort('nope'),
    ]) {
      const err = await caught(call);
      expect(err.code).toBe('NOT_FOUND');
      expect(err.reason).toBe('SESSION_NOT_FOUND');
    }
  });

  it('ends a failing turn with an error output, persists it consistently, and stays usable', async () => {
    const svc = await make();
    const { sessionId } = await svc.create({ agentId: 'flaky' });
    const outputs: AgentOutput[] = [];
    const err = await caught(() => svc.send(sessionId, 'try', { onOutput: (o) => outputs.push(o) }));
    expect(err.reason).toBe('PROVIDER_UNREACHABLE');
    expect(outputs.map((o) => [o.stream, o.phase, o.delta, o.error])).toEqual([
      ['lifecycle', 'start', '', ''],
      ['assistant', '', 'partial', ''],
      ['error', 'error', '', 'provider flaky is unreachable'],
    ]);
    expect(svc.history(sessionId).map((m) => [m.role, m.status, m.text])).toEqual([
      ['user', 'ok', 'try'],
      ['assistant', 'error', 'provider flaky is unreachable'],
    ]);
    const chat = events.events.filter((e) => e.type === 'chat').map((e) => e.payload as Record<string, any>);
    expect(chat.at(-1)).toMatchObject({ state: 'error', errorMessage: 'provider flaky is unreachable' });
    expect(svc.describe(sessionId).busy).toBe(false);

    const reply = await svc.send(sessionId, 'again');
    expect(reply).toMatchObject({ text: 'fine now', status: 'ok' });
    expect((await reopen()).history(sessionId).map((m) => m.status)).toEqual(['ok', 'error', 'ok', 'ok']);
  });

  it('turns a non-GatewayError from a provider into a safe INTERNAL error', async () => {
    const svc = await make();
    const { sessionId } = await svc.create({ agentId: 'broken' });
    const outputs: AgentOutput[] = [];
    const err = await caught(() => svc.send(sessionId, 'x', { onOutput: (o) => outputs.push(o) }));
    expect(err.code).toBe('INTERNAL');
    expect(outputs.at(-1)?.error).toBe('internal error');
    expect(JSON.stringify(svc.history(sessionId))).not.toContain('secret');
  });

  it('survives an output listener that throws', async () => {
    const svc = await make();
    const { sessionId } = await svc.create();
    const reply = await svc.send(sessionId, 'go', {
      onOutput: () => {
        throw new Error('client went away');
      },
    });
    expect(reply.status).toBe('ok');
  });

  it('runs one turn per idempotency key and returns the same reply to a retry', async () => {
    const svc = await make();
    const { sessionId } = await svc.create({ agentId: 'rec' });
    const a = svc.send(sessionId, 'once', { idempotencyKey: 'k1' });
    const b = svc.send(sessionId, 'once', { idempotencyKey: 'k1' });
    expect(await b).toEqual(await a);
    expect(await svc.send(sessionId, 'once', { idempotencyKey: 'k1' })).toEqual(await a);
    expect(recording.requests).toHaveLength(1);
    await svc.send(sessionId, 'once', { idempotencyKey: 'k2' });
    expect(recording.requests).toHaveLength(2);
  });

  it('lets a failed turn be retried with the same idempotency key', async () => {
    const svc = await make();
    const { sessionId } = await svc.create({ agentId: 'flaky' });
    await caught(() => svc.send(sessionId, 'x', { idempotencyKey: 'k' }));
    await expect(svc.send(sessionId, 'x', { idempotencyKey: 'k' })).resolves.toMatchObject({ status: 'ok' });
    expect(flaky.calls).toBe(2);
  });

  it('returns the last n messages with a limit and refuses a bad limit', async () => {
    const svc = await make();
    const { sessionId } = await svc.create();
    await svc.send(sessionId, 'one');
    await svc.send(sessionId, 'two');
    expect(svc.history(sessionId, 1).map((m) => m.text)).toEqual(['Echo: two (1 word)']);
    expect(svc.history(sessionId, 0)).toHaveLength(4);
    expect((await caught(() => svc.history(sessionId, -1))).reason).toBe('INVALID_LIMIT');
  });

  it('deletes a session and every message in one transaction (a tombstone head stays); refuses while a turn runs', async () => {
    const svc = await make();
    const { sessionId } = await svc.create({ agentId: 'deaf' });
    const other = (await svc.create()).sessionId;
    await svc.send(other, 'stays');
    const pending = svc.send(sessionId, 'x');
    expect((await caught(() => svc.delete(sessionId))).reason).toBe('SESSION_BUSY');
    expect(await svc.abort(sessionId)).toBe(true);
    await pending;
    const messages = await backend.collection(SESSION_MESSAGES, validateTranscriptRecord);
    const ofSession = () => messages.list().filter((r) => r.id.startsWith(sessionId));
    expect(ofSession().map((r) => r.kind).sort()).toEqual(['head', 'message', 'message']);
    expect(await svc.delete(sessionId)).toBe(true);
    expect(ofSession()).toEqual([expect.objectContaining({ id: sessionId, kind: 'head', deletedAtMs: clock.now() })]);
    expect((await caught(() => svc.describe(sessionId))).reason).toBe('SESSION_NOT_FOUND');
    expect((await caught(() => svc.send(sessionId, 'again'))).reason).toBe('SESSION_NOT_FOUND');
    expect((await caught(() => svc.delete(sessionId))).reason).toBe('SESSION_NOT_FOUND');
    const again = await reopen();
    expect(again.list().map((s) => s.sessionId)).toEqual([other]);
    expect(again.history(other)).toHaveLength(2);
    expect(events.events.at(-1)).toEqual({ type: 'sessions.changed', payload: { sessionId, reason: 'deleted' } });
  });

  it('keeps at most maxKeptMessages per session, dropping the oldest', async () => {
    const svc = await make({ limits: { maxKeptMessages: 3 } });
    const { sessionId } = await svc.create();
    for (const text of ['one', 'two', 'three']) await svc.send(sessionId, text);
    const kept = ['Echo: two (1 word)', 'three', 'Echo: three (1 word)'];
    expect(svc.history(sessionId).map((m) => m.text)).toEqual(kept);
    expect(svc.describe(sessionId).messageCount).toBe(3);
    expect(svc.history(sessionId, 2).map((m) => m.text)).toEqual(kept.slice(1));
    const messages = await backend.collection(SESSION_MESSAGES, validateTranscriptRecord);
    expect(messages.list().filter((r) => r.kind === 'message')).toHaveLength(3);
    expect((await reopen({ limits: { maxKeptMessages: 3 } })).history(sessionId).map((m) => m.text)).toEqual(kept);
  });
});
