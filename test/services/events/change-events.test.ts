/**
 * Every event that announces a stored change (cron, pairing, config, sessions) is in the
 * event outbox by the time the change is acknowledged: each service stages it in the
 * transaction that makes the change. Shown on a real PostgreSQL server with the outbox
 * held busy while the change is made (its head row locked by the test, as a slow
 * database or a backlog would): the log is read the moment each call resolves. Events
 * queued to be written after the commit would not be there yet.
 */
import { ManualClock } from '../../../src/clock';
import { CertificateAuthority, DeviceRegistry } from '../../../src/identity';
import { silentLogger } from '../../../src/logging';
import { AgentCatalog } from '../../../src/services/agent/agent-catalog';
import { BuiltinProvider } from '../../../src/services/agent/builtin-provider';
import { ConfigService } from '../../../src/services/config/config-service';
import { CronService } from '../../../src/services/cron/cron-service';
import { EventHub } from '../../../src/services/events/event-hub';
import { BootstrapTokens, openTokens } from '../../../src/services/pairing/bootstrap-tokens';
import { PairingService } from '../../../src/services/pairing/pairing-service';
import { openPairingRequests } from '../../../src/services/pairing/pairing-requests';
import { RateLimiter } from '../../../src/services/pairing/rate-limiter';
import { SessionService } from '../../../src/services/sessions/session-service';
import { openDevices } from '../../../src/store/device-store';
import type { EventLog } from '../../../src/store/event-log';
import { PostgresBackend } from '../../../src/store/postgres/postgres-backend';
import { newKey } from '../../helpers/grpc-kit';
import { withOutboxHeld } from '../../helpers/held-outbox';
import { startPostgres, type TestPostgres } from '../../helpers/postgres';

const logger = silentLogger();
let pg: TestPostgres;
const closers: (() => Promise<void> | void)[] = [];
beforeAll(async () => {
  pg = await startPostgres();
});
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});
afterAll(async () => {
  await pg?.stop();
});

/** One replica: its store, hub and log, on a fresh database. */
async function replica(clock: ManualClock): Promise<{ url: string; store: PostgresBackend; hub: EventHub; log: EventLog }> {
  const url = await pg.createDatabase();
  const store = await PostgresBackend.open({ url, log: logger, poolSize: 4 });
  const hub = await EventHub.open({ store, clock, logger });
  closers.push(() => store.close(), () => hub.close());
  return { url, store, hub, log: await store.eventLog() };
}

/** Runs a change with the outbox held; returns its result and the events logged when it was acknowledged (type, payload). */
async function acknowledged<T>(w: { url: string; log: EventLog }, change: () => Promise<T>): Promise<{ result: T; logged: [string, Record<string, unknown>][] }> {
  const { result, seen } = await withOutboxHeld(w.url, change, async () => (await w.log.read(0, 1000)).events.map((e): [string, Record<string, unknown>] => [e.type, JSON.parse(e.payloadJson)]));
  return { result, logged: seen };
}

test('cron: added, updated, started, finished and removed are logged when the call returns', async () => {
  const clock = new ManualClock(1_700_000_000_000);
  const w = await replica(clock);
  const cron = await CronService.open({ store: w.store, clock, events: w.hub, logger });
  closers.push(() => cron.stop());
  const added = await acknowledged(w, () => cron.add({ name: 'j', schedule: { kind: 'every', everyMs: 3_600_000 }, payload: { kind: 'systemEvent', text: 'hi' }, enabled: false }));
  const jobId = added.result.jobId;
  expect(added.logged).toContainEqual(['cron', expect.objectContaining({ action: 'added', jobId })]);
  expect((await acknowledged(w, () => cron.update(jobId, { name: 'renamed' }))).logged).toContainEqual(['cron', expect.objectContaining({ action: 'updated', jobId, job: expect.objectContaining({ name: 'renamed' }) })]);

  const delivered: string[] = [];
  const detach = cron.attachWorker('w1', (run) => delivered.push(run.runId));
  const started = await acknowledged(w, () => cron.runNow(jobId));
  expect(delivered).toEqual([started.result.runId]);
  expect(started.logged).toContainEqual(['cron', expect.objectContaining({ action: 'started', runId: started.result.runId, workerId: 'w1' })]);
  const finished = await acknowledged(w, () => cron.completeRun(started.result.runId, { status: 'ok', output: 'done' }, 'w1'));
  expect(finished.logged).toContainEqual(['cron', expect.objectContaining({ action: 'finished', runId: started.result.runId, status: 'ok' })]);
  await detach();

  expect((await acknowledged(w, () => cron.remove(jobId))).logged).toContainEqual(['cron', { action: 'removed', jobId }]);
});

test('pairing: requested, and resolved (approved, rejected, expired), are logged when the call returns', async () => {
  const clock = new ManualClock(Date.now());
  const w = await replica(clock);
  const made = CertificateAuthority.create('change-events.local', clock.now());
  const ca = new CertificateAuthority(made.certPem, made.keyPem, 'change-events.local');
  const wide = { capacity: 1000, perMinute: 1000 };
  const pairing = new PairingService({
    registry: new DeviceRegistry({ store: await openDevices(w.store), ca, clock, log: logger }),
    tokens: new BootstrapTokens(await openTokens(w.store), clock),
    requests: await openPairingRequests(w.store),
    clock,
    events: w.hub,
    log: logger,
    limits: () => ({ pendingTtlMs: 60_000, maxPending: 10 }),
    rateLimiter: new RateLimiter(clock, wide, wide),
  });
  closers.push(() => pairing.stop());
  const submit = (label: string) => acknowledged(w, () => pairing.submitCsr({ csrPem: newKey().csr(label), label, role: 'operator', scopes: ['operator.read'], peer: '192.0.2.1' }));

  const first = await submit('first');
  const firstId = first.result.request.requestId;
  expect(first.logged).toContainEqual(['device.pair.requested', expect.objectContaining({ requestId: firstId, displayName: 'first' })]);
  const resolved = (requestId: string, decision: string) => ['device.pair.resolved', expect.objectContaining({ requestId, decision })];
  expect((await acknowledged(w, () => pairing.approve(firstId, { actor: 'ops' }))).logged).toContainEqual(resolved(firstId, 'approved'));

  const second = (await submit('second')).result.request.requestId;
  expect((await acknowledged(w, () => pairing.reject(second, { actor: 'ops', reason: 'no' }))).logged).toContainEqual(resolved(second, 'rejected'));

  const third = (await submit('third')).result.request.requestId;
  clock.advance(60_001);
  expect((await acknowledged(w, () => pairing.sweep())).logged).toContainEqual(resolved(third, 'expired'));
});

test('config: config.changed is logged when the patch returns', async () => {
  const w = await replica(new ManualClock(1_700_000_000_000));
  const config = await ConfigService.open({ store: w.store, events: w.hub, logger });
  closers.push(() => config.close());
  const { result, logged } = await acknowledged(w, () => config.patch({ pairing: { pendingTtlSeconds: 600 } }));
  expect(logged).toContainEqual(['config.changed', expect.objectContaining({ hash: result.hash, changedPaths: ['pairing.pendingTtlSeconds'] })]);
});

test('sessions: created, turn.started, turn.finished and deleted are logged when the call returns', async () => {
  const clock = new ManualClock(1_700_000_000_000);
  const w = await replica(clock);
  const sessions = await SessionService.open({ store: w.store, agents: new AgentCatalog({ providers: [new BuiltinProvider()] }), clock, events: w.hub, logger });
  closers.push(async () => void (await sessions.abortAll()));
  const created = await acknowledged(w, () => sessions.create({ label: 'chat' }));
  const sessionId = created.result.sessionId;
  const changed = (reason: string) => ['sessions.changed', { sessionId, reason }];
  expect(created.logged).toContainEqual(changed('created'));
  const sent = await acknowledged(w, () => sessions.send(sessionId, 'hello'));
  expect(sent.logged).toEqual(expect.arrayContaining([changed('turn.started'), changed('turn.finished')]));
  expect((await acknowledged(w, () => sessions.delete(sessionId))).logged).toContainEqual(changed('deleted'));
});
