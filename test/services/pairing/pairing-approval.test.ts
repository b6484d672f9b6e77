/**
 * An approval's claim across two replicas (files, and a real PostgreSQL server), each
 * with its own clock, on one monotonic time: the claim is judged by its renewals as the
 * other replica sees them, the last step records the outcome only while the claim is
 * still the approval's, and an approval interrupted after registering its device is
 * finished by a sweep (the requester still gets its certificate) instead of reopened.
 * - an approver whose clock is 31 s behind is not taken over at once;
 * - an approval held up (not renewing) for longer than the claim loses it: its late steps
 *   register nothing and it fails with PAIRING_CLAIM_LOST, the other approval stands;
 * - held up between noting what it issues and registering: the late registration is
 *   revoked when the last step finds the request decided otherwise;
 * - the last step fails after the device was registered (as if the process died there):
 *   audited, and a sweep records the approval with that certificate.
 */
import { X509Certificate } from 'node:crypto';
import { ManualClock } from '../../../src/clock';
import { errors } from '../../../src/errors';
import { CertificateAuthority, DeviceRegistry } from '../../../src/identity';
import { RecordingPublisher } from '../../../src/services/events/event-publisher';
import { BootstrapTokens, openTokens } from '../../../src/services/pairing/bootstrap-tokens';
import { PairingService, type PairingOutcome } from '../../../src/services/pairing/pairing-service';
import { openPairingRequests, type PairingRecord } from '../../../src/services/pairing/pairing-requests';
import { RateLimiter } from '../../../src/services/pairing/rate-limiter';
import type { Collection, StoredRecord } from '../../../src/store/collection';
import { openDevices, type DeviceRecord } from '../../../src/store/device-store';
import { newKey } from '../../helpers/grpc-kit';
import { storeBackends } from '../../helpers/store-backends';
import { eventually } from '../../helpers/eventually';
import { capturingLogger, caught } from '../helpers';

const T0 = Date.now();
const made = CertificateAuthority.create('pairing-approval.local', T0 - 3600_000);
const ca = new CertificateAuthority(made.certPem, made.keyPem, 'pairing-approval.local');
const WIDE = { capacity: 100_000, perMinute: 100_000 };

const stores = storeBackends();
beforeAll(() => stores.start(), 60_000);
afterAll(() => stores.stop());

/** A collection whose next transactions can be held (until released) or made to fail, as a stalled or dying process's would. */
function controllable<T extends StoredRecord>(c: Collection<T>) {
  let holdAt = 0;
  let count = 0;
  let release: (() => void) | undefined;
  let gate: Promise<void> | undefined;
  let failIf: (() => boolean) | undefined;
  const control = {
    /** Whether a held transaction is waiting. */
    reached: false,
    /** Holds the `n`-th transaction from now until `release()`. */
    hold(n: number): void {
      holdAt = count + n;
      gate = new Promise((resolve) => (release = resolve));
    },
    release(): void {
      release?.();
    },
    /** Fails every transaction from the moment `cond` holds (the process is gone). */
    failWhen(cond: () => boolean): void {
      failIf = cond;
    },
  };
  const collection: Collection<T> = {
    name: c.name,
    get: (id) => c.get(id),
    list: () => c.list(),
    subscribe: (fn) => c.subscribe(fn),
    refresh: () => c.refresh(),
    close: () => c.close(),
    async mutate(fn) {
      count++;
      if (failIf?.()) throw errors.unavailable('DATABASE_UNREACHABLE', 'cannot reach the store (this process is gone)');
      if (count === holdAt && gate) {
        control.reached = true;
        await gate;
      }
      return c.mutate(fn);
    },
  };
  return { collection, control };
}

describe.each(stores.all)('pairing approvals across replicas ($label)', (b) => {
  const limits = { pendingTtlMs: 5 * 60_000, maxPending: 64 };
  const running: PairingService[] = [];
  /** The monotonic time of both replicas. */
  let mono: ManualClock;
  let clockA: ManualClock;
  let clockB: ManualClock;

  const replica = async (place: string, clock: ManualClock) => {
    const store = await b.open(place);
    const { logger, lines } = capturingLogger();
    const devices = controllable(await openDevices(store));
    const registry = new DeviceRegistry({ store: devices.collection, ca, clock, log: logger });
    const requests = controllable(await openPairingRequests(store));
    const events = new RecordingPublisher();
    const pairing = new PairingService({
      registry,
      tokens: new BootstrapTokens(await openTokens(store), clock),
      requests: requests.collection,
      clock,
      monotonic: mono,
      events,
      log: logger,
      limits: () => limits,
      rateLimiter: new RateLimiter(clock, WIDE, WIDE),
    });
    running.push(pairing);
    const audits = (event: string) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === true && l.event === event);
    return { pairing, registry, devices, requests, events, audits };
  };
  type Replica = Awaited<ReturnType<typeof replica>>;

  afterEach(() => {
    for (const p of running.splice(0)) p.stop();
  });

  /** Two replicas on a new place; B's clock is `skewB` ahead of A's. */
  async function two(skewB = 0): Promise<[Replica, Replica]> {
    mono = new ManualClock(0);
    clockA = new ManualClock(T0);
    clockB = new ManualClock(T0 + skewB);
    const place = await b.newPlace();
    return [await replica(place, clockA), await replica(place, clockB)];
  }

  /** Time moves on by `ms` for everyone; then `who` sweep (every second, as their timers do). */
  async function sweepFor(ms: number, ...who: Replica[]): Promise<void> {
    for (let t = 0; t < ms; t += 1000) {
      const step = Math.min(1000, ms - t);
      mono.advance(step);
      clockA.advance(step);
      clockB.advance(step);
      for (const r of who) await r.pairing.sweep();
    }
  }

  const submit = async (r: Replica) => {
    const key = newKey();
    const out = await r.pairing.submitCsr({ csrPem: key.csr('phone'), label: 'phone', role: 'operator', scopes: ['operator.read'], peer: '192.0.2.1' });
    return { requestId: out.request.requestId, deviceId: out.request.deviceId, secret: out.secret! };
  };
  const stored = (r: Replica, id: string) => r.requests.collection.mutate((tx) => tx.get(id)) as Promise<PairingRecord | undefined>;
  const device = (r: Replica, id: string) => r.devices.collection.mutate((tx) => tx.get(id)) as Promise<DeviceRecord | undefined>;
  const serialOf = (certPem: string) => new X509Certificate(certPem).serialNumber.toLowerCase();
  /** Waits until `r`'s copy shows the approval under way (from then on its sweeps look at the claim). */
  const seesApproving = (r: Replica, id: string) => eventually('the approval under way, seen by the other replica', () => r.requests.collection.get(id)?.status === 'approving');

  test('an approver whose clock is 31 s behind is not taken over by the other replica\'s sweep; its approval stands', async () => {
    const [a, other] = await two(31_000);
    const sub = await submit(a);
    a.requests.control.hold(2);
    const approving = a.pairing.approve(sub.requestId, { actor: 'ops-a' });
    await eventually('the approval under way on A', () => a.requests.control.reached);
    await sweepFor(2000, other);
    expect((await stored(other, sub.requestId))!.status).toBe('approving');
    expect((await caught(() => other.pairing.approve(sub.requestId, { actor: 'ops-b' }))).reason).toBe('PAIRING_ALREADY_DECIDED');
    a.requests.control.release();
    const d = await approving;
    const r = (await stored(other, sub.requestId))!;
    expect(r).toMatchObject({ status: 'approved', resolvedBy: 'ops-a' });
    expect(serialOf(r.outcome!.certPem!)).toBe(d.cert!.serial.toLowerCase());
    expect([...a.audits('pairing.approve'), ...other.audits('pairing.approve')]).toHaveLength(1);
  });

  test('an approval held up for longer than its claim loses it: nothing of it is registered, it fails with PAIRING_CLAIM_LOST, the other replica\'s approval stands', async () => {
    const [a, other] = await two();
    const sub = await submit(a);
    a.requests.control.hold(2);
    const late = a.pairing.approve(sub.requestId, { actor: 'ops-a' });
    late.catch(() => undefined);
    await eventually('the approval under way on A', () => a.requests.control.reached);
    // A is stuck (it renews nothing); B sweeps every second: 30 s after its first look the claim no longer holds.
    await seesApproving(other, sub.requestId);
    await other.pairing.sweep();
    await sweepFor(31_000, other);
    expect((await stored(other, sub.requestId))!.status).toBe('pending');
    expect(other.audits('pairing.approve.abandoned')).toEqual([expect.objectContaining({ requestId: sub.requestId, actor: 'ops-a', allowed: false })]);
    const w: PairingOutcome[] = [];
    await other.pairing.watch(sub.requestId, sub.secret, (o) => w.push(o));
    const onB = await other.pairing.approve(sub.requestId, { actor: 'ops-b' });
    a.requests.control.release();
    const err = await caught(() => late);
    expect([err.code, err.reason]).toEqual(['FAILED_PRECONDITION', 'PAIRING_CLAIM_LOST']);
    expect(a.audits('pairing.approve')).toEqual([]);
    expect(a.audits('pairing.approve.denied')).toEqual([expect.objectContaining({ requestId: sub.requestId, reason: 'PAIRING_CLAIM_LOST', allowed: false })]);
    // One certificate counts: B's, in the record, in the registry, and in the requester's hands.
    const r = (await stored(other, sub.requestId))!;
    expect(r).toMatchObject({ status: 'approved', resolvedBy: 'ops-b' });
    const dev = (await device(other, sub.deviceId))!;
    expect(dev).toMatchObject({ status: 'active', cert: { serial: onB.cert!.serial }, previousSerials: [] });
    await eventually('the watch got the certificate', () => w.some((o) => o.state === 'approved'));
    expect(serialOf(w.find((o) => o.state === 'approved')!.certPem!)).toBe(onB.cert!.serial.toLowerCase());
  });

  test('an approval held up between noting its certificate and registering it: once the request was decided otherwise, its late registration is revoked', async () => {
    const [a, other] = await two();
    const sub = await submit(a);
    a.devices.control.hold(1);
    const late = a.pairing.approve(sub.requestId, { actor: 'ops-a' });
    late.catch(() => undefined);
    await eventually('A about to register the device', () => a.devices.control.reached);
    await seesApproving(other, sub.requestId);
    await other.pairing.sweep();
    await sweepFor(31_000, other);
    expect((await stored(other, sub.requestId))!.status).toBe('pending');
    await other.pairing.reject(sub.requestId, { actor: 'ops-b', reason: 'not ours' });
    a.devices.control.release();
    const err = await caught(() => late);
    expect(err.reason).toBe('PAIRING_CLAIM_LOST');
    expect((await stored(other, sub.requestId))!).toMatchObject({ status: 'rejected' });
    expect((await device(other, sub.deviceId))!).toMatchObject({ status: 'revoked', revokeReason: 'its pairing approval lost its claim' });
    expect(a.audits('pairing.approve.lost')).toEqual([expect.objectContaining({ requestId: sub.requestId, deviceId: sub.deviceId, revoked: true, allowed: false })]);
    expect(a.audits('pairing.approve')).toEqual([]);
  });

  test('the last step fails after the device was registered (the process died there): audited, and a sweep records the approval with that certificate', async () => {
    const [a, other] = await two();
    const sub = await submit(a);
    const w: PairingOutcome[] = [];
    await other.pairing.watch(sub.requestId, sub.secret, (o) => w.push(o));
    a.requests.control.failWhen(() => a.devices.collection.get(sub.deviceId)?.status === 'active');
    const err = await caught(() => a.pairing.approve(sub.requestId, { actor: 'ops-a' }));
    expect(err.reason).toBe('DATABASE_UNREACHABLE');
    const registered = (await device(other, sub.deviceId))!;
    expect(registered.status).toBe('active');
    expect(a.audits('pairing.approve.failed')).toEqual([expect.objectContaining({ requestId: sub.requestId, deviceId: sub.deviceId, actor: 'ops-a', reason: 'DATABASE_UNREACHABLE', allowed: false })]);
    // Not yet: the claim holds until B saw it unrenewed for 30 s (nobody can decide the request meanwhile).
    await seesApproving(other, sub.requestId);
    await other.pairing.sweep();
    await sweepFor(30_000, other);
    expect((await stored(other, sub.requestId))!.status).toBe('approving');
    expect((await caught(() => other.pairing.reject(sub.requestId, { actor: 'ops-b' }))).reason).toBe('PAIRING_ALREADY_DECIDED');
    await sweepFor(1000, other);
    const r = (await stored(other, sub.requestId))!;
    expect(r).toMatchObject({ status: 'approved', resolvedBy: 'ops-a', outcome: { state: 'approved', deviceId: sub.deviceId, scopes: ['operator.read'] } });
    expect(serialOf(r.outcome!.certPem!)).toBe(registered.cert!.serial.toLowerCase());
    expect(other.audits('pairing.approve.completed')).toEqual([expect.objectContaining({ requestId: sub.requestId, deviceId: sub.deviceId, actor: 'ops-a', allowed: true })]);
    expect(other.events.events.filter((e) => e.type === 'device.pair.resolved').map((e) => (e.payload as { decision: string }).decision)).toEqual(['approved']);
    await eventually('the watch got the certificate', () => w.some((o) => o.state === 'approved'));
    expect(serialOf(w.find((o) => o.state === 'approved')!.certPem!)).toBe(registered.cert!.serial.toLowerCase());
    expect((await device(other, sub.deviceId))!).toMatchObject({ status: 'active', cert: { serial: registered.cert!.serial } });
  });
});
