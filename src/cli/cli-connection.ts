/**
 * The CLI's one gRPC channel to the gateway. Calls are addressed by protobuf-es method
 * descriptors (so `openclaw-cli call` and the typed commands share one path), and
 * every failure comes back as a GatewayError: the server's reason when it answered,
 * or a diagnosis of the connection (refused, wrong CA, wrong name) when it did not.
 *
 * It deliberately does not use transport/grpc/gateway-client.ts: that module pulls the
 * server's interceptor (pino, node-forge) in, which costs the CLI ~25 ms per start.
 */
import * as grpc from '@grpc/grpc-js';
import type { DescMessage, DescMethod, MessageInitShape, MessageShape } from '@bufbuild/protobuf';
import { ErrorCode, errors, GatewayError } from '../errors';
import { fromGrpcError, REASON_KEY } from '../transport/grpc/status-mapping';
import { diagnoseConnection } from '../transport/grpc/client/connection-diagnosis';
import { codec } from './protobuf-codec';
import { gatewayNameFromCa } from '../identity/gateway-name';

/** TLS material of a connection; without key and certificate it is anonymous (pairing, expired renewal). */
export interface ConnectionTls {
  caPem: string;
  keyPem?: string;
  certPem?: string;
}

/** Where the connection goes, and where that address came from (for messages). */
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

/** Per-call options. */
export interface CallOptions {
  /** Deadline in ms; unary calls default to 20 s, streams have none unless given. */
  timeoutMs?: number;
}

const DEFAULT_UNARY_TIMEOUT_MS = 20_000;

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

export { gatewayNameFromCa };

/** A server stream being read: iterate it, or cancel it. */
export interface ResponseStream<T> extends AsyncIterable<T> {
  cancel(): void;
}

/** One channel to the gateway (mTLS when the TLS material has a key and certificate). */
export class CliConnection {
  private readonly client: grpc.Client;
  private readonly serverName?: string;
  private diagnosis?: Promise<GatewayError>;

  constructor(
    readonly target: ConnectionTarget,
    private readonly tls: ConnectionTls,
    userAgent = 'openclaw-cli',
  ) {
    const creds = grpc.credentials.createSsl(
      Buffer.from(tls.caPem),
      tls.keyPem ? Buffer.from(tls.keyPem) : null,
      tls.certPem ? Buffer.from(tls.certPem) : null,
    );
    // Verify the gateway by its name in the CA's trust domain, whatever address was
    // dialled (as the gateway client does): no address needs to be in its certificate.
    this.serverName = gatewayNameFromCa(tls.caPem);
    this.client = new grpc.Client(target.address, creds, {
      'grpc.primary_user_agent': userAgent,
      'grpc.max_receive_message_length': 32 * 1024 * 1024,
      ...(this.serverName ? { 'grpc.ssl_target_name_override': this.serverName, 'grpc.default_authority': this.serverName } : {}),
    });
  }

  /** Calls a unary method. */
  unary<I extends DescMessage, O extends DescMessage>(method: UnaryMethod<I, O>, req: MessageInitShape<I>, opts: CallOptions = {}): Promise<MessageShape<O>> {
    return new Promise<MessageShape<O>>((resolve, reject) => {
      this.client.makeUnaryRequest(
        pathOf(method),
        encoder(method.input),
        decoder(method.output),
        req,
        new grpc.Metadata(),
        { deadline: Date.now() + (opts.timeoutMs ?? DEFAULT_UNARY_TIMEOUT_MS) },
        (err, res) => (err ? this.explain(err).then(reject, reject) : resolve(res as MessageShape<O>)),
      );
    });
  }

  /** Calls a unary method with raw protobuf bytes (for services the CLI has no generated code for). */
  unaryBytes(path: string, req: Buffer, opts: CallOptions = {}): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      this.client.makeUnaryRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        req,
        new grpc.Metadata(),
        { deadline: Date.now() + (opts.timeoutMs ?? DEFAULT_UNARY_TIMEOUT_MS) },
        (err, res) => (err ? this.explain(err).then(reject, reject) : resolve(res as Buffer)),
      );
    });
  }

  /** Opens a server stream; iterate it with `for await`. Breaking out of the loop cancels it. */
  serverStream<I extends DescMessage, O extends DescMessage>(method: ServerStreamMethod<I, O>, req: MessageInitShape<I>, opts: CallOptions = {}): ResponseStream<MessageShape<O>> {
    const call = this.client.makeServerStreamRequest(
      pathOf(method),
      encoder(method.input),
      decoder(method.output),
      req,
      new grpc.Metadata(),
      opts.timeoutMs ? { deadline: Date.now() + opts.timeoutMs } : {},
    );
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

  /** Closes the channel. */
  close(): void {
    this.client.close();
  }

  /**
   * Turns a failed call into a GatewayError. When the server answered, its reason
   * stands. When it did not (UNAVAILABLE without a reason trailer), a plain TLS probe
   * finds out why: refused, wrong CA, wrong name, not TLS.
   */
  private async explain(err: grpc.ServiceError | Error): Promise<GatewayError> {
    const se = err as grpc.ServiceError;
    const answered = typeof se.code === 'number' && se.metadata?.get(REASON_KEY).length > 0;
    if (!answered && se.code === grpc.status.UNAVAILABLE) return (this.diagnosis ??= diagnoseConnection(this.target, { ...this.tls, serverName: this.serverName }));
    if (!answered && se.code === grpc.status.DEADLINE_EXCEEDED) {
      return new GatewayError(ErrorCode.DeadlineExceeded, 'GATEWAY_TIMEOUT', `the gateway at ${this.target.address} did not answer in time (${this.target.sourceLabel})`, { cause: err });
    }
    if (!answered && se.code === grpc.status.UNIMPLEMENTED) {
      return errors.notFound('METHOD_NOT_IMPLEMENTED', `the gateway at ${this.target.address} does not implement this call (${se.details || 'unimplemented'}); is it an older version?`);
    }
    return fromGrpcError(err);
  }
}
