/**
 * The closed set of error codes used everywhere in the gateway. Each transport maps
 * these in exactly one place (gRPC status, legacy WS error, CLI exit line).
 */
export enum ErrorCode {
  InvalidArgument = 'INVALID_ARGUMENT',
  Unauthenticated = 'UNAUTHENTICATED',
  PermissionDenied = 'PERMISSION_DENIED',
  NotFound = 'NOT_FOUND',
  AlreadyExists = 'ALREADY_EXISTS',
  FailedPrecondition = 'FAILED_PRECONDITION',
  ResourceExhausted = 'RESOURCE_EXHAUSTED',
  Unavailable = 'UNAVAILABLE',
  DeadlineExceeded = 'DEADLINE_EXCEEDED',
  Cancelled = 'CANCELLED',
  Internal = 'INTERNAL',
}

/**
 * The one error class of the project. `message` is safe to show to a client;
 * `reason` is a machine-readable UPPER_SNAKE tag callers may branch on; `cause`
 * (never sent to clients) is kept for the log.
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly reason: string;
  readonly details: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    reason: string,
    message: string,
    opts: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'GatewayError';
    this.code = code;
    this.reason = reason;
    this.details = opts.details ?? {};
  }
}

/** Shorthand constructors, one per code, so call sites stay short and greppable. */
export const errors = {
  invalid: (reason: string, message: string, details?: Record<string, unknown>) =>
    new GatewayError(ErrorCode.InvalidArgument, reason, message, { details }),
  unauthenticated: (reason: string, message: string, details?: Record<string, unknown>) =>
    new GatewayError(ErrorCode.Unauthenticated, reason, message, { details }),
  denied: (reason: string, message: string, details?: Record<string, unknown>) =>
    new GatewayError(ErrorCode.PermissionDenied, reason, message, { details }),
  notFound: (reason: string, message: string, details?: Record<string, unknown>) =>
    new GatewayError(ErrorCode.NotFound, reason, message, { details }),
  exists: (reason: string, message: string, details?: Record<string, unknown>) =>
    new GatewayError(ErrorCode.AlreadyExists, reason, message, { details }),
  precondition: (reason: string, message: string, details?: Record<string, unknown>) =>
    new GatewayError(ErrorCode.FailedPrecondition, reason, message, { details }),
  exhausted: (reason: string, message: string, details?: Record<string, unknown>) =>
    new GatewayError(ErrorCode.ResourceExhausted, reason, message, { details }),
  unavailable: (reason: string, message: string, details?: Record<string, unknown>) =>
    new GatewayError(ErrorCode.Unavailable, reason, message, { details }),
  internal: (reason: string, message: string, cause?: unknown) =>
    new GatewayError(ErrorCode.Internal, reason, message, { cause }),
};

/** Wraps anything thrown into a GatewayError; unknown errors become INTERNAL with a safe message. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError(ErrorCode.Internal, 'INTERNAL', 'internal error', { cause: err });
}
