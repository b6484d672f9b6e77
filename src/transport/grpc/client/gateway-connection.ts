import * as grpc from '@grpc/grpc-js';
import { gatewayNameFromCa } from '../../../identity/gateway-name';

export { gatewayNameFromCa };
import type { DescService } from '@bufbuild/protobuf';
import { errors } from '../../../errors';
import { makeServiceClientConstructor, type ServiceClient } from '../service-definition';
import { fromGrpcError } from '../status-mapping';
import { PRINCIPAL_KEY, SCOPES_KEY } from '../metadata-keys';

/** TLS material a client connects with. Without key/cert it is anonymous (pairing only). */
export interface ClientTls {
  caPem: string;
  keyPem?: string;
  certPem?: string;
  /** Name to verify the server certificate against; default: the gateway's name in the CA's trust domain. */
  serverName?: string;
}

/** Splits "host:port" / "[v6]:port". */
export function parseAddress(address: string, defaultPort = 18790): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(address) ?? /^([^:]+)(?::(\d+))?$/.exec(address);
  if (!m) throw errors.invalid('BAD_ADDRESS', `gateway address "${address}" is not HOST:PORT`);
  const port = m[2] ? Number(m[2]) : defaultPort;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw errors.invalid('BAD_ADDRESS', `gateway address "${address}" has an invalid port`);
  return { host: m[1], port };
}

const ctorCache = new Map<string, new (addr: string, creds: grpc.ChannelCredentials, opts?: grpc.ClientOptions) => grpc.Client>();

/**
 * One mTLS channel to the gateway and typed clients on it. Delegation metadata (for
 * the bridge) is attached to every call when a principal is set.
 */
export class GatewayConnection {
  readonly address: string;
  private channel: grpc.Channel;
  private readonly clients = new Map<string, grpc.Client>();

  constructor(address: string, tls: ClientTls, private readonly options: grpc.ChannelOptions = {}) {
    const { host, port } = parseAddress(address);
    this.address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    this.channel = this.makeChannel(tls);
  }

  /**
   * Switches to new TLS material (a renewed certificate): new calls use a new channel,
   * calls and streams already open on the old one finish there (it is closed later).
   */
  reload(tls: ClientTls): void {
    const old = this.channel;
    const oldClients = [...this.clients.values()];
    this.channel = this.makeChannel(tls);
    this.clients.clear();
    const timer = setTimeout(() => {
      for (const c of oldClients) c.close();
      old.close();
    }, 10 * 60_000);
    timer.unref();
  }

  private makeChannel(tls: ClientTls): grpc.Channel {
    const options = this.options;
    const creds = grpc.credentials.createSsl(
      Buffer.from(tls.caPem),
      tls.keyPem ? Buffer.from(tls.keyPem) : null,
      tls.certPem ? Buffer.from(tls.certPem) : null,
    );
    // Verify the server by its name in our trust domain rather than by the dialled
    // address: containers and namespaces reach the gateway under addresses no
    // certificate could list in advance.
    const serverName = tls.serverName ?? gatewayNameFromCa(tls.caPem);
    const nameOption = serverName ? { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName } : {};
    return new grpc.Channel(this.address, creds, { 'grpc.max_receive_message_length': 32 * 1024 * 1024, ...nameOption, ...options });
  }

  /** The typed client for a service (created once per connection). */
  client<S extends DescService>(service: S): ServiceClient<S> {
    let c = this.clients.get(service.typeName);
    if (!c) {
      let ctor = ctorCache.get(service.typeName);
      if (!ctor) {
        ctor = makeServiceClientConstructor(service) as unknown as typeof ctor;
        ctorCache.set(service.typeName, ctor!);
      }
      c = new ctor!(this.address, grpc.credentials.createInsecure(), { channelOverride: this.channel });
      this.clients.set(service.typeName, c);
    }
    return c as ServiceClient<S>;
  }

  /** Waits until the channel is connected (or fails with GATEWAY_UNREACHABLE). */
  async waitReady(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = this.channel.getConnectivityState(true);
      if (state === grpc.connectivityState.READY) return;
      if (Date.now() >= deadline) throw errors.unavailable('GATEWAY_UNREACHABLE', `cannot reach the gateway at ${this.address}`);
      await new Promise<void>((resolve) => this.channel.watchConnectivityState(state, deadline, () => resolve()));
    }
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.channel.close();
  }
}

/** Per-call options: deadline and, for the bridge, the principal it acts for. */
export interface CallOpts {
  timeoutMs?: number;
  principal?: string;
  scopes?: readonly string[];
  metadata?: grpc.Metadata;
}

/** Builds call metadata for delegation. */
export function callMetadata(opts: CallOpts = {}): grpc.Metadata {
  const md = opts.metadata ?? new grpc.Metadata();
  if (opts.principal) md.set(PRINCIPAL_KEY, opts.principal);
  // Sent even when empty: an empty list means no scopes, not "all approved ones".
  if (opts.scopes) md.set(SCOPES_KEY, opts.scopes.join(','));
  return md;
}

type UnaryFn<Req, Res> = (req: Req, md: grpc.Metadata, options: Partial<grpc.CallOptions>, cb: grpc.requestCallback<Res>) => grpc.ClientUnaryCall;

/** Calls a unary method as a Promise; failures come back as GatewayError with the server's reason. */
export function unaryCall<Req, Res>(client: grpc.Client, method: UnaryFn<Req, Res>, req: Req, opts: CallOpts = {}): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    const options: Partial<grpc.CallOptions> = opts.timeoutMs ? { deadline: Date.now() + opts.timeoutMs } : {};
    method.call(client, req, callMetadata(opts), options, (err, res) => (err ? reject(fromGrpcError(err)) : resolve(res as Res)));
  });
}
