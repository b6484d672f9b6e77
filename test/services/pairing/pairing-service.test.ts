/**
 * PairingService on both backends (files, and a real PostgreSQL server this file
 * starts), with two replicas: each its own backend over the same place, registry and
 * service, as two gateway processes would have. A request submitted on one is listed
 * and decided on the other and its outcome reaches the requester's watch on the first;
 * secrets are checked (and stored) as hashes; the queue bound, the approver's rights and
 * "still pending" are decided on the committed state; two approvals at once issue one
 * certificate; sweeps running everywhere expire a request once.
 */
import { X509Certificate } from 'node:crypto';
import { ManualClock } from '../../../src/clock';
import { errors, GatewayError } from '../../../src/errors';
import { CertificateAuthority, DeviceRegistry, deviceIdFromPublicKeyPem } from '../../../src/identity';
import { RecordingPublisher } from '../../../src/services/events/event-publisher';
import { BootstrapTokens, openTokens } from '../../../src/services/pairing/bootstrap-tokens';
import { PairingService, type PairingOutcome } from '../../../src/services/pairing/pairing-service';
import { openPairingRequests, PAIRING_REQUESTS, secretHash, type PairingRecord } from '../../../src/services/pairing/pairing-requests';
import { RateLimiter } from '../../../src/services/pairing/rate-limiter';
import type { Collection } from '../../../src/store/collection';
import { openDevices, type DeviceRecord } from '../../../src/store/device-store';
import { newKey, legacyDeviceKey } from '../../helpers/grpc-kit';
import { storeBackends } from '../../helpers/store-backends';
import { eventually } from '../../helpers/eventually';
import { capturingLogger, caught } from '../helpers';

const clock = new ManualClock(Date.now());
const made = CertificateAuthority.create('pairing-test.local', clock.now());
const ca = new CertificateAuthority(made.certPem, made.keyPem, 'pairing-test.local');
const WIDE = { capacity: 100_000, perMinute: 100_000 };

const stores = storeBackends();
beforeAll(() => stores.start(), 60_000);
afterAll(() => stores.stop());

/** One gateway replica's pairing side. */
interface Replica {
  pairing: PairingService;
  registry: DeviceRegistry;
  devices: Collection<DeviceRecord>;
  requests: Collection<PairingRecord>;
  events: RecordingPublisher;
  lines: string[];
  audits(event: string): Record<string, unknown>[];
}

/** Collects what a watch receives. */
function watcher() {
  const got: PairingOutcome[] = [];
  return { got, listener: (o: PairingOutcome) => got.push(o), final: () => got.find((o) => o.state !== 'pending') };
}

describe.each(stores.all)('pairing across replicas ($label)', (b) => {
  const limits = { pendingTtlMs: 5 * 60_000, maxPending: 64 };
  const running: PairingService[] = [];
  let a: Replica;
  let other: Replica;

  const replica = async (place: string): Promise<Replica> => {
    const store = await b.open(place);
    const { logger, lines } = capturingLogger();
    const devices = await openDevices(store);
    const registry = new DeviceRegistry({ store: devices, ca, clock, log: logger });
    const events = new RecordingPublisher();
    const requests = await openPairingRequests(store);
    const pairing = new PairingService({
      registry,
      tokens: new BootstrapTokens(await openTokens(store), clock),
      requests,
      clock,
      monotonic: clock,
      events,
      log: logger,
      limits: () => limits,
      rateLimiter: new RateLimiter(clock, WIDE, WIDE),
    });
    running.push(pairing);
    const audits = (event: string) => lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.audit === true && l.event === event);
    return { pairing, registry, devices, requests, events, lines, audits };
  };

  beforeEach(async () => {
    limits.maxPending = 64;
    const place = await b.newPlace();
    a = await replica(place);
    other = await replica(place);
  });
  afterEach(() => {
    for (const p of running.splice(0)) p.stop();
  });

  const submit = (r: Replica, key = newKey(), label = 'device', scopes = ['operator.read']) =>
    r.pairing.submitCsr({ csrPem: key.csr(label), label, role: 'operator', scopes, peer: '192.0.2.1' }).then((out) => ({ ...out, key }));

  test('submitted on one replica, listed and approved on the other: the watch on the first gets the certificate', async () => {
    const sub = await submit(a, undefined, 'phone');
    expect(sub.state).toBe('pending');
    const w = watcher();
    // Whether this replica's registry knew the device when the certificate was handed out here.
    const knownAtDelivery: boolean[] = [];
    const stop = await a.pairing.watch(sub.request.requestId, sub.secret!, (o) => {
      if (o.state === 'approved') knownAtDelivery.push(a.registry.get(o.deviceId)?.status === 'active');
      w.listener(o);
    });
    expect(w.got).toEqual([{ state: 'pending', deviceId: sub.request.deviceId }]);

    await eventually('the other replica lists the request', () => other.pairing.list().some((p) => p.requestId === sub.request.requestId));
    const listed = other.pairing.list().find((p) => p.requestId === sub.request.requestId)!;
    expect(listed).toMatchObject({ deviceId: deviceIdFromPublicKeyPem(sub.key.publicKeyPem), label: 'phone', verificationCode: sub.request.verificationCode, kind: 'csr' });
    expect(JSON.stringify(listed)).not.toContain('secret');

    const device = await other.pairing.approve(sub.request.requestId, { actor: 'ops-on-b' });
    await eventually('the watch on the first replica got the outcome', () => w.final() !== undefined);
    stop();
    const final = w.final()!;
    expect(knownAtDelivery).toEqual([true]);
    expect(final).toMatchObject({ state: 'approved', deviceId: device.id, scopes: ['operator.read'], caPem: ca.certPem });
    expect(new X509Certificate(final.certPem!).serialNumber.toLowerCase()).toBe(device.cert!.serial.toLowerCase());
    expect(other.audits('pairing.approve')).toEqual([expect.objectContaining({ requestId: sub.request.requestId, actor: 'ops-on-b', allowed: true })]);
    expect(other.events.events.map((e) => e.type)).toEqual(['device.pair.resolved']);
    // The requester collected it: noted in the record, which is forgotten a minute later (by a sweep on either replica).
    await eventually('the outcome is noted as collected', () => a.requests.get(sub.request.requestId)?.collectedAt !== undefined);
    const late = watcher();
    await other.pairing.watch(sub.request.requestId, sub.secret!, late.listener);
    expect(late.got).toEqual([final]);
    clock.advance(61_000);
    await a.pairing.sweep();
    expect(a.requests.get(sub.request.requestId)).toBeUndefined();
    await eventually('the other replica forgot it too', () => other.requests.get(sub.request.requestId) === undefined);
    expect((await caught(() => other.pairing.watch(sub.request.requestId, sub.secret!, () => undefined))).reason).toBe('PAIRING_REQUEST_NOT_FOUND');
  });

  test('rejected on one replica: the watch on the other gets REJECTED with the (cleaned) reason and no certificate', async () => {
    const sub = await submit(a);
    const w = watcher();
    await a.pairing.watch(sub.request.requestId, sub.secret!, w.listener);
    await other.pairing.reject(sub.request.requestId, { reason: 'not ours\u001b[2J', actor: 'ops-on-b' });
    await eventually('the watch got the rejection', () => w.final() !== undefined);
    expect(w.final()).toEqual({ state: 'rejected', deviceId: sub.request.deviceId, reason: 'not ours[2J' });
    expect(a.registry.get(sub.request.deviceId)).toBeUndefined();
    expect(other.audits('pairing.reject')).toEqual([expect.objectContaining({ requestId: sub.request.requestId, actor: 'ops-on-b', allowed: false })]);
    // Decided: neither replica approves or rejects it again, and says why.
    for (const r of [a, other]) {
      const err = await caught(() => r.pairing.approve(sub.request.requestId, { actor: 'late' }));
      expect({ code: err.code, reason: err.reason, message: err.message }).toEqual({ code: 'FAILED_PRECONDITION', reason: 'PAIRING_ALREADY_DECIDED', message: `pairing request ${sub.request.requestId} was already rejected (by ops-on-b)` });
      expect((await caught(() => r.pairing.reject(sub.request.requestId, { actor: 'late' }))).reason).toBe('PAIRING_ALREADY_DECIDED');
    }
    expect(a.audits('pairing.approve.denied')).toEqual([expect.objectContaining({ requestId: sub.request.requestId, reason: 'PAIRING_ALREADY_DECIDED', allowed: false })]);
  });

  test('a wrong or missing secret sees nothing, on either replica, before and after the decision; only hashes are stored', async () => {
    const sub = await submit(a);
    const wrong = sub.secret!.slice(0, -1) + (sub.secret!.endsWith('A') ? 'B' : 'A');
    const refused = async () => {
      for (const r of [a, other]) {
        for (const secret of ['', wrong, 'x'.repeat(10_000)]) {
          const err = await caught(() => r.pairing.watch(sub.request.requestId, secret, () => undefined));
          expect({ code: err.code, reason: err.reason }).toEqual({ code: 'NOT_FOUND', reason: 'PAIRING_REQUEST_NOT_FOUND' });
        }
      }
    };
    await refused();
    await other.pairing.approve(sub.request.requestId, { actor: 'ops' });
    await refused();
    expect([...a.audits('pairing.watch.denied'), ...other.audits('pairing.watch.denied')].filter((l) => l.requestId === sub.request.requestId)).toHaveLength(12);
    const stored = (await other.requests.mutate((tx) => tx.get(sub.request.requestId)))!;
    expect(stored.secretHashes).toEqual([secretHash(sub.secret!)]);
    expect(JSON.stringify(stored)).not.toContain(sub.secret!);
    expect([...a.lines, ...other.lines].some((l) => l.includes(sub.secret!))).toBe(false);
    // An unknown id is the same NOT_FOUND (and a made-up one never reaches the store).
    for (const id of ['A'.repeat(16), "x' OR 1=1 --", '']) expect((await caught(() => a.pairing.watch(id, sub.secret!, () => undefined))).reason).toBe('PAIRING_REQUEST_NOT_FOUND');
  });

  test('a request submitted a moment ago through the other replica can be watched at once', async () => {
    const sub = await submit(other);
    const w = watcher();
    await a.pairing.watch(sub.request.requestId, sub.secret!, w.listener);
    expect(w.got).toEqual([{ state: 'pending', deviceId: sub.request.deviceId }]);
  });

  test('the same request approved on both replicas at once: one certificate, one PAIRING_ALREADY_DECIDED', async () => {
    const sub = await submit(a);
    const results = await Promise.allSettled([a.pairing.approve(sub.request.requestId, { actor: 'ops-a' }), other.pairing.approve(sub.request.requestId, { actor: 'ops-b' })]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as GatewayError);
    expect(ok).toHaveLength(1);
    expect(refused.map((e) => e.reason)).toEqual(['PAIRING_ALREADY_DECIDED']);
    expect(refused[0].message).toMatch(/is being approved right now|was already approved/);
    const device = await a.devices.mutate((tx) => tx.get(sub.request.deviceId));
    expect(device).toMatchObject({ status: 'active', previousSerials: [] });
    expect([...a.audits('pairing.approve'), ...other.audits('pairing.approve')]).toHaveLength(1);
  });

  test('the queue bound is checked on the committed queue of all replicas', async () => {
    limits.maxPending = 2;
    const keys = [newKey(), newKey(), newKey()];
    const results = await Promise.allSettled([submit(a, keys[0]), submit(other, keys[1]), submit(a, keys[2])]);
    const reasons = results.map((r) => (r.status === 'fulfilled' ? 'ok' : ((r as PromiseRejectedResult).reason as GatewayError).reason)).sort();
    expect(reasons).toEqual(['PAIRING_QUEUE_FULL', 'ok', 'ok']);
    expect([...a.audits('pairing.denied'), ...other.audits('pairing.denied')]).toEqual([expect.objectContaining({ reason: 'queue full', allowed: false })]);
    // The same device asking again (on the other replica) is not a new entry, and its new secret works too.
    const pendingKey = keys[results.findIndex((r) => r.status === 'fulfilled')];
    const again = await submit(other, pendingKey);
    const first = (results.find((r) => r.status === 'fulfilled') as PromiseFulfilledResult<Awaited<ReturnType<typeof submit>>>).value;
    expect(again.request.requestId).toBe(first.request.requestId);
    for (const secret of [first.secret!, again.secret!]) await a.pairing.watch(first.request.requestId, secret, () => undefined);
  });

  test('the approver\'s rights are checked on the committed request; a refusal leaves it pending', async () => {
    const sub = await submit(a, undefined, 'tablet', ['operator.read', 'operator.write']);
    const deny = () => {
      throw errors.denied('MISSING_SCOPE', 'missing scope: operator.write (cannot grant a scope you do not hold)');
    };
    let seen: readonly string[] = [];
    const err = await caught(() =>
      other.pairing.approve(sub.request.requestId, {
        actor: 'junior',
        authorize: (req, granted) => {
          seen = [...granted, req.requestId];
          deny();
        },
      }),
    );
    expect(err.reason).toBe('MISSING_SCOPE');
    expect(seen).toEqual(['operator.read', 'operator.write', sub.request.requestId]);
    expect(other.audits('pairing.approve.denied')).toEqual([expect.objectContaining({ requestId: sub.request.requestId, actor: 'junior', reason: 'MISSING_SCOPE', allowed: false })]);
    // Narrowing never widens; an unknown scope is refused before anything.
    expect((await caught(() => other.pairing.approve(sub.request.requestId, { actor: 'ops', scopes: ['operator.admin'] }))).reason).toBe('SCOPES_NOT_REQUESTED');
    expect((await caught(() => other.pairing.approve(sub.request.requestId, { actor: 'ops', scopes: ['operator.everything'] }))).reason).toBe('UNKNOWN_SCOPE');
    await eventually('the request is still pending', () => a.pairing.list().some((p) => p.requestId === sub.request.requestId));
    const device = await a.pairing.approve(sub.request.requestId, { actor: 'ops', scopes: ['operator.read'] });
    expect(device.scopes).toEqual(['operator.read']);
  });

  test('a failed approval puts the request back; an approval whose replica stopped half-way is undone once its claim went unrenewed for 30 s, and the request is pending again', async () => {
    const sub = await submit(a);
    // A replica that claimed the request and stopped before issuing: its claim is in the record.
    await a.requests.mutate((tx) => {
      const r = tx.get(sub.request.requestId)!;
      r.status = 'approving';
      r.claim = { token: 'gone', actor: 'ops-on-a-dead-replica', beat: 3, until: clock.now() + 30_000 };
      tx.put(r);
    });
    const busy = await caught(() => other.pairing.approve(sub.request.requestId, { actor: 'ops-b' }));
    expect({ reason: busy.reason, message: busy.message }).toEqual({ reason: 'PAIRING_ALREADY_DECIDED', message: `pairing request ${sub.request.requestId} is being approved right now (by ops-on-a-dead-replica)` });
    expect(other.pairing.list().map((p) => p.requestId)).not.toContain(sub.request.requestId);
    // Both replicas sweep every second and see the claim unrenewed: after 30 s of that it no longer holds.
    for (let i = 0; i < 30; i++) {
      clock.advance(1000);
      await Promise.all([a.pairing.sweep(), other.pairing.sweep()]);
    }
    expect((await a.requests.mutate((tx) => tx.get(sub.request.requestId)))!.status).toBe('approving');
    clock.advance(1);
    await Promise.all([a.pairing.sweep(), other.pairing.sweep()]);
    await eventually('the request is pending again', () => other.pairing.list().some((p) => p.requestId === sub.request.requestId));
    expect([...a.audits('pairing.approve.abandoned'), ...other.audits('pairing.approve.abandoned')]).toEqual([expect.objectContaining({ requestId: sub.request.requestId, actor: 'ops-on-a-dead-replica', allowed: false })]);
    // Issuing fails (here: the replica's device store is gone): nothing was issued, the request stays pending.
    await other.devices.close();
    const failed = await caught(() => other.pairing.approve(sub.request.requestId, { actor: 'ops-b' }));
    expect(failed.reason).toBe('STORE_CLOSED');
    expect(other.audits('pairing.approve.denied')).toEqual(expect.arrayContaining([expect.objectContaining({ requestId: sub.request.requestId, reason: 'STORE_CLOSED', allowed: false })]));
    expect((await other.requests.mutate((tx) => tx.get(sub.request.requestId)))!.status).toBe('pending');
  });

  test('sweeps on both replicas at once expire a request once; its watch gets EXPIRED; approving it is NOT_FOUND', async () => {
    const sub = await submit(a);
    const w = watcher();
    await other.pairing.watch(sub.request.requestId, sub.secret!, w.listener);
    clock.advance(limits.pendingTtlMs);
    expect(a.pairing.list().map((p) => p.requestId)).not.toContain(sub.request.requestId);
    await Promise.all([a.pairing.sweep(), other.pairing.sweep(), a.pairing.sweep()]);
    await eventually('the watch got EXPIRED', () => w.final() !== undefined);
    expect(w.final()).toMatchObject({ state: 'expired', deviceId: sub.request.deviceId, reason: expect.stringMatching(/expired/) });
    expect([...a.audits('pairing.expire'), ...other.audits('pairing.expire')]).toEqual([expect.objectContaining({ requestId: sub.request.requestId, allowed: false })]);
    expect([...a.events.events, ...other.events.events].filter((e) => e.type === 'device.pair.resolved')).toHaveLength(1);
    expect((await caught(() => other.pairing.approve(sub.request.requestId, { actor: 'ops' }))).reason).toBe('PAIRING_REQUEST_NOT_FOUND');
    // An outcome nobody collects is forgotten after ten minutes.
    clock.advance(10 * 60_000);
    await other.pairing.sweep();
    expect(await a.requests.mutate((tx) => tx.get(sub.request.requestId))).toBeUndefined();
  });

  test('a legacy device: one request per device whichever replica it reconnects to; approved on either', async () => {
    const key = legacyDeviceKey();
    const ask = { deviceId: key.deviceId, publicKey: key.publicKey, label: 'old-ios', role: 'operator', scopes: ['operator.read'], clientInfo: 'ios', reason: 'not-paired' };
    const first = await a.pairing.submitLegacy(ask);
    const again = await other.pairing.submitLegacy(ask);
    expect(again.requestId).toBe(first.requestId);
    expect(a.events.events.filter((e) => e.type === 'device.pair.requested')).toHaveLength(1);
    expect(other.events.events).toEqual([]);
    const device = await other.pairing.approve(first.requestId, { actor: 'ops' });
    expect(device).toMatchObject({ id: key.deviceId, source: 'legacy', scopes: ['operator.read'] });
    // Nobody can watch a legacy request (no secret): its outcome goes after a minute.
    expect((await caught(() => a.pairing.watch(first.requestId, 'anything', () => undefined))).reason).toBe('PAIRING_REQUEST_NOT_FOUND');
    clock.advance(61_000);
    await a.pairing.sweep();
    expect(await a.requests.mutate((tx) => tx.get(first.requestId))).toBeUndefined();
  });

  test('a record broken by hand is refused as STATE_CORRUPT when read', async () => {
    const sub = await submit(a);
    const place = await b.newPlace();
    const store = await b.open(place);
    const raw = await store.collection(PAIRING_REQUESTS, (r) => r as { id: string });
    await raw.mutate((tx) => tx.put({ ...(a.requests.get(sub.request.requestId) as object), id: sub.request.requestId, status: 'approved' } as { id: string }));
    const err = await caught(async () => openPairingRequests(await b.open(place)));
    expect(err.reason).toBe('STATE_CORRUPT');
    expect(err.message).toContain('approved without an outcome');
  });
});
