import { create } from '@bufbuild/protobuf';
import {
  DeviceSchema,
  LegacyDeviceInfoSchema,
  PairingRequestSchema,
  PairingState,
  BootstrapTokenSchema,
  type Device,
  type LegacyDeviceInfo,
  type PairingRequest,
  type BootstrapToken,
  type DeviceService,
  type PairingService as PairingServiceDesc,
  type LegacyAuthService,
} from '../../../../gen/openclaw/devices/v1/devices_pb';
import { errors } from '../../../../errors';
import { certIdentity, scopeSatisfied, verifyCsr, type DeviceRegistry } from '../../../../identity';
import type { DeviceRecord, LegacyDeviceData } from '../../../../store/device-store';
import type { PairingService, PairingState as DomainState, PendingRequest } from '../../../../services/pairing/pairing-service';
import type { BootstrapTokens, BootstrapTokenInfo } from '../../../../services/pairing/bootstrap-tokens';
import type { LegacyDevices, TokenManager } from '../../../../services/pairing/legacy-devices';
import type { ExpiredRenewal } from '../../../../services/pairing/expired-renewal';
import { rateKeyOf } from '../../../../services/pairing/rate-key';
import type { ServiceImpl } from '../../service-definition';
import { actorOf, type Caller } from '../caller';
import { serverStream, unary, type HandlerContext } from '../handler-kit';
import type { PresenceTracker } from '../../../../services/presence/presence-tracker';

const STATE: Record<DomainState, PairingState> = {
  pending: PairingState.PENDING,
  approved: PairingState.APPROVED,
  rejected: PairingState.REJECTED,
  expired: PairingState.EXPIRED,
};

/** Maps a device record to its proto message. */
export function deviceToProto(d: DeviceRecord, presence?: PresenceTracker): Device {
  return create(DeviceSchema, {
    deviceId: d.id,
    label: d.label,
    role: d.role,
    scopes: d.scopes,
    status: d.status,
    serial: d.cert?.serial ?? '',
    notBeforeMs: BigInt(d.cert?.notBefore ?? 0),
    notAfterMs: BigInt(d.cert?.notAfter ?? 0),
    createdAtMs: BigInt(d.createdAt),
    approvedAtMs: BigInt(d.approvedAt ?? 0),
    revokedAtMs: BigInt(d.revokedAt ?? 0),
    revokeReason: d.revokeReason ?? '',
    source: d.source,
    connected: presence?.isConnected(d.id) ?? false,
    legacy: d.legacy ? legacyInfoToProto(d.legacy) : undefined,
  });
}

function legacyInfoToProto(l: LegacyDeviceData): LegacyDeviceInfo {
  return create(LegacyDeviceInfoSchema, {
    publicKey: l.publicKey,
    platform: l.platform ?? '',
    deviceFamily: l.deviceFamily ?? '',
    clientId: l.clientId ?? '',
    clientMode: l.clientMode ?? '',
    remoteIp: l.remoteIp ?? '',
    lastSeenAtMs: BigInt(l.lastSeenAt ?? 0),
    lastSeenReason: l.lastSeenReason ?? '',
    tokens: Object.entries(l.tokens ?? {}).map(([role, t]) => ({
      role,
      scopes: t.scopes,
      createdAtMs: BigInt(t.createdAt),
      rotatedAtMs: BigInt(t.rotatedAt ?? 0),
      revokedAtMs: BigInt(t.revokedAt ?? 0),
      lastUsedAtMs: BigInt(t.lastUsedAt ?? 0),
    })),
  });
}

function requestToProto(r: PendingRequest): PairingRequest {
  return create(PairingRequestSchema, {
    requestId: r.requestId,
    deviceId: r.deviceId,
    label: r.label,
    role: r.role,
    scopes: r.scopes,
    verificationCode: r.verificationCode,
    createdAtMs: BigInt(r.createdAt),
    expiresAtMs: BigInt(r.expiresAt),
    kind: r.kind,
    clientInfo: r.clientInfo,
    legacy: r.legacyPublicKey
      ? {
          publicKey: r.legacyPublicKey,
          platform: r.legacyClient?.platform ?? '',
          deviceFamily: r.legacyClient?.deviceFamily ?? '',
          clientId: r.legacyClient?.clientId ?? '',
          clientMode: r.legacyClient?.clientMode ?? '',
          remoteIp: r.legacyClient?.remoteIp ?? '',
          isRepair: r.legacyClient?.isRepair === true || r.kind === 'upgrade',
        }
      : undefined,
  });
}

function tokenToProto(t: BootstrapTokenInfo): BootstrapToken {
  return create(BootstrapTokenSchema, {
    tokenId: t.tokenId,
    label: t.label,
    role: t.role,
    scopes: t.scopes,
    createdAtMs: BigInt(t.createdAt),
    expiresAtMs: BigInt(t.expiresAt),
    usesLeft: t.usesLeft,
    revoked: t.revoked,
  });
}

/** Dependencies of the device-related handlers. */
export interface DeviceHandlerDeps {
  registry: DeviceRegistry;
  pairing: PairingService;
  tokens: BootstrapTokens;
  legacy: LegacyDevices;
  expiredRenewal: ExpiredRenewal;
}

/** PairingService: the only RPCs callable without a client certificate. */
export function pairingHandlers(ctx: HandlerContext, deps: DeviceHandlerDeps): ServiceImpl<typeof PairingServiceDesc> {
  return {
    submitCsr: unary(ctx, async (req, caller) => {
      const out = await deps.pairing.submitCsr({ csrPem: req.csrPem, label: req.label, role: req.role, scopes: req.scopes, bootstrapToken: req.bootstrapToken || undefined, peer: rateKeyOf(caller.peer) });
      return {
        requestId: out.request.requestId,
        deviceId: out.request.deviceId,
        verificationCode: out.request.verificationCode,
        state: STATE[out.state],
        expiresAtMs: BigInt(out.request.expiresAt),
        certPem: out.certPem ?? '',
        caPem: out.caPem ?? '',
        requestSecret: out.secret ?? '',
      };
    }),
    watchPairing: serverStream(ctx, async (req, _caller, sink) => {
      let decided!: () => void;
      const final = new Promise<void>((resolve) => (decided = resolve));
      const stop = await deps.pairing.watch(req.requestId, req.requestSecret, (o) => {
        sink.write({ state: STATE[o.state], deviceId: o.deviceId, certPem: o.certPem ?? '', caPem: o.caPem ?? '', scopes: o.scopes ?? [], reason: o.reason ?? '' });
        if (o.state !== 'pending') decided();
      });
      await Promise.race([final, sink.closed]);
      stop();
      sink.end();
    }),
    getCaBundle: unary(ctx, () => ({ caPem: deps.registry.ca.certPem, fingerprintSha256: deps.registry.ca.fingerprint, trustDomain: deps.registry.ca.trustDomain })),
    beginExpiredRenewal: unary(ctx, async (req, caller) => {
      const c = await deps.expiredRenewal.begin({ certPem: req.certPem, peer: rateKeyOf(caller.peer) });
      return { challengeId: c.challengeId, nonce: c.nonce, expiresAtMs: BigInt(c.expiresAt) };
    }),
    renewExpiredCertificate: unary(ctx, async (req, caller) => {
      const out = await deps.expiredRenewal.complete({ certPem: req.certPem, challengeId: req.challengeId, signature: req.signature, peer: rateKeyOf(caller.peer) });
      return { certPem: out.certPem, caPem: deps.registry.ca.certPem };
    }),
  };
}

/** DeviceService: operators manage devices; every device renews its own certificate. */
export function deviceHandlers(ctx: HandlerContext, deps: DeviceHandlerDeps): ServiceImpl<typeof DeviceService> {
  return {
    listDevices: unary(ctx, (req) => ({
      devices: deps.registry.list({ includeRevoked: req.includeRevoked }).map((d) => deviceToProto(d, ctx.presence)),
      pending: deps.pairing.list().map(requestToProto),
    })),
    approvePairing: unary(ctx, async (req, caller) => {
      // Checked by the service on the committed request (it may have been submitted through another replica a moment ago).
      const authorize = (pending: PendingRequest, granted: readonly string[]) => {
        if (pending.role !== 'operator' && !scopeSatisfied(caller.scopes, 'operator.admin')) {
          throw errors.denied('MISSING_SCOPE', `missing scope: operator.admin (approving a ${pending.role} device)`, { missingScope: 'operator.admin' });
        }
        // An approver cannot hand out rights it does not hold itself.
        const beyond = granted.find((s) => !scopeSatisfied(caller.scopes, s));
        if (beyond) throw errors.denied('MISSING_SCOPE', `missing scope: ${beyond} (cannot grant a scope you do not hold)`, { missingScope: beyond });
      };
      return { device: deviceToProto(await deps.pairing.approve(req.requestId, { scopes: req.scopes, actor: actorOf(caller), authorize })) };
    }),
    rejectPairing: unary(ctx, async (req, caller) => {
      await deps.pairing.reject(req.requestId, { reason: req.reason, actor: actorOf(caller) });
      return {};
    }),
    revokeDevice: unary(ctx, async (req, caller) => {
      const target = deps.registry.resolve(req.deviceId);
      if (target.role !== 'operator' && !caller.scopes.includes('operator.admin')) {
        throw errors.denied('MISSING_SCOPE', `missing scope: operator.admin (revoking a ${target.role} device)`, { missingScope: 'operator.admin' });
      }
      return { device: deviceToProto(await deps.registry.revoke(target.id, req.reason || 'revoked by operator', actorOf(caller))) };
    }),
    renameDevice: unary(ctx, async (req, caller) => ({ device: deviceToProto(await deps.registry.rename(req.deviceId, req.label, actorOf(caller))) })),
    renewCertificate: unary(ctx, async (req, _caller, call) => {
      const cert = call.getAuthContext().sslPeerCertificate;
      if (!cert) throw errors.unauthenticated('NO_CLIENT_CERT', 'renewal needs the current certificate');
      const csr = verifyCsr(req.csrPem);
      const out = await deps.registry.renew(certIdentity(cert.raw), csr.publicKeyPem);
      return { certPem: out.certPem, caPem: deps.registry.ca.certPem, device: deviceToProto(out.device) };
    }),
    createBootstrapToken: unary(ctx, async (req) => {
      const out = await deps.tokens.create({ label: req.label, role: req.role || 'operator', scopes: req.scopes, ttlMs: Number(req.ttlMs) || 3600_000, uses: req.uses || 1 });
      return { token: out.token, info: tokenToProto(out.info) };
    }),
    listBootstrapTokens: unary(ctx, () => ({ tokens: deps.tokens.list().map(tokenToProto) })),
    revokeBootstrapToken: unary(ctx, async (req) => ({ token: tokenToProto(await deps.tokens.revoke(req.tokenId)) })),
    exportCrl: unary(ctx, () => {
      const revoked = deps.registry
        .list({ includeRevoked: true })
        .flatMap((d) => [
          ...(d.status === 'revoked' && d.cert ? [{ serial: d.cert.serial, revokedAt: d.revokedAt ?? d.createdAt }] : []),
          ...d.previousSerials.map((serial) => ({ serial, revokedAt: d.cert?.issuedAt ?? d.createdAt })),
        ]);
      return { crlPem: deps.registry.ca.createCrl(revoked, ctx.clock.now()) };
    }),
    rotateLegacyDeviceToken: unary(ctx, async (req, caller) => {
      const out = await deps.legacy.rotateToken({ deviceId: req.deviceId, role: req.role, scopes: req.scopes, deliver: req.viaDeviceToken, caller: tokenManager(caller, req.viaDeviceToken) });
      // Its open streams end here once this answer is on its way (the device itself may be the caller), and within a sweep on the other replicas.
      setImmediate(() => ctx.streams.cancelDevice(out.deviceId, `device token of ${out.deviceId} was rotated; connect again`, 'DEVICE_TOKEN_ROTATED'));
      return { deviceId: out.deviceId, role: out.role, scopes: out.scopes, rotatedAtMs: BigInt(out.rotatedAt), token: out.token ?? '' };
    }),
    revokeLegacyDeviceToken: unary(ctx, async (req, caller) => {
      const out = await deps.legacy.revokeToken({ deviceId: req.deviceId, role: req.role, caller: tokenManager(caller, req.viaDeviceToken) });
      setImmediate(() => ctx.streams.cancelDevice(out.deviceId, `device token of ${out.deviceId} was revoked; it must be approved again`, 'DEVICE_TOKEN_REVOKED'));
      return { deviceId: out.deviceId, role: out.role, revokedAtMs: BigInt(out.revokedAt) };
    }),
    whoAmI: unary(ctx, (_req, caller) => {
      const own = deps.registry.get(caller.certDeviceId ?? caller.deviceId);
      return { device: own ? deviceToProto(own, ctx.presence) : undefined, principalDeviceId: caller.via ? caller.deviceId : '' };
    }),
  };
}

/** Who manages a device token: the bridge says whether its principal connected with its own device token. */
function tokenManager(caller: Caller, viaOwnDeviceToken: boolean): TokenManager {
  return { deviceId: caller.deviceId, scopes: caller.scopes, viaOwnDeviceToken: viaOwnDeviceToken && caller.via !== undefined, actor: actorOf(caller) };
}

/** LegacyAuthService: the bridge asks the gateway about legacy devices and tokens. */
export function legacyAuthHandlers(ctx: HandlerContext, deps: DeviceHandlerDeps): ServiceImpl<typeof LegacyAuthService> {
  return {
    authorizeLegacyDevice: unary(ctx, async (req) => {
      const out = await deps.legacy.authorize({
        deviceId: req.deviceId,
        publicKey: req.publicKey,
        role: req.role,
        scopes: req.scopes,
        displayName: req.displayName,
        clientInfo: [req.clientId, req.clientMode, req.platform].filter(Boolean).join('/'),
        client: { platform: req.platform, deviceFamily: req.deviceFamily, clientId: req.clientId, clientMode: req.clientMode, remoteIp: req.remoteIp },
        sharedSecretOk: req.sharedSecretOk,
        deviceToken: req.deviceToken || undefined,
      });
      return {
        approved: out.approved,
        requestId: out.requestId ?? '',
        reason: out.reason ?? '',
        role: out.role,
        scopes: out.scopes,
        deviceToken: out.deviceToken ?? '',
        deviceTokenIssuedAtMs: BigInt(out.issuedAt ?? 0),
        authMethod: out.method ?? '',
        authFailure: out.authFailure ?? '',
        approvedRoles: out.approvedRoles ?? [],
        approvedScopes: out.approvedScopes ?? [],
      };
    }),
    verifyDeviceToken: unary(ctx, (req) => {
      const v = deps.legacy.verifyToken(req.deviceToken, req.deviceId);
      return { valid: v.valid, deviceId: v.deviceId ?? '', role: v.role ?? '', scopes: v.scopes ?? [] };
    }),
  };
}
