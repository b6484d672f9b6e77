/**
 * Calls from a component of this process (the built-in bridge) to this server's own
 * handlers, unary and server-streaming, without the loopback hop (HTTP/2 framing, TLS on
 * both ends, socket writes and reads per message). Only the transport is skipped: every
 * call goes through the same server interceptors in the same order (metrics, then
 * authentication, delegation, authorization and audit), the same handler, and the same
 * protobuf encoding both ways (the handler gets a freshly decoded request, the caller
 * freshly decoded answers), with grpc-js's flows (metadata, one message, half-close, then
 * one answer or a stream of them, then the status), its cancellation and its message size
 * limits.
 *
 * Identity is what mutual TLS would give: the caller names the client certificate it
 * holds (the same one its TLS channel presents), and a call is taken here only when that
 * certificate was issued by this server's CA and is within its validity, as the TLS
 * handshake would require; the interceptor then looks it up in the registry as for any
 * peer. Anything else (no certificate, another CA, outside its validity, a method not
 * served here, a server shutting down) is declined, and the caller makes the call over
 * its TLS channel instead, with exactly a remote caller's outcome.
 */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';

/** The grpc-js method definition fields used here. */
interface UnaryDefinition {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestDeserialize: (bytes: Buffer) => unknown;
  responseSerialize: (value: unknown) => Buffer;
}

type UnaryHandler = grpc.handleUnaryCall<unknown, unknown>;
type StreamHandler = grpc.handleServerStreamingCall<unknown, unknown>;
type Call = grpc.ServerInterceptingCallInterface;
type Listener = Parameters<Call['start']>[0];
type PartialStatus = Parameters<Call['sendStatus']>[0];
type AuthContext = ReturnType<Call['getAuthContext']>;
type MetricsRecorder = ReturnType<Call['getMetricsRecorder']>;
type ConnectionInfo = ReturnType<Call['getConnectionInfo']>;

/** What a finished in-process call gives back: the answer's bytes, or a status as a ServiceError. */
export type InProcessCallback = (err: grpc.ServiceError | null, response?: Buffer) => void;

/** The peer string in-process calls report (audit lines, logs). */
export const IN_PROCESS_PEER = 'in-process';

/** grpc-js's text for an oversized message. */
const tooLarge = (size: number, max: number) => `Received message larger than max (${size} vs ${max})`;

function serviceError(status: PartialStatus): grpc.ServiceError {
  const code = status.code;
  const details = status.details ?? '';
  // What crosses the wire is a copy of the trailers, never the server's object.
  const metadata = status.metadata ? status.metadata.clone() : new grpc.Metadata();
  return Object.assign(new Error(`${code} ${grpc.status[code]}: ${details}`), { code, details, metadata });
}

function pemBlocks(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** What a handler's call object tells about its call (grpc-js's ServerSurfaceCall), read from the intercepting call. */
interface CallInfo {
  getPeer(): string;
  sendMetadata(md: grpc.Metadata): void;
  getDeadline(): grpc.Deadline;
  getPath(): string;
  getHost(): string;
  getAuthContext(): AuthContext;
  getMetricsRecorder(): MetricsRecorder;
}

function callInfo(path: string, call: grpc.ServerInterceptingCallInterface): CallInfo {
  return {
    getPeer: () => call.getPeer(),
    sendMetadata: (md) => call.sendMetadata(md),
    getDeadline: () => call.getDeadline(),
    getPath: () => path,
    getHost: () => call.getHost(),
    getAuthContext: () => call.getAuthContext(),
    getMetricsRecorder: () => call.getMetricsRecorder(),
  };
}

/** The call object a unary handler gets (grpc-js's ServerUnaryCall). */
// Its CallInfo methods are assigned in the constructor.
interface InProcessUnaryCall extends CallInfo {}
class InProcessUnaryCall extends EventEmitter {
  cancelled = false;
  constructor(
    path: string,
    call: grpc.ServerInterceptingCallInterface,
    readonly metadata: grpc.Metadata,
    readonly request: unknown,
  ) {
    super();
    Object.assign(this, callInfo(path, call));
  }
}

/** The innermost call of the interceptor chain: the part a network stream plays on the server. */
class InProcessServerCall implements grpc.ServerInterceptingCallInterface {
  private listener?: Listener;
  private reads = 0;
  private response?: Buffer;
  private done = false;

  constructor(
    private readonly def: UnaryDefinition,
    private readonly metadata: grpc.Metadata,
    private readonly request: Buffer,
    private readonly peer: PeerCertificate,
    private readonly deadline: grpc.Deadline,
    private readonly limits: { maxRequestBytes: number; maxResponseBytes: number },
    private readonly finish: InProcessCallback,
    /** For a server stream: each message as it is sent (a unary call keeps its one answer). */
    private readonly onMessage?: (bytes: Buffer) => void,
  ) {}

  start(listener: Listener): void {
    this.listener = listener;
    // As a stream does: the headers arrive after the handler attached its listener.
    queueMicrotask(() => this.listener!.onReceiveMetadata(this.metadata));
  }

  startRead(): void {
    const n = ++this.reads;
    queueMicrotask(() => {
      if (this.done) return;
      if (n === 1) {
        if (this.request.length > this.limits.maxRequestBytes) {
          this.sendStatus({ code: grpc.status.RESOURCE_EXHAUSTED, details: tooLarge(this.request.length, this.limits.maxRequestBytes), metadata: null });
          return;
        }
        let message: unknown;
        try {
          message = this.def.requestDeserialize(this.request);
        } catch {
          this.sendStatus({ code: grpc.status.INTERNAL, details: 'Error deserializing request', metadata: null });
          return;
        }
        this.listener!.onReceiveMessage(message);
      } else if (n === 2) {
        this.listener!.onReceiveHalfClose();
      }
    });
  }

  sendMetadata(): void {
    // Unary answers carry no headers the caller reads.
  }

  sendMessage(message: unknown, callback: () => void): void {
    if (this.done) return;
    let bytes: Buffer;
    try {
      bytes = this.def.responseSerialize(message);
    } catch (err) {
      this.sendStatus({ code: grpc.status.INTERNAL, details: `Error serializing response: ${(err as Error).message}`, metadata: null });
      return;
    }
    if (bytes.length > this.limits.maxResponseBytes) {
      this.sendStatus({ code: grpc.status.RESOURCE_EXHAUSTED, details: tooLarge(bytes.length, this.limits.maxResponseBytes), metadata: null });
      return;
    }
    if (this.onMessage) this.onMessage(bytes);
    else this.response = bytes;
    callback();
  }

  sendStatus(status: PartialStatus): void {
    if (this.done) return;
    this.done = true;
    if (status.code === grpc.status.OK && (this.response || this.onMessage)) this.finish(null, this.response);
    else if (status.code === grpc.status.OK) this.finish(serviceError({ code: grpc.status.INTERNAL, details: 'the server answered without a message', metadata: null }));
    else this.finish(serviceError(status));
  }

  /** The caller gave up (its deadline): the handler sees a cancelled call, as over the wire. */
  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.listener?.onCancel();
  }

  getPeer(): string {
    return IN_PROCESS_PEER;
  }
  getDeadline(): grpc.Deadline {
    return this.deadline;
  }
  getHost(): string {
    return IN_PROCESS_PEER;
  }
  getAuthContext(): AuthContext {
    return { transportSecurityType: 'ssl', sslPeerCertificate: this.peer };
  }
  getConnectionInfo(): ConnectionInfo {
    return {};
  }
  getMetricsRecorder(): MetricsRecorder {
    const noop = () => undefined;
    return { recordRequestCostMetric: noop, recordUtilizationMetric: noop, recordNamedMetric: noop } as unknown as MetricsRecorder;
  }
}

/** Options of the in-process endpoint. */
export interface InProcessCallsOptions {
  /** The server's interceptors, in the order the server applies them. */
  interceptors: readonly grpc.ServerInterceptor[];
  /** The CA bundle client certificates must chain to (the server's, as TLS verifies them). */
  caPem: () => string;
  /** The server's limit on a request (grpc.max_receive_message_length). */
  maxRequestBytes: number;
  /** The caller's limit on an answer (its channel's grpc.max_receive_message_length). */
  maxResponseBytes: number;
  now?: () => number;
}

/** This server's unary and server-streaming handlers, callable from this process (see the file comment). */
export class InProcessCalls {
  private readonly handlers = new Map<string, { def: UnaryDefinition; func: UnaryHandler }>();
  private readonly streamHandlers = new Map<string, { def: UnaryDefinition; func: StreamHandler }>();
  private readonly peers = new Map<string, { cert: PeerCertificate; validFrom: number; validTo: number; caPem: string } | null>();
  private closed = false;

  constructor(private readonly opts: InProcessCallsOptions) {}

  /** Registers the unary and server-streaming methods of a service (others are left to the network). */
  register(definition: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation): void {
    for (const [name, def] of Object.entries(definition)) {
      const d = def as unknown as UnaryDefinition;
      const func = impl[name];
      if (typeof func !== 'function' || d.requestStream) continue;
      if (d.responseStream) this.streamHandlers.set(d.path, { def: d, func: func as StreamHandler });
      else this.handlers.set(d.path, { def: d, func: func as UnaryHandler });
    }
  }

  /** After this, every call is declined (the server is stopping: callers see what the network gives them). */
  close(): void {
    this.closed = true;
  }

  /** Whether `path` is served here at all. */
  serves(path: string): boolean {
    return !this.closed && (this.handlers.has(path) || this.streamHandlers.has(path));
  }

  /**
   * The certificate as TLS would present it to the interceptor, or undefined when the TLS
   * handshake would not have verified it (not issued by the CA, outside its validity).
   */
  private verifiedPeer(certPem: string): PeerCertificate | undefined {
    const caPem = this.opts.caPem();
    let known = this.peers.get(certPem);
    if (known === undefined || (known && known.caPem !== caPem)) {
      known = null;
      try {
        const cert = new X509Certificate(certPem);
        const issuer = pemBlocks(caPem)
          .map((p) => new X509Certificate(p))
          .find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
        if (issuer) known = { cert: { raw: cert.raw, fingerprint256: cert.fingerprint256 } as PeerCertificate, validFrom: Date.parse(cert.validFrom), validTo: Date.parse(cert.validTo), caPem };
      } catch {
        known = null;
      }
      if (this.peers.size > 64) this.peers.clear();
      this.peers.set(certPem, known);
    }
    const now = (this.opts.now ?? Date.now)();
    return known && now >= known.validFrom && now <= known.validTo ? known.cert : undefined;
  }

  /**
   * Starts a unary call presenting `certPem`. Returns false, having called nothing, when
   * the call is not taken here (the caller then uses its TLS channel); otherwise
   * `callback` gets the answer's bytes or the status.
   */
  tryUnary(path: string, certPem: string | undefined, request: Buffer, metadata: grpc.Metadata, deadline: grpc.Deadline, callback: InProcessCallback): { cancel(): void } | false {
    const entry = this.closed ? undefined : this.handlers.get(path);
    if (!entry) return false;
    const handle = this.start(entry.def, certPem, deadline, callback, (peer, settle) => {
      const base = new InProcessServerCall(entry.def, metadata.clone(), request, peer, deadline, this.limits(), settle);
      return { base, run: (call) => runUnary(call, path, entry.func) };
    });
    return handle ?? false;
  }

  /**
   * Opens a server stream presenting `certPem`, as tryUnary does a unary call: undefined
   * (nothing called) when it is not taken here; otherwise `listener` gets each message's
   * bytes, then the final status once (null for OK), and the handle cancels it.
   */
  tryServerStream(
    path: string,
    certPem: string | undefined,
    request: Buffer,
    metadata: grpc.Metadata,
    deadline: grpc.Deadline,
    listener: { onMessage(bytes: Buffer): void; onStatus(err: grpc.ServiceError | null): void },
  ): { cancel(): void } | undefined {
    const entry = this.closed ? undefined : this.streamHandlers.get(path);
    if (!entry) return undefined;
    return this.start(entry.def, certPem, deadline, (err) => listener.onStatus(err), (peer, settle, settled) => {
      // Messages reach the caller asynchronously and in order, as over the network.
      const base = new InProcessServerCall(entry.def, metadata.clone(), request, peer, deadline, this.limits(), (err) => queueMicrotask(() => settle(err)), (bytes) =>
        queueMicrotask(() => {
          if (!settled()) listener.onMessage(bytes);
        }),
      );
      return { base, run: (call) => runServerStream(call, path, entry.func) };
    });
  }

  private limits(): { maxRequestBytes: number; maxResponseBytes: number } {
    return { maxRequestBytes: this.opts.maxRequestBytes, maxResponseBytes: this.opts.maxResponseBytes };
  }

  /**
   * What both kinds of call do around their handler: decline a certificate TLS would not
   * accept (undefined), settle the caller once, refuse a deadline already passed, cut the
   * call at its deadline, run it inside the server's interceptors (the first wraps the
   * base call, as grpc-js applies them), and cancel it as a client's cancel over the
   * network would (the handler's call is cancelled, the caller gets CANCELLED).
   */
  private start(
    def: UnaryDefinition,
    certPem: string | undefined,
    deadline: grpc.Deadline,
    finish: InProcessCallback,
    open: (peer: PeerCertificate, settle: InProcessCallback, settled: () => boolean) => { base: InProcessServerCall; run: (call: Call) => void },
  ): { cancel(): void } | undefined {
    const peer = certPem ? this.verifiedPeer(certPem) : undefined;
    if (!peer) return undefined;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const settle: InProcessCallback = (err, res) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      finish(err, res);
    };
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
    if (deadlineMs <= Date.now()) return expiredCall(settle);
    const { base, run } = open(peer, settle, () => settled);
    if (Number.isFinite(deadlineMs)) {
      timer = setTimeout(() => {
        base.cancel();
        settle(serviceError({ code: grpc.status.DEADLINE_EXCEEDED, details: 'Deadline exceeded', metadata: null }));
      }, Math.max(0, deadlineMs - Date.now()));
    }
    const methodDef = { path: def.path, requestStream: false, responseStream: def.responseStream, requestDeserialize: def.requestDeserialize, responseSerialize: def.responseSerialize };
    run(this.opts.interceptors.reduce<Call>((c, interceptor) => interceptor(methodDef as grpc.ServerMethodDefinition<unknown, unknown>, c), base));
    return {
      cancel: () => {
        if (settled) return;
        base.cancel();
        settle(serviceError({ code: grpc.status.CANCELLED, details: 'Cancelled on client', metadata: null }));
      },
    };
  }
}

/**
 * A call whose deadline had passed when it was made: as over the network, it never
 * reaches the server (no interceptor, no handler) and the caller gets DEADLINE_EXCEEDED,
 * asynchronously; cancelled first, CANCELLED.
 */
function expiredCall(settle: (err: grpc.ServiceError | null) => void): { cancel(): void } {
  setImmediate(() => settle(serviceError({ code: grpc.status.DEADLINE_EXCEEDED, details: 'Deadline exceeded', metadata: null })));
  return { cancel: () => settle(serviceError({ code: grpc.status.CANCELLED, details: 'Cancelled on client', metadata: null })) };
}

/** A handler's error as grpc-js turns it into a status. */
function errorToStatus(error: Partial<grpc.StatusObject> | grpc.ServerErrorResponse, trailer?: grpc.Metadata): PartialStatus {
  const e = error as { code?: unknown; details?: unknown; message?: string; metadata?: grpc.Metadata };
  const status: PartialStatus = { code: grpc.status.UNKNOWN, details: e.message ?? 'Unknown Error', metadata: trailer ?? e.metadata ?? null };
  if (typeof e.code === 'number' && Number.isInteger(e.code)) {
    status.code = e.code;
    if (typeof e.details === 'string') status.details = e.details;
  }
  return status;
}

/**
 * grpc-js's flow for a call with one request: metadata, one message, half-close; then
 * `open` makes the handler's call object, and the handler runs (one that throws ends the
 * call UNKNOWN). A client's cancel marks that object cancelled and tells the handler.
 */
function receiveThenRun(call: grpc.ServerInterceptingCallInterface, open: (metadata: grpc.Metadata, message: unknown) => { target: EventEmitter & { cancelled: boolean }; run: () => void; onCancel?: () => void }): void {
  let requestMetadata: grpc.Metadata | undefined;
  let requestMessage: unknown = null;
  let opened: ReturnType<typeof open> | undefined;
  call.start({
    onReceiveMetadata(metadata) {
      requestMetadata = metadata;
      call.startRead();
    },
    onReceiveMessage(message) {
      requestMessage = message;
      call.startRead();
    },
    onReceiveHalfClose() {
      opened = open(requestMetadata!, requestMessage);
      try {
        opened.run();
      } catch {
        call.sendStatus({ code: grpc.status.UNKNOWN, details: 'Unknown error', metadata: null });
      }
    },
    onCancel() {
      if (!opened) return;
      opened.target.cancelled = true;
      opened.target.emit('cancelled', 'cancelled');
      opened.onCancel?.();
    },
  });
}

/** grpc-js's unary flow on a call: the request, then the handler, then its one answer and the status. */
function runUnary(call: grpc.ServerInterceptingCallInterface, path: string, handler: UnaryHandler): void {
  const respond: grpc.sendUnaryData<unknown> = (err, value, trailer) => {
    if (err) {
      call.sendStatus(errorToStatus(err, trailer));
      return;
    }
    call.sendMessage(value, () => call.sendStatus({ code: grpc.status.OK, details: 'OK', metadata: trailer ?? null }));
  };
  receiveThenRun(call, (metadata, message) => {
    const target = new InProcessUnaryCall(path, call, metadata, message);
    return { target, run: () => handler(target as unknown as grpc.ServerUnaryCall<unknown, unknown>, respond) };
  });
}

/** The call object a server-streaming handler gets (grpc-js's ServerWritableStream, same behaviour). */
// Its CallInfo methods are assigned in the constructor.
interface InProcessWritableStream extends CallInfo {}
class InProcessWritableStream extends Writable {
  cancelled = false;
  private pendingStatus: PartialStatus = { code: grpc.status.OK, details: 'OK' };
  private trailingMetadata = new grpc.Metadata();

  constructor(
    path: string,
    private readonly call: grpc.ServerInterceptingCallInterface,
    readonly metadata: grpc.Metadata,
    readonly request: unknown,
  ) {
    super({ objectMode: true });
    Object.assign(this, callInfo(path, call));
    // As grpc-js: an 'error' emitted by the handler becomes the final status.
    this.on('error', (err: grpc.ServerErrorResponse | Partial<grpc.StatusObject>) => {
      this.pendingStatus = errorToStatus(err);
      this.end();
    });
  }
  override _write(chunk: unknown, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.call.sendMessage(chunk, callback);
  }
  override _final(callback: (err?: Error | null) => void): void {
    callback(null);
    this.call.sendStatus({ ...this.pendingStatus, metadata: this.pendingStatus.metadata ?? this.trailingMetadata });
  }
  override end(metadata?: unknown): this {
    if (metadata instanceof grpc.Metadata) this.trailingMetadata = metadata;
    return super.end();
  }
}

/** grpc-js's server-streaming flow on a call: the request, then the handler writes. */
function runServerStream(call: grpc.ServerInterceptingCallInterface, path: string, handler: StreamHandler): void {
  receiveThenRun(call, (metadata, message) => {
    const target = new InProcessWritableStream(path, call, metadata, message);
    return { target, run: () => handler(target as unknown as grpc.ServerWritableStream<unknown, unknown>), onCancel: () => target.destroy() };
  });
}
