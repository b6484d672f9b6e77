import { errors } from '../../errors';

/** Limits and timings of the bridge; the first three are announced to clients in hello-ok. */
export interface BridgePolicy {
  /** Largest frame after the handshake (announced as policy.maxPayload). */
  maxPayload: number;
  /** Send buffer per connection before it is closed as a slow consumer (announced). */
  maxBufferedBytes: number;
  /** Interval of `tick` events (announced; clients give up after two silent intervals). */
  tickIntervalMs: number;
  /** Interval of `health` events (also the least time between two refreshes a hello starts). */
  healthIntervalMs: number;
  /** Largest frame before the handshake completes. */
  preauthMaxPayload: number;
  /** Frames a client may send while its connect is being decided. */
  maxQueuedBeforeHello: number;
  /** Time from socket open to hello-ok. */
  handshakeTimeoutMs: number;
  /** WebSocket ping interval; a peer that missed the previous pong is dropped. */
  pingIntervalMs: number;
  /** Allowed distance of a device signature's signedAt from the bridge's clock. */
  signatureSkewMs: number;
  /** Deadline of each unary call to the gateway. */
  callTimeoutMs: number;
  /** Requests a connection may have in flight at once. */
  maxInFlight: number;
  /** Sockets that have not finished the handshake, across the bridge (more are refused). */
  maxPendingHandshakes: number;
  /** Wrong credentials (shared token, device token) one address may send within a minute before it is locked out. */
  authFailuresPerMinute: number;
  /** How long a locked-out address is refused. */
  authLockoutMs: number;
}

/** The legacy gateway's values (legacy-protocol.md, "Limits" and "Keepalive"). */
export const DEFAULT_BRIDGE_POLICY: Readonly<BridgePolicy> = Object.freeze({
  maxPayload: 26_214_400,
  maxBufferedBytes: 52_428_800,
  tickIntervalMs: 30_000,
  healthIntervalMs: 60_000,
  preauthMaxPayload: 64 * 1024,
  maxQueuedBeforeHello: 15,
  handshakeTimeoutMs: 15_000,
  pingIntervalMs: 25_000,
  signatureSkewMs: 120_000,
  callTimeoutMs: 15_000,
  maxInFlight: 64,
  maxPendingHandshakes: 256,
  authFailuresPerMinute: 10,
  authLockoutMs: 300_000,
});

/** Fills in defaults and checks that every value is a positive integer. */
export function resolvePolicy(overrides: Partial<BridgePolicy> = {}): Readonly<BridgePolicy> {
  const policy = { ...DEFAULT_BRIDGE_POLICY, ...overrides };
  for (const [k, v] of Object.entries(policy)) {
    if (!Number.isSafeInteger(v) || v <= 0) throw errors.invalid('BAD_CONFIG', `bridge policy ${k} must be a positive integer, got ${String(v)}`);
  }
  return Object.freeze(policy);
}
