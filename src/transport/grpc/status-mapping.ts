import * as grpc from '@grpc/grpc-js';
import { ErrorCode, GatewayError, toGatewayError } from '../../errors';

/** Trailer carrying the machine-readable reason of an error. */
export const REASON_KEY = 'x-openclaw-reason';
/** Trailer carrying the device id an authentication error is about, when known. */
export const DEVICE_KEY = 'x-openclaw-device-id';
/** Trailer carrying the error's safe details (strings, numbers, booleans) as JSON. */
export const DETAILS_KEY = 'x-openclaw-details';

const TO_GRPC: Record<ErrorCode, grpc.status> = {
  [ErrorCode.InvalidArgument]: grpc.status.INVALID_ARGUMENT,
  [ErrorCode.Unauthenticated]: grpc.status.UNAUTHENTICATED,
  [ErrorCode.PermissionDenied]: grpc.status.PERMISSION_DENIED,
  [ErrorCode.NotFound]: grpc.status.NOT_FOUND,
  [ErrorCode.AlreadyExists]: grpc.status.ALREADY_EXISTS,
  [ErrorCode.FailedPrecondition]: grpc.status.FAILED_PRECONDITION,
  [ErrorCode.ResourceExhausted]: grpc.status.RESOURCE_EXHAUSTED,
  [ErrorCode.Unavailable]: grpc.status.UNAVAILABLE,
  [ErrorCode.DeadlineExceeded]: grpc.status.DEADLINE_EXCEEDED,
  [ErrorCode.Cancelled]: grpc.status.CANCELLED,
  [ErrorCode.Internal]: grpc.status.INTERNAL,
};

const FROM_GRPC = new Map<number, ErrorCode>(Object.entries(TO_GRPC).map(([k, v]) => [v, k as ErrorCode]));

/**
 * The one place where gateway errors become gRPC statuses: a safe message, the
 * reason (and device id) in trailers. Internal causes never leave the process.
 */
export function toGrpcStatus(err: unknown): grpc.StatusObject & { code: grpc.status } {
  const e = toGatewayError(err);
  const metadata = new grpc.Metadata();
  metadata.set(REASON_KEY, e.reason);
  const deviceId = e.details.deviceId;
  if (typeof deviceId === 'string') metadata.set(DEVICE_KEY, deviceId);
  const safe = Object.entries(e.details).filter(([, v]) => ['string', 'number', 'boolean'].includes(typeof v));
  if (safe.length > 0) metadata.set(DETAILS_KEY, JSON.stringify(Object.fromEntries(safe)));
  return { code: TO_GRPC[e.code], details: e.message, metadata };
}

/** Client side: turns a failed call back into a GatewayError with the server's reason. */
export function fromGrpcError(err: grpc.ServiceError | Error): GatewayError {
  const se = err as grpc.ServiceError;
  if (typeof se.code !== 'number') return toGatewayError(err);
  const code = FROM_GRPC.get(se.code) ?? (se.code === grpc.status.UNIMPLEMENTED ? ErrorCode.NotFound : ErrorCode.Internal);
  const reasonValue = se.metadata?.get(REASON_KEY)?.[0];
  const deviceValue = se.metadata?.get(DEVICE_KEY)?.[0];
  const reason = typeof reasonValue === 'string' ? reasonValue : grpc.status[se.code] ?? 'UNKNOWN';
  const details: Record<string, unknown> = { grpcCode: se.code };
  const detailsValue = se.metadata?.get(DETAILS_KEY)?.[0];
  if (typeof detailsValue === 'string') {
    try {
      Object.assign(details, JSON.parse(detailsValue) as Record<string, unknown>);
    } catch {
      /* a malformed trailer only loses the details */
    }
  }
  if (typeof deviceValue === 'string') details.deviceId = deviceValue;
  return new GatewayError(code, reason, se.details || se.message, { details, cause: err });
}
