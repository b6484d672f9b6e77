import type * as grpc from '@grpc/grpc-js';
import { errors } from '../../../errors';

/** Who is calling, read once per call from the verified TLS peer and the registry. */
export interface Caller {
  /** `device` for a verified, registered certificate; `anonymous` for pairing calls without one. */
  kind: 'device' | 'anonymous';
  /** The effective device (the legacy principal when the bridge delegates). */
  deviceId: string;
  label: string;
  role: string;
  scopes: string[];
  /** Set when the bridge acts for a legacy principal: the bridge's own device id. */
  via?: string;
  /** The certificate's own device id and serial (the bridge's when delegating). */
  certDeviceId?: string;
  /** Remote address as grpc-js reports it. */
  peer: string;
}

const callers = new WeakMap<grpc.Metadata, Caller>();

/** Attaches the caller to a call's metadata object (done by the auth interceptor only). */
export function attachCaller(metadata: grpc.Metadata, caller: Caller): void {
  callers.set(metadata, caller);
}

/** The caller of a call; throws (deny) if the interceptor did not run for it. */
export function callerOf(call: { metadata: grpc.Metadata }): Caller {
  const c = callers.get(call.metadata);
  if (!c) throw errors.internal('NO_CALLER', 'call was not authenticated');
  return c;
}

/** A short actor string for audit lines. */
export function actorOf(c: Caller): string {
  return c.via ? `${c.deviceId} via bridge ${c.via}` : c.deviceId;
}
