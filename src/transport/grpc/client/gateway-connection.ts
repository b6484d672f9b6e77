/**
 * The one gRPC client of the gateway: a TLS channel (mTLS when the material has a key
 * and certificate) with typed clients for generated services (the bridge, the worker)
 * and calls addressed by protobuf-es method descriptors (the CLI, `openclaw-cli call`).
 * Every failure comes back as a GatewayError: the server's reason when it answered, a
 * diagnosis of the connection (refused, wrong CA, wrong name) when it did not.
 * Kept light on purpose (no pino, no node-forge): the CLI loads it on every start.
 */
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import type { DescMessage, DescMethod, DescService, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import { ErrorCode, errors, GatewayError } from '../../../errors';
import { gatewayNameFromCa } from '../../../identity/gateway-name';
import type { ServiceClient } from '../service-definition';
import { fromGrpcError, REASON_KEY } from '../status-mapping';
import { PRINCIPAL_KEY, SCOPES_KEY } from '../metadata-keys';
import { diagnoseConnection } from './connection-diagnosis';
import { codec } from './protobuf-codec';

/** TLS material a client connects with. Without key/cert it is anonymous (pairing, expired renewal). */
export interface ClientTls {
  caPem: string;
  keyPem?: string;
  certPem?: string;
  /** Name to verify the server certificate against; default: the gateway's name in the CA's trust domain. */
  serverName?: string;
}

/** Where a connection goes, and where that address came from (for messages). */
export interface ConnectionTarget {
  host: string;
  port: number;
  address: string;
  /** e.g. "flag --gateway" or "default"; shown when the gateway cannot be reached. */
  sourceLabel: string;
  /** File the CA came from, named when the gateway's certificate does not verify. */
  caFile?: string;
}

/** A unary method descriptor with typed input and output. */
export type UnaryMethod<I extends DescMessage, O extends DescMessage> = DescMethod & { methodKind: 'unary'; input: I; output: O };
/** A server-streaming method descriptor with typed input and output. */
export type ServerStreamMethod<I extends DescMessage, O extends DescMessage> = DescMethod & { methodKind: 'server_streaming'; input: I; output: O };

/** A server stream being read: iterate it, or cancel it. */
export interface ResponseStream<T> extends AsyncIterable<T> {
  cancel(): void;
}

/**
 * Calls a server in this same process can take without the network (the gateway's
 * in-process endpoint): `tryUnary` returns false, `tryServerStream` undefined, when it does
 * not take a call, and the connection then makes it over its TLS channel.
 */
export interface LocalCalls {
  tryUnary(
    path: string,
    certPem: string | undefined,
    request: Buffer,
    metadata: grpc.Metadata,
    deadline: grpc.Deadline,
    callback: (err: grpc.ServiceError | null, response?: Buffer) => void,
  ): { cancel(): void } | false;
  tryServerStream?(
    path: string,
    certPem: string | undefined,
    request: Buffer,
    metadata: grpc.Metadata,
    deadline: grpc.Deadline,
    listener: { onMessage(bytes: Buffer): void; onStatus(err: grpc.ServiceError | null): void },
  ): { cancel(): void } | undefined;
}

/** Splits "host:port" / "[v6]:port". */
export function parseAddress(address: string, defaultPort = 18790): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(address) ?? /^([^:]+)(?::(\d+))?$/.exec(address);
  if (!m) throw errors.invalid('BAD_ADDRESS', `gateway address "${address}" is not HOST:PORT`);
  const port = m[2] ? Number(m[2]) : defaultPort;
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw errors.invalid('BAD_ADDRESS', `gateway address "${address}" has an invalid port`);
  return { host: m[1], port };
}

/** A ConnectionTarget for a "host:port" string. */
export function targetOf(address: string, sourceLabel = 'configuration'): ConnectionTarget {
  const { host, port } = parseAddress(address);
  return { host, port, address: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`, sourceLabel };
}

/** Per-call options: deadline and, for the bridge, the principal it acts for. */
export interface CallOpts {
  /** Deadline in ms; descriptor-addressed unary calls default to 20 s, streams have none unless given. */
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

const DEFAULT_UNARY_TIMEOUT_MS = 20_000;
const ctorCache = new Map<string, new (addr: string, creds: grpc.ChannelCredentials, opts?: grpc.ClientOptions) => grpc.Client>();

function pathOf(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

function encoder(schema: DescMessage): (value: unknown) => Buffer {
  return (value) => {
    const bytes = codec.toBinary(schema, codec.create(schema, value as MessageInitShape<DescMessage>));
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function decoder<O extends DescMessage>(schema: O): (bytes: Buffer) => MessageShape<O> {
  return (bytes) => codec.fromBinary(schema, bytes);
}

/**
 * One TLS channel to the gateway. `reload` switches to new TLS material (a renewed
 * certificate) without disturbing calls already open on the old channel.
 */
export class GatewayConnection {
  readonly target: ConnectionTarget;
  private channel: grpc.Channel;
  private tls: ClientTls;
  private readonly clients = new Map<string, grpc.Client>();
  private generic?: grpc.Client;
  private diagnosis?: Promise<GatewayError>;
  private local?: LocalCalls;
  /** Channels replaced by `reload`, still serving the calls opened on them. */
  private readonly retired = new Set<{ channel: grpc.Channel; clients: grpc.Client[]; timer: NodeJS.Timeout }>();

  constructor(target: string | ConnectionTarget, tls: ClientTls, private readonly options: grpc.ChannelOptions = {}) {
    this.target = typeof target === 'string' ? targetOf(target) : target;
    this.tls = tls;
    this.channel = this.makeChannel(tls);
  }

  /**
   * Lets a gateway in this process take this connection's unary and server-streaming calls
   * of typed clients without the network (see LocalCalls); calls it declines keep using
   * the TLS channel. Calls present the certificate this connection presents, also after a
   * reload.
   */
  useLocalCalls(local: LocalCalls): void {
    this.local = local;
    // Not closed: a grpc-js client closes the channel it was given, which is this connection's shared one.
    this.clients.clear();
  }

  /** "host:port" of the gateway. */
  get address(): string {
    return this.target.address;
  }

  /**
   * Switches to new TLS material (a renewed certificate): new calls use a new channel;
   * calls and streams already open on the old one go on there for up to ten minutes
   * (the old certificate is superseded, so long streams should be reopened), then it is
   * closed. `close()` closes it at once.
   */
  reload(tls: ClientTls): void {
    const retired = { channel: this.channel, clients: [...this.clients.values(), ...(this.generic ? [this.generic] : [])], timer: undefined as unknown as NodeJS.Timeout };
    this.tls = tls;
    this.channel = this.makeChannel(tls);
    this.clients.clear();
    this.generic = undefined;
    this.diagnosis = undefined;
    retired.timer = setTimeout(() => this.closeRetired(retired), 10 * 60_000);
    retired.timer.unref();
    this.retired.add(retired);
  }

  private closeRetired(r: { channel: grpc.Channel; clients: grpc.Client[]; timer: NodeJS.Timeout }): void {
    clearTimeout(r.timer);
    for (const c of r.clients) c.close();
    r.channel.close();
    this.retired.delete(r);
  }

  private serverName(tls: ClientTls): string | undefined {
    // Verify the server by its name in our trust domain rather than by the dialled
    // address: containers and namespaces reach the gateway under addresses no
    // certificate could list in advance.
    return tls.serverName ?? gatewayNameFromCa(tls.caPem);
  }

  private makeChannel(tls: ClientTls): grpc.Channel {
    const creds = grpc.credentials.createSsl(Buffer.from(tls.caPem), tls.keyPem ? Buffer.from(tls.keyPem) : null, tls.certPem ? Buffer.from(tls.certPem) : null);
    const serverName = this.serverName(tls);
    const nameOption = serverName ? { 'grpc.ssl_target_name_override': serverName, 'grpc.default_authority': serverName } : {};
    return new grpc.Channel(this.target.address, creds, { 'grpc.max_receive_message_length': 32 * 1024 * 1024, ...nameOption, ...this.options });
  }

  /** The typed client for a generated service (created once per channel). */
  client<S extends DescService>(service: S): ServiceClient<S> {
    let c = this.clients.get(service.typeName);
    if (!c) {
      let ctor = ctorCache.get(service.typeName);
      if (!ctor) {
        // Required here, not at the top: it loads protobuf-es's main entry (~17 ms), which
        // the CLI, calling by descriptor, never needs.
        const { makeServiceClientConstructor } = require('../service-definition') as typeof import('../service-definition');
        ctor = makeServiceClientConstructor(service) as unknown as typeof ctor;
        ctorCache.set(service.typeName, ctor!);
      }
      c = new ctor!(this.target.address, grpc.credentials.createInsecure(), { channelOverride: this.channel });
      if (this.local) c = this.withLocalCalls(service, c, this.local);
      this.clients.set(service.typeName, c);
    }
    return c as ServiceClient<S>;
  }

  /** A client whose unary and server-streaming methods are offered to `local` first (same arguments and callbacks as grpc-js's). */
  private withLocalCalls(service: DescService, wire: grpc.Client, local: LocalCalls): grpc.Client {
    const overlay = Object.create(wire) as Record<string, unknown>;
    for (const method of service.methods) {
      if (method.methodKind === 'server_streaming' && local.tryServerStream) {
        overlay[method.localName] = this.localServerStream(method, wire, local);
        continue;
      }
      if (method.methodKind === 'unary') overlay[method.localName] = this.localUnary(method, wire, local);
    }
    return overlay as unknown as grpc.Client;
  }

  /** A typed client's unary method offered to `local` first (same arguments and callback as grpc-js's). */
  private localUnary(method: DescMethod, wire: grpc.Client, local: LocalCalls): (request: unknown, ...rest: unknown[]) => grpc.ClientUnaryCall {
    const path = pathOf(method);
    const encode = encoder(method.input);
    const decode = decoder(method.output);
    const overWire = (wire as unknown as Record<string, (...args: unknown[]) => grpc.ClientUnaryCall>)[method.localName].bind(wire);
    return (request, ...rest) => {
      // grpc-js's overloads: (req, cb), (req, md, cb), (req, options, cb), (req, md, options, cb).
      const callback = rest.pop() as grpc.requestCallback<unknown>;
      const { metadata, options } = callArgs(rest);
      const bytes = encodeOrUndefined(encode, request);
      if (!bytes) return overWire(request, metadata, options, callback);
      const taken = local.tryUnary(path, this.tls.certPem, bytes, metadata, options.deadline ?? Infinity, (err, response) => {
        if (err) return callback(err);
        let value: unknown;
        try {
          value = decode(response!);
        } catch {
          return callback(Object.assign(new Error('13 INTERNAL: Failed to parse server response'), { code: grpc.status.INTERNAL, details: 'Failed to parse server response', metadata: new grpc.Metadata() }));
        }
        callback(null, value);
      });
      if (!taken) return overWire(request, metadata, options, callback);
      return localCallHandle(() => taken.cancel());
    };
  }

  /** A typed client's server-streaming method offered to `local` first; what it returns behaves as grpc-js's ClientReadableStream. */
  private localServerStream(method: DescMethod, wire: grpc.Client, local: LocalCalls): (request: unknown, ...rest: unknown[]) => grpc.ClientReadableStream<unknown> {
    const path = pathOf(method);
    const encode = encoder(method.input);
    const decode = decoder(method.output);
    const overWire = (wire as unknown as Record<string, (...args: unknown[]) => grpc.ClientReadableStream<unknown>>)[method.localName].bind(wire);
    return (request, ...rest) => {
      // grpc-js's overloads: (req, options?), (req, md?, options?).
      const { metadata, options } = callArgs(rest);
      const bytes = encodeOrUndefined(encode, request);
      if (!bytes) return overWire(request, metadata, options);
      const stream = new Readable({ objectMode: true, read: () => undefined }) as Readable & { cancel(): void; getPeer(): string; getAuthContext(): null };
      let ended = false;
      const handle = local.tryServerStream!(path, this.tls.certPem, bytes, metadata, options.deadline ?? Infinity, {
        onMessage: (b) => {
          let value: unknown;
          try {
            value = decode(b);
          } catch {
            handle?.cancel();
            return;
          }
          stream.push(value);
        },
        // As grpc-js: the end of the data, then the error (if any), then the status. Told
        // after the messages before it reached a flowing reader (here they arrive in one
        // burst, where the network spreads them over several reads).
        onStatus: (err) => {
          if (ended) return;
          ended = true;
          setImmediate(() => {
            stream.push(null);
            if (err) stream.emit('error', err);
            stream.emit('status', err ? { code: err.code, details: err.details, metadata: err.metadata } : { code: grpc.status.OK, details: 'OK', metadata: new grpc.Metadata() });
          });
        },
      });
      if (!handle) return overWire(request, metadata, options);
      stream.cancel = () => handle.cancel();
      stream.getPeer = () => 'in-process';
      stream.getAuthContext = () => null;
      return stream as unknown as grpc.ClientReadableStream<unknown>;
    };
  }

  private raw(): grpc.Client {
    this.generic ??= new grpc.Client(this.target.address, grpc.credentials.createInsecure(), { channelOverride: this.channel });
    return this.generic;
  }

  /** Calls a unary method by its descriptor. */
  unary<I extends DescMessage, O extends DescMessage>(method: UnaryMethod<I, O>, req: MessageInitShape<I>, opts: CallOpts = {}): Promise<MessageShape<O>> {
    return new Promise<MessageShape<O>>((resolve, reject) => {
      const deadline = Date.now() + (opts.timeoutMs ?? DEFAULT_UNARY_TIMEOUT_MS);
      const done = (err: grpc.ServiceError | null, res?: unknown) => (err ? this.explain(err).then(reject, reject) : resolve(res as MessageShape<O>));
      if (this.local) {
        // Offered to the in-process endpoint first, as a typed client's calls are.
        const typed = this.client(method.parent) as unknown as Record<string, UnaryFn<unknown, unknown>>;
        typed[method.localName].call(typed, req, callMetadata(opts), { deadline }, done);
        return;
      }
      this.raw().makeUnaryRequest(pathOf(method), encoder(method.input), decoder(method.output), req, callMetadata(opts), { deadline }, done);
    });
  }

  /** Calls a unary method with raw protobuf bytes (for services there is no generated code for). */
  unaryBytes(path: string, req: Buffer, opts: CallOpts = {}): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      this.raw().makeUnaryRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        req,
        callMetadata(opts),
        { deadline: Date.now() + (opts.timeoutMs ?? DEFAULT_UNARY_TIMEOUT_MS) },
        (err, res) => (err ? this.explain(err).then(reject, reject) : resolve(res as Buffer)),
      );
    });
  }

  /** Opens a server stream by its descriptor; iterate it with `for await`. Breaking out of the loop cancels it. */
  serverStream<I extends DescMessage, O extends DescMessage>(method: ServerStreamMethod<I, O>, req: MessageInitShape<I>, opts: CallOpts = {}): ResponseStream<MessageShape<O>> {
    const call = this.raw().makeServerStreamRequest(pathOf(method), encoder(method.input), decoder(method.output), req, callMetadata(opts), opts.timeoutMs ? { deadline: Date.now() + opts.timeoutMs } : {});
    let cancelled = false;
    // After a cancel grpc-js emits a CANCELLED error; nobody is listening for it then.
    call.on('error', () => undefined);
    const explain = (err: unknown) => this.explain(err as grpc.ServiceError);
    return {
      cancel: () => {
        cancelled = true;
        call.cancel();
      },
      async *[Symbol.asyncIterator]() {
        try {
          for await (const msg of call as AsyncIterable<MessageShape<O>>) yield msg;
        } catch (err) {
          if (cancelled) return;
          throw await explain(err);
        } finally {
          if (!cancelled) {
            cancelled = true;
            call.cancel();
          }
        }
      },
    };
  }

  /** Waits until the channel is connected (or fails with GATEWAY_UNREACHABLE). */
  async waitReady(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = this.channel.getConnectivityState(true);
      if (state === grpc.connectivityState.READY) return;
      if (Date.now() >= deadline) throw errors.unavailable('GATEWAY_UNREACHABLE', `cannot reach the gateway at ${this.target.address}`);
      await new Promise<void>((resolve) => this.channel.watchConnectivityState(state, deadline, () => resolve()));
    }
  }

  /** Closes the channel, every client on it, and any channel a reload retired. */
  close(): void {
    for (const c of this.clients.values()) c.close();
    this.generic?.close();
    this.channel.close();
    for (const r of [...this.retired]) this.closeRetired(r);
  }

  /**
   * Turns a failed call into a GatewayError. When the server answered, its reason
   * stands. When it did not (UNAVAILABLE without a reason trailer), a plain TLS probe
   * finds out why: refused, wrong CA, wrong name, not TLS.
   */
  explain(err: grpc.ServiceError | Error): Promise<GatewayError> {
    const se = err as grpc.ServiceError;
    const answered = typeof se.code === 'number' && se.metadata?.get(REASON_KEY).length > 0;
    if (!answered && se.code === grpc.status.UNAVAILABLE) return (this.diagnosis ??= diagnoseConnection(this.target, { ...this.tls, serverName: this.serverName(this.tls) }));
    if (!answered && se.code === grpc.status.DEADLINE_EXCEEDED) {
      return Promise.resolve(new GatewayError(ErrorCode.DeadlineExceeded, 'GATEWAY_TIMEOUT', `the gateway at ${this.target.address} did not answer in time (${this.target.sourceLabel})`, { cause: err }));
    }
    if (!answered && se.code === grpc.status.UNIMPLEMENTED) {
      return Promise.resolve(errors.notFound('METHOD_NOT_IMPLEMENTED', `the gateway at ${this.target.address} does not implement this call (${se.details || 'unimplemented'}); is it an older version?`));
    }
    return Promise.resolve(fromGrpcError(err));
  }
}

/** grpc-js's optional arguments of a call after its request (the callback taken off): metadata, then options. */
function callArgs(rest: unknown[]): { metadata: grpc.Metadata; options: Partial<grpc.CallOptions> } {
  const metadata = rest[0] instanceof grpc.Metadata ? (rest.shift() as grpc.Metadata) : new grpc.Metadata();
  return { metadata, options: (rest[0] ?? {}) as Partial<grpc.CallOptions> };
}

/** A request's bytes; undefined when it cannot be encoded (the network call then reports that as grpc-js does). */
function encodeOrUndefined(encode: (value: unknown) => Buffer, request: unknown): Buffer | undefined {
  try {
    return encode(request);
  } catch {
    return undefined;
  }
}

/** What an in-process unary call returns where grpc-js returns its ClientUnaryCall. */
function localCallHandle(cancel: () => void): grpc.ClientUnaryCall {
  const handle = new EventEmitter() as EventEmitter & { cancel(): void; getPeer(): string; getAuthContext(): null };
  handle.cancel = cancel;
  handle.getPeer = () => 'in-process';
  handle.getAuthContext = () => null;
  return handle as unknown as grpc.ClientUnaryCall;
}

type UnaryFn<Req, Res> = (req: Req, md: grpc.Metadata, options: Partial<grpc.CallOptions>, cb: grpc.requestCallback<Res>) => grpc.ClientUnaryCall;

/** Calls a method of a typed client as a Promise; failures come back as GatewayError with the server's reason. */
export function unaryCall<Req, Res>(client: grpc.Client, method: UnaryFn<Req, Res>, req: Req, opts: CallOpts = {}): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    const options: Partial<grpc.CallOptions> = opts.timeoutMs ? { deadline: Date.now() + opts.timeoutMs } : {};
    method.call(client, req, callMetadata(opts), options, (err, res) => (err ? reject(fromGrpcError(err)) : resolve(res as Res)));
  });
}
