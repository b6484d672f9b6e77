import type { Clock } from '../../clock';
import { GatewayService, type GetStatusResponse } from '../../gen/openclaw/gateway/v1/gateway_pb';
import type { Logger } from '../../logging';
import { unaryCall, type GatewayConnection } from '../../transport/grpc/client/gateway-connection';
import { healthSummary } from './methods/health';
import { callOptsFor, principalHas, type Principal } from './principal';

/** A connection that gets `health` events. */
export interface HealthTarget {
  /** Its principal, once its handshake finished. */
  readonly authenticated?: Principal;
  /** Sends the `health` event (payload and the health version for the frame's stateVersion). */
  sendHealth(payload: Record<string, unknown>, version: number): void;
}

/** What the broadcaster needs. */
export interface HealthBroadcastDeps {
  gateway: GatewayConnection;
  clock: Clock;
  log: Logger;
  /** The legacy gateway refreshes health every 60 s. */
  intervalMs: number;
  callTimeoutMs: number;
  /** The connections that finished their handshake. */
  targets: () => Iterable<HealthTarget>;
}

/**
 * `health` events, as the legacy gateway sends them: to every client (no scope needed),
 * every `intervalMs`, and after a hello when no refresh started within the last
 * interval. One refresh serves the whole bridge: a Ping, plus one GetStatus per
 * distinct principal that may read status (each client gets the counters it may see,
 * read as itself; the others the summary the `health` method gives them). Every
 * refresh bumps the health version that event frames and hello snapshots carry.
 */
export class HealthBroadcaster {
  private versionNo = 0;
  private lastStartedAt?: number;
  private running?: Promise<void>;
  private timer?: NodeJS.Timeout;

  constructor(private readonly deps: HealthBroadcastDeps) {}

  /** The health state version (0 before the first refresh). */
  get version(): number {
    return this.versionNo;
  }

  start(): void {
    this.timer = setInterval(() => void this.refresh(), this.deps.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** A client finished its handshake: refresh now unless a refresh started within the interval. */
  afterHello(): void {
    const now = this.deps.clock.now();
    if (this.lastStartedAt === undefined || now - this.lastStartedAt >= this.deps.intervalMs) void this.refresh();
  }

  /** Reads health and sends it to every connection (concurrent calls share one refresh). */
  refresh(): Promise<void> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<void> {
    const { gateway, clock, callTimeoutMs } = this.deps;
    const started = clock.now();
    this.lastStartedAt = started;
    const targets = [...this.deps.targets()];
    const g = gateway.client(GatewayService);
    // One status read per principal and scope set that may read it.
    const readers = new Map<string, Principal>();
    for (const t of targets) if (t.authenticated && principalHas(t.authenticated, 'operator.read')) readers.set(keyOf(t.authenticated), t.authenticated);
    let statuses: Map<string, GetStatusResponse | undefined>;
    try {
      await unaryCall(g, g.ping, {}, { timeoutMs: callTimeoutMs });
      const read = await Promise.all(
        [...readers].map(async ([key, p]) => [key, await unaryCall(g, g.getStatus, {}, callOptsFor(p, callTimeoutMs)).catch(() => undefined)] as const),
      );
      statuses = new Map(read);
    } catch (err) {
      this.deps.log.debug({ err: (err as Error).message }, 'health refresh failed; no health event this time');
      return;
    }
    const ts = clock.now();
    const summary = (status?: GetStatusResponse) => healthSummary({ ts, durationMs: ts - started, status });
    const plain = summary();
    const byPrincipal = new Map([...statuses].map(([key, st]) => [key, st ? summary(st) : plain]));
    const version = ++this.versionNo;
    for (const t of targets) t.sendHealth((t.authenticated && byPrincipal.get(keyOf(t.authenticated))) || plain, version);
  }
}

function keyOf(p: Principal): string {
  return `${p.id}\u0000${[...p.scopes].sort().join(',')}`;
}
