/**
 * `pair`: the device side of pairing. Makes a key (DEFAULT_KEY_TYPE unless --key-type
 * says otherwise), learns the gateway's CA from its TLS handshake and accepts it only
 * when it matches the pinned fingerprint, sends a CSR anonymously, shows the
 * verification code and request id, waits for an operator (or is approved at once with
 * a bootstrap token or an invite), and writes the certificate folder.
 *
 * --json prints one object per line: first
 *   { state: "PENDING", requestId, deviceId, verificationCode, expiresAtMs }
 * (skipped when approved at once), then
 *   { state: "APPROVED", deviceId, role, scopes, keyType, notAfter, gateway, out }.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, rmdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { errors, ErrorCode, GatewayError } from '../errors';
import {
  assertWritableDir,
  certIdentity,
  certificateFingerprint,
  createCsr,
  generateKeyPair,
  hasCertsDir,
  keyTypeOf,
  parseKeyType,
  writeCertsDir,
  CERTS_DIR_FILES,
  DEFAULT_KEY_TYPE,
  KEY_TYPE_NAMES,
} from '../identity';
import { fetchPinnedCa } from '../transport/grpc/client/pinned-ca';
import { DeviceService, PairingService, PairingState } from '../gen/openclaw/devices/v1/devices_pb';
import type { CliContext } from './cli-context';
import { GatewayConnection, type ConnectionTarget } from '../transport/grpc/client/gateway-connection';
import { isoTime, humanDuration } from './output';
import { parseDuration, splitList } from './args';
import { splitAddress } from './settings';
import { parseInvite, MAX_INVITE_LENGTH, type Invite } from './invite';
import { readFirstLine } from './stdin-line';

/** Options of `pair`. */
export interface PairOptions {
  /** Pinned CA fingerprint; not with --invite (the invite carries it). */
  caFingerprint?: string;
  /** An invite from `openclaw-cli devices invite`: gateway address(es), CA fingerprint and token in one; "-" reads it from standard input. */
  invite?: string;
  out: string;
  name?: string;
  role?: string;
  scopes?: string;
  token?: string;
  /** One of KEY_TYPES (default DEFAULT_KEY_TYPE). */
  keyType?: string;
  timeout?: string;
  force?: boolean;
}

const CHANNEL_OPTIONS = { 'grpc.primary_user_agent': 'openclaw-cli' };
const NEW_INVITE = 'ask for a new one with "openclaw-cli devices invite"';

/**
 * `pair`. With --invite, the gateway addresses come from the invite and are tried in
 * order until one presents the pinned CA; an explicit --gateway flag wins over them
 * (the invite's CA is still pinned), while OPENCLAW_GATEWAY_GRPC, cli.json and the
 * default never do.
 */
export async function pair(ctx: CliContext, o: PairOptions): Promise<void> {
  // Everything the command line says is checked before the network is touched.
  if (o.invite !== undefined && (o.caFingerprint !== undefined || o.token !== undefined)) {
    throw errors.invalid('USAGE', `--invite already carries the CA fingerprint and the bootstrap token; drop ${[o.caFingerprint !== undefined ? '--ca-fingerprint' : '', o.token !== undefined ? '--token' : ''].filter(Boolean).join(' and ')}`);
  }
  const invite = o.invite === undefined ? undefined : parseInvite(o.invite === '-' ? await inviteFromStdin(ctx) : o.invite);
  if (!invite && !o.caFingerprint) {
    throw errors.invalid('USAGE', 'pair needs --ca-fingerprint <sha256> (from the gateway banner or "certs-tools ca-fingerprint") or --invite <string> (from "openclaw-cli devices invite")');
  }
  const keyType = parseKeyType(o.keyType ?? DEFAULT_KEY_TYPE);
  const out = resolve(ctx.runtime.cwd, o.out);
  const timeoutMs = parseDuration(o.timeout ?? '300s', '--timeout');
  if (hasCertsDir(out) && !o.force) {
    throw errors.exists('CERTS_EXIST', `${out} already holds a certificate; pick another --out folder or pass --force to replace it`);
  }
  const targets = invite && ctx.settings.gateway.source.kind !== 'flag' ? invite.addresses.map((a) => ({ ...splitAddress(a), sourceLabel: 'the invite' })) : [ctx.target()];
  const madeOut = !existsSync(out);
  assertWritableDir(out);
  try {
    await pairInto(ctx, o, { out, timeoutMs, keyType, invite, targets });
  } catch (err) {
    // A refused pairing leaves nothing behind, not even the folder it made.
    if (madeOut) removeIfEmpty(out);
    throw err;
  }
}

async function pairInto(
  ctx: CliContext,
  o: PairOptions,
  p: { out: string; timeoutMs: number; keyType: ReturnType<typeof parseKeyType>; invite?: Invite; targets: ConnectionTarget[] },
): Promise<void> {
  const { out, timeoutMs, keyType, invite } = p;
  // Trust on first use, but only for the CA the user (or the invite) pinned.
  const { target, caPem } = await reachPinned(p.targets, invite ? invite.caFingerprint : o.caFingerprint!, Boolean(invite));
  const keys = generateKeyPair(keyType);
  const label = (o.name ?? invite?.name ?? hostname()).trim() || 'device';
  const csrPem = createCsr({ privateKeyPem: keys.privateKeyPem, publicKeyPem: keys.publicKeyPem, label });
  const conn = new GatewayConnection(target, { caPem }, CHANNEL_OPTIONS);
  let certPem: string;
  let deviceId: string;
  let granted: string[] | undefined;
  try {
    const submitted = await conn
      .unary(PairingService.method.submitCsr, {
        csrPem,
        label,
        // With a token and no role asked for, the gateway gives what the token allows.
        role: o.role ?? (invite || o.token ? '' : 'operator'),
        scopes: splitList(o.scopes),
        bootstrapToken: invite?.token ?? o.token ?? '',
      })
      .catch((err: unknown) => {
        throw invite ? inviteRefusal(err, invite, target) : tokenHint(err);
      });
    deviceId = submitted.deviceId;
    certPem = submitted.certPem;
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
  } finally {
    conn.close();
  }

  // The certificate must be for our key and signed by the CA we pinned.
  const id = certIdentity(certPem);
  if (id.deviceId !== deviceId) throw errors.internal('PAIR_WRONG_CERT', 'the gateway returned a certificate for another key');
  const cert = new X509Certificate(certPem);
  if (!cert.verify(new X509Certificate(caPem).publicKey)) {
    throw errors.unauthenticated('PAIR_CERT_UNTRUSTED', 'the issued certificate is not signed by the pinned CA; refusing it');
  }
  const scopes = (await grantedScopes(ctx, target, { caPem, keyPem: keys.privateKeyPem, certPem })) ?? granted ?? splitList(o.scopes);
  writeCertsDir(out, {
    keyPem: keys.privateKeyPem,
    certPem,
    caPem,
    meta: {
      deviceId: id.deviceId,
      label,
      role: id.role,
      scopes,
      keyType: keyTypeOf(cert.publicKey) ?? keyType,
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
    ctx.out.record({ state: 'APPROVED', deviceId: id.deviceId, role: id.role, scopes, keyType, notAfter: isoTime(id.notAfter), gateway: target.address, out });
  } else {
    ctx.out.line(
      [
        `Approved: device ${id.deviceId} (${id.role}${scopes.length ? `, scopes ${scopes.join(', ')}` : ''}), certificate valid until ${isoTime(id.notAfter)}`,
        `Wrote ${CERTS_DIR_FILES.key} (${KEY_TYPE_NAMES[keyType]}, 0600), ${CERTS_DIR_FILES.cert}, ${CERTS_DIR_FILES.ca} and ${CERTS_DIR_FILES.meta} to ${out}`,
        `Use it with: openclaw-cli --certs ${out} status   (or set OPENCLAW_CERTS_DIR=${out})`,
      ].join('\n'),
    );
  }
}

/**
 * Learns the CA of the first gateway that presents the pinned one. One address: its
 * error as it is. Several (an invite): unreachable or mismatching addresses are skipped;
 * if none fits, a mismatch wins over "unreachable" (it is the one that needs attention).
 */
async function reachPinned(targets: ConnectionTarget[], fingerprint: string, fromInvite: boolean): Promise<{ target: ConnectionTarget; caPem: string }> {
  const failures: { target: ConnectionTarget; err: GatewayError }[] = [];
  for (const target of targets) {
    try {
      return { target, caPem: await fetchPinnedCa(target.host, target.port, fingerprint) };
    } catch (err) {
      const skippable = err instanceof GatewayError && (err.reason === 'GATEWAY_UNREACHABLE' || err.reason === 'CA_FINGERPRINT_MISMATCH');
      if (!skippable || targets.length === 1) {
        if (fromInvite && err instanceof GatewayError && err.reason === 'CA_FINGERPRINT_MISMATCH') {
          throw new GatewayError(err.code, err.reason, `${err.message} (the CA fingerprint comes from the invite: check that it was copied whole, or ${NEW_INVITE})`);
        }
        throw err;
      }
      failures.push({ target, err: err as GatewayError });
    }
  }
  const tried = failures.map((f) => `${f.target.address}: ${f.err.reason === 'CA_FINGERPRINT_MISMATCH' ? 'another CA' : 'unreachable'}`).join(', ');
  const mismatch = failures.find((f) => f.err.reason === 'CA_FINGERPRINT_MISMATCH');
  if (mismatch) {
    throw new GatewayError(mismatch.err.code, mismatch.err.reason, `no gateway of the invite presents the CA it pins (SHA256:${fingerprint}) (${tried}); refusing to trust them`);
  }
  throw errors.unavailable('GATEWAY_UNREACHABLE', `cannot reach the gateway at any address of the invite (${tried}); check the network, or pass --gateway HOST:PORT to try another address`);
}

/** A bootstrap-token refusal of `pair --token`, with what to ask for instead. */
function tokenHint(err: unknown): unknown {
  if (err instanceof GatewayError && (err.reason === 'TOKEN_SCOPE' || err.reason === 'TOKEN_ROLE')) {
    return new GatewayError(err.code, err.reason, `${err.message}; ask for what the token grants with --role/--scopes (shown by "openclaw-cli tokens create" and "tokens list")`);
  }
  return err;
}

/** The gateway's bootstrap-token refusals, told as what happened to the invite. Code and reason stay the gateway's. */
function inviteRefusal(err: unknown, invite: Invite, target: ConnectionTarget): unknown {
  if (!(err instanceof GatewayError)) return err;
  const say = (message: string) => new GatewayError(err.code, err.reason, message, { details: err.details });
  switch (err.reason) {
    case 'TOKEN_USED': {
      const uses = invite.uses ? ` (${invite.uses} of ${invite.uses} uses)` : '';
      return say(`this invite was already used${uses}; ${NEW_INVITE}`);
    }
    case 'TOKEN_EXPIRED':
      return say(`this invite expired${invite.expiresAtMs ? ` at ${isoTime(invite.expiresAtMs)}` : ''}; ${NEW_INVITE}`);
    case 'TOKEN_REVOKED':
      return say(`this invite was cancelled (its token was revoked); ${NEW_INVITE}`);
    case 'TOKEN_INVALID':
      return say(`the gateway at ${target.address} does not know this invite (it was made for another gateway, or the gateway's state was reset); ${NEW_INVITE}`);
    case 'TOKEN_ROLE':
    case 'TOKEN_SCOPE':
      return say(`this invite does not allow that: ${err.message}; leave out --role/--scopes to get what the invite allows`);
    default:
      return err;
  }
}

/** `--invite -`: the invite from standard input, so the secret stays out of argv and shell history. */
async function inviteFromStdin(ctx: CliContext): Promise<string> {
  const stdin = ctx.runtime.stdin?.();
  if (!stdin) throw errors.invalid('USAGE', '--invite -: there is no standard input to read the invite from');
  if (stdin.isTTY) ctx.runtime.stderr.write('Paste the invite and press Enter: ');
  const line = await readFirstLine(stdin, MAX_INVITE_LENGTH);
  if (!line.complete) throw errors.invalid('INVITE_MALFORMED', `invalid invite: standard input has more than ${MAX_INVITE_LENGTH} characters before its first line break`);
  if (line.text.trim() === '') throw errors.invalid('INVITE_MALFORMED', 'invalid invite: standard input is empty (with --invite - the invite is read from it, e.g. openclaw-cli pair --invite - --out <dir> < invite.txt)');
  return line.text;
}

function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir); // fails (and keeps the folder) unless it is empty
  } catch {
    /* not empty or already gone */
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
async function grantedScopes(ctx: CliContext, target: ConnectionTarget, tls: { caPem: string; keyPem: string; certPem: string }): Promise<string[] | undefined> {
  const conn = new GatewayConnection(target, tls, CHANNEL_OPTIONS);
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
