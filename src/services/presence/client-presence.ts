import { hostname, platform, release } from 'node:os';
import type { Clock } from '../../clock';
import type { EventPublisher } from '../events/event-publisher';

/** A client as it describes itself (mirrors `openclaw.events.v1.ClientInfo`). */
export interface ClientDescription {
  instanceKey: string;
  clientId: string;
  mode: string;
  displayName: string;
  version: string;
  platform: string;
  deviceFamily: string;
  modelIdentifier: string;
  instanceId: string;
  role: string;
  scopes: string[];
}

/** A client in the presence list (mirrors `openclaw.gateway.v1.ClientPresence`, flattened). */
export interface ClientPresenceEntry extends ClientDescription {
  principal: string;
  connected: boolean;
  connectedAtMs: number;
  changedAtMs: number;
}

/** A gateway process as presence lists it (mirrors `openclaw.gateway.v1.GatewaySelf`). */
export interface GatewaySelf {
  host: string;
  version: string;
  /** e.g. "linux 6.8.0". */
  platform: string;
  /** e.g. "Linux". */
  deviceFamily: string;
}

/** This process as presence lists it. */
export function localGatewaySelf(version: string): GatewaySelf {
  const os = platform();
  const family: Record<string, string> = { linux: 'Linux', darwin: 'Mac', win32: 'Windows' };
  return { host: hostname(), version, platform: `${os === 'darwin' ? 'macos' : os === 'win32' ? 'windows' : os} ${release()}`, deviceFamily: family[os] ?? os };
}

/** Payload of the `presence` event: the whole list after a change. */
export interface PresenceEvent {
  version: number;
  /** The gateway itself (legacy clients list it first). */
  gateway: GatewaySelf;
  clients: Omit<ClientPresenceEntry, 'instanceKey'>[];
}

/** Limits of the list. */
export interface ClientPresenceOptions {
  /** How long a disconnected client stays listed (default 5 minutes, as on the legacy gateway). */
  keepDisconnectedMs: number;
  /** Most entries kept; beyond it the disconnected ones that changed longest ago go first (default 200). */
  maxEntries: number;
}

interface Tracked {
  entry: ClientPresenceEntry;
  streams: number;
}

/**
 * Clients that described themselves to this gateway process (legacy clients, through
 * the bridge): listed while one of their streams is open, then for a while as
 * disconnected. Every connect and disconnect bumps `version` and publishes the whole
 * list as a `presence` event. A replica knows the clients whose streams it serves.
 */
export class ClientPresence {
  private readonly tracked = new Map<string, Tracked>();
  private readonly opts: ClientPresenceOptions;
  private changes = 0;

  constructor(
    private readonly clock: Clock,
    readonly self: GatewaySelf,
    private readonly events?: EventPublisher,
    opts: Partial<ClientPresenceOptions> = {},
  ) {
    this.opts = { keepDisconnectedMs: 300_000, maxEntries: 200, ...opts };
  }

  /** Increases with every connect and disconnect. */
  get version(): number {
    return this.changes;
  }

  /** Records an open stream of a client; returns the function to call when it ends. */
  open(principal: string, d: ClientDescription): () => void {
    const key = `${principal}\u0000${d.instanceKey}`;
    const now = this.clock.now();
    let t = this.tracked.get(key);
    if (!t) {
      t = { entry: { ...d, scopes: [...d.scopes], principal, connected: false, connectedAtMs: now, changedAtMs: now }, streams: 0 };
      this.tracked.set(key, t);
    }
    const tracked = t;
    tracked.streams++;
    if (!tracked.entry.connected) {
      tracked.entry = { ...d, scopes: [...d.scopes], principal, connected: true, connectedAtMs: now, changedAtMs: now };
      this.changed();
    }
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      tracked.streams--;
      if (tracked.streams === 0 && this.tracked.get(key) === tracked) {
        tracked.entry = { ...tracked.entry, connected: false, changedAtMs: this.clock.now() };
        this.changed();
      }
    };
  }

  /**
   * Drops the clients of a principal at once (its device was revoked: it is not listed
   * even as disconnected); their streams, cut by the revocation, change nothing more.
   */
  forget(principal: string): void {
    let dropped = false;
    for (const [k, t] of this.tracked) {
      if (t.entry.principal !== principal) continue;
      this.tracked.delete(k);
      dropped = true;
    }
    if (dropped) this.changed();
  }

  /** Connected clients and recently disconnected ones, newest change first. */
  list(): ClientPresenceEntry[] {
    const now = this.clock.now();
    for (const [k, t] of this.tracked) if (!t.entry.connected && now - t.entry.changedAtMs > this.opts.keepDisconnectedMs) this.tracked.delete(k);
    const all = [...this.tracked.entries()].sort((a, b) => b[1].entry.changedAtMs - a[1].entry.changedAtMs);
    for (let i = all.length - 1; i >= 0 && this.tracked.size > this.opts.maxEntries; i--) {
      if (!all[i][1].entry.connected) this.tracked.delete(all[i][0]);
    }
    return all.filter(([k]) => this.tracked.has(k)).map(([, t]) => ({ ...t.entry, scopes: [...t.entry.scopes] }));
  }

  private changed(): void {
    this.changes++;
    if (!this.events) return;
    const payload: PresenceEvent = { version: this.changes, gateway: { ...this.self }, clients: this.list().map(({ instanceKey: _key, ...rest }) => rest) };
    this.events.publish('presence', payload);
  }
}
