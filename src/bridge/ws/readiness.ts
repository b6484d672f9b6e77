import type { Clock } from '../../clock';
import { GatewayService } from '../../gen/openclaw/gateway/v1/gateway_pb';
import { unaryCall, type GatewayConnection } from '../../transport/grpc/client/gateway-connection';

/**
 * Whether the gateway answers the bridge: a Ping with the bridge's own certificate
 * (no principal). Results are cached briefly and concurrent checks share one call,
 * so a busy probe endpoint does not turn into a stream of gateway calls.
 */
export class GatewayReadiness {
  private last?: { ready: boolean; at: number };
  private inflight?: Promise<boolean>;

  constructor(
    private readonly gateway: GatewayConnection,
    private readonly clock: Clock,
    private readonly opts: { timeoutMs: number; cacheMs: number } = { timeoutMs: 2000, cacheMs: 1000 },
  ) {}

  /** True when the gateway accepted a Ping from the bridge within the timeout. */
  check(): Promise<boolean> {
    const now = this.clock.now();
    if (this.last && now - this.last.at < this.opts.cacheMs) return Promise.resolve(this.last.ready);
    if (!this.inflight) {
      const client = this.gateway.client(GatewayService);
      this.inflight = unaryCall(client, client.ping, {}, { timeoutMs: this.opts.timeoutMs }).then(
        () => true,
        () => false,
      ).then((ready) => {
        this.last = { ready, at: this.clock.now() };
        this.inflight = undefined;
        return ready;
      });
    }
    return this.inflight;
  }
}
