import type { Logger } from '../logging';
import type { StoreBackend } from '../store/collection';
import type { Health } from '../transport/grpc/server/health';

/**
 * Whether this gateway should be sent calls: it is serving (not stopping) and its
 * store's copies are current. While they are stale (a replica cut off from its
 * database) the gRPC health service says NOT_SERVING and `/readyz` (readiness-server.ts)
 * answers 503, so a balancer takes the replica out; it says SERVING again once the
 * copies are current. Checked four times a second.
 */
export class Readiness {
  private readonly timer: NodeJS.Timeout;
  private stale = false;
  private stopping = false;

  constructor(private readonly deps: { store: StoreBackend; health: Health; log: Logger; checkEveryMs?: number }) {
    this.timer = setInterval(() => this.check(), deps.checkEveryMs ?? 250);
    this.timer.unref();
  }

  /** Why this gateway should not be sent calls now, or undefined when it should. */
  notReadyBecause(): string | undefined {
    if (this.stopping) return 'shutting down';
    const f = this.deps.store.freshness?.();
    if (f && !f.current) return `store stale: the database has not confirmed this replica's copy for ${Math.round(f.sinceMs / 100) / 10} s`;
    if (this.deps.health.getStatus('') !== 'SERVING') return 'not serving';
    return undefined;
  }

  /** Stops watching and says "not ready" from now on (the gateway is stopping). */
  stop(): void {
    this.stopping = true;
    clearInterval(this.timer);
  }

  /** Mirrors the store's freshness into the health service, once per change. */
  private check(): void {
    const f = this.deps.store.freshness?.();
    const stale = f !== undefined && !f.current;
    if (stale === this.stale || this.stopping) return;
    this.stale = stale;
    this.deps.health.setAll(stale ? 'NOT_SERVING' : 'SERVING');
    if (stale) this.deps.log.error({ sinceMs: Math.round(f!.sinceMs) }, 'the store copy is stale (the database is out of reach): refusing authenticated calls (STORE_STALE), health NOT_SERVING');
    else this.deps.log.warn('the store copy is current again: serving');
  }
}
