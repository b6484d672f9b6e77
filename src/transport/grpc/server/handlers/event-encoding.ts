/**
 * SubscribeResponse bytes for a delivered event, built for fan-out: the part every
 * subscriber shares (type, time, payload: fields 3 to 5 of Event) is encoded once per
 * event, the stream's own part (its subscription id, field 2) once per stream, and each
 * delivery only writes the framing and the sequence around them into one buffer. An
 * event fanned out to N streams is delivered N times in a row, so one remembered shared
 * encoding (the last event's) serves N - 1 of them. The result is exactly what
 * protobuf-es's toBinary writes for the same message (fields in number order, defaults
 * left out).
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import type { DeliveredEvent } from '../../../../services/events/event-hub';
import { Encoded } from '../../service-definition';

/** An event as one stream sends it. */
export interface EventFields extends DeliveredEvent {
  subscriptionId: string;
}

/** Bytes a varint of `v` takes (v a non-negative safe integer). */
function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** Writes `v` as a varint at `at`; returns the offset after it. */
function writeVarint(buf: Buffer, at: number, v: number): number {
  while (v >= 0x80) {
    buf[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buf[at++] = v;
  return at;
}

/** Tag byte of Event.seq (field 1, varint) and of SubscribeResponse.event (field 1, length-delimited). */
const SEQ_TAG = (1 << 3) | WireType.Varint;
const EVENT_TAG = (1 << 3) | WireType.LengthDelimited;

/** Encodes events for the streams of one service, reusing the shared part while consecutive events are the same one. */
export class EventEncoder {
  private last?: { type: string; ts: number; payloadJson: string; shared: Uint8Array };

  private shared(e: DeliveredEvent): Uint8Array {
    const l = this.last;
    if (l && l.payloadJson === e.payloadJson && l.ts === e.ts && l.type === e.type) return l.shared;
    // Event fields 3 to 5, each left out when it has its default value (as proto3 does).
    const w = new BinaryWriter();
    if (e.type !== '') w.tag(3, WireType.LengthDelimited).string(e.type);
    if (e.ts !== 0) w.tag(4, WireType.Varint).int64(e.ts);
    if (e.payloadJson !== '') w.tag(5, WireType.LengthDelimited).string(e.payloadJson);
    const shared = w.finish();
    this.last = { type: e.type, ts: e.ts, payloadJson: e.payloadJson, shared };
    return shared;
  }

  /**
   * The encoder of one stream: SubscribeResponse{event: Event{seq, subscription_id, type,
   * ts_ms, payload_json}} for each event it is given, its subscription id encoded once.
   */
  forSubscription(subscriptionId: string): (e: DeliveredEvent) => Encoded {
    const own = subscriptionId === '' ? Buffer.alloc(0) : Buffer.from(new BinaryWriter().tag(2, WireType.LengthDelimited).string(subscriptionId).finish());
    return (e) => {
      const shared = this.shared(e);
      const inner = (e.seq !== 0 ? 1 + varintLength(e.seq) : 0) + own.length + shared.length;
      const out = Buffer.allocUnsafe(1 + varintLength(inner) + inner);
      out[0] = EVENT_TAG;
      let at = writeVarint(out, 1, inner);
      if (e.seq !== 0) {
        out[at++] = SEQ_TAG;
        at = writeVarint(out, at, e.seq);
      }
      at += own.copy(out, at);
      out.set(shared, at);
      return new Encoded(out);
    };
  }
}
