/**
 * Session keys (legacy clients name sessions by key: one key, one session, on every
 * replica) and named runs (a run id chosen by the caller names one turn: sending it
 * again replays that turn instead of starting another), on both storage backends.
 */
import { ManualClock } from '../../../src/clock';
import { ErrorCode, GatewayError } from '../../../src/errors';
import { silentLogger } from '../../../src/logging';
import { RecordingPublisher } from '../../../src/services/events/event-publisher';
import { AgentCatalog, DEFAULT_AGENT } from '../../../src/services/agent/agent-catalog';
import type { AgentProvider } from '../../../src/services/agent/agent-provider';
import { BuiltinProvider } from '../../../src/services/agent/builtin-provider';
import { SessionService, type AgentOutput } from '../../../src/services/sessions/session-service';
import type { StoreBackend } from '../../../src/store/collection';
import { caught } from '../helpers';
import { bothBackends } from './store-places';

/** Yields "a", then waits until `open()` is called, then yields "b"; fails instead when told to. */
class GateProvider implements AgentProvider {
  readonly id = 'gate';
  calls = 0;
  fail = false;
  private release?: () => void;
  private readonly waiting: (() => void)[] = [];
  models(): string[] {
    return ['gate-1'];
  }
  /** Resolves once a turn is waiting at the gate. */
  atGate(): Promise<void> {
    return this.release ? Promise.resolve() : new Promise((resolve) => this.waiting.push(resolve));
  }
  open(): void {
    const r = this.release;
    this.release = undefined;
    r?.();
  }
  async *stream(): AsyncIterable<string> {
    this.calls++;
    yield 'a';
    await new Promise<void>((resolve) => {
      this.release = resolve;
      for (const w of this.waiting.splice(0)) w();
    });
    if (this.fail) throw new GatewayError(ErrorCode.Unavailable, 'PROVIDER_UNREACHABLE', 'provider gate is unreachable');
    yield 'b';
  }
}

const backends = bothBackends();

describe.each(backends)('session keys and named runs on %s', (_label, placesOf) => {
  const places = placesOf();
  let place: string;
  let backend: StoreBackend;
  let clock: ManualClock;
  let events: RecordingPublisher;
  let gate: GateProvider;
  let catalog: AgentCatalog;

  const make = (store: StoreBackend = backend) => SessionService.open({ store, agents: catalog, clock, events, logger: silentLogger() });

  beforeEach(async () => {
    place = await places.newPlace();
    backend = await places.open(place);
    clock = new ManualClock(1_700_000_000_000);
    events = new RecordingPublisher();
    gate = new GateProvider();
    catalog = new AgentCatalog({ providers: [new BuiltinProvider(), gate], agents: [DEFAULT_AGENT, { agentId: 'gate', name: 'Gate', provider: 'gate', model: 'gate-1' }] });
  });
  afterEach(() => places.closeAll());

  it('a key names one session: asking again returns it, also from another replica and when two replicas ask at once', async () => {
    const svc = await make();
    const first = await svc.createWithKey('agent:main:main', { label: 'agent:main:main' });
    expect(first.created).toBe(true);
    expect(first.session).toMatchObject({ key: 'agent:main:main', label: 'agent:main:main', agentId: 'main', messageCount: 0 });
    const again = await svc.createWithKey('agent:main:main');
    expect(again).toEqual({ session: first.session, created: false });
    expect(svc.list().filter((s) => s.key === 'agent:main:main')).toHaveLength(1);
    // Sessions without a key keep an empty one.
    expect((await svc.create({ label: 'plain' })).key).toBe('');

    const a = await make(await places.open(place));
    const b = await make(await places.open(place));
    const [x, y] = await Promise.all([a.createWithKey('agent:main:other'), b.createWithKey('agent:main:other')]);
    expect(x.session.sessionId).toBe(y.session.sessionId);
    expect([x.created, y.created].sort()).toEqual([false, true]);
    expect((await make(await places.open(place))).list().filter((s) => s.key === 'agent:main:other')).toHaveLength(1);
  });

  it('a deleted keyed session frees its key; bad keys are refused', async () => {
    const svc = await make();
    const { session } = await svc.createWithKey('k');
    await svc.delete(session.sessionId);
    const next = await svc.createWithKey('k');
    expect(next.created).toBe(true);
    expect(next.session.sessionId).not.toBe(session.sessionId);
    expect((await caught(() => svc.createWithKey(''))).reason).toBe('INVALID_SESSION_KEY');
    expect((await caught(() => svc.createWithKey('x'.repeat(257)))).reason).toBe('INVALID_SESSION_KEY');
    expect((await caught(() => svc.createWithKey('a\nb'))).reason).toBe('INVALID_SESSION_KEY');
    expect((await caught(() => svc.createWithKey('fine', { agentId: 'ghost' }))).reason).toBe('UNKNOWN_AGENT');
  });

  it('a named run carries its id and the session key in every output and legacy event; errors end on the lifecycle stream', async () => {
    const svc = await make();
    const { session } = await svc.createWithKey('agent:main:main');
    const outputs: AgentOutput[] = [];
    const reply = await svc.send(session.sessionId, 'hello there', { runId: 'idem-1', onOutput: (o) => outputs.push(o) });
    expect(reply.runId).toBe('idem-1');
    expect(outputs.every((o) => o.runId === 'idem-1' && !o.replayed)).toBe(true);
    const agent = events.events.filter((e) => e.type === 'agent').map((e) => e.payload as Record<string, unknown>);
    expect(agent[0]).toEqual({ runId: 'idem-1', sessionKey: 'agent:main:main', sessionId: session.sessionId, agentId: 'main', stream: 'lifecycle', data: { phase: 'start' }, seq: 1, ts: clock.now() });
    const chat = events.events.filter((e) => e.type === 'chat').map((e) => e.payload as Record<string, unknown>);
    expect(chat.every((c) => c.runId === 'idem-1' && c.sessionKey === 'agent:main:main' && c.agentId === 'main')).toBe(true);

    const g = await svc.createWithKey('gated', { agentId: 'gate' });
    gate.fail = true;
    const failing = svc.send(g.session.sessionId, 'go', { runId: 'idem-2' });
    await gate.atGate();
    gate.open();
    expect((await caught(() => failing)).reason).toBe('PROVIDER_UNREACHABLE');
    const last = events.events.filter((e) => e.type === 'agent').at(-1)!.payload;
    expect(last).toMatchObject({ runId: 'idem-2', sessionKey: 'gated', stream: 'lifecycle', data: { phase: 'error', error: 'provider gate is unreachable' } });
  });

  it('naming a finished run again starts nothing and replays its end', async () => {
    const svc = await make();
    const { session } = await svc.createWithKey('main-ish');
    const reply = await svc.send(session.sessionId, 'once only', { runId: 'r-1' });
    const published = events.events.length;
    const outputs: AgentOutput[] = [];
    const again = await svc.send(session.sessionId, 'once only', { runId: 'r-1', onOutput: (o) => outputs.push(o) });
    expect(again).toEqual(reply);
    expect(outputs).toEqual([expect.objectContaining({ runId: 'r-1', stream: 'lifecycle', phase: 'end', text: reply.text, replayed: true })]);
    expect(svc.history(session.sessionId)).toHaveLength(2);
    // A replay is for its caller only: nothing is published again.
    expect(events.events.length).toBe(published);
  });

  it('naming a running run again replays "start" at once, then its end; a failed named run replays its error', async () => {
    const svc = await make();
    const { session } = await svc.createWithKey('gated', { agentId: 'gate' });
    const first = svc.send(session.sessionId, 'wait for it', { runId: 'r-2' });
    await gate.atGate();
    const outputs: AgentOutput[] = [];
    const second = svc.send(session.sessionId, 'wait for it', { runId: 'r-2', onOutput: (o) => outputs.push(o) });
    expect(outputs).toEqual([expect.objectContaining({ runId: 'r-2', stream: 'lifecycle', phase: 'start', seq: 1, replayed: true })]);
    gate.open();
    expect(await second).toEqual(await first);
    expect(outputs.map((o) => [o.phase, o.text, o.replayed])).toEqual([
      ['start', '', true],
      ['end', 'ab', true],
    ]);
    expect(gate.calls).toBe(1);

    gate.fail = true;
    const failing = svc.send(session.sessionId, 'fail', { runId: 'r-3' });
    await gate.atGate();
    gate.open();
    await caught(() => failing);
    const replayed: AgentOutput[] = [];
    const err = await caught(() => svc.send(session.sessionId, 'fail', { runId: 'r-3', onOutput: (o) => replayed.push(o) }));
    expect(err.reason).toBe('PROVIDER_UNREACHABLE');
    expect(replayed).toEqual([expect.objectContaining({ runId: 'r-3', stream: 'error', phase: 'error', error: 'provider gate is unreachable', replayed: true })]);
    expect(gate.calls).toBe(2);
  });

  it('a run id names its turn whichever session a send names (as the legacy gateway treats the key); malformed run ids are refused', async () => {
    const svc = await make();
    const a = (await svc.createWithKey('a')).session.sessionId;
    const b = (await svc.createWithKey('b')).session.sessionId;
    const reply = await svc.send(a, 'x', { runId: 'shared' });
    const outputs: AgentOutput[] = [];
    expect(await svc.send(b, 'x', { runId: 'shared', onOutput: (o) => outputs.push(o) })).toEqual(reply);
    expect(outputs).toEqual([expect.objectContaining({ runId: 'shared', sessionId: a, phase: 'end', replayed: true })]);
    expect(svc.history(b)).toHaveLength(0);
    for (const bad of ['has space', 'x'.repeat(201), 'tab\there', 'ümlaut']) expect((await caught(() => svc.send(a, 'x', { runId: bad }))).reason).toBe('INVALID_RUN_ID');
  });
});
