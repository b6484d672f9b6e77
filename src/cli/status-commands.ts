/**
 * health, status, presence, whoami.
 *
 * --json shapes:
 *   health   { ok, gateway, serving: "SERVING"|..., roundTripMs, serverTimeMs, clockSkewMs }
 *   status   { gateway, status: GetStatusResponse, device: Device | null }
 *   presence GetPresenceResponse
 *   whoami   WhoAmIResponse
 */
import { GatewayService, GetPresenceResponseSchema, GetStatusResponseSchema } from '../gen/openclaw/gateway/v1/gateway_pb';
import { DeviceSchema, DeviceService, WhoAmIResponseSchema, type Device } from '../gen/openclaw/devices/v1/devices_pb';
import { errors } from '../errors';
import type { CliContext } from './cli-context';
import { humanDuration, isoTime, relativeTime, shortId } from './output';
import { protoJson } from './proto-json';

const HEALTH_CHECK = '/grpc.health.v1.Health/Check';
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** Reads HealthCheckResponse.status (field 1, varint) from its wire bytes; absent means UNKNOWN. */
function servingStatus(bytes: Buffer): string {
  let status = 0;
  for (let i = 0; i + 1 < bytes.length; ) {
    const tag = bytes[i++];
    let value = 0;
    let shift = 0;
    let b: number;
    do {
      b = bytes[i++];
      value |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80 && i < bytes.length);
    if (tag === 0x08) status = value;
    else if ((tag & 7) !== 0) break;
  }
  return SERVING_STATUS[status] ?? `STATUS_${status}`;
}

/** `health`: the standard health check plus an authenticated ping (so a refused certificate shows up). */
export async function health(ctx: CliContext): Promise<void> {
  const conn = await ctx.connect();
  const started = Date.now();
  const [checkBytes, ping] = await Promise.all([conn.unaryBytes(HEALTH_CHECK, Buffer.alloc(0)), conn.unary(GatewayService.method.ping, {})]);
  const finished = Date.now();
  const serving = servingStatus(checkBytes);
  const serverTime = Number(ping.serverTimeMs);
  const roundTripMs = finished - started;
  const clockSkewMs = serverTime - Math.round((started + finished) / 2);
  if (serving !== 'SERVING') throw errors.unavailable('GATEWAY_NOT_SERVING', `the gateway at ${conn.target.address} reports ${serving}`);
  ctx.out.result(
    () => ({ ok: true, gateway: conn.target.address, serving, roundTripMs, serverTimeMs: serverTime, clockSkewMs }),
    () => `${ctx.out.paint('green', 'ok')}  gateway ${conn.target.address} is ${serving} (round trip ${roundTripMs} ms, clock skew ${clockSkewMs >= 0 ? '+' : ''}${clockSkewMs} ms)`,
  );
}

function deviceLine(d: Device | undefined): string {
  if (!d) return '-';
  return `${d.label} (${d.role}, ${shortId(d.deviceId, 16)}), scopes ${d.scopes.join(', ') || '(none)'}, certificate until ${isoTime(d.notAfterMs)}`;
}

/** `status`: gateway counters and the caller's own device. */
export async function status(ctx: CliContext): Promise<void> {
  const conn = await ctx.connect();
  const [s, me] = await Promise.all([conn.unary(GatewayService.method.getStatus, {}), conn.unary(DeviceService.method.whoAmI, {})]);
  ctx.out.result(
    () => ({ gateway: conn.target.address, status: protoJson(GetStatusResponseSchema, s), device: me.device ? protoJson(DeviceSchema, me.device) : null }),
    () =>
      ctx.out.fields([
        ['gateway', `${conn.target.address} (version ${s.version}, up ${humanDuration(s.uptimeMs)})`],
        ['replica', `${s.replica}, state in ${s.storage === 'postgres' ? 'PostgreSQL' : 'the state dir'}`],
        ['devices', `${s.devicesActive} active, ${s.devicesRevoked} revoked`],
        ['pairing', `${s.pairingPending} pending${s.pairingPending > 0 ? ' (see "openclaw-cli devices list")' : ''}`],
        ['connections', String(s.connections)],
        ['cron jobs', String(s.cronJobs)],
        ['sessions', String(s.sessions)],
        ['trust domain', s.trustDomain],
        ['CA', `SHA256:${s.caFingerprintSha256}`],
        ['you', deviceLine(me.device)],
      ]),
  );
}

/** `presence`: connected devices. */
export async function presence(ctx: CliContext): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(GatewayService.method.getPresence, {});
  const now = ctx.now();
  ctx.out.result(
    () => protoJson(GetPresenceResponseSchema, res),
    () =>
      ctx.out.table(
        ['DEVICE', 'NAME', 'ROLE', 'TRANSPORT', 'CONNECTED', 'LAST SEEN', 'STREAMS'],
        res.entries.map((e) => [shortId(e.deviceId, 16), e.label, e.role, e.transport, relativeTime(e.connectedAtMs, now), relativeTime(e.lastSeenMs, now), String(e.streams)]),
        'No devices connected.',
      ),
  );
}

/** `whoami`: the device the gateway sees for this certificate. */
export async function whoami(ctx: CliContext): Promise<void> {
  const conn = await ctx.connect();
  const res = await conn.unary(DeviceService.method.whoAmI, {});
  ctx.out.result(
    () => protoJson(WhoAmIResponseSchema, res),
    () => {
      const d = res.device;
      if (!d) return 'The gateway has no device record for this certificate.';
      return ctx.out.fields([
        ['device', d.deviceId],
        ['name', d.label],
        ['role', d.role],
        ['scopes', d.scopes.join(', ') || '(none)'],
        ['status', d.status],
        ['source', d.source],
        ['certificate', `serial ${d.serial}, ${isoTime(d.notBeforeMs)} .. ${isoTime(d.notAfterMs)}`],
        ['certs dir', ctx.certs().dir],
      ]);
    },
  );
}
