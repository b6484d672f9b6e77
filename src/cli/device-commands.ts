/**
 * devices list|approve|reject|revoke|rename and tokens create|list|revoke.
 *
 * --json prints the RPC response as protobuf JSON: devices list -> ListDevicesResponse
 * ({ devices, pending }), approve/revoke/rename -> { device }, reject -> {},
 * tokens create -> { token, info }, tokens list -> { tokens }, tokens revoke -> { token },
 * devices invite -> { invite, tokenId, expiresAt, usesLeft, role, scopes, addresses, caFingerprint }.
 */
import {
  ApprovePairingResponseSchema,
  CreateBootstrapTokenResponseSchema,
  DeviceService,
  ListBootstrapTokensResponseSchema,
  ListDevicesResponseSchema,
  RejectPairingResponseSchema,
  RenameDeviceResponseSchema,
  RevokeBootstrapTokenResponseSchema,
  RevokeDeviceResponseSchema,
  type Device,
} from '../gen/openclaw/devices/v1/devices_pb';
import { errors } from '../errors';
import { certificateFingerprint } from '../identity/device-id';
import { parseRole } from '../identity/roles';
import type { CliContext } from './cli-context';
import type { GatewayConnection } from '../transport/grpc/client/gateway-connection';
import { isoTime, relativeTime, shortId } from './output';
import { parseDuration, splitList, wholeNumber } from './args';
import { protoJson } from './proto-json';
import { encodeInvite, inviteNameProblem, normalizeAddress, printInviteQr, INVITE_OPERATOR_SCOPES, MAX_INVITE_ADDRESSES } from './invite';

const CODE_PATTERN = /^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$/i;

/** `devices list`: pending requests (with their verification codes) first, then devices. */
export async function devicesList(ctx: CliContext, o: { all?: boolean }): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(DeviceService.method.listDevices, { includeRevoked: Boolean(o.all) });
  const now = ctx.now();
  ctx.out.result(
    () => protoJson(ListDevicesResponseSchema, res),
    () => {
      const parts: string[] = [];
      if (res.pending.length > 0) {
        parts.push(ctx.out.paint('bold', `Pending pairing requests (${res.pending.length}):`));
        parts.push(
          ctx.out.table(
            ['REQUEST', 'CODE', 'NAME', 'ROLE', 'KIND', 'EXPIRES', 'SCOPES'],
            res.pending.map((p) => [p.requestId, ctx.out.paint('yellow', p.verificationCode), p.label, p.role, p.kind, relativeTime(p.expiresAtMs, now), p.scopes.join(',') || '(none)']),
            '',
          ),
        );
        parts.push('Check that the code matches the one shown on the device, then: openclaw-cli devices approve <REQUEST>', '');
      }
      parts.push(
        ctx.out.table(
          ['DEVICE', 'NAME', 'ROLE', 'STATUS', 'SOURCE', 'ONLINE', 'EXPIRES', 'SCOPES'],
          res.devices.map((d) => [shortId(d.deviceId, 16), d.label, d.role, d.status, d.source, d.connected ? 'yes' : 'no', isoTime(d.notAfterMs), d.scopes.join(',') || '(none)']),
          'No devices.',
        ),
      );
      return parts.join('\n');
    },
  );
}

/** Accepts a request id, or a verification code that names exactly one pending request. */
async function requestIdOf(conn: GatewayConnection, idOrCode: string): Promise<string> {
  if (!CODE_PATTERN.test(idOrCode)) return idOrCode;
  const res = await conn.unary(DeviceService.method.listDevices, {});
  if (res.pending.some((p) => p.requestId === idOrCode)) return idOrCode;
  const matches = res.pending.filter((p) => p.verificationCode.toUpperCase() === idOrCode.toUpperCase());
  if (matches.length === 1) return matches[0].requestId;
  if (matches.length > 1) throw errors.invalid('CODE_AMBIGUOUS', `${matches.length} pending requests show code ${idOrCode}; approve by request id`);
  return idOrCode;
}

function deviceSummary(d: Device | undefined): string {
  if (!d) return '';
  return `${d.label} (${d.role}, device ${d.deviceId}), scopes ${d.scopes.join(', ') || '(none)'}`;
}

/** `devices approve <request>` */
export async function devicesApprove(ctx: CliContext, idOrCode: string, o: { scopes?: string }): Promise<void> {
  const conn = await ctx.connect();
  const requestId = await requestIdOf(conn, idOrCode);
  const res = await conn.unary(DeviceService.method.approvePairing, { requestId, scopes: splitList(o.scopes) });
  ctx.out.result(
    () => protoJson(ApprovePairingResponseSchema, res),
    () => `Approved ${deviceSummary(res.device)}; certificate valid until ${isoTime(res.device?.notAfterMs)}`,
  );
}

/** `devices reject <request>` */
export async function devicesReject(ctx: CliContext, idOrCode: string, o: { reason?: string }): Promise<void> {
  const conn = await ctx.connect();
  const requestId = await requestIdOf(conn, idOrCode);
  const res = await conn.unary(DeviceService.method.rejectPairing, { requestId, reason: o.reason ?? '' });
  ctx.out.result(
    () => protoJson(RejectPairingResponseSchema, res),
    () => `Rejected pairing request ${requestId}`,
  );
}

/** `devices revoke <device>` */
export async function devicesRevoke(ctx: CliContext, device: string, o: { reason?: string }): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(DeviceService.method.revokeDevice, { deviceId: device, reason: o.reason ?? '' });
  ctx.out.result(
    () => protoJson(RevokeDeviceResponseSchema, res),
    () => `Revoked ${deviceSummary(res.device)}; its certificate and open streams are cut off`,
  );
}

/** `devices rename <device> <name>` */
export async function devicesRename(ctx: CliContext, device: string, label: string): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(DeviceService.method.renameDevice, { deviceId: device, label });
  ctx.out.result(
    () => protoJson(RenameDeviceResponseSchema, res),
    () => `Renamed device ${res.device?.deviceId} to "${res.device?.label}"`,
  );
}

/** `tokens create`: the secret is shown once, with the pair command that uses it. */
export async function tokensCreate(ctx: CliContext, o: { name?: string; role?: string; scopes?: string; ttl?: string; uses?: string }): Promise<void> {
  const ttlMs = o.ttl ? parseDuration(o.ttl, '--ttl') : 0;
  const uses = wholeNumber(o.uses, '--uses') ?? 0;
  const conn = await ctx.connect();
  const res = await conn.unary(DeviceService.method.createBootstrapToken, { label: o.name ?? '', role: o.role ?? '', scopes: splitList(o.scopes), ttlMs: BigInt(ttlMs), uses });
  const fp = certificateFingerprint(ctx.certs().caPem);
  ctx.out.result(
    () => protoJson(CreateBootstrapTokenResponseSchema, res),
    () =>
      [
        ctx.out.fields([
          ['token', res.token],
          ['id', res.info?.tokenId ?? '-'],
          ['role', res.info?.role ?? '-'],
          ['scopes', res.info?.scopes.join(', ') || '(role defaults)'],
          ['uses', String(res.info?.usesLeft ?? '-')],
          ['expires', isoTime(res.info?.expiresAtMs)],
        ]),
        '',
        'The token is shown only once. On the new device run:',
        `  openclaw-cli pair --gateway ${conn.target.address} --ca-fingerprint SHA256:${fp} --token ${res.token}${tokenGrant(res.info)} --out <dir>`,
      ].join('\n'),
  );
}

/** The --role/--scopes a device must ask for to be approved by the token. */
function tokenGrant(info: { role: string; scopes: string[] } | undefined): string {
  if (!info) return '';
  return `${info.role && info.role !== 'operator' ? ` --role ${info.role}` : ''}${info.scopes.length ? ` --scopes ${info.scopes.join(',')}` : ''}`;
}

/** Options of `devices invite`. */
export interface InviteOptions {
  name: string;
  role?: string;
  scopes?: string;
  ttl?: string;
  uses?: string;
  /** Gateway addresses to put in the invite (repeatable); default: the one this CLI uses. */
  address?: string[];
}

/**
 * `devices invite`: a bootstrap token plus where the gateway is and which CA to pin, as
 * one string (and a QR code on a terminal) for `openclaw-cli pair --invite`.
 */
export async function devicesInvite(ctx: CliContext, o: InviteOptions): Promise<void> {
  const name = (o.name ?? '').trim();
  const nameProblem = inviteNameProblem(name);
  if (nameProblem) throw errors.invalid('BAD_NAME', `--name: the device name ${nameProblem}`);
  const ttlMs = parseDuration(o.ttl ?? '10m', '--ttl');
  const uses = wholeNumber(o.uses ?? '1', '--uses')!;
  if (uses < 1) throw errors.invalid('BAD_NUMBER', '--uses: an invite must admit at least 1 device');
  const role = parseRole(o.role ?? 'operator');
  // Least privilege by default: an operator invite grants read/write only. Other roles send
  // no scopes, which the gateway reads as that role's defaults.
  const scopes = o.scopes !== undefined ? splitList(o.scopes) : role === 'operator' ? [...INVITE_OPERATOR_SCOPES] : [];
  const own = ctx.target();
  const given = o.address?.length ? o.address : [own.address];
  const addresses = [
    ...new Set(
      given.map((a) => {
        const n = normalizeAddress(a, own.port);
        if (!n) throw errors.invalid('BAD_ADDRESS', `--address: "${a}" is not HOST:PORT (IPv6 as [addr]:PORT)`);
        return n;
      }),
    ),
  ];
  if (addresses.length > MAX_INVITE_ADDRESSES) throw errors.invalid('BAD_ADDRESS', `--address: at most ${MAX_INVITE_ADDRESSES} addresses fit in an invite`);
  const fingerprint = certificateFingerprint(ctx.certs().caPem);
  const conn = await ctx.connect();
  const res = await conn.unary(DeviceService.method.createBootstrapToken, { label: name, role, scopes, ttlMs: BigInt(ttlMs), uses });
  const info = res.info;
  const invite = encodeInvite({
    addresses,
    caFingerprint: fingerprint,
    token: res.token,
    name,
    expiresAtMs: info ? Number(info.expiresAtMs) : undefined,
    uses: info?.usesLeft,
  });
  const granted = info?.scopes ?? scopes;
  if (ctx.out.json) {
    ctx.out.document({
      invite,
      tokenId: info?.tokenId ?? '',
      expiresAt: isoTime(info?.expiresAtMs),
      usesLeft: info?.usesLeft ?? uses,
      role: info?.role ?? role,
      scopes: granted,
      addresses,
      caFingerprint: fingerprint,
    });
    return;
  }
  const left = info?.usesLeft ?? uses;
  ctx.out.line(
    [
      `Invite for "${name}" (${info?.role ?? role}), ${left} ${left === 1 ? 'use' : 'uses'}, expires ${isoTime(info?.expiresAtMs)} (${relativeTime(info?.expiresAtMs ?? 0, ctx.now())})`,
      ctx.out.fields([
        ['scopes', granted.join(', ') || '(none)'],
        [addresses.length > 1 ? 'gateways' : 'gateway', addresses.join(', ')],
        ['CA', `SHA256:${fingerprint}`],
        ['token id', info?.tokenId ?? '-'],
      ]).replace(/^/gm, '  '),
      '',
      invite,
    ].join('\n'),
  );
  ctx.out.line();
  if (await printInviteQr(invite, ctx.runtime.stdout)) ctx.out.line();
  const lines = [
    'On the new device run:',
    `  openclaw-cli pair --invite '${invite}' --out <dir>`,
    `Anyone holding this invite can pair as "${name}" until it is used up or expires; cancel it with: openclaw-cli tokens revoke ${info?.tokenId ?? '<id>'}`,
  ];
  if (addresses.every(isLoopback)) {
    lines.push(`Note: ${addresses.join(', ')} is reachable from this machine only; for a phone or another computer add --address <LAN address>:${own.port} (repeatable)`);
  }
  ctx.out.line(lines.join('\n'));
}

function isLoopback(address: string): boolean {
  return /^(127\.|\[::1\]:|localhost[.:])/i.test(address);
}

/** `tokens list` */
export async function tokensList(ctx: CliContext): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(DeviceService.method.listBootstrapTokens, {});
  const now = ctx.now();
  ctx.out.result(
    () => protoJson(ListBootstrapTokensResponseSchema, res),
    () =>
      ctx.out.table(
        ['ID', 'NAME', 'ROLE', 'USES LEFT', 'EXPIRES', 'STATUS', 'SCOPES'],
        res.tokens.map((t) => [
          t.tokenId,
          t.label || '-',
          t.role,
          String(t.usesLeft),
          relativeTime(t.expiresAtMs, now),
          t.revoked ? 'revoked' : Number(t.expiresAtMs) <= now ? 'expired' : t.usesLeft <= 0 ? 'used' : 'active',
          t.scopes.join(',') || '(none)',
        ]),
        'No bootstrap tokens.',
      ),
  );
}

/** `tokens revoke <id>` */
export async function tokensRevoke(ctx: CliContext, tokenId: string): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(DeviceService.method.revokeBootstrapToken, { tokenId });
  ctx.out.result(
    () => protoJson(RevokeBootstrapTokenResponseSchema, res),
    () => `Revoked bootstrap token ${tokenId}`,
  );
}
