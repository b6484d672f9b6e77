import { createHash } from 'node:crypto';
import { LegacyAuthService } from '../../gen/openclaw/devices/v1/devices_pb';
import { unaryCall, type GatewayConnection } from '../../transport/grpc/client/gateway-connection';

/** How many handed-out device tokens the bridge remembers (the oldest is forgotten first). */
export const MAX_REMEMBERED_TOKENS = 1024;

const digest = (token: string) => createHash('sha256').update(token, 'utf8').digest('base64url');

/**
 * Which device each device token this bridge handed out in a hello-ok belongs to (by the
 * token's SHA-256; the token itself is not kept), so a plain HTTP request that carries
 * only the token (`Authorization: Bearer`, as the Control UI fetches its bootstrap
 * config) can be checked. The gateway decides: the token is verified for that device on
 * every check, so a rotated or revoked one, or one of a removed device, fails.
 */
export class DeviceTokenBook {
  private readonly byDigest = new Map<string, string>();

  constructor(
    private readonly gateway: GatewayConnection,
    private readonly callTimeoutMs: number,
  ) {}

  remember(deviceId: string, token: string): void {
    const key = digest(token);
    this.byDigest.delete(key);
    this.byDigest.set(key, deviceId);
    if (this.byDigest.size > MAX_REMEMBERED_TOKENS) this.byDigest.delete(this.byDigest.keys().next().value!);
  }

  /** The device a token is valid for, or undefined (unknown here, refused by the gateway, or the gateway unreachable). */
  async verify(token: string): Promise<string | undefined> {
    const deviceId = this.byDigest.get(digest(token));
    if (!deviceId) return undefined;
    const c = this.gateway.client(LegacyAuthService);
    try {
      const res = await unaryCall(c, c.verifyDeviceToken, { deviceToken: token, deviceId }, { timeoutMs: this.callTimeoutMs });
      return res.valid && res.deviceId === deviceId ? deviceId : undefined;
    } catch {
      return undefined;
    }
  }
}
