import type { Clock } from '../../../clock';
import type { Scope } from '../../../identity';
import type { CallOpts, GatewayConnection } from '../../../transport/grpc/client/gateway-connection';
import type { Principal } from '../principal';
import type { RunTracker } from '../run-tracker';

/** What a legacy method handler gets for one request. */
export interface MethodContext {
  readonly method: string;
  readonly params: unknown;
  readonly principal: Principal;
  readonly gateway: GatewayConnection;
  /** Delegation and deadline for unary calls made for this request. */
  readonly call: CallOpts;
  /** Delegation without deadline, for streams. */
  readonly streamCall: CallOpts;
  /** Aborted when the client's socket closes. */
  readonly signal: AbortSignal;
  /** Sends an early `ok` answer on the same id (run-starting methods answer twice). */
  accept(payload: unknown): void;
  /** Turns `sessions.changed` events on for this connection. */
  subscribeSessions(): void;
  readonly runs: RunTracker;
  readonly clock: Clock;
  /** Runs `fn` right after the answer was sent (e.g. closing connections the answer is about). */
  afterAnswer(fn: () => void): void;
  /** Closes every connection of a device on this bridge with 4001 "device removed" (this one included). */
  disconnectDevice(deviceId: string): void;
}

/**
 * One legacy method: its name, the scope it needs (null: callable with any scopes),
 * and the handler that maps it onto the gRPC API. The handler's result is the
 * response payload; a thrown GatewayError or LegacyError becomes the legacy error.
 */
export interface LegacyMethod {
  method: string;
  scope: Scope | null;
  handler: (ctx: MethodContext) => Promise<unknown>;
  /**
   * False for a method that is answered but not listed in hello-ok's `features.methods`:
   * the refusals of features this gateway lacks. The UI turns a control on only for a
   * listed method, so it keeps those controls off; a client calling anyway gets the refusal.
   */
  advertise?: boolean;
}
