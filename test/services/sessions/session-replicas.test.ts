/**
 * Two SessionServices over one place (two backends on one folder, or on one PostgreSQL
 * database this file starts), as two gateway replicas: what one writes the other reads,
 * one turn per session across both, an abort reaches the replica running the turn, a
 * replica that stopped mid-turn is named by abort and its claim runs out once the other
 * saw it unrenewed for a lease. (Clock skew and stalls: session-claims.test.ts.)
 */
import { ManualClock } from '../../../src/clock';
import { silentLogger } from '../../../src/logging';
import { RecordingPublisher } from '../../../src/services/events/event-publisher';
import { AgentCatalog, DEFAULT_AGENT } from '../../../src/services/agent/agent-catalog';
import { BuiltinProvider } from '../../../src/services/agent/builtin-provider';
import { SessionService, type SessionLimits } from '../../../src/services/sessions/session-service';
import type { StoreBackend } from '../../../src/store/collection';
import { SESSION_MESSAGES, validateTranscriptRecord } from '../../../src/services/sessions/session-records';
import { eventually } from '../../helpers/eventually';
import { caught } from '../helpers';
import { bothBackends } from './store-places';
import { StallingProvider } from './stalling-provider';


const backends = bothBackends();

describe.each(backends)('two replicas on %s', (_label, placesOf) => {
  const places = placesOf();
  let place: string;
  let clock: ManualClock;
  const catalog = new AgentCatalog({
    providers: [new BuiltinProvider(), new StallingProvider()],
    agents: [DEFAULT_AGENT, { agentId: 'stalling', name: 'Stalling', provider: 'stalling', model: 'stalling-1' }],
  });

  const replica = async (limits: Partial<SessionLimits> = {}, store?: StoreBackend) =>
    SessionService.open({ store: store ?? (await places.open(place)), agents: catalog, clock, monotonic: clock, events: new RecordingPublisher(), logger: silentLogger(), limits });

  beforeEach(async () => {
    place = await places.newPlace();
    clock = new ManualClock(1_700_000_000_000);
  });
  afterEach(() => places.closeAll());

  test('a session created and talked to on one replica is listed with its history on the other, which can go on with it', async () => {
    const [a, b] = [await replica(), await replica()];
    const { sessionId } = await a.create({ label: 'shared' });
    const reply = await a.send(sessionId, 'hello from a');
    const seen = await eventually('B sees both messages', () => (b.list().find((s) => s.sessionId === sessionId)?.messageCount === 2 ? true : undefined));
    expect(seen).toBe(true);
    expect(b.describe(sessionId)).toEqual(a.describe(sessionId));
    expect(b.history(sessionId)).toEqual(a.history(sessionId));
    expect(b.history(sessionId).at(-1)).toEqual(reply);
    // B's turn sees A's as context, and A sees B's turn in turn.
    await b.send(sessionId, 'and from b');
    await eventually('A sees B\'s turn', () => (a.describe(sessionId).messageCount === 4 ? true : undefined));
    expect(a.history(sessionId)).toEqual(b.history(sessionId));
  });

  test('deleted on one replica: gone on the other, which can no longer send to it', async () => {
    const [a, b] = [await replica(), await replica()];
    const { sessionId } = await a.create();
    await a.send(sessionId, 'soon gone');
    await eventually('B sees the session', () => (b.list().some((s) => s.sessionId === sessionId) ? true : undefined));
    expect(await b.delete(sessionId)).toBe(true);
    await eventually('A no longer lists it', () => (a.list().length === 0 ? true : undefined));
    expect((await caught(() => a.describe(sessionId))).reason).toBe('SESSION_NOT_FOUND');
    expect((await caught(() => a.history(sessionId))).reason).toBe('SESSION_NOT_FOUND');
    expect((await caught(() => a.send(sessionId, 'still there?'))).reason).toBe('SESSION_NOT_FOUND');
  });

  test('one turn per session across replicas: the other shows it busy, refuses send and delete, and aborts it through the claim', async () => {
    const [a, b] = [await replica(), await replica()];
    const { sessionId } = await a.create({ agentId: 'stalling' });
    let runId = '';
    const pending = a.send(sessionId, 'stall and think hard', { onOutput: (o) => (runId = o.runId) });
    await eventually('B sees the turn', () => (b.describe(sessionId).busy ? true : undefined));
    const busy = await caught(() => b.send(sessionId, 'me too'));
    expect([busy.code, busy.reason, busy.details.runId]).toEqual(['FAILED_PRECONDITION', 'SESSION_BUSY', runId]);
    expect((await caught(() => b.delete(sessionId))).reason).toBe('SESSION_BUSY');
    expect(await b.abort(sessionId, 'run_0000000000000000')).toBe(false);

    // The abort returns once the owner ended the turn.
    expect(await b.abort(sessionId, runId)).toBe(true);
    expect(await pending).toMatchObject({ status: 'aborted', runId });
    expect(b.describe(sessionId).busy).toBe(false);
    expect(b.history(sessionId).map((m) => `${m.role}:${m.status}`)).toEqual(['user:ok', 'assistant:aborted']);
    expect(await b.abort(sessionId)).toBe(false);
  });

  test('the replica running a long turn keeps renewing its claim: the session stays busy past the first lease', async () => {
    const aStore = await places.open(place);
    const a = await replica({ turnLeaseMs: 300 }, aStore);
    const b = await replica({ turnLeaseMs: 300 });
    const { sessionId } = await a.create({ agentId: 'stalling' });
    const pending = a.send(sessionId, 'stall for long');
    const heads = await aStore.collection(SESSION_MESSAGES, validateTranscriptRecord);
    const leaseUntil = () => {
      const h = heads.get(sessionId);
      return h?.kind === 'head' ? h.turn?.leaseUntilMs : undefined;
    };
    const firstLease = await eventually('the turn is claimed', leaseUntil);
    clock.advance(200);
    // Renewed every third of the lease (100 ms of real time), from the clock's time now.
    await eventually('the claim is renewed', () => ((leaseUntil() ?? 0) > firstLease ? true : undefined));
    clock.advance(200);
    expect(clock.now()).toBeGreaterThan(firstLease);
    await eventually('B sees the renewed claim', () => (b.describe(sessionId).busy ? true : undefined));
    expect((await caught(() => b.send(sessionId, 'my turn?'))).reason).toBe('SESSION_BUSY');
    expect(await b.abort(sessionId)).toBe(true);
    expect((await pending).status).toBe('aborted');
  });

  test('a replica that stops mid-turn: abort names the situation; once the claim runs out the session takes a new turn and the lost one is explained', async () => {
    const aStore = await places.open(place);
    const a = await replica({ abortWaitMs: 300 }, aStore);
    const b = await replica({ abortWaitMs: 300 });
    const { sessionId } = await a.create({ agentId: 'stalling' });
    let runId = '';
    const pending = a.send(sessionId, 'stall forever', { onOutput: (o) => (runId = o.runId) });
    pending.catch(() => undefined);
    await eventually('B sees the turn', () => (b.describe(sessionId).busy ? true : undefined));
    // A stops: no more renewals, and it hears nothing any more.
    await aStore.close();

    const unresponsive = await caught(() => b.abort(sessionId));
    expect([unresponsive.code, unresponsive.reason, unresponsive.details.runId]).toEqual(['UNAVAILABLE', 'TURN_OWNER_UNRESPONSIVE', runId]);
    expect(unresponsive.message).toMatch(/runs in another gateway process \(replica\), which did not end it within 300 ms/);
    expect((await caught(() => b.send(sessionId, 'hello?'))).reason).toBe('SESSION_BUSY');

    // B looks at the claim on its own clock while it reaches the store: unrenewed for 30 s, it no longer holds.
    for (let i = 0; i < 6; i++) {
      clock.advance(5000);
      await b.watchClaims();
    }
    expect(b.describe(sessionId).busy).toBe(true);
    clock.advance(1);
    await b.watchClaims();
    expect(b.describe(sessionId).busy).toBe(false);
    await b.send(sessionId, 'hello again');
    expect(b.history(sessionId).map((m) => [m.role, m.status, m.runId === runId])).toEqual([
      ['user', 'ok', true],
      ['assistant', 'error', true],
      ['user', 'ok', false],
      ['assistant', 'ok', false],
    ]);
    expect(b.history(sessionId)[1].text).toBe(`turn ${runId} was lost: the gateway running it stopped before it ended`);
    // A's turn, when it finally ends, cannot write over the session any more.
    await a.abortAll();
    expect((await caught(() => pending)).reason).toBe('STORE_CLOSED');
  });
});
