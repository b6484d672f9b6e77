import type { StoredRecord } from '../../store/collection';

/** The collection event subscriptions live in (shared by replicas on a shared store). */
export const EVENT_SUBSCRIPTIONS = 'event_subscriptions';

/**
 * What makes a subscription resumable on any replica. What the owner may see (its
 * scopes) is not kept: the resuming replica derives it from the caller again.
 */
export interface SubscriptionRecord extends StoredRecord {
  /** The device that subscribed: the only one that may resume it. */
  owner: string;
  /** Event types asked for; empty means all. */
  types: string[];
  /** The log's head when it was created: nothing before it is ever replayed. */
  startSeq: number;
  /** The replica whose stream holds it now; absent while detached. */
  attachedTo?: string;
  /** When it was last attached, detached or confirmed alive by the replica holding it (ms). */
  lastActive: number;
}

/** Checks a stored subscription. */
export function validateSubscription(raw: unknown): SubscriptionRecord {
  const r = raw as SubscriptionRecord;
  if (
    !r ||
    typeof r !== 'object' ||
    typeof r.id !== 'string' ||
    typeof r.owner !== 'string' ||
    !Array.isArray(r.types) ||
    !r.types.every((t) => typeof t === 'string') ||
    typeof r.startSeq !== 'number' ||
    typeof r.lastActive !== 'number' ||
    (r.attachedTo !== undefined && typeof r.attachedTo !== 'string')
  ) {
    throw new Error('expected an event subscription { id, owner, types[], startSeq, lastActive, attachedTo? }');
  }
  return r;
}
