/**
 * Event streams encode each event's shared part once: the bytes must be exactly what
 * protobuf-es writes for the same SubscribeResponse, for every subscriber, whatever
 * came before (the remembered encoding must never leak into a different event).
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { SubscribeResponseSchema } from '../../src/gen/openclaw/events/v1/events_pb';
import { EventEncoder, type EventFields } from '../../src/transport/grpc/server/handlers/event-encoding';

function reference(e: EventFields): Buffer {
  const bytes = toBinary(SubscribeResponseSchema, create(SubscribeResponseSchema, { event: { seq: BigInt(e.seq), subscriptionId: e.subscriptionId, type: e.type, tsMs: BigInt(e.ts), payloadJson: e.payloadJson } }));
  return Buffer.from(bytes);
}

const base: EventFields = { seq: 7, subscriptionId: 'sub-a', type: 'cron', ts: 1_796_000_000_000, payloadJson: '{"action":"finished","status":"ok"}' };

test.each<[string, EventFields]>([
  ['an ordinary event', base],
  ['seq 0 and no subscription id (left out, as proto3 defaults)', { ...base, seq: 0, subscriptionId: '' }],
  ['a seq beyond 32 bits', { ...base, seq: 2 ** 40 + 3 }],
  ['the largest safe seq', { ...base, seq: Number.MAX_SAFE_INTEGER }],
  ['seqs at varint length steps', { ...base, seq: 127 }],
  ['a seq of two varint bytes', { ...base, seq: 128 }],
  ['a seq of three varint bytes', { ...base, seq: 16_384 }],
  ['an empty payload and type', { ...base, type: '', payloadJson: '' }],
  ['time 0', { ...base, ts: 0 }],
  ['non-ASCII text and a large payload', { ...base, type: 'chat', payloadJson: JSON.stringify({ text: 'grüße 👋 '.repeat(2000) }) }],
])('%s: the same bytes as protobuf-es', (_name, e) => {
  const bytes = new EventEncoder().forSubscription(e.subscriptionId)(e).bytes;
  expect(bytes.equals(reference(e))).toBe(true);
  expect(fromBinary(SubscribeResponseSchema, bytes).event?.payloadJson).toBe(e.payloadJson);
});

test('one event to many subscribers, then other events: every message is the reference one', () => {
  const enc = new EventEncoder();
  const events: EventFields[] = [];
  for (let i = 0; i < 50; i++) events.push({ ...base, seq: 10, subscriptionId: `sub-${i}` });
  // Differs from the one before in one shared field only, each time.
  events.push({ ...base, seq: 11, type: 'chat' });
  events.push({ ...base, seq: 12, type: 'chat', ts: base.ts + 1 });
  events.push({ ...base, seq: 13, type: 'chat', ts: base.ts + 1, payloadJson: '{"other":true}' });
  // An equal payload in another string object still encodes the same.
  events.push({ ...base, seq: 14, payloadJson: JSON.parse(JSON.stringify(JSON.stringify({ action: 'finished', status: 'ok' }))) as string });
  for (const e of events) expect(enc.forSubscription(e.subscriptionId)(e).bytes.equals(reference(e))).toBe(true);
});

test('one stream, many events: the message length crosses varint steps (one to two bytes, two to three) and every message is the reference one', () => {
  const stream = new EventEncoder().forSubscription('sub-a');
  for (const len of [...Array(60).keys()].map((i) => 90 + i).concat([16_300, 16_384, 16_420])) {
    const e = { ...base, seq: len, payloadJson: 'p'.repeat(len) };
    expect(stream(e).bytes.equals(reference({ ...e, subscriptionId: 'sub-a' }))).toBe(true);
  }
});
