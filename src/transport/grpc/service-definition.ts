/**
 * Adapter between protobuf-es v2 service descriptors (`GenService` emitted by
 * protoc-gen-es) and grpc-js, which otherwise expects proto-loader or
 * grpc-tools generated stubs.
 *
 * - {@link createServiceDefinition} turns a `DescService` into a grpc-js
 *   `ServiceDefinition` (binary protobuf serialization via protobuf-es).
 * - {@link addTypedService} registers a typed implementation on a server.
 * - {@link makeServiceClientConstructor} builds a typed grpc-js client class.
 *
 * Method keys are the protobuf-es `localName`s (e.g. `getStatus` for
 * `rpc GetStatus`), for both server implementations and client instances.
 */
import * as grpc from '@grpc/grpc-js';
import {
  create,
  fromBinary,
  toBinary,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageInitShape,
  type MessageShape,
} from '@bufbuild/protobuf';

/** The methods of a service descriptor, keyed by local (camelCase) name. */
type MethodsOf<S extends DescService> = S['method'];

/** Request message type of method `M` as seen by a server handler. */
type ServerRequest<M> = M extends { input: infer I extends DescMessage } ? MessageShape<I> : never;
/** Response type a server handler may produce for method `M` (a message or a plain init object). */
type ServerResponse<M> = M extends { output: infer O extends DescMessage } ? MessageInitShape<O> : never;
/** Request type a client may send for method `M` (a message or a plain init object). */
type ClientRequest<M> = M extends { input: infer I extends DescMessage } ? MessageInitShape<I> : never;
/** Response message type of method `M` as seen by a client. */
type ClientResponse<M> = M extends { output: infer O extends DescMessage } ? MessageShape<O> : never;

/**
 * The grpc-js server handler type for one method descriptor, chosen by its
 * `methodKind`. Handlers receive fully typed request messages and may answer
 * with either a message or a plain `MessageInitShape` object.
 */
export type MethodHandler<M> = M extends { methodKind: 'unary' }
  ? grpc.handleUnaryCall<ServerRequest<M>, ServerResponse<M>>
  : M extends { methodKind: 'server_streaming' }
    ? grpc.handleServerStreamingCall<ServerRequest<M>, ServerResponse<M>>
    : M extends { methodKind: 'client_streaming' }
      ? grpc.handleClientStreamingCall<ServerRequest<M>, ServerResponse<M>>
      : M extends { methodKind: 'bidi_streaming' }
        ? grpc.handleBidiStreamingCall<ServerRequest<M>, ServerResponse<M>>
        : never;

/**
 * A complete server implementation of service `S` (a protoc-gen-es
 * `GenService`): one grpc-js handler per method, keyed by local name.
 */
export type ServiceImpl<S extends DescService> = {
  [K in keyof MethodsOf<S>]: MethodHandler<MethodsOf<S>[K]>;
};

/** Client-side signature of a unary method (same overloads as grpc-js generated clients). */
export interface UnaryClientMethod<I, O> {
  (request: I, callback: grpc.requestCallback<O>): grpc.ClientUnaryCall;
  (request: I, metadata: grpc.Metadata, callback: grpc.requestCallback<O>): grpc.ClientUnaryCall;
  (request: I, options: Partial<grpc.CallOptions>, callback: grpc.requestCallback<O>): grpc.ClientUnaryCall;
  (
    request: I,
    metadata: grpc.Metadata,
    options: Partial<grpc.CallOptions>,
    callback: grpc.requestCallback<O>,
  ): grpc.ClientUnaryCall;
}

/** Client-side signature of a server-streaming method. */
export interface ServerStreamingClientMethod<I, O> {
  (request: I, options?: Partial<grpc.CallOptions>): grpc.ClientReadableStream<O>;
  (request: I, metadata?: grpc.Metadata, options?: Partial<grpc.CallOptions>): grpc.ClientReadableStream<O>;
}

/** Client-side signature of a client-streaming method. */
export interface ClientStreamingClientMethod<I, O> {
  (callback: grpc.requestCallback<O>): grpc.ClientWritableStream<I>;
  (metadata: grpc.Metadata, callback: grpc.requestCallback<O>): grpc.ClientWritableStream<I>;
  (options: Partial<grpc.CallOptions>, callback: grpc.requestCallback<O>): grpc.ClientWritableStream<I>;
  (
    metadata: grpc.Metadata,
    options: Partial<grpc.CallOptions>,
    callback: grpc.requestCallback<O>,
  ): grpc.ClientWritableStream<I>;
}

/** Client-side signature of a bidirectional-streaming method. */
export interface BidiStreamingClientMethod<I, O> {
  (options?: Partial<grpc.CallOptions>): grpc.ClientDuplexStream<I, O>;
  (metadata?: grpc.Metadata, options?: Partial<grpc.CallOptions>): grpc.ClientDuplexStream<I, O>;
}

/** The client-side signature for one method descriptor, chosen by its `methodKind`. */
export type ClientMethod<M> = M extends { methodKind: 'unary' }
  ? UnaryClientMethod<ClientRequest<M>, ClientResponse<M>>
  : M extends { methodKind: 'server_streaming' }
    ? ServerStreamingClientMethod<ClientRequest<M>, ClientResponse<M>>
    : M extends { methodKind: 'client_streaming' }
      ? ClientStreamingClientMethod<ClientRequest<M>, ClientResponse<M>>
      : M extends { methodKind: 'bidi_streaming' }
        ? BidiStreamingClientMethod<ClientRequest<M>, ClientResponse<M>>
        : never;

/**
 * A grpc-js client for service `S`: a `grpc.Client` (close(), waitForReady(),
 * getChannel()) plus one typed method per RPC, keyed by local name.
 */
export type ServiceClient<S extends DescService> = grpc.Client & {
  [K in keyof MethodsOf<S>]: ClientMethod<MethodsOf<S>[K]>;
};

/** Constructor of a typed client for service `S`, as returned by {@link makeServiceClientConstructor}. */
export interface ServiceClientConstructor<S extends DescService> {
  new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions): ServiceClient<S>;
  /** The grpc-js service definition the client was built from. */
  readonly service: grpc.ServiceDefinition;
  /** Fully-qualified protobuf service name, e.g. `openclaw.gateway.v1.GatewayService`. */
  readonly serviceName: string;
}

/**
 * A message already encoded (by a handler that writes the same message to many streams):
 * the serializer sends its bytes as they are.
 */
export class Encoded {
  constructor(readonly bytes: Buffer) {}
}

/** Returns a grpc-js serializer that encodes a message (or init object) of `schema` to protobuf binary. */
function serializer<D extends DescMessage>(schema: D): grpc.serialize<MessageInitShape<D>> {
  return (value) => {
    if (value instanceof Encoded) return value.bytes;
    const bytes = toBinary(schema, create(schema, value));
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

/** Returns a grpc-js deserializer that decodes protobuf binary into a message of `schema`. */
function deserializer<D extends DescMessage>(schema: D): grpc.deserialize<MessageShape<D>> {
  return (bytes) => fromBinary(schema, bytes);
}

/** Builds the grpc-js method definition for one protobuf-es method descriptor. */
function methodDefinition(method: DescMethod): grpc.MethodDefinition<unknown, unknown> {
  const kind = method.methodKind;
  return {
    path: `/${method.parent.typeName}/${method.name}`,
    requestStream: kind === 'client_streaming' || kind === 'bidi_streaming',
    responseStream: kind === 'server_streaming' || kind === 'bidi_streaming',
    requestSerialize: serializer(method.input) as grpc.serialize<unknown>,
    requestDeserialize: deserializer(method.input),
    responseSerialize: serializer(method.output) as grpc.serialize<unknown>,
    responseDeserialize: deserializer(method.output),
  };
}

/**
 * Maps a protobuf-es service descriptor to a grpc-js `ServiceDefinition`.
 * Each method is keyed by its local name, served at
 * `/<package.Service>/<Method>`, and (de)serialized with protobuf-es
 * `toBinary`/`fromBinary`. Serializers accept plain init objects too.
 */
export function createServiceDefinition<S extends DescService>(service: S): grpc.ServiceDefinition<ServiceImpl<S>> {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = methodDefinition(method);
  }
  return definition as grpc.ServiceDefinition<ServiceImpl<S>>;
}

/**
 * Registers a complete, type-checked implementation of `service` on `server`
 * (grpc-js' own `addService` accepts any untyped object).
 */
export function addTypedService<S extends DescService>(server: grpc.Server, service: S, impl: ServiceImpl<S>): void {
  server.addService(createServiceDefinition(service), impl as unknown as grpc.UntypedServiceImplementation);
}

/**
 * Builds a typed grpc-js client class for `service` (via
 * `grpc.makeGenericClientConstructor`). Instantiate it with an address and
 * channel credentials; call methods by local name, e.g. `client.getStatus({}, cb)`.
 */
export function makeServiceClientConstructor<S extends DescService>(service: S): ServiceClientConstructor<S> {
  const ctor = grpc.makeGenericClientConstructor(createServiceDefinition(service), service.typeName);
  return ctor as unknown as ServiceClientConstructor<S>;
}
