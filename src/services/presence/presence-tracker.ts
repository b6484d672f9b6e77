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

/** How long after its last call a device without open streams still counts as present. */
const PRESENT_FOR_MS = 60_000;

/** Knows which devices are connected (open streams) or were seen recently (calls), and which clients described themselves. */
export class PresenceTracker {
  private readonly entries = new Map<string, PresenceEntry>();
  /** Clients that described themselves on their event streams (legacy clients, through the bridge). */
  readonly clients: ClientPresence;

  constructor(
    private readonly clock: Clock,
    opts: { self?: GatewaySelf; events?: EventPublisher } = {},
  ) {
    this.clients = new ClientPresence(clock, opts.self ?? localGatewaySelf(''), opts.events);
  }

  /** Records a call by a device. */
  touch(d: { deviceId: string; label: string; role: string; transport: PresenceEntry['transport'] }): void {
    const now = this.clock.now();
    const key = `${d.transport}:${d.deviceId}`;
    const e = this.entries.get(key);
    if (e) {
      e.lastSeen = now;
      e.label = d.label;
    } else {
      this.entries.set(key, { ...d, connectedAt: now, lastSeen: now, streams: 0 });
    }
  }

  /** Records an open stream; returns the function to call when it ends. */
  openStream(d: { deviceId: string; label: string; role: string; transport: PresenceEntry['transport'] }): () => void {
    this.touch(d);
    const key = `${d.transport}:${d.deviceId}`;
    const e = this.entries.get(key)!;
    e.streams++;
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      e.streams--;
      e.lastSeen = this.clock.now();
    };
  }

  /** Devices with open streams or seen within the last minute. */
  list(): PresenceEntry[] {
    const now = this.clock.now();
    const out: PresenceEntry[] = [];
    for (const [k, e] of this.entries) {
      if (e.streams > 0 || now - e.lastSeen < PRESENT_FOR_MS) out.push({ ...e });
      else this.entries.delete(k);
    }
    return out.sort((a, b) => a.connectedAt - b.connectedAt);
  }

  /** Whether a device has an open stream or was seen recently. */
  isConnected(deviceId: string): boolean {
    return this.list().some((e) => e.deviceId === deviceId);
  }
}
