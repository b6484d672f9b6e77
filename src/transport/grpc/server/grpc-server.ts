import * as grpc from '@grpc/grpc-js';
import type { DescService } from '@bufbuild/protobuf';
import { roleUsable, tokensChangedAt } from '../../../services/pairing/legacy-device-tokens';
import { PairingService as PairingDesc, DeviceService, LegacyAuthService } from '../../../gen/openclaw/devices/v1/devices_pb';
import { GatewayService } from '../../../gen/openclaw/gateway/v1/gateway_pb';
import { EventService } from '../../../gen/openclaw/events/v1/events_pb';
import { LogService } from '../../../gen/openclaw/logs/v1/logs_pb';
import type { Logger } from '../../../logging';
import type { Clock } from '../../../clock';
import type { DeviceRegistry } from '../../../identity';
import type { EventHub } from '../../../services/events/event-hub';
import type { PresenceTracker } from '../../../services/presence/presence-tracker';
import type { LogBuffer } from '../../../services/logs/log-buffer';
import { errors, type GatewayError } from '../../../errors';
import { addTypedService, createServiceDefinition, type ServiceImpl } from '../service-definition';
import { InProcessCalls } from './in-process-calls';
import { addReflection } from './reflection';
import { createHealth, type Health } from './health';
import { createAuthInterceptor } from './auth-interceptor';
import { createMetricsInterceptor, type CallObserver } from './metrics-interceptor';
import { ProxyFront } from './proxy-front';
import { StreamRegistry } from './stream-registry';
import type { ReloadableCertificates } from './reloadable-certificates';
import type { HandlerContext } from './handler-kit';
import type { AnonymousBudgets } from './authz-table';
import { deviceHandlers, legacyAuthHandlers, pairingHandlers, type DeviceHandlerDeps } from './handlers/device-handlers';
import { eventHandlers, gatewayHandlers, logHandlers, type StatusSources } from './handlers/gateway-handlers';

/** A service and its handlers, for services added by other modules (cron, sessions, config). */
export interface ExtraService<S extends DescService = DescService> {
  desc: S;
  impl: (ctx: HandlerContext) => ServiceImpl<S>;
}

/** Everything the gRPC server needs. */
export interface GrpcServerDeps extends DeviceHandlerDeps {
  log: Logger;
  clock: Clock;
  registry: DeviceRegistry;
  hub: EventHub;
  presence: PresenceTracker;
  logs: LogBuffer;
  tls: ReloadableCertificates;
  status: Omit<StatusSources, 'registry' | 'pairing' | 'clock'>;
  tokenOnlyScopes: () => readonly string[];
  /** Rate budgets of calls without a certificate (default ANONYMOUS_BUDGETS). */
  anonymousBudgets?: AnonymousBudgets;
  extra?: ExtraService[];
  /** The port expects a PROXY protocol header on every connection (behind a TCP load balancer). */
  proxyProtocol?: boolean;
  /** Where calls and denials are counted (`--metrics-addr`); absent: not counted. */
  metrics?: CallObserver & { denied(reason: string): void };
  /** STORE_STALE while the store's copy is not known current (authenticated calls are refused); absent: never. */
  storeStale?: () => GatewayError | undefined;
}

/** Largest request the server takes (grpc.max_receive_message_length). */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
/** Largest answer an in-process caller takes: what GatewayConnection's channels accept. */
const IN_PROCESS_MAX_RESPONSE_BYTES = 32 * 1024 * 1024;

/** The gateway's gRPC endpoint: mTLS, the auth interceptor, every service, health and reflection. */
export class GrpcGatewayServer {
  readonly streams: StreamRegistry;
  /** The handlers for components of this process (the built-in bridge), through the same interceptors. */
  readonly inProcess: InProcessCalls;
  readonly health: Health;
  private readonly server: grpc.Server;
  private sweeper?: NodeJS.Timeout;
  private boundPort = 0;
  private front?: ProxyFront;
  private internalPort = 0;

  constructor(private readonly deps: GrpcServerDeps) {
    this.streams = new StreamRegistry(deps.log);
    const interceptors = [
      // Outermost, so that calls the auth interceptor refuses are counted too.
      ...(deps.metrics ? [createMetricsInterceptor(deps.metrics)] : []),
      createAuthInterceptor({
        registry: deps.registry,
        log: deps.log,
        presence: deps.presence,
        tokenOnlyScopes: deps.tokenOnlyScopes,
        clock: deps.clock,
        budgets: deps.anonymousBudgets,
        onDeny: deps.metrics ? (reason) => deps.metrics!.denied(reason) : undefined,
        storeStale: deps.storeStale,
        peerOf: (peer) => (this.front ? this.front.peerOf(peer) : peer),
      }),
    ];
    this.server = new grpc.Server({
      interceptors,
      // Keep idle connections of sleeping devices from piling up, and bound messages.
      'grpc.max_receive_message_length': MAX_REQUEST_BYTES,
      'grpc.keepalive_time_ms': 60_000,
      'grpc.keepalive_permit_without_calls': 1,
    });
    this.inProcess = new InProcessCalls({ interceptors, caPem: () => deps.tls.caPem, maxRequestBytes: MAX_REQUEST_BYTES, maxResponseBytes: IN_PROCESS_MAX_RESPONSE_BYTES });
    const ctx: HandlerContext = { log: deps.log, clock: deps.clock, streams: this.streams, presence: deps.presence };
    const services: DescService[] = [PairingDesc, DeviceService, LegacyAuthService, GatewayService, EventService, LogService];
    const add = <S extends DescService>(desc: S, impl: ServiceImpl<S>) => {
      addTypedService(this.server, desc, impl);
      this.inProcess.register(createServiceDefinition(desc), impl as unknown as grpc.UntypedServiceImplementation);
    };
    add(PairingDesc, pairingHandlers(ctx, deps));
    add(DeviceService, deviceHandlers(ctx, deps));
    add(LegacyAuthService, legacyAuthHandlers(ctx, deps));
    add(GatewayService, gatewayHandlers(ctx, { ...deps.status, registry: deps.registry, pairing: deps.pairing, clock: deps.clock }));
    add(EventService, eventHandlers(ctx, deps.hub));
    add(LogService, logHandlers(ctx, deps.logs));
    for (const extra of deps.extra ?? []) {
      add(extra.desc, extra.impl(ctx));
      services.push(extra.desc);
    }
    this.health = createHealth({ services: services.map((s) => s.typeName) });
    this.health.addToServer(this.server);
    addReflection(this.server, services, { extraFileDescriptorProtos: this.health.fileDescriptorProtos });

    // A revoked device's streams end, and it leaves presence at once.
    deps.registry.onRevoke((id) => {
      this.streams.cancelDevice(id, `device ${id} was revoked`);
      deps.presence.forget(id);
    });
  }

  /**
   * Binds host:port (port 0 picks a free one) and starts serving; returns the port. With
   * `proxyProtocol`, gRPC listens on a loopback port of its own and host:port is the
   * PROXY-protocol front that relays to it.
   */
  async listen(host: string, port: number): Promise<number> {
    const bind = (h: string, p: number) => {
      const addr = h.includes(':') && !h.startsWith('[') ? `[${h}]:${p}` : `${h}:${p}`;
      return new Promise<number>((resolve, reject) =>
        this.server.bindAsync(addr, this.deps.tls.serverCredentials(), (err, bound) => (err ? reject(errors.unavailable('BIND_FAILED', `cannot listen on ${addr}: ${err.message}`)) : resolve(bound))),
      );
    };
    if (this.deps.proxyProtocol) {
      const internal = await bind('127.0.0.1', 0);
      this.internalPort = internal;
      try {
        const { front, port: frontPort } = await ProxyFront.listen(host, port, internal, this.deps.log);
        this.front = front;
        this.boundPort = frontPort;
      } catch (err) {
        this.server.forceShutdown();
        throw errors.unavailable('BIND_FAILED', `cannot listen on ${host}:${port}: ${(err as Error).message}`);
      }
    } else {
      this.boundPort = await bind(host, port);
    }
    // Revocation by another process (certs-tools revoke) or a certificate expiring
    // while a stream is open: check the holders of open streams twice a second.
    this.sweeper = setInterval(() => this.sweepStreams(), 500);
    this.sweeper.unref();
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Where components of this process reach gRPC directly: the port itself, or behind a PROXY-protocol front its loopback port. */
  get localPort(): number {
    return this.internalPort || this.boundPort;
  }

  private sweepStreams(): void {
    try {
      this.sweepStreamsNow();
    } catch (err) {
      // A store that cannot be read right now (e.g. a damaged journal) must not take the process down.
      this.deps.log.error({ err: (err as Error).message }, 'checking open streams against the registry failed');
    }
  }

  private sweepStreamsNow(): void {
    const now = this.deps.clock.now();
    for (const id of this.streams.devices()) {
      if (id === 'token') continue;
      const d = this.deps.registry.get(id);
      if (!d) continue;
      if (d.status !== 'active') {
        this.streams.cancelDevice(id, `device ${id} was revoked`);
        this.deps.presence.forget(id);
      }
      else if (d.cert && d.cert.notAfter <= now) this.streams.cancelDevice(id, `certificate of device ${id} expired; renew it`, 'CERT_EXPIRED');
      else {
        // A legacy device whose token was rotated or revoked (through any replica) connects again.
        const changed = tokensChangedAt(d);
        if (changed !== undefined) this.streams.cancelOpenedBefore(id, changed, `device token of ${id} changed; connect again`, roleUsable(d, d.role) ? 'DEVICE_TOKEN_ROTATED' : 'DEVICE_TOKEN_REVOKED');
      }
    }
  }

  /** Stops accepting calls; open streams get `grace` ms to end, then are cut. */
  async close(graceMs = 2000): Promise<void> {
    this.inProcess.close();
    if (this.sweeper) clearInterval(this.sweeper);
    this.health.setAll('NOT_SERVING');
    await this.front?.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
