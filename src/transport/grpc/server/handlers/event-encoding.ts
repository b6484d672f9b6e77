/**
 * SubscribeResponse bytes for a delivered event, with the part every subscriber shares
 * (type, time, payload: fields 3 to 5 of Event) encoded once per event rather than once
 * per subscriber. An event fanned out to N streams is delivered N times in a row, so one
 * remembered encoding (the last event's) serves N - 1 of them. The result is exactly what
 * protobuf-es's toBinary writes for the same message (fields in number order, defaults
 * left out).
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { Encoded } from '../../service-definition';

/** The event as the hub hands it to a stream. */
export interface EventFields {
  seq: number;
  subscriptionId: string;
  type: string;
  ts: number;
  payloadJson: string;
}

/** Encodes events for streams, reusing the shared part while consecutive events are the same one. */
export class EventEncoder {
  private last?: { type: string; ts: number; payloadJson: string; shared: Uint8Array };

  private shared(e: EventFields): Uint8Array {
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

  /** SubscribeResponse{event: Event{seq, subscription_id, type, ts_ms, payload_json}}, encoded. */
  encode(e: EventFields): Encoded {
    const shared = this.shared(e);
    const w = new BinaryWriter().tag(1, WireType.LengthDelimited).fork();
    if (e.seq !== 0) w.tag(1, WireType.Varint).uint64(e.seq);
    if (e.subscriptionId !== '') w.tag(2, WireType.LengthDelimited).string(e.subscriptionId);
    const out = w.raw(shared).join().finish();
    return new Encoded(Buffer.from(out.buffer, out.byteOffset, out.byteLength));
  }
}
