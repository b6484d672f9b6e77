import { DeviceService, LegacyAuthService, type Device, type PairingRequest } from '../../../gen/openclaw/devices/v1/devices_pb';
import { unaryCall } from '../../../transport/grpc/client/gateway-connection';
import { legacyErrors } from '../legacy-errors';
import { ms, msOrUndefined, Params } from './params';
import type { LegacyMethod, MethodContext } from './types';

function pendingRow(r: PairingRequest): Record<string, unknown> {
  return {
    requestId: r.requestId,
    deviceId: r.deviceId,
    displayName: r.label,
    role: r.role,
    roles: [r.role],
    scopes: r.scopes,
    verificationCode: r.verificationCode,
    kind: r.kind,
    clientInfo: r.clientInfo,
    ts: ms(r.createdAtMs),
    expiresAtMs: ms(r.expiresAtMs),
  };
}

function pairedRow(d: Device): Record<string, unknown> {
  return {
    deviceId: d.deviceId,
    displayName: d.label,
    role: d.role,
    roles: [d.role],
    scopes: d.scopes,
    status: d.status,
    source: d.source,
    connected: d.connected,
    createdAtMs: ms(d.createdAtMs),
    approvedAtMs: msOrUndefined(d.approvedAtMs),
    revokedAtMs: msOrUndefined(d.revokedAtMs),
  };
}

function devices(ctx: MethodContext) {
  return ctx.gateway.client(DeviceService);
}

/**
 * `device.token.rotate`: a legacy device token is rotated by the gateway whenever the
 * device proves its key. The bridge can do that only for the device that proved its
 * key on this very connection; rotating another device's token has no gRPC
 * counterpart (that device rotates its token by reconnecting).
 */
async function rotateToken(ctx: MethodContext): Promise<unknown> {
  const p = Params.of(ctx.method, ctx.params);
  const deviceId = p.need('deviceId');
  const me = ctx.principal;
  if (me.deviceId !== deviceId || !me.publicKey) {
    throw legacyErrors.invalidRequest('device.token.rotate: only the device connected on this socket, signed with its device key, can rotate its token here', { code: 'UNSUPPORTED' });
  }
  const c = ctx.gateway.client(LegacyAuthService);
  // The bridge's own authority, as in the handshake: the key was proven on this connection.
  const res = await unaryCall(c, c.authorizeLegacyDevice, { deviceId, publicKey: me.publicKey, role: me.role, scopes: me.scopes }, { timeoutMs: ctx.call.timeoutMs });
  if (!res.approved) throw legacyErrors.invalidRequest('device.token.rotate: the device is no longer approved', { code: 'PAIRING_REQUIRED', requestId: res.requestId });
  return { deviceId, role: res.role, token: res.deviceToken, scopes: res.scopes, rotatedAtMs: ctx.clock.now() };
}

/** device.pair.list/approve/reject/remove/rename, device.token.rotate/revoke. */
export const DEVICE_METHODS: readonly LegacyMethod[] = [
  {
    method: 'device.pair.list',
    scope: 'operator.pairing',
    handler: async (ctx) => {
      const c = devices(ctx);
      const res = await unaryCall(c, c.listDevices, { includeRevoked: false }, ctx.call);
      return { pending: res.pending.map(pendingRow), paired: res.devices.map(pairedRow) };
    },
  },
  {
    method: 'device.pair.approve',
    scope: 'operator.pairing',
    handler: async (ctx) => {
      const p = Params.of(ctx.method, ctx.params);
      const requestId = p.need('requestId');
      const c = devices(ctx);
      const res = await unaryCall(c, c.approvePairing, { requestId, scopes: p.strings('scopes') ?? [] }, ctx.call);
      return { requestId, device: res.device ? pairedRow(res.device) : undefined };
    },
  },
  {
    method: 'device.pair.reject',
    scope: 'operator.pairing',
    handler: async (ctx) => {
      const p = Params.of(ctx.method, ctx.params);
      const requestId = p.need('requestId');
      const c = devices(ctx);
      await unaryCall(c, c.rejectPairing, { requestId, reason: p.str('reason') ?? '' }, ctx.call);
      return { requestId, rejected: true };
    },
  },
  {
    method: 'device.pair.remove',
    scope: 'operator.pairing',
    handler: async (ctx) => {
      const deviceId = Params.of(ctx.method, ctx.params).need('deviceId');
      const c = devices(ctx);
      await unaryCall(c, c.revokeDevice, { deviceId, reason: 'removed by operator (device.pair.remove)' }, ctx.call);
      return { deviceId, removed: true };
    },
  },
  {
    method: 'device.pair.rename',
    scope: 'operator.pairing',
    handler: async (ctx) => {
      const p = Params.of(ctx.method, ctx.params);
      const c = devices(ctx);
      const res = await unaryCall(c, c.renameDevice, { deviceId: p.need('deviceId'), label: p.need('displayName', 'name', 'label') }, ctx.call);
      return { device: res.device ? pairedRow(res.device) : undefined };
    },
  },
  { method: 'device.token.rotate', scope: 'operator.pairing', handler: rotateToken },
  {
    // This gateway has one credential per legacy device: revoking its token revokes the
    // device (it must pair again), which is the safe reading of the legacy call.
    method: 'device.token.revoke',
    scope: 'operator.pairing',
    handler: async (ctx) => {
      const deviceId = Params.of(ctx.method, ctx.params).need('deviceId');
      const c = devices(ctx);
      const res = await unaryCall(c, c.revokeDevice, { deviceId, reason: 'device token revoked (device.token.revoke)' }, ctx.call);
      return { deviceId, revokedAtMs: res.device ? ms(res.device.revokedAtMs) : ctx.clock.now(), deviceRevoked: true };
    },
  },
];
