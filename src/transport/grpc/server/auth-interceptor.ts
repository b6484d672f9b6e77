import * as grpc from '@grpc/grpc-js';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { errors, GatewayError } from '../../../errors';
import { audit, type Logger } from '../../../logging';
import { certIdentity, intersectScopes, scopeSatisfied, type CertIdentity, type DeviceRegistry } from '../../../identity';
import type { PresenceTracker } from '../../../services/presence/presence-tracker';
import { ANONYMOUS_BUDGETS, AUTHZ_TABLE, type AccessRule, type AnonymousBudget, type AnonymousBudgets } from './authz-table';
import { RateLimiter } from '../../../services/pairing/rate-limiter';
import { rateKeyOf } from '../../../services/pairing/rate-key';
import type { Clock } from '../../../clock';
import { attachCaller, type Caller } from './caller';
import { toGrpcStatus } from '../status-mapping';
import { PRINCIPAL_KEY, SCOPES_KEY, TOKEN_PRINCIPAL } from '../metadata-keys';
import { roleUsable } from '../../../services/pairing/legacy-device-tokens';

/** What the interceptor needs from the rest of the gateway. */
export interface AuthDeps {
  registry: DeviceRegistry;
  log: Logger;
  presence: PresenceTracker;
  /** Scopes granted to token-only legacy clients (config `bridge.tokenOnlyScopes`). */
  tokenOnlyScopes: () => readonly string[];
  clock: Clock;
  /** Rate budgets of calls without a certificate (default ANONYMOUS_BUDGETS). */
  budgets?: AnonymousBudgets;
  table?: Readonly<Record<string, AccessRule>>;
  /** Told the reason of every refused call (metrics), next to its audit line. */
  onDeny?: (reason: string) => void;
  /**
   * UNAVAILABLE `STORE_STALE` while the store's copy (the registry's included) is not
   * known to be current (a replica cut off from its database), else undefined: calls
   * that need a device are then refused rather than decided from it.
   */
  storeStale?: () => GatewayError | undefined;
  /** The client's address for a grpc-js peer string (behind a PROXY-protocol balancer: the device's, not the balancer's). */
  peerOf?: (peer: string) => string;
}

/**
 * Why TLS did not verify a presented certificate. Used only to word the error
 * message: decisions use grpc-js's auth context (which holds a certificate only when
 * TLS verified it) plus the registry.
 */
/**
 * The TLS socket under a call. grpc-js does not expose it, so this is the one place that
 * reaches into its base call; undefined if that ever changes (callers then fall back).
 */
function socketOf(call: grpc.ServerInterceptingCallInterface): TLSSocket | undefined {
  return (call as unknown as { stream?: { session?: { socket?: TLSSocket } } }).stream?.session?.socket;
}

function tlsDiagnosis(call: grpc.ServerInterceptingCallInterface): { presented: boolean; error?: string } {
  const socket = socketOf(call);
  if (!socket || typeof socket.getPeerCertificate !== 'function') return { presented: false };
  const cert = socket.getPeerCertificate() as PeerCertificate | Record<string, never>;
  const presented = Boolean(cert && (cert as PeerCertificate).raw);
  const err = (socket as TLSSocket & { authorizationError?: Error | string }).authorizationError;
  return { presented, error: err ? String((err as Error).message ?? err) : undefined };
}

function unverifiedMessage(diag: { presented: boolean; error?: string }): GatewayError {
  if (!diag.presented) {
    return errors.unauthenticated('NO_CLIENT_CERT', 'no client certificate: this call needs a device certificate (provision one with "certs-tools issue" or pair with "openclaw-cli pair")');
  }
  const e = diag.error ?? '';
  if (/expired/i.test(e)) return errors.unauthenticated('CERT_EXPIRED', 'client certificate has expired; within the renewal window "openclaw-cli renew" renews it (proving possession of the key), after it issue or pair a new one');
  if (/not[ _]yet[ _]valid/i.test(e)) return errors.unauthenticated('CERT_NOT_YET_VALID', 'client certificate is not valid yet; check the device clock');
  if (/revoked/i.test(e)) return errors.unauthenticated('DEVICE_REVOKED', 'client certificate was revoked; pair again');
  return errors.unauthenticated('CERT_UNTRUSTED', `client certificate was not issued by this gateway's CA (${e || 'verification failed'}); pair with this gateway or use its certificates`);
}

/**
 * The server interceptor: turns the verified peer into a typed Caller once per call,
 * applies delegation and the authorization table (deny by default), and writes an
 * audit line for every denial. Handlers read the caller with `callerOf(call)`.
 */
export function createAuthInterceptor(deps: AuthDeps): grpc.ServerInterceptor {
  const table = deps.table ?? AUTHZ_TABLE;
  const peerOf = deps.peerOf ?? ((peer: string) => peer);
  const identities = new Map<string, CertIdentity>();
  const allowedOnce = new Set<string>();
  const budgets = new Map<AnonymousBudget, RateLimiter>(
    Object.entries(deps.budgets ?? ANONYMOUS_BUDGETS).map(([name, b]) => [name as AnonymousBudget, new RateLimiter(deps.clock, b.perAddress, b.global)]),
  );

  // The verified peer cannot change during a TLS connection, and grpc-js rebuilds the
  // certificate object on every getAuthContext() (a third of the per-call cost), so it is
  // read once per connection. The registry is still asked on every call.
  const peers = new WeakMap<object, PeerCertificate | null>();
  const verifiedPeer = (call: grpc.ServerInterceptingCallInterface): PeerCertificate | undefined => {
    const socket = socketOf(call);
    if (socket) {
      const known = peers.get(socket);
      if (known !== undefined) return known ?? undefined;
    }
    const cert = call.getAuthContext().sslPeerCertificate;
    if (socket) peers.set(socket, cert ?? null);
    return cert;
  };

  const identityOf = (cert: PeerCertificate): CertIdentity => {
    const key = cert.fingerprint256;
    let id = identities.get(key);
    if (!id) {
      id = certIdentity(cert.raw);
      if (identities.size > 10_000) identities.clear();
      identities.set(key, id);
    }
    return id;
  };

  const decide = (path: string, call: grpc.ServerInterceptingCallInterface, metadata: grpc.Metadata): Caller => {
    const rule = table[path];
    const peer = peerOf(call.getPeer());
    if (!rule) throw errors.denied('METHOD_NOT_ALLOWED', `method ${path} is not open to any caller`);
    if (!rule.anonymous) {
      const stale = deps.storeStale?.();
      if (stale) throw stale;
    }
    const cert = verifiedPeer(call);
    let caller: Caller | undefined;
    if (cert) {
      try {
        const id = identityOf(cert);
        const record = deps.registry.authenticate(id, { forRenewal: !rule.anonymous && rule.renewal === true });
        caller = { kind: 'device', deviceId: record.id, label: record.label, role: record.role, scopes: record.scopes, certDeviceId: record.id, peer };
      } catch (err) {
        if (!rule.anonymous) throw err;
      }
    } else if (!rule.anonymous) {
      throw unverifiedMessage(tlsDiagnosis(call));
    }
    if (rule.anonymous) {
      if (caller) return caller;
      // Every RPC open without a certificate spends from a budget per source address.
      const key = rateKeyOf(peer);
      if (!budgets.get(rule.budget)!.take(key)) {
        throw errors.exhausted('RATE_LIMITED', `too many unauthenticated ${rule.budget} calls from ${key}; wait a minute and try again`);
      }
      return { kind: 'anonymous', deviceId: '', label: '', role: '', scopes: [], peer };
    }
    caller = caller!;
    const principal = metadata.get(PRINCIPAL_KEY)[0];
    if (principal !== undefined) {
      if (caller.role !== 'bridge') {
        throw errors.denied('DELEGATION_NOT_ALLOWED', `only the bridge may act for another principal; device ${caller.deviceId} has role ${caller.role}`, { deviceId: caller.deviceId });
      }
      if (rule.noDelegation) throw errors.denied('DELEGATION_NOT_ALLOWED', `${path} cannot be called on behalf of another principal`);
      caller = delegate(caller, String(principal), metadata);
    } else if (caller.role === 'bridge' && rule.roles.length > 0 && (!rule.roles.includes('bridge') || (rule.scope !== undefined && !scopeSatisfied(caller.scopes, rule.scope)))) {
      throw errors.denied('PRINCIPAL_REQUIRED', 'the bridge must name the legacy principal it acts for');
    }
    if (!rule.roles.includes(caller.role as never)) {
      throw errors.denied('ROLE_NOT_ALLOWED', `role ${caller.role} may not call ${path}`, { deviceId: caller.deviceId });
    }
    if (rule.scope && !scopeSatisfied(caller.scopes, rule.scope)) {
      throw errors.denied('MISSING_SCOPE', `missing scope: ${rule.scope}`, { deviceId: caller.deviceId, missingScope: rule.scope });
    }
    return caller;
  };

  const delegate = (bridge: Caller, principal: string, metadata: grpc.Metadata): Caller => {
    // Absent header: the principal's approved scopes. Present (even empty): only those asked for.
    const header = metadata.get(SCOPES_KEY);
    const narrowed = header.length > 0;
    const asked = String(header[0] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (principal === TOKEN_PRINCIPAL) {
      const granted = [...deps.tokenOnlyScopes()];
      return { kind: 'device', deviceId: TOKEN_PRINCIPAL, label: 'token-only legacy client', role: 'operator', scopes: narrowed ? intersectScopes(asked, granted) : granted, via: bridge.deviceId, certDeviceId: bridge.deviceId, peer: bridge.peer };
    }
    const record = deps.registry.get(principal);
    if (!record || record.source !== 'legacy') throw errors.denied('PRINCIPAL_UNKNOWN', `principal ${principal} is not an approved legacy device`);
    if (record.status !== 'active') throw errors.unauthenticated('DEVICE_REVOKED', `device ${principal} was revoked; pair again`, { deviceId: principal });
    // Its device token for its role was revoked: paired still, but not usable until approved again.
    if (!roleUsable(record, record.role)) throw errors.unauthenticated('DEVICE_TOKEN_REVOKED', `the device token of ${principal} was revoked; it must be approved again`, { deviceId: principal });
    return {
      kind: 'device',
      deviceId: record.id,
      label: record.label,
      role: record.role,
      scopes: narrowed ? intersectScopes(asked, record.scopes) : record.scopes,
      via: bridge.deviceId,
      certDeviceId: bridge.deviceId,
      peer: bridge.peer,
    };
  };

  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, mdNext) => {
            let caller: Caller;
            try {
              caller = decide(method.path, call, metadata);
            } catch (err) {
              const e = err instanceof GatewayError ? err : errors.internal('AUTH_FAILED', 'authentication failed', err);
              audit(deps.log, 'call.deny', { method: method.path, deviceId: (e.details.deviceId as string) ?? undefined, reason: e.reason, message: e.message, peer: peerOf(call.getPeer()), allowed: false });
              deps.onDeny?.(e.reason);
              call.sendStatus(toGrpcStatus(e));
              return;
            }
            if (caller.kind === 'device') {
              const key = `${caller.deviceId}:${caller.via ?? ''}`;
              if (!allowedOnce.has(key)) {
                allowedOnce.add(key);
                if (allowedOnce.size > 100_000) allowedOnce.clear();
                audit(deps.log, 'call.allow', { method: method.path, deviceId: caller.deviceId, via: caller.via, role: caller.role, allowed: true, first: true });
              }
              deps.presence.touch({ deviceId: caller.deviceId, label: caller.label, role: caller.role, transport: caller.via ? 'ws-bridge' : 'grpc' });
            }
            attachCaller(metadata, caller);
            mdNext(metadata);
          },
        });
      },
    });
}
