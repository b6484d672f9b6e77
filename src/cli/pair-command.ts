/**
 * `pair`: the device side of pairing. Makes a key, learns the gateway's CA from its TLS
 * handshake and accepts it only when it matches the pinned fingerprint, sends a CSR
 * anonymously, shows the verification code and request id, waits for an operator (or is
 * approved at once with a bootstrap token), and writes the certificate folder.
 *
 * --json prints one object per line: first
 *   { state: "PENDING", requestId, deviceId, verificationCode, expiresAtMs }
 * (skipped when approved at once), then
 *   { state: "APPROVED", deviceId, role, scopes, notAfter, out }.
 */
import { X509Certificate } from 'node:crypto';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { errors, ErrorCode, GatewayError } from '../errors';
import { assertWritableDir, certIdentity, certificateFingerprint, createCsr, generateRsaKeyPair, hasCertsDir, writeCertsDir, CERTS_DIR_FILES } from '../identity';
import { fetchPinnedCa } from '../transport/grpc/client/pinned-ca';
import { DeviceService, PairingService, PairingState } from '../gen/openclaw/devices/v1/devices_pb';
import type { CliContext } from './cli-context';
import { GatewayConnection } from '../transport/grpc/client/gateway-connection';
import { isoTime, humanDuration } from './output';
import { parseDuration, splitList } from './args';

/** Options of `pair`. */
export interface PairOptions {
  caFingerprint: string;
  out: string;
  name?: string;
  role?: string;
  scopes?: string;
  token?: string;
  timeout?: string;
  force?: boolean;
}

/** `pair` */
export async function pair(ctx: CliContext, o: PairOptions): Promise<void> {
  const out = resolve(ctx.runtime.cwd, o.out);
  const timeoutMs = parseDuration(o.timeout ?? '300s', '--timeout');
  if (hasCertsDir(out) && !o.force) {
    throw errors.exists('CERTS_EXIST', `${out} already holds a certificate; pick another --out folder or pass --force to replace it`);
  }
  assertWritableDir(out);
  const target = ctx.target();

  // Trust on first use, but only for the CA the user pinned.
  const caPem = await fetchPinnedCa(target.host, target.port, o.caFingerprint);
  const keys = generateRsaKeyPair(2048);
  const label = (o.name ?? hostname()).trim() || 'device';
  const csrPem = createCsr({ privateKeyPem: keys.privateKeyPem, publicKeyPem: keys.publicKeyPem, label });
  const conn = await ctx.anonymous(caPem);
  const submitted = await conn
    .unary(PairingService.method.submitCsr, {
      csrPem,
      label,
      role: o.role ?? 'operator',
      scopes: splitList(o.scopes),
      bootstrapToken: o.token ?? '',
    })
    .catch((err: unknown) => {
      if (err instanceof GatewayError && (err.reason === 'TOKEN_SCOPE' || err.reason === 'TOKEN_ROLE')) {
        throw new GatewayError(err.code, err.reason, `${err.message}; ask for what the token grants with --role/--scopes (shown by "openclaw-cli tokens create" and "tokens list")`);
      }
      throw err;
    });

  let certPem = submitted.certPem;
  let granted: string[] | undefined;
  if (submitted.state !== PairingState.APPROVED || !certPem) {
    if (ctx.out.json) {
      ctx.out.record({ state: 'PENDING', requestId: submitted.requestId, deviceId: submitted.deviceId, verificationCode: submitted.verificationCode, expiresAtMs: String(submitted.expiresAtMs) });
    } else {
      ctx.out.line(
        [
          `Pairing request sent to ${target.address}`,
          `  request id:         ${submitted.requestId}`,
          `  verification code:  ${ctx.out.paint('bold', submitted.verificationCode)}`,
          `  device id:          ${submitted.deviceId}`,
          'An operator checks that the code matches and runs:',
          `  openclaw-cli devices approve ${submitted.requestId}`,
          `Waiting for approval (up to ${humanDuration(timeoutMs)})...`,
        ].join('\n'),
      );
    }
    const outcome = await waitForDecision(ctx, conn, submitted.requestId, submitted.requestSecret, timeoutMs);
    certPem = outcome.certPem;
    granted = outcome.scopes;
  }

  // The certificate must be for our key and signed by the CA we pinned.
  const id = certIdentity(certPem);
  if (id.deviceId !== submitted.deviceId) throw errors.internal('PAIR_WRONG_CERT', 'the gateway returned a certificate for another key');
  if (!new X509Certificate(certPem).verify(new X509Certificate(caPem).publicKey)) {
    throw errors.unauthenticated('PAIR_CERT_UNTRUSTED', 'the issued certificate is not signed by the pinned CA; refusing it');
  }
  const scopes = (await grantedScopes(ctx, { caPem, keyPem: keys.privateKeyPem, certPem })) ?? granted ?? splitList(o.scopes);
  writeCertsDir(out, {
    keyPem: keys.privateKeyPem,
    certPem,
    caPem,
    meta: {
      deviceId: id.deviceId,
      label,
      role: id.role,
      scopes,
      serial: id.serial,
      notBefore: new Date(id.notBefore).toISOString(),
      notAfter: new Date(id.notAfter).toISOString(),
      trustDomain: id.trustDomain,
      caFingerprint: certificateFingerprint(caPem),
      gateway: target.address,
      issuedBy: 'openclaw-cli pair',
    },
  });
  if (ctx.out.json) {
    ctx.out.record({ state: 'APPROVED', deviceId: id.deviceId, role: id.role, scopes, notAfter: isoTime(id.notAfter), out });
  } else {
    ctx.out.line(
      [
        `Approved: device ${id.deviceId} (${id.role}${scopes.length ? `, scopes ${scopes.join(', ')}` : ''}), certificate valid until ${isoTime(id.notAfter)}`,
        `Wrote ${CERTS_DIR_FILES.key} (0600), ${CERTS_DIR_FILES.cert}, ${CERTS_DIR_FILES.ca} and ${CERTS_DIR_FILES.meta} to ${out}`,
        `Use it with: openclaw-cli --certs ${out} status   (or set OPENCLAW_CERTS_DIR=${out})`,
      ].join('\n'),
    );
  }
}

/** Follows the request until approved, rejected, expired, timed out or interrupted. */
async function waitForDecision(ctx: CliContext, conn: GatewayConnection, requestId: string, requestSecret: string, timeoutMs: number): Promise<{ certPem: string; scopes: string[] }> {
  const stream = conn.serverStream(PairingService.method.watchPairing, { requestId, requestSecret });
  let why: 'timeout' | 'interrupt' | undefined;
  const timer = setTimeout(() => {
    why = 'timeout';
    stream.cancel();
  }, timeoutMs);
  const stop = ctx.runtime.onInterrupt?.(() => {
    why = 'interrupt';
    stream.cancel();
  });
  try {
    for await (const update of stream) {
      switch (update.state) {
        case PairingState.APPROVED:
          if (!update.certPem) throw errors.internal('PAIR_NO_CERT', 'the request was approved but the gateway sent no certificate');
          return { certPem: update.certPem, scopes: update.scopes };
        case PairingState.REJECTED:
          throw errors.denied('PAIRING_REJECTED', `pairing request ${requestId} was rejected: ${update.reason || 'rejected by operator'}`);
        case PairingState.EXPIRED:
          throw errors.precondition('PAIRING_EXPIRED', `pairing request ${requestId} expired before an operator approved it; run pair again`);
        default:
          break;
      }
    }
  } finally {
    clearTimeout(timer);
    stop?.();
  }
  if (why === 'timeout') {
    throw new GatewayError(ErrorCode.DeadlineExceeded, 'PAIRING_TIMEOUT', `no decision on pairing request ${requestId} within ${humanDuration(timeoutMs)}; run pair again (or raise --timeout)`);
  }
  if (why === 'interrupt') throw new GatewayError(ErrorCode.Cancelled, 'INTERRUPTED', `interrupted; pairing request ${requestId} stays pending until it expires`);
  throw errors.unavailable('PAIRING_STREAM_ENDED', `the gateway ended the watch of pairing request ${requestId} without a decision; run pair again`);
}

/**
 * Asks the gateway, with the new certificate, what it granted (a bootstrap approval
 * does not say). Also proves the folder works before we call it done; undefined when
 * the check could not be made (the folder is written anyway, with a warning).
 */
async function grantedScopes(ctx: CliContext, tls: { caPem: string; keyPem: string; certPem: string }): Promise<string[] | undefined> {
  const conn = new GatewayConnection(ctx.target(), tls);
  try {
    const me = await conn.unary(DeviceService.method.whoAmI, {}, { timeoutMs: 5000 });
    return me.device?.scopes;
  } catch (err) {
    ctx.warnings.push(`the new certificate could not be checked with the gateway: ${(err as Error).message}`);
    return undefined;
  } finally {
    conn.close();
  }
}
