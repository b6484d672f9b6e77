/**
 * The event stream: after a `subscribed` marker (seq 0) that carries its id, events come
 * numbered by the gateway's event log (strictly increasing; a subscription that does not
 * get every type sees holes); after a disconnect the client resumes with (subscription
 * id, last seq) and gets exactly what it missed, then live events. Only the owner may
 * resume a subscription.
 */
import * as grpc from '@grpc/grpc-js';
import { DeviceService, PairingService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { EventService, type SubscribeResponse } from '../../src/gen/openclaw/events/v1/events_pb';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { unaryCall, type GatewayConnection } from '../../src/transport/grpc/client/gateway-connection';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { Connections, expectRefused, grpcCodeOf, newKey, provision, StreamReader, type TestKey } from '../helpers/grpc-kit';

const PAIRING_EVENTS = ['device.pair.requested', 'device.pair.resolved'];

const conns = new Connections();
let t: TestGateway;
let cli: GatewayConnection;
let keys: TestKey[];

beforeAll(async () => {
  t = await startTestGateway();
  cli = t.connect('cli');
  keys = Array.from({ length: 4 }, () => newKey());
});
afterAll(async () => {
  conns.closeAll();
  await t.close();
});

const ops = () => cli.client(DeviceService);

async function requestPairing(key: TestKey, label: string): Promise<string> {
  const p = conns.connect(t.address, { caPem: t.gw.registry.ca.certPem }).client(PairingService);
  const res = await unaryCall(p, p.submitCsr, { csrPem: key.csr(label), label, role: 'operator', scopes: ['operator.read'] });
  return res.requestId;
}

function subscribe(c: GatewayConnection, req: { types?: string[]; subscriptionId?: string; resumeAfterSeq?: bigint } = {}): StreamReader<SubscribeResponse> {
  return new StreamReader(c.client(EventService).subscribe({ types: req.types ?? PAIRING_EVENTS, subscriptionId: req.subscriptionId ?? '', resumeAfterSeq: req.resumeAfterSeq ?? 0n }));
}

interface Seen {
  seq: number;
  type: string;
  requestId: string;
  decision?: string;
}

function seen(m: SubscribeResponse): Seen {
  const e = m.event!;
  const p = JSON.parse(e.payloadJson) as { requestId?: string; decision?: string };
  return { seq: Number(e.seq), type: e.type, requestId: p.requestId ?? '', ...(p.decision ? { decision: p.decision } : {}) };
}

/** Number of open streams the gateway counts for the CLI device (presence). */
async function cliStreams(): Promise<number> {
  const g = cli.client(GatewayService);
  const me = await unaryCall(ops(), ops().whoAmI, {});
  const res = await unaryCall(g, g.getPresence, {});
  return res.entries.filter((e) => e.deviceId === me.device!.deviceId).reduce((n, e) => n + e.streams, 0);
}

/** Waits (bounded) until the gateway has noticed that the CLI's streams closed. */
async function untilNoCliStreams(): Promise<void> {
  const deadline = Date.now() + 3000;
  while ((await cliStreams()) > 0) {
    if (Date.now() > deadline) throw new Error('the gateway still counts an open stream');
  }
}

test('seq 0 marker, numbered events, resume after a disconnect without loss or duplicates, owner-only resumption', async () => {
  // 1. Subscribe: the first message is the marker with the subscription id.
  const s1 = subscribe(cli);
  const marker = (await s1.next()).event!;
  expect(marker).toMatchObject({ seq: 0n, type: 'subscribed', payloadJson: '{}' });
  const subscriptionId = marker.subscriptionId;
  expect(subscriptionId).toMatch(/^[A-Za-z0-9_-]{8,}$/);

  // 2. Events, in order, with increasing sequence numbers.
  const r1 = await requestPairing(keys[0], 'ev-1');
  const r2 = await requestPairing(keys[1], 'ev-2');
  await unaryCall(ops(), ops().approvePairing, { requestId: r1 });
  const live = [seen(await s1.next()), seen(await s1.next()), seen(await s1.next())];
  expect(live.map(({ seq: _seq, ...e }) => e)).toEqual([
    { type: 'device.pair.requested', requestId: r1 },
    { type: 'device.pair.requested', requestId: r2 },
    { type: 'device.pair.resolved', requestId: r1, decision: 'approved' },
  ]);
  expectIncreasing(live.map((e) => e.seq));
  const last = live[2].seq;

  // 3. Disconnect; events happen meanwhile.
  const end = await s1.cancel();
  expect(grpcCodeOf(end.error)).toBe(grpc.status.CANCELLED);
  await untilNoCliStreams();
  await unaryCall(ops(), ops().rejectPairing, { requestId: r2, reason: 'no' });
  const r3 = await requestPairing(keys[2], 'ev-3');

  // 4. Resume after the last seq seen: the two missed events are replayed, then live events continue.
  const s2 = subscribe(cli, { subscriptionId, resumeAfterSeq: BigInt(last) });
  const replayed: Seen[] = [];
  const markers: SubscribeResponse[] = [];
  const received: SubscribeResponse[] = [];
  while (replayed.length < 2) {
    const m = await s2.next();
    received.push(m);
    if (m.event!.seq === 0n) markers.push(m);
    else replayed.push(seen(m));
  }
  // The marker comes first: the client learns which subscription it is before any replayed event.
  expect({ type: received[0].event!.type, seq: received[0].event!.seq }).toEqual({ type: 'subscribed', seq: 0n });
  const r4 = await requestPairing(keys[3], 'ev-4');
  let next = await s2.next();
  received.push(next);
  while (next.event!.seq === 0n) {
    markers.push(next);
    next = await s2.next();
    received.push(next);
  }
  const all = [...replayed, seen(next)];
  expect(all.map(({ seq: _seq, ...e }) => e)).toEqual([
    { type: 'device.pair.resolved', requestId: r2, decision: 'rejected' },
    { type: 'device.pair.requested', requestId: r3 },
    { type: 'device.pair.requested', requestId: r4 },
  ]);
  expectIncreasing([last, ...all.map((e) => e.seq)]);
  // The resumed stream also says which subscription it is (once), and everything is on that subscription.
  expect(markers.map((m) => m.event!.subscriptionId)).toEqual([subscriptionId]);
  expect(received.map((m) => m.event!.subscriptionId).filter((id) => id !== subscriptionId)).toEqual([]);
  expect(s2.pending).toEqual([]);

  // 5. While attached, the same subscription cannot be taken a second time.
  const dup = subscribe(cli, { subscriptionId, resumeAfterSeq: BigInt(all[2].seq) });
  const dupEnd = await dup.ended;
  expect({ code: grpcCodeOf(dupEnd.error), reason: dupEnd.error?.reason }).toEqual({ code: grpc.status.FAILED_PRECONDITION, reason: 'SUBSCRIPTION_ACTIVE' });

  // 6. Another device cannot resume it (NOT_FOUND, so it does not even learn it exists).
  const other = await provision(t, { role: 'operator', label: 'other-reader', scopes: ['operator.read'] });
  const oc = conns.connect(t.address, { caPem: other.caPem, keyPem: other.keyPem, certPem: other.certPem });
  const foreign = subscribe(oc, { subscriptionId, resumeAfterSeq: 0n });
  const fEnd = await foreign.ended;
  expect({ code: grpcCodeOf(fEnd.error), reason: fEnd.error?.reason }).toEqual({ code: grpc.status.NOT_FOUND, reason: 'SUBSCRIPTION_NOT_FOUND' });

  // 7. Resuming ahead of the event log is refused.
  await s2.cancel();
  await untilNoCliStreams();
  const ahead = subscribe(cli, { subscriptionId, resumeAfterSeq: BigInt(all[2].seq) + 1_000_000n });
  const aEnd = await ahead.ended;
  expect({ code: grpcCodeOf(aEnd.error), reason: aEnd.error?.reason }).toEqual({ code: grpc.status.INVALID_ARGUMENT, reason: 'RESUME_AHEAD' });

  // 8. An unknown subscription id.
  const unknown = subscribe(cli, { subscriptionId: 'does-not-exist', resumeAfterSeq: 0n });
  expect((await unknown.ended).error?.reason).toBe('SUBSCRIPTION_NOT_FOUND');
});

test('the payload of a pairing request carries the verification code, not key material', async () => {
  const s = subscribe(cli, { types: ['device.pair.requested'] });
  expect((await s.next()).event!.type).toBe('subscribed');
  const key = newKey();
  const requestId = await requestPairing(key, 'payload-check');
  const e = (await s.next()).event!;
  const payload = JSON.parse(e.payloadJson) as Record<string, unknown>;
  expect(payload).toMatchObject({ requestId, displayName: 'payload-check', role: 'operator', scopes: ['operator.read'], kind: 'csr' });
  expect(payload.verificationCode).toMatch(/^[2-9A-Z]{4}-[2-9A-Z]{4}$/);
  expect(e.payloadJson).not.toMatch(/BEGIN|PUBLIC KEY|CERTIFICATE REQUEST/);
  await s.cancel();
});

test('a type filter only delivers the asked types', async () => {
  const s = subscribe(cli, { types: ['device.pair.resolved'] });
  expect((await s.next()).event!.type).toBe('subscribed');
  const requestId = await requestPairing(newKey(), 'filter-check');
  await unaryCall(ops(), ops().rejectPairing, { requestId });
  const e = (await s.next()).event!;
  expect(e.type).toBe('device.pair.resolved');
  expect(e.seq).toBeGreaterThan(0n);
  expect(JSON.parse(e.payloadJson)).toMatchObject({ requestId, decision: 'rejected' });
  await s.cancel();
});

test('seq is the event log sequence: the same event has the same seq on every subscription, a filtered one sees holes', async () => {
  const all = subscribe(cli, { types: PAIRING_EVENTS });
  const resolvedOnly = subscribe(cli, { types: ['device.pair.resolved'] });
  expect((await all.next()).event!.type).toBe('subscribed');
  expect((await resolvedOnly.next()).event!.type).toBe('subscribed');
  const requestId = await requestPairing(newKey(), 'seq-check');
  await unaryCall(ops(), ops().rejectPairing, { requestId });
  const [requested, resolved] = [(await all.next()).event!, (await all.next()).event!];
  expect([requested.type, resolved.type]).toEqual(['device.pair.requested', 'device.pair.resolved']);
  expect(resolved.seq).toBeGreaterThan(requested.seq);
  const only = (await resolvedOnly.next()).event!;
  expect({ type: only.type, seq: only.seq, payloadJson: only.payloadJson }).toEqual({ type: 'device.pair.resolved', seq: resolved.seq, payloadJson: resolved.payloadJson });
  await all.cancel();
  await resolvedOnly.cancel();
});

function expectIncreasing(seqs: number[]): void {
  for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]);
}

test('Unsubscribe ends a subscription for good: its stream ends with OK, it cannot be resumed; only its owner may end it (audited)', async () => {
  const events = cli.client(EventService);
  const s = subscribe(cli);
  const subscriptionId = (await s.next()).event!.subscriptionId;

  // Another device: NOT_FOUND (it does not learn the subscription exists), audited; the stream lives on.
  const other = await provision(t, { role: 'operator', label: 'unsubscriber', scopes: ['operator.read'] });
  const oc = conns.connect(t.address, { caPem: other.caPem, keyPem: other.keyPem, certPem: other.certPem });
  const oe = oc.client(EventService);
  await expectRefused(unaryCall(oe, oe.unsubscribe, { subscriptionId }), grpc.status.NOT_FOUND, 'SUBSCRIPTION_NOT_FOUND');
  expect(t.logs.audits('events.resume.denied').filter((l) => l.subscriptionId === subscriptionId && l.caller === other.deviceId)).toHaveLength(1);
  await expectRefused(unaryCall(events, events.unsubscribe, { subscriptionId: '' }), grpc.status.INVALID_ARGUMENT, 'INVALID_SUBSCRIPTION_ID');

  const kept = t.gw.hub.retained;
  await unaryCall(events, events.unsubscribe, { subscriptionId });
  const end = await s.endWithin(3000);
  expect(end.error).toBeUndefined();
  expect(t.gw.hub.retained).toBe(kept - 1);
  const resumed = subscribe(cli, { subscriptionId, resumeAfterSeq: 0n });
  expect((await resumed.ended).error?.reason).toBe('SUBSCRIPTION_NOT_FOUND');
  await expectRefused(unaryCall(events, events.unsubscribe, { subscriptionId }), grpc.status.NOT_FOUND, 'SUBSCRIPTION_NOT_FOUND');
});

test('two streams at once, a new one and a resumed one: every event each gets carries that stream\'s own subscription id', async () => {
  const first = subscribe(cli);
  const firstId = (await first.next()).event!.subscriptionId;
  const a = await requestPairing(newKey(), 'ids-a');
  const seenA = seen(await first.next());
  expect(seenA.requestId).toBe(a);
  await first.cancel();
  await untilNoCliStreams();

  const fresh = subscribe(cli);
  const freshMarker = (await fresh.next()).event!;
  const resumed = subscribe(cli, { subscriptionId: firstId, resumeAfterSeq: BigInt(seenA.seq) });
  const resumedMarker = (await resumed.next()).event!;
  expect(resumedMarker.subscriptionId).toBe(firstId);
  expect(freshMarker.subscriptionId).not.toBe(firstId);
  expect(freshMarker.subscriptionId).not.toBe('');

  const b = await requestPairing(newKey(), 'ids-b');
  const onFresh = (await fresh.next()).event!;
  const onResumed = (await resumed.next()).event!;
  expect({ id: onFresh.subscriptionId, seq: onFresh.seq, payload: onFresh.payloadJson }).toEqual({ id: freshMarker.subscriptionId, seq: onResumed.seq, payload: onResumed.payloadJson });
  expect(onResumed.subscriptionId).toBe(firstId);
  expect(seen({ event: onResumed } as SubscribeResponse).requestId).toBe(b);
  await fresh.cancel();
  await resumed.cancel();
});
