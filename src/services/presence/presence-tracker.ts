import type { Clock } from '../../clock';
import type { EventPublisher } from '../events/event-publisher';
import { ClientPresence, localGatewaySelf, type GatewaySelf } from './client-presence';

/** A device seen by the gateway. */
export interface PresenceEntry {
  deviceId: string;
  label: string;
  role: string;
  transport: 'grpc' | 'ws-bridge';
  connectedAt: number;
  lastSeen: number;
  streams: number;
}

/** How long after its last call a device without open streams still counts as present (its "beat"). */
export const PRESENT_FOR_MS = 60_000;

interface Tracked extends PresenceEntry {
  /** When the device last made a call (a stream's end is not one). */
  lastCall: number;
}

/**
 * Knows which devices are connected and which clients described themselves. A device is
 * listed while it has an open stream; a device that only makes calls, for PRESENT_FOR_MS
 * after its last one. An entry goes as soon as its last stream ends (the client left),
 * and a revoked device's entries go at once (`forget`, and `gone` when listing, for a
 * revocation made by another process).
 */
export class PresenceTracker {
  private readonly entries = new Map<string, Tracked>();
  /** Clients that described themselves on their event streams (legacy clients, through the bridge). */
  readonly clients: ClientPresence;
  private readonly gone: (deviceId: string) => boolean;
  private readonly presentForMs: number;

  constructor(
    private readonly clock: Clock,
    opts: { self?: GatewaySelf; events?: EventPublisher; gone?: (deviceId: string) => boolean; presentForMs?: number } = {},
  ) {
    this.clients = new ClientPresence(clock, opts.self ?? localGatewaySelf(''), opts.events);
    this.gone = opts.gone ?? (() => false);
    this.presentForMs = opts.presentForMs ?? PRESENT_FOR_MS;
  }

  /** Records a call by a device. */
  touch(d: { deviceId: string; label: string; role: string; transport: PresenceEntry['transport'] }): void {
    const e = this.entry(d);
    e.lastCall = e.lastSeen;
  }

  /** Records an open stream; returns the function to call when it ends. */
  openStream(d: { deviceId: string; label: string; role: string; transport: PresenceEntry['transport'] }): () => void {
    const key = keyOf(d);
    const e = this.entry(d);
    e.streams++;
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      e.streams--;
      e.lastSeen = this.clock.now();
      // Its last stream ended: the client left (a later call lists it again).
      if (e.streams === 0 && this.entries.get(key) === e) this.entries.delete(key);
    };
  }

  /** Drops every entry of a device at once (it was revoked), client presence included. */
  forget(deviceId: string): void {
    for (const [k, e] of this.entries) if (e.deviceId === deviceId) this.entries.delete(k);
    this.clients.forget(deviceId);
  }

  /** Devices with open streams or a call within PRESENT_FOR_MS, revoked ones left out. */
  list(): PresenceEntry[] {
    const now = this.clock.now();
    const out: PresenceEntry[] = [];
    for (const [k, e] of this.entries) {
      if (this.gone(e.deviceId)) this.entries.delete(k);
      else if (e.streams > 0 || now - e.lastCall < this.presentForMs) {
        const { lastCall: _call, ...entry } = e;
        out.push(entry);
      } else this.entries.delete(k);
    }
    return out.sort((a, b) => a.connectedAt - b.connectedAt);
  }

  /** Whether a device has an open stream or was seen recently. */
  isConnected(deviceId: string): boolean {
    return this.list().some((e) => e.deviceId === deviceId);
  }

  private entry(d: { deviceId: string; label: string; role: string; transport: PresenceEntry['transport'] }): Tracked {
    const now = this.clock.now();
    const key = keyOf(d);
    let e = this.entries.get(key);
    if (e) {
      e.lastSeen = now;
      e.label = d.label;
    } else {
      e = { ...d, connectedAt: now, lastSeen: now, lastCall: -Infinity, streams: 0 };
      this.entries.set(key, e);
    }
    return e;
  }
}

function keyOf(d: { deviceId: string; transport: PresenceEntry['transport'] }): string {
  return `${d.transport}:${d.deviceId}`;
}
