import { randomBytes } from 'node:crypto';
import { errors, type GatewayError } from '../../errors';
import type { Clock } from '../../clock';
import { audit, type Logger } from '../../logging';
import type { Collection, CollectionTx, EventStaging, StoreBackend } from '../../store/collection';
import type { EventLog, LoggedEvent, NewEvent } from '../../store/event-log';
import { MemoryCollection } from '../../store/memory-backend';
import type { EventPublisher } from './event-publisher';
import { EVENT_SUBSCRIPTIONS, validateSubscription, type SubscriptionRecord } from './subscription-record';

/**
 * One event as a subscriber receives it (the subscription's id is its stream's). `seq`
 * is the event's sequence in the store's event log: strictly increasing on a
 * subscription, with holes where events it does not get (other types, not allowed to
 * it) were published. Every stream an event goes to is handed the same object: read
 * it, never change it.
 */
export interface DeliveredEvent {
  readonly seq: number;
  readonly type: string;
  readonly ts: number;
  readonly payloadJson: string;
}

/** A subscription attached to a stream, as its stream holds it. */
export interface AttachedSubscription {
  subscriptionId: string;
  /** Ends the stream's hold on it; the subscription stays resumable (anywhere) for a while. */
  detach: () => void;
  /**
   * Resolves if the hub ends the stream: resumed on another replica (SUBSCRIPTION_ACTIVE),
   * expired (SUBSCRIPTION_NOT_FOUND), events lost (EVENTS_LOST), gateway stopping; with
   * null when its owner ended the subscription (`unsubscribe`): the stream ends cleanly.
   */
  ended: Promise<GatewayError | null>;
}

/** Tuning of the hub. */
export interface EventHubOptions {
  /** How long a subscription without a stream can be resumed. */
  detachedTtlMs: number;
  /** How often a replica confirms the subscriptions it holds (well below the TTL). */
  touchMs: number;
  /**
   * Types about a replica's own streams (keepalive, stopping, the clients on its streams):
   * delivered there only, without the log.
   */
  replicaLocalTypes: readonly string[];
  /**
   * Subscriptions one owner may hold, attached or detached. A new one past it replaces
   * the owner's longest-detached one; when they are all attached it is refused
   * (RESOURCE_EXHAUSTED / TOO_MANY_SUBSCRIPTIONS).
   */
  maxPerOwner: number;
}

/** What a hub is built from. */
export interface EventHubDeps {
  log: EventLog;
  subscriptions: Collection<SubscriptionRecord>;
  clock: Clock;
  logger: Logger;
  options?: Partial<EventHubOptions>;
}

/** A subscription attached here. */
interface Attached {
  id: string;
  owner: string;
  /** Null: every type. Known once the stored subscription was read. */
  types: Set<string> | null;
  accept: (type: string) => boolean;
  deliver: (e: DeliveredEvent) => void;
  /** The last sequence handed over (or skipped): nothing at or before it is delivered. */
  cursor: number;
  /** While the stored subscription is written and missed events are replayed: new events wait here. */
  held?: LoggedEvent[];
  attaching: boolean;
  end: (err: GatewayError | null) => void;
  ended: Promise<GatewayError | null>;
}

/** Subscriptions one device may hold at once, attached or detached (see EventHubOptions.maxPerOwner). */
export const MAX_SUBSCRIPTIONS_PER_OWNER = 256;
/**
 * Subscriptions the shared token-only principal may hold: every legacy client that sends
 * only the shared token is that one principal (one subscription per open WebSocket, ended
 * when the socket closes), so it gets room for many clients, still bounded.
 */
export const MAX_SUBSCRIPTIONS_SHARED_TOKEN = 4096;

/** Events read per replay step. */
const REPLAY_PAGE = 500;

/**
 * Fan-out of gateway events through the store's event log. An event announcing a change
 * is staged in that change's transaction (`stage`), others are appended on their own
 * (`publish`); every replica delivers from its tail of the log, so an event published on
 * one replica reaches subscribers on all of them. Subscriptions are records in the store:
 * a client that reconnects (to this replica or another) with (subscription id, last seq)
 * is replayed what it missed from the log, then gets live events, without gap or repeat.
 * Replica-local types (`tick`, `shutdown`) skip the log: this replica's streams only.
 */
export class EventHub implements EventPublisher {
  /** This process's id in the log (`origin` of what it publishes; holder of its streams' subscriptions). */
  readonly replicaId = randomBytes(6).toString('base64url');
  private readonly attachedSubs = new Map<string, Attached>();
  /** Subscriptions being ended by their owner here (`unsubscribe`). */
  private readonly unsubscribing = new Set<string>();
  private readonly opts: EventHubOptions;
  private readonly localTypes: Set<string>;
  /** The last sequence the log's tail gave us. */
  private position: number;
  private readonly stopTail: () => void;
  private readonly stopChanges: () => void;
  private readonly touchTimer: NodeJS.Timeout;
  /** Resolves with the sequence of the last event published here (0 if it failed). */
  private lastAppend: Promise<number> = Promise.resolve(0);
  private readonly waiters = new Set<{ seq: number; resolve: () => void }>();
  /** Events published here so far: with `replicaId`, what makes their ids unique. */
  private published = 0;
  private closed = false;

  /** A hub over the store's event log (subscriptions in the store when replicas share the log). */
  static async open(deps: { store: StoreBackend; clock: Clock; logger: Logger; options?: Partial<EventHubOptions> }): Promise<EventHub> {
    const log = await deps.store.eventLog();
    // A log only this process has starts over with it: so do its subscriptions.
    const subscriptions = log.shared ? await deps.store.collection(EVENT_SUBSCRIPTIONS, validateSubscription) : new MemoryCollection(EVENT_SUBSCRIPTIONS, validateSubscription);
    return new EventHub({ log, subscriptions, clock: deps.clock, logger: deps.logger, options: deps.options });
  }

  constructor(private readonly deps: EventHubDeps) {
    const ttl = deps.options?.detachedTtlMs ?? 5 * 60_000;
    this.opts = { detachedTtlMs: ttl, touchMs: Math.min(60_000, Math.max(10, Math.floor(ttl / 3))), replicaLocalTypes: ['tick', 'shutdown', 'presence'], maxPerOwner: MAX_SUBSCRIPTIONS_PER_OWNER, ...deps.options };
    this.localTypes = new Set(this.opts.replicaLocalTypes);
    const tail = deps.log.tail({ events: (batch) => this.onEvents(batch), lost: (after, keptFrom) => this.onLost(after, keptFrom), closed: () => this.onLogClosed() });
    this.position = tail.from;
    this.stopTail = tail.stop;
    this.stopChanges = deps.subscriptions.subscribe((change) => this.onStoredChange(change.ids));
    this.touchTimer = setInterval(() => void this.touch(), this.opts.touchMs);
    this.touchTimer.unref();
  }

  /** Number of subscriptions attached to a stream on this replica. */
  get attached(): number {
    return this.attachedSubs.size;
  }

  /** Number of subscriptions the store keeps (attached anywhere, or detached and still resumable). */
  get retained(): number {
    return this.deps.subscriptions.list().length;
  }

  /**
   * Publishes an event not tied to a stored change (agent output), appended to the log on
   * its own, in call order; the payload is serialized once. With an in-process log, this
   * replica's subscribers have it when this returns. An event that announces a change is
   * staged in that change's transaction instead (`stage`).
   */
  publish(type: string, payload: unknown): void {
    if (this.closed) return;
    if (this.localTypes.has(type)) {
      this.deliverLocal(type, JSON.stringify(payload ?? {}));
      return;
    }
    const event = this.newEvent(type, payload);
    this.lastAppend = this.deps.log.append([event]).then(
      (seqs) => seqs[0],
      (err: unknown) => {
        this.deps.logger.error({ err: (err as Error).message, type }, 'an event could not be stored; its subscribers will not get it');
        return 0;
      },
    );
  }

  /**
   * Stages an event announcing the change `tx` makes: the store writes it with that
   * change (PostgreSQL: in the same transaction), so it exists if and only if the change
   * was committed, whatever happens to this process afterwards.
   */
  stage(tx: EventStaging, type: string, payload: unknown): void {
    if (this.localTypes.has(type)) throw new TypeError(`${type} is about this replica's streams only: publish it`);
    tx.stageEvent(this.newEvent(type, payload));
  }

  /**
   * A replica-local event (keepalive, stopping) goes to this replica's streams only,
   * without the log: it takes no sequence and is never replayed. It carries the sequence
   * of the last log event its stream passed, so resuming after it loses nothing. Streams
   * still replaying do not get it.
   */
  private deliverLocal(type: string, payloadJson: string): void {
    const ts = this.deps.clock.now();
    for (const sub of this.attachedSubs.values()) {
      if (sub.attaching || (sub.types && !sub.types.has(type)) || !sub.accept(type)) continue;
      try {
        sub.deliver({ seq: sub.cursor, type, ts, payloadJson });
      } catch (err) {
        this.deps.logger.error({ err, subscriptionId: sub.id }, 'delivering an event failed');
      }
    }
  }

  private newEvent(type: string, payload: unknown): NewEvent {
    return { id: `${this.replicaId}:${++this.published}`, type, ts: this.deps.clock.now(), payloadJson: JSON.stringify(payload ?? {}), origin: this.replicaId };
  }

  /**
   * Attaches a stream. With a subscription id, resumes that subscription (same owner
   * only, on any replica) and first replays, through `deliver`, what came after
   * `resumeAfterSeq`. `accept` (what the caller's scopes allow) is the caller's own,
   * never read from storage.
   */
  async subscribe(
    input: { owner: string; types: readonly string[]; subscriptionId?: string; resumeAfterSeq?: number; accept?: (type: string) => boolean; maxHeld?: number },
    deliver: (e: DeliveredEvent) => void,
  ): Promise<AttachedSubscription> {
    if (this.closed) throw errors.unavailable('GATEWAY_STOPPING', 'the gateway is stopping; subscribe on another replica');
    const now = this.deps.clock.now();
    const accept = input.accept ?? (() => true);
    if (!input.subscriptionId) {
      const types = [...new Set(input.types)];
      // Live at once: whatever comes after what this replica has seen goes to the stream.
      const startSeq = this.position;
      const sub = this.attach(randomBytes(9).toString('base64url'), input.owner, types.length > 0 ? new Set(types) : null, accept, deliver, startSeq);
      try {
        await this.deps.subscriptions.mutate((tx) => {
          this.makeRoom(tx, input.owner, now, input.maxHeld ?? this.opts.maxPerOwner);
          tx.put({ id: sub.id, owner: input.owner, types, startSeq, attachedTo: this.replicaId, lastActive: now });
        });
      } catch (err) {
        this.release(sub);
        throw err;
      }
      sub.attaching = false;
      return this.goLive(sub);
    }

    const id = input.subscriptionId;
    const here = this.attachedSubs.get(id);
    if (here) {
      if (here.owner !== input.owner) throw this.ownerMismatch(id, input.owner);
      throw errors.precondition('SUBSCRIPTION_ACTIVE', `subscription ${id} is already attached to another stream`);
    }
    const after = input.resumeAfterSeq ?? 0;
    const sub = this.attach(id, input.owner, null, accept, deliver, after);
    sub.held = [];
    // Events after `from` come from the tail (held meanwhile); those up to it are read from the log.
    const from = this.position;
    let taken = false;
    let otherOwner = false;
    try {
      const record = await this.deps.subscriptions.mutate((tx) => {
        const r = tx.get(id);
        otherOwner = r !== undefined && r.owner !== input.owner;
        if (!r || r.owner !== input.owner || this.expired(r, now)) throw notFound(id);
        // Held by a stream on another replica (which may be gone): this stream takes it over.
        tx.put({ ...r, attachedTo: this.replicaId, lastActive: now });
        return r;
      });
      taken = true;
      sub.types = record.types.length > 0 ? new Set(record.types) : null;
      sub.cursor = Math.max(after, record.startSeq);
      await this.replay(sub, after, from);
      const held = sub.held;
      sub.held = undefined;
      sub.attaching = false;
      for (const e of held) this.send(sub, e);
      return this.goLive(sub);
    } catch (err) {
      this.release(sub);
      if (taken) void this.markDetached([id]);
      throw otherOwner ? this.ownerMismatch(id, input.owner) : err;
    }
  }

  /**
   * Ends a subscription for good, at its owner's request (a client that will not resume
   * it): its record goes at once, and a stream still attached to it (on any replica)
   * ends cleanly. False if the owner has no such subscription (unknown, expired, or
   * another device's: refused alike, and audited then).
   */
  async unsubscribe(owner: string, subscriptionId: string): Promise<boolean> {
    if (this.closed) throw errors.unavailable('GATEWAY_STOPPING', 'the gateway is stopping');
    let otherOwner = false;
    // A stream here ends cleanly when the removal is heard (on another replica: as expired).
    this.unsubscribing.add(subscriptionId);
    try {
      const removed = await this.deps.subscriptions.mutate((tx) => {
        const r = tx.get(subscriptionId);
        if (!r) return false;
        if (r.owner !== owner) {
          otherOwner = true;
          return false;
        }
        return tx.delete(subscriptionId);
      });
      if (otherOwner) this.ownerMismatch(subscriptionId, owner);
      return removed;
    } finally {
      this.unsubscribing.delete(subscriptionId);
    }
  }

  /**
   * Makes room for one more subscription of `owner` (inside the transaction that adds
   * it): past the cap, its longest-detached ones go; if all it holds are attached, the
   * new one is refused.
   */
  private makeRoom(tx: CollectionTx<SubscriptionRecord>, owner: string, now: number, max: number): void {
    const mine = tx.list((r) => r.owner === owner);
    if (mine.length < max) return;
    // Detached (or held by a replica that stopped confirming it): replaceable, oldest first.
    const detached = mine.filter((r) => r.attachedTo === undefined || this.expired(r, now)).sort((a, b) => a.lastActive - b.lastActive);
    const excess = mine.length - max + 1;
    if (detached.length < excess) {
      throw errors.exhausted('TOO_MANY_SUBSCRIPTIONS', `device ${owner} may hold at most ${max} event subscriptions and has ${mine.length - detached.length} open streams; end one first`, { deviceId: owner, max });
    }
    for (const r of detached.slice(0, excess)) tx.delete(r.id);
  }

  /** Another device asked for this subscription: refused as unknown (nothing tells it that it exists), and audited. */
  private ownerMismatch(subscriptionId: string, caller: string): GatewayError {
    audit(this.deps.logger, 'events.resume.denied', { caller, subscriptionId, reason: 'SUBSCRIPTION_OWNER_MISMATCH', allowed: false });
    return notFound(subscriptionId);
  }

  /**
   * Stops the hub: what was published here reaches this replica's streams first, then
   * its subscriptions are left resumable elsewhere and its streams end (UNAVAILABLE
   * GATEWAY_STOPPING). Publish the shutdown notice before: it is delivered at once.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    // Bounded: a database that does not answer must not hold the stop up.
    const deadline = Date.now() + 2000;
    let timer: NodeJS.Timeout | undefined;
    const last = await Promise.race([this.lastAppend, new Promise<number>((resolve) => (timer = setTimeout(() => resolve(0), 2000)))]);
    clearTimeout(timer);
    await this.reached(last, Math.max(0, deadline - Date.now()));
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.touchTimer);
    this.stopTail();
    this.stopChanges();
    const subs = [...this.attachedSubs.values()];
    this.attachedSubs.clear();
    await this.markDetached(subs.map((s) => s.id));
    for (const s of subs) s.end(errors.unavailable('GATEWAY_STOPPING', 'the gateway is stopping; resume the subscription (on another replica)'));
  }

  /** The store closed under the hub (a start that failed half-way, an embedding): stop, and end the streams. */
  private onLogClosed(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.touchTimer);
    this.stopChanges();
    const subs = [...this.attachedSubs.values()];
    this.attachedSubs.clear();
    for (const s of subs) s.end(errors.unavailable('GATEWAY_STOPPING', 'the gateway is stopping; resume the subscription (on another replica)'));
  }

  private attach(id: string, owner: string, types: Set<string> | null, accept: (type: string) => boolean, deliver: (e: DeliveredEvent) => void, cursor: number): Attached {
    let end!: (err: GatewayError | null) => void;
    const ended = new Promise<GatewayError | null>((resolve) => (end = resolve));
    const sub: Attached = { id, owner, types, accept, deliver, cursor, attaching: true, end, ended };
    this.attachedSubs.set(id, sub);
    return sub;
  }

  /** Forgets a stream's hold here (no store write). */
  private release(sub: Attached): boolean {
    if (this.attachedSubs.get(sub.id) !== sub) return false;
    this.attachedSubs.delete(sub.id);
    return true;
  }

  /**
   * The stream is attached. A change of its stored subscription heard while it was still
   * attaching was not acted on (another replica may have taken it over meanwhile): it is
   * checked now, and such a stream ends at once (SUBSCRIPTION_ACTIVE).
   */
  private goLive(sub: Attached): AttachedSubscription {
    this.onStoredChange([sub.id]);
    return this.handle(sub);
  }

  private handle(sub: Attached): AttachedSubscription {
    return {
      subscriptionId: sub.id,
      ended: sub.ended,
      detach: () => {
        if (this.release(sub) && !this.closed) void this.markDetached([sub.id]);
      },
    };
  }

  /** Replays the log's events after the subscription's cursor, up to `upTo` (what the tail had given when the resume began). */
  private async replay(sub: Attached, after: number, upTo: number): Promise<void> {
    for (let first = true; ; first = false) {
      const page = await this.deps.log.read(sub.cursor, REPLAY_PAGE);
      if (first && after > page.head) throw errors.invalid('RESUME_AHEAD', `resume point ${after} is ahead of the event log (last seq ${page.head})`);
      if (page.keptFrom > sub.cursor + 1) {
        throw errors.precondition('RESUME_TOO_OLD', `events after seq ${sub.cursor} are no longer kept (oldest kept: ${page.keptFrom}); subscribe again`);
      }
      for (const e of page.events) {
        if (e.seq > upTo) return;
        this.send(sub, e);
      }
      if (page.events.length < REPLAY_PAGE) return;
    }
  }

  private onEvents(batch: readonly LoggedEvent[]): void {
    for (const e of batch) {
      this.position = e.seq;
      for (const sub of this.attachedSubs.values()) {
        if (sub.held) sub.held.push(e);
        else this.send(sub, e);
      }
    }
    for (const w of [...this.waiters]) if (this.position >= w.seq) w.resolve();
  }

  /** Hands an event to a stream unless it had it, or it is not for it. */
  private send(sub: Attached, e: LoggedEvent): void {
    if (e.seq <= sub.cursor) return;
    sub.cursor = e.seq;
    if (sub.types && !sub.types.has(e.type)) return;
    // Logged by a replica of an earlier release: about that replica's streams only.
    if (this.localTypes.has(e.type) && e.origin !== this.replicaId) return;
    if (!sub.accept(e.type)) return;
    try {
      sub.deliver(e);
    } catch (err) {
      this.deps.logger.error({ err, subscriptionId: sub.id }, 'delivering an event failed');
    }
  }

  /** This replica could not read events before retention removed them: its streams cannot be gap-free any more. */
  private onLost(after: number, keptFrom: number): void {
    for (const sub of [...this.attachedSubs.values()]) {
      this.release(sub);
      sub.end(errors.unavailable('EVENTS_LOST', `events ${after + 1} to ${keptFrom - 1} were lost on this replica; resume or subscribe again`));
    }
  }

  /** A stored subscription changed (here or elsewhere): a stream here whose subscription moved or expired ends. */
  private onStoredChange(ids: readonly string[] | undefined): void {
    for (const id of ids ?? [...this.attachedSubs.keys()]) {
      const sub = this.attachedSubs.get(id);
      if (!sub || sub.attaching) continue;
      const r = this.deps.subscriptions.get(id);
      if (!r) {
        this.release(sub);
        sub.end(this.unsubscribing.has(id) ? null : errors.notFound('SUBSCRIPTION_NOT_FOUND', `subscription ${id} expired`));
      } else if (r.attachedTo !== undefined && r.attachedTo !== this.replicaId) {
        this.release(sub);
        sub.end(errors.precondition('SUBSCRIPTION_ACTIVE', `subscription ${id} was resumed on another stream`));
      }
    }
  }

  private expired(r: SubscriptionRecord, now: number): boolean {
    return now - r.lastActive > this.opts.detachedTtlMs;
  }

  /** Leaves subscriptions this replica held resumable from now on (unless another replica took them already). */
  private async markDetached(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    const now = this.deps.clock.now();
    try {
      await this.deps.subscriptions.mutate((tx) => {
        for (const id of ids) {
          const r = tx.get(id);
          if (!r || r.attachedTo !== this.replicaId) continue;
          const { attachedTo: _held, ...rest } = r;
          tx.put({ ...rest, lastActive: now });
        }
      });
    } catch (err) {
      // Not fatal: it expires a TTL after the last touch, and another replica may take it over before.
      this.deps.logger.warn({ err: (err as Error).message }, 'recording detached event subscriptions failed');
    }
  }

  /** Confirms the subscriptions held here and removes expired ones (every replica does; removals are idempotent). */
  private async touch(): Promise<void> {
    const now = this.deps.clock.now();
    try {
      await this.deps.subscriptions.mutate((tx) => {
        for (const id of this.attachedSubs.keys()) {
          const r = tx.get(id);
          if (r && r.attachedTo === this.replicaId) tx.put({ ...r, lastActive: now });
        }
        for (const r of tx.list((x) => this.expired(x, now))) tx.delete(r.id);
      });
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 'refreshing event subscriptions failed');
    }
  }

  /** Resolves once the tail has given `seq` (or after `timeoutMs`). */
  private reached(seq: number, timeoutMs: number): Promise<void> {
    if (this.position >= seq) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const w = {
        seq,
        resolve: () => {
          clearTimeout(timer);
          this.waiters.delete(w);
          resolve();
        },
      };
      const timer = setTimeout(w.resolve, timeoutMs);
      timer.unref();
      this.waiters.add(w);
    });
  }
}

function notFound(id: string): GatewayError {
  return errors.notFound('SUBSCRIPTION_NOT_FOUND', `subscription ${id} cannot be resumed (unknown or expired); subscribe again without it`);
}
