/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) for services
 * described by protobuf-es descriptors, so that e.g. `grpcurl list` and
 * `grpcurl describe` work against the gateway.
 *
 * @grpc/reflection expects a proto-loader `PackageDefinition`, but only reads
 * the serialized `FileDescriptorProto`s from it; we build those from the
 * protobuf-es `DescFile`s with `toBinary(FileDescriptorProtoSchema, ...)`.
 */
import type * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { toBinary, type DescFile, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';

/** Options for {@link addReflection}. */
export interface ReflectionOptions {
  /**
   * Fully-qualified service names to list (e.g. `openclaw.gateway.v1.GatewayService`).
   * Default: every service found in the served files.
   */
  services?: string[];
  /**
   * Additional serialized `FileDescriptorProto`s to serve, e.g. those of the
   * health service (see `createHealth().fileDescriptorProtos`).
   */
  extraFileDescriptorProtos?: ReadonlyArray<Uint8Array>;
}

/** The package definition shape @grpc/reflection accepts (a proto-loader `PackageDefinition`). */
type PackageDefinition = ConstructorParameters<typeof ReflectionService>[0];

/** Collects `files` and all their transitive imports, each file once. */
function withDependencies(files: Iterable<DescFile>): DescFile[] {
  const seen = new Map<string, DescFile>();
  const visit = (file: DescFile): void => {
    if (seen.has(file.proto.name)) return;
    seen.set(file.proto.name, file);
    file.dependencies.forEach(visit);
  };
  for (const file of files) visit(file);
  return [...seen.values()];
}

/** Serializes the descriptors of `sources` (and their imports) as `FileDescriptorProto` bytes. */
export function fileDescriptorProtos(sources: ReadonlyArray<DescFile | DescService>): Buffer[] {
  const files = sources.map((source) => (source.kind === 'service' ? source.file : source));
  return withDependencies(files).map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file.proto)));
}

/**
 * Adds the gRPC server reflection services (v1 and v1alpha) to `server`,
 * describing the given protobuf-es files or services (imports included).
 * Call before `server.bindAsync()`.
 */
export function addReflection(
  server: grpc.Server,
  sources: ReadonlyArray<DescFile | DescService>,
  options: ReflectionOptions = {},
): void {
  const protos = [
    ...fileDescriptorProtos(sources),
    ...(options.extraFileDescriptorProtos ?? []).map((bytes) => Buffer.from(bytes)),
  ];
  // @grpc/reflection only reads `fileDescriptorProtos` from each entry; one
  // entry carrying all descriptors is enough.
  const pkg = {
    'openclaw.reflection.descriptors': {
      format: 'Protocol Buffer 3 DescriptorProto',
      type: {},
      fileDescriptorProtos: protos,
    },
  } as unknown as PackageDefinition;
  const reflection = new ReflectionService(
    pkg,
    options.services ? { services: [...options.services] } : undefined,
  );
  reflection.addToServer(server);
}
