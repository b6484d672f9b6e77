/**
 * A turn's claim is judged by its renewals as each replica sees them on its own clock
 * while it reaches the store, never by comparing two replicas' clocks (two replicas on a
 * real PostgreSQL server, default 30 s turn lease): a replica whose clock is 31 s ahead
 * still sees another's running turn as busy and cannot start a second one; a replica
 * that could not reach the store for 40 s does not take a turn over at its first look
 * afterwards; a claim that really went unrenewed for a lease is taken over.
 */
import { ManualClock } from '../../../src/clock';
import { silentLogger } from '../../../src/logging';
import { AgentCatalog, DEFAULT_AGENT } from '../../../src/services/agent/agent-catalog';
import { BuiltinProvider } from '../../../src/services/agent/builtin-provider';
import { RecordingPublisher } from '../../../src/services/events/event-publisher';
import { SessionService } from '../../../src/services/sessions/session-service';
import type { StoreBackend } from '../../../src/store/collection';
import { eventually } from '../../helpers/eventually';
import { startPostgres, type TestPostgres } from '../../helpers/postgres';
import { caught } from '../helpers';
import { postgresPlaces } from './store-places';
import { StallingProvider } from './stalling-provider';


let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
});

describe('turn claims across replicas on PostgreSQL', () => {
  const places = postgresPlaces(() => pg);
  const catalog = new AgentCatalog({
    providers: [new BuiltinProvider(), new StallingProvider()],
    agents: [DEFAULT_AGENT, { agentId: 'stalling', name: 'Stalling', provider: 'stalling', model: 'stalling-1' }],
  });
  let place: string;
  /** The monotonic time of both replicas (they run side by side). */
  let mono: ManualClock;
  const opened: SessionService[] = [];

  const replica = async (clock: ManualClock, store?: StoreBackend) => {
    const s = await SessionService.open({ store: store ?? (await places.open(place)), agents: catalog, clock, monotonic: mono, events: new RecordingPublisher(), logger: silentLogger() });
    opened.push(s);
    return s;
  };

  beforeEach(async () => {
    place = await places.newPlace();
    mono = new ManualClock(0);
  });
  afterEach(async () => {
    for (const s of opened.splice(0)) s.close();
    await places.closeAll();
  });

  /** A (clock `wallA`) runs a turn that does not end; B (clock `wallB`) has seen it. */
  async function turnOnA(wallA: ManualClock, wallB: ManualClock) {
    const aStore = await places.open(place);
    const a = await replica(wallA, aStore);
    const b = await replica(wallB);
    const { sessionId } = await a.create({ agentId: 'stalling' });
    let runId = '';
    const pending = a.send(sessionId, 'stall and think', { onOutput: (o) => (runId = o.runId) });
    pending.catch(() => undefined);
    await eventually('B sees the turn', () => (b.describe(sessionId).busy ? true : undefined));
    return { a, b, aStore, sessionId, pending, runId: () => runId };
  }

  test('a replica whose clock is 31 s ahead sees the turn busy, refuses a second turn and the deletion, and aborts it through the claim', async () => {
    const t0 = 1_700_000_000_000;
    const r = await turnOnA(new ManualClock(t0), new ManualClock(t0 + 31_000));
    await r.b.watchClaims();
    expect(r.b.describe(r.sessionId).busy).toBe(true);
    const busy = await caught(() => r.b.send(r.sessionId, 'me too'));
    expect([busy.reason, busy.details.runId]).toEqual(['SESSION_BUSY', r.runId()]);
    expect((await caught(() => r.b.delete(r.sessionId))).reason).toBe('SESSION_BUSY');
    expect(await r.b.abort(r.sessionId)).toBe(true);
    expect(await r.pending).toMatchObject({ status: 'aborted', runId: r.runId() });
    expect(r.b.history(r.sessionId).map((m) => `${m.role}:${m.status}`)).toEqual(['user:ok', 'assistant:aborted']);
  });

  test('after 40 s without reaching the store, a replica does not take a turn over at its first look; once the claim went unrenewed for a lease of contact, it does', async () => {
    const wall = new ManualClock(1_700_000_000_000);
    const r = await turnOnA(wall, wall);
    await r.b.watchClaims();
    // 40 s in which neither A's renewals nor B's looks reached the database (an outage).
    mono.advance(40_000);
    wall.advance(40_000);
    // The database is back: B's first look, and a send, find the claim still held.
    await r.b.watchClaims();
    expect(r.b.describe(r.sessionId).busy).toBe(true);
    const busy = await caught(() => r.b.send(r.sessionId, 'hello?'));
    expect(busy.reason).toBe('SESSION_BUSY');
    // A stops for good; B goes on looking every 5 s and takes the session over after 30 s of that.
    await r.aStore.close();
    for (let i = 0; i < 6; i++) {
      mono.advance(5000);
      wall.advance(5000);
      await r.b.watchClaims();
      expect(r.b.describe(r.sessionId).busy).toBe(true);
    }
    mono.advance(1);
    await r.b.watchClaims();
    expect(r.b.describe(r.sessionId).busy).toBe(false);
    await r.b.send(r.sessionId, 'hello again');
    expect(r.b.history(r.sessionId).map((m) => [m.role, m.status])).toEqual([
      ['user', 'ok'],
      ['assistant', 'error'],
      ['user', 'ok'],
      ['assistant', 'ok'],
    ]);
  });
});
