import { randomBytes } from 'node:crypto';
import { errors } from '../../errors';
import type { Clock } from '../../clock';
import type { EventPublisher } from './event-publisher';

/** One event as a subscriber receives it: numbered per subscription, payload serialized once. */
export interface DeliveredEvent {
  seq: number;
  subscriptionId: string;
  type: string;
  ts: number;
  payloadJson: string;
}

interface Subscription {
  id: string;
  owner: string;
  types: Set<string> | null;
  /** Event types this subscriber may see at all (its scopes decide). */
  accept: (type: string) => boolean;
  seq: number;
  /** The last events of this subscription, kept for resumption (bounded). */
  buffer: DeliveredEvent[];
  deliver?: (e: DeliveredEvent) => void;
  detachedAt?: number;
}

/** Tuning of the hub. */
export interface EventHubOptions {
  /** Events kept per subscription for resumption. */
  replayBuffer: number;
  /** How long a disconnected subscription can be resumed. */
  detachedTtlMs: number;
}

/**
 * Fan-out of gateway events. Each subscription numbers its events from 1 and keeps
 * the last ones, so a client that reconnects with (subscription id, last seq) gets
 * what it missed; events published while it was away are kept too, up to the bound.
 */
export class EventHub implements EventPublisher {
  private readonly subs = new Map<string, Subscription>();
  private readonly opts: EventHubOptions;

  constructor(private readonly clock: Clock, opts: Partial<EventHubOptions> = {}) {
    this.opts = { replayBuffer: 1000, detachedTtlMs: 5 * 60_000, ...opts };
  }

  /** Number of attached subscribers. */
  get attached(): number {
    let n = 0;
    for (const s of this.subs.values()) if (s.deliver) n++;
    return n;
  }

  /** Publishes an event to every matching subscription; the payload is serialized once. */
  publish(type: string, payload: unknown): void {
    const ts = this.clock.now();
    const payloadJson = JSON.stringify(payload ?? {});
    for (const sub of this.subs.values()) {
      if ((sub.types && !sub.types.has(type)) || !sub.accept(type)) continue;
      if (sub.detachedAt !== undefined && ts - sub.detachedAt > this.opts.detachedTtlMs) {
        this.subs.delete(sub.id);
        continue;
      }
      const e: DeliveredEvent = { seq: ++sub.seq, subscriptionId: sub.id, type, ts, payloadJson };
      sub.buffer.push(e);
      // Trimmed in batches (amortised O(1) per event): between replayBuffer and twice that are kept.
      if (sub.buffer.length >= 2 * this.opts.replayBuffer) sub.buffer.splice(0, sub.buffer.length - this.opts.replayBuffer);
      sub.deliver?.(e);
    }
  }

  /**
   * Attaches a subscriber. With a subscription id and `resumeAfterSeq`, resumes that
   * subscription (same owner only) and first replays what came after that sequence.
   * Returns the subscription id and a function that detaches (the subscription stays
   * resumable for a while).
   */
  subscribe(
    input: { owner: string; types: readonly string[]; subscriptionId?: string; resumeAfterSeq?: number; accept?: (type: string) => boolean },
    deliver: (e: DeliveredEvent) => void,
  ): { subscriptionId: string; detach: () => void } {
    let sub: Subscription;
    if (input.subscriptionId) {
      const found = this.subs.get(input.subscriptionId);
      if (!found || found.owner !== input.owner) {
        throw errors.notFound('SUBSCRIPTION_NOT_FOUND', `subscription ${input.subscriptionId} cannot be resumed (unknown or expired); subscribe again without it`);
      }
      if (found.deliver) throw errors.precondition('SUBSCRIPTION_ACTIVE', `subscription ${input.subscriptionId} is already attached to another stream`);
      sub = found;
      const after = input.resumeAfterSeq ?? 0;
      if (after > sub.seq) throw errors.invalid('RESUME_AHEAD', `resume point ${after} is ahead of the subscription (last seq ${sub.seq})`);
      const oldest = sub.buffer.length > 0 ? sub.buffer[0].seq : sub.seq + 1;
      if (after + 1 < oldest) {
        throw errors.precondition('RESUME_TOO_OLD', `events after seq ${after} are no longer buffered (oldest kept: ${oldest}); subscribe again`);
      }
      for (const e of sub.buffer) if (e.seq > after) deliver(e);
    } else {
      sub = {
        id: randomBytes(9).toString('base64url'),
        owner: input.owner,
        types: input.types.length > 0 ? new Set(input.types) : null,
        accept: input.accept ?? (() => true),
        seq: 0,
        buffer: [],
      };
      this.subs.set(sub.id, sub);
    }
    sub.deliver = deliver;
    sub.detachedAt = undefined;
    return {
      subscriptionId: sub.id,
      detach: () => {
        if (sub.deliver === deliver) {
          sub.deliver = undefined;
          sub.detachedAt = this.clock.now();
        }
      },
    };
  }
}
