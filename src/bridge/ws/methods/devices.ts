import { DeviceService, type Device, type PairingRequest } from '../../../gen/openclaw/devices/v1/devices_pb';
import { GatewayError } from '../../../errors';
import { unaryCall } from '../../../transport/grpc/client/gateway-connection';
import { legacyErrors } from '../legacy-errors';
import { ms, msOrUndefined, Params } from './params';
import type { LegacyMethod, MethodContext } from './types';

/**
 * A pending request as the legacy gateway lists it (and sends it in
 * `device.pair.requested`): requestId, deviceId, publicKey, displayName, platform,
 * clientId, clientMode, role, roles, scopes, remoteIp, silent, isRepair, ts; plus this
 * gateway's verificationCode, kind and expiresAtMs. Client fields exist for legacy
 * devices only (a certificate request has no raw Ed25519 key).
 */
function pendingRow(r: PairingRequest): Record<string, unknown> {
  const l = r.legacy;
  return {
    requestId: r.requestId,
    deviceId: r.deviceId,
    ...(l?.publicKey ? { publicKey: l.publicKey } : {}),
    displayName: r.label,
    ...(l?.platform ? { platform: l.platform } : {}),
    ...(l?.clientId ? { clientId: l.clientId } : {}),
    ...(l?.clientMode ? { clientMode: l.clientMode } : {}),
    role: r.role,
    roles: [r.role],
    scopes: r.scopes,
    ...(l?.remoteIp ? { remoteIp: l.remoteIp } : {}),
    silent: false,
    isRepair: l?.isRepair === true || r.kind === 'upgrade',
    ts: ms(r.createdAtMs),
    verificationCode: r.verificationCode,
    kind: r.kind,
    expiresAtMs: ms(r.expiresAtMs),
  };
}

/**
 * A paired device as the legacy gateway lists it: deviceId, publicKey, displayName,
 * platform, clientId, clientMode, role, roles, scopes, remoteIp, approvedVia,
 * createdAtMs, approvedAtMs, lastSeenAtMs, lastSeenReason, connected, tokens (never the
 * secrets); plus this gateway's status and source. Devices with certificates list what
 * applies to them.
 */
function pairedRow(d: Device): Record<string, unknown> {
  const l = d.legacy;
  return {
    deviceId: d.deviceId,
    ...(l?.publicKey ? { publicKey: l.publicKey } : {}),
    displayName: d.label,
    ...(l?.platform ? { platform: l.platform } : {}),
    ...(l?.clientId ? { clientId: l.clientId } : {}),
    ...(l?.clientMode ? { clientMode: l.clientMode } : {}),
    role: d.role,
    roles: [d.role],
    scopes: d.scopes,
    ...(l?.remoteIp ? { remoteIp: l.remoteIp } : {}),
    // Every device here was approved by an operator (or provisioned, or by an invite): never silently.
    approvedVia: d.source === 'legacy' || d.source === 'paired' ? 'owner' : d.source,
    createdAtMs: ms(d.createdAtMs),
    approvedAtMs: msOrUndefined(d.approvedAtMs),
    ...(l && l.lastSeenAtMs > 0n ? { lastSeenAtMs: ms(l.lastSeenAtMs), lastSeenReason: l.lastSeenReason } : {}),
    connected: d.connected,
    tokens: (l?.tokens ?? []).map((t) => ({
      role: t.role,
      scopes: t.scopes,
      createdAtMs: ms(t.createdAtMs),
      rotatedAtMs: msOrUndefined(t.rotatedAtMs),
      revokedAtMs: msOrUndefined(t.revokedAtMs),
      lastUsedAtMs: msOrUndefined(t.lastUsedAtMs),
    })),
    status: d.status,
    source: d.source,
    revokedAtMs: msOrUndefined(d.revokedAtMs),
  };
}

function devices(ctx: MethodContext) {
  return ctx.gateway.client(DeviceService);
}

/** Runs a gateway call, turning the refusals the legacy gateway words in its own way into its words. */
async function worded<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    switch (err.reason) {
      case 'PAIRING_REQUEST_NOT_FOUND':
        throw legacyErrors.invalidRequest('unknown requestId');
      case 'DEVICE_NOT_FOUND':
        throw legacyErrors.invalidRequest('unknown deviceId');
      case 'DEVICE_TOKEN_ROTATION_DENIED':
        throw legacyErrors.invalidRequest('device token rotation denied');
      case 'DEVICE_TOKEN_REVOCATION_DENIED':
        throw legacyErrors.invalidRequest('device token revocation denied');
      default:
        throw err;
    }
  }
}

/** Whether this connection is a device on its own device token (the legacy gateway's "device session"). */
function viaDeviceToken(ctx: MethodContext): boolean {
  return ctx.principal.method === 'device-token' && ctx.principal.deviceId !== undefined;
}

/**
 * `device.token.rotate {deviceId, role, scopes?}`: a new token for that device and role.
 * The device itself, on a connection made with its device token, gets it in the answer
 * (`tokenDelivery: "in-band"`); anyone else (an operator, or the device on a
 * shared-token connection) gets `withheld-cross-device`: the device picks the new token
 * up at its next hello. Every connection of the device is then closed (4001).
 */
async function rotateToken(ctx: MethodContext): Promise<unknown> {
  const p = Params.of(ctx.method, ctx.params);
  const deviceId = p.need('deviceId');
  const c = devices(ctx);
  const res = await worded(unaryCall(c, c.rotateLegacyDeviceToken, { deviceId, role: p.str('role') ?? 'operator', scopes: p.strings('scopes') ?? [], viaDeviceToken: viaDeviceToken(ctx) }, ctx.call));
  ctx.afterAnswer(() => ctx.disconnectDevice(res.deviceId));
  return {
    deviceId: res.deviceId,
    role: res.role,
    ...(res.token ? { token: res.token } : {}),
    scopes: res.scopes,
    rotatedAtMs: ms(res.rotatedAtMs),
    tokenDelivery: res.token ? 'in-band' : 'withheld-cross-device',
  };
}

/** `device.token.revoke {deviceId, role}`: that role's token only; the device stays paired and must be approved again to connect. */
async function revokeToken(ctx: MethodContext): Promise<unknown> {
  const p = Params.of(ctx.method, ctx.params);
  const c = devices(ctx);
  const res = await worded(unaryCall(c, c.revokeLegacyDeviceToken, { deviceId: p.need('deviceId'), role: p.str('role') ?? 'operator', viaDeviceToken: viaDeviceToken(ctx) }, ctx.call));
  ctx.afterAnswer(() => ctx.disconnectDevice(res.deviceId));
  return { deviceId: res.deviceId, role: res.role, revokedAtMs: ms(res.revokedAtMs) };
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
      const res = await worded(unaryCall(c, c.approvePairing, { requestId, scopes: p.strings('scopes') ?? [] }, ctx.call));
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
      const pending = (await unaryCall(c, c.listDevices, { includeRevoked: false }, ctx.call)).pending.find((r) => r.requestId === requestId);
      await worded(unaryCall(c, c.rejectPairing, { requestId, reason: p.str('reason') ?? '' }, ctx.call));
      return { requestId, deviceId: pending?.deviceId };
    },
  },
  {
    method: 'device.pair.remove',
    scope: 'operator.pairing',
    handler: async (ctx) => {
      const deviceId = Params.of(ctx.method, ctx.params).need('deviceId');
      const c = devices(ctx);
      const res = await worded(unaryCall(c, c.revokeDevice, { deviceId, reason: 'removed by operator (device.pair.remove)' }, ctx.call));
      const removed = res.device?.deviceId ?? deviceId;
      ctx.afterAnswer(() => ctx.disconnectDevice(removed));
      return { deviceId: removed };
    },
  },
  {
    method: 'device.pair.rename',
    scope: 'operator.pairing',
    handler: async (ctx) => {
      const p = Params.of(ctx.method, ctx.params);
      const c = devices(ctx);
      const res = await worded(unaryCall(c, c.renameDevice, { deviceId: p.need('deviceId'), label: p.need('displayName', 'name', 'label') }, ctx.call));
      return { device: res.device ? pairedRow(res.device) : undefined };
    },
  },
  { method: 'device.token.rotate', scope: 'operator.pairing', handler: rotateToken },
  { method: 'device.token.revoke', scope: 'operator.pairing', handler: revokeToken },
];
