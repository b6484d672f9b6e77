/**
 * Standard gRPC health checking (`grpc.health.v1.Health`: Check, Watch and
 * List), backed by the grpc-health-check package.
 */
import type * as grpc from '@grpc/grpc-js';
import { HealthImplementation, service as healthServiceDefinition } from 'grpc-health-check';

/** Serving status of a service as reported by the health service. */
export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING';

/** Fully-qualified name of the standard health service. */
export const HEALTH_SERVICE_NAME = 'grpc.health.v1.Health';

/** Options for {@link createHealth}. */
export interface HealthOptions {
  /**
   * Fully-qualified service names to report on, besides the overall server
   * status (the empty service name `''`, which is always registered).
   */
  services?: ReadonlyArray<string>;
  /** Status every registered name starts with. Default `'SERVING'`. */
  initialStatus?: ServingStatus;
}

/** A health service instance; see {@link createHealth}. */
export interface Health {
  /** Adds the `grpc.health.v1.Health` service to `server` (before `bindAsync`). */
  addToServer(server: grpc.Server): void;
  /**
   * Sets the status of one service (`''` = the whole server) and notifies
   * Watch streams. Unregistered names become registered.
   */
  setStatus(service: string, status: ServingStatus): void;
  /** Sets the same status for the whole server and every registered service (e.g. `'NOT_SERVING'` on shutdown). */
  setAll(status: ServingStatus): void;
  /** Current status of a service, or `undefined` if unknown to the health service. */
  getStatus(service: string): ServingStatus | undefined;
  /** Serialized `FileDescriptorProto`s of the health service, for `addReflection(..., { extraFileDescriptorProtos })`. */
  readonly fileDescriptorProtos: ReadonlyArray<Uint8Array>;
}

/** Serialized descriptors of the health proto, taken from the package's proto-loader definition. */
function healthDescriptorProtos(): Uint8Array[] {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  for (const method of Object.values(healthServiceDefinition)) {
    for (const type of [method.requestType, method.responseType]) {
      for (const bytes of type.fileDescriptorProtos) {
        const key = Buffer.from(bytes).toString('base64');
        if (!seen.has(key)) {
          seen.add(key);
          out.push(bytes);
        }
      }
    }
  }
  return out;
}

/**
 * Creates a health service. The overall status (`''`) and each of
 * `options.services` start as `options.initialStatus` (default SERVING);
 * use `setStatus`/`setAll` to change them.
 */
export function createHealth(options: HealthOptions = {}): Health {
  const initial = options.initialStatus ?? 'SERVING';
  const statuses = new Map<string, ServingStatus>();
  for (const name of ['', ...(options.services ?? [])]) statuses.set(name, initial);
  const impl = new HealthImplementation(Object.fromEntries(statuses));

  const setStatus = (service: string, status: ServingStatus): void => {
    statuses.set(service, status);
    impl.setStatus(service, status);
  };

  return {
    addToServer: (server) => impl.addToServer(server),
    setStatus,
    setAll: (status) => {
      for (const name of [...statuses.keys()]) setStatus(name, status);
    },
    getStatus: (service) => statuses.get(service),
    fileDescriptorProtos: healthDescriptorProtos(),
  };
}
