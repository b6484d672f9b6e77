/**
 * Invites: one string (and QR code) that carries everything a new device needs to pair
 * without an operator: where the gateway is, which CA to pin, and a bootstrap token.
 *
 *   openclaw+invite://v1?gw=HOST%3APORT[&gw=...]&ca=<64 hex>&t=<bootstrap token>[&n=<name>][&exp=<unix s>][&u=<uses>]
 *
 * - `gw`   gateway gRPC address, HOST:PORT (IPv6 as [addr]:PORT); repeatable, tried in order
 * - `ca`   SHA-256 fingerprint of the gateway CA certificate (DER), 64 hex digits, no colons
 * - `t`    the bootstrap token ("ocbt_<id>.<secret>"): a secret, it approves the device
 * - `n`    the device name to pair as (optional)
 * - `exp`  when the token expires, seconds since the epoch (optional; for messages only,
 *          the gateway decides)
 * - `u`    how many devices the token admits (optional; for messages only)
 *
 * The query is application/x-www-form-urlencoded (URLSearchParams), so the string has no
 * spaces or quotes and survives a shell in single quotes and a QR code in byte mode.
 * Parameters this version does not know are ignored, so v1 can gain optional hints; a
 * change old readers must not ignore gets a new version. Everything here is pure apart
 * from the QR renderer, which is loaded only when a QR code is printed.
 */
import { isIP } from 'node:net';
import { errors } from '../errors';

/** The scheme of invite strings. */
export const INVITE_SCHEME = 'openclaw+invite';
/** The invite format this CLI writes and reads. */
export const INVITE_VERSION = 'v1';
/** At most this many gateway addresses in one invite. */
export const MAX_INVITE_ADDRESSES = 8;
/** Longest accepted invite string (a QR code in byte mode holds ~2900 bytes at level L). */
export const MAX_INVITE_LENGTH = 2048;
/** Longest device name (the gateway keeps 64 characters of a label). */
export const MAX_INVITE_NAME = 64;
/**
 * What an operator invite grants unless --scopes says otherwise: use, not administration
 * or pairing others, since an invite is a bearer secret that travels (chat, QR code).
 */
export const INVITE_OPERATOR_SCOPES: readonly string[] = ['operator.read', 'operator.write'];

/** What an invite says. */
export interface Invite {
  /** Gateway gRPC addresses, normalized HOST:PORT ([v6]:PORT), in the order to try them. */
  addresses: string[];
  /** SHA-256 of the gateway CA, 64 lowercase hex digits. */
  caFingerprint: string;
  /** The bootstrap token (secret). */
  token: string;
  /** Device name to pair as. */
  name?: string;
  /** When the token expires (ms since the epoch), if the invite says. */
  expiresAtMs?: number;
  /** How many devices the token admits, if the invite says. */
  uses?: number;
}

const TOKEN_PATTERN = /^ocbt_[0-9a-f]{12}\.[A-Za-z0-9_-]{16,256}$/;
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
// C0/C1 controls, line and paragraph separators, bidi overrides: nothing a name printed on a terminal should carry.
// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function malformed(what: string): never {
  throw errors.invalid('INVITE_MALFORMED', `invalid invite: ${what}`);
}

/**
 * Normalizes a gateway address: "host:port", "[v6]:port" (or a bare host/[v6] when
 * `defaultPort` is given). Returns undefined when it is not one.
 */
export function normalizeAddress(value: string, defaultPort?: number): string | undefined {
  const v = value.trim();
  const m = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(v) ?? /^([^:[\]]+)(?::(\d{1,5}))?$/.exec(v);
  if (!m) return undefined;
  const port = m[2] !== undefined ? Number(m[2]) : defaultPort;
  if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  const host = m[1];
  const bracketed = v.startsWith('[');
  if (bracketed) return isIP(host) === 6 ? `[${host.toLowerCase()}]:${port}` : undefined;
  if (/^[\d.]+$/.test(host)) return isIP(host) === 4 ? `${host}:${port}` : undefined;
  if (DNS_NAME.test(host)) return `${host.toLowerCase()}:${port}`;
  return undefined;
}

/** What is wrong with a device name for an invite, or undefined when it is fine. */
export function inviteNameProblem(name: string): string | undefined {
  if (name.trim() === '') return 'is empty';
  if (Array.from(name).length > MAX_INVITE_NAME) return `is longer than ${MAX_INVITE_NAME} characters`;
  if (UNPRINTABLE.test(name)) return 'has control characters';
  return undefined;
}

/** Writes an invite string. Throws INVALID_ARGUMENT (INVITE_MALFORMED) for anything parseInvite would refuse. */
export function encodeInvite(invite: Invite): string {
  const q = new URLSearchParams();
  for (const a of invite.addresses) q.append('gw', a);
  q.append('ca', invite.caFingerprint.replace(/:/g, '').toLowerCase());
  q.append('t', invite.token);
  if (invite.name !== undefined && invite.name !== '') q.append('n', invite.name);
  if (invite.expiresAtMs !== undefined) q.append('exp', String(Math.floor(invite.expiresAtMs / 1000)));
  if (invite.uses !== undefined) q.append('u', String(invite.uses));
  const text = `${INVITE_SCHEME}://${INVITE_VERSION}?${q.toString()}`;
  parseInvite(text); // the same rules on both sides: never hand out an invite this CLI would refuse
  return text;
}

/**
 * Parses an invite string strictly. Every failure is INVALID_ARGUMENT with reason
 * INVITE_MALFORMED and a message saying what is wrong.
 */
export function parseInvite(input: string): Invite {
  const text = String(input ?? '').trim();
  if (!text) malformed('the invite is empty');
  if (text.length > MAX_INVITE_LENGTH) malformed(`the invite is ${text.length} characters long (at most ${MAX_INVITE_LENGTH})`);
  const prefix = `${INVITE_SCHEME}://`;
  if (text.slice(0, prefix.length).toLowerCase() !== prefix) {
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text)?.[1];
    malformed(`${scheme ? `scheme "${scheme}" is not ${INVITE_SCHEME}` : `it does not start with ${prefix}`} (expected ${prefix}${INVITE_VERSION}?gw=...&ca=...&t=...)`);
  }
  const rest = text.slice(prefix.length);
  if (rest.includes('#')) malformed('it has a "#" fragment (was it cut or edited?)');
  const qAt = rest.indexOf('?');
  const version = (qAt < 0 ? rest : rest.slice(0, qAt)).replace(/\/$/, '');
  if (!/^v\d+$/.test(version)) malformed(`"${version}" is not an invite version (expected ${prefix}${INVITE_VERSION}?...)`);
  if (version !== INVITE_VERSION) malformed(`the invite is format ${version}; this openclaw-cli reads ${INVITE_VERSION} invites (update openclaw-cli or ask for a ${INVITE_VERSION} invite)`);
  if (qAt < 0 || qAt === rest.length - 1) malformed('it has no parameters (gw, ca, t)');
  const q = new URLSearchParams(rest.slice(qAt + 1));

  const single = (key: string, what: string): string | undefined => {
    const all = q.getAll(key);
    if (all.length > 1) malformed(`${what} ("${key}") is given ${all.length} times`);
    return all[0];
  };

  const gateways = q.getAll('gw');
  if (gateways.length === 0 || gateways.every((g) => g.trim() === '')) malformed('missing gateway address ("gw")');
  if (gateways.length > MAX_INVITE_ADDRESSES) malformed(`${gateways.length} gateway addresses (at most ${MAX_INVITE_ADDRESSES})`);
  const addresses: string[] = [];
  for (const g of gateways) {
    const a = normalizeAddress(g);
    if (!a) malformed(`gateway address "${g}" is not HOST:PORT (IPv6 as [addr]:PORT)`);
    if (!addresses.includes(a)) addresses.push(a);
  }

  const ca = single('ca', 'the CA fingerprint');
  if (ca === undefined || ca === '') malformed('missing CA fingerprint ("ca")');
  if (!/^[0-9a-fA-F]{64}$/.test(ca)) malformed(`CA fingerprint "${ca}" is not a SHA-256 fingerprint (64 hex digits)`);

  const token = single('t', 'the token');
  if (token === undefined || token === '') malformed('missing bootstrap token ("t")');
  if (!TOKEN_PATTERN.test(token)) malformed('the bootstrap token ("t") is not of the form ocbt_<id>.<secret> (was the invite cut short?)');

  const invite: Invite = { addresses, caFingerprint: ca.toLowerCase(), token };

  const name = single('n', 'the device name');
  if (name !== undefined) {
    const problem = inviteNameProblem(name);
    if (problem) malformed(`the device name ("n") ${problem}`);
    invite.name = name;
  }
  const exp = single('exp', 'the expiry');
  if (exp !== undefined) {
    if (!/^\d{1,12}$/.test(exp) || Number(exp) === 0) malformed(`expiry ("exp") "${exp}" is not a time in seconds since 1970`);
    invite.expiresAtMs = Number(exp) * 1000;
  }
  const uses = single('u', 'the number of uses');
  if (uses !== undefined) {
    if (!/^\d{1,7}$/.test(uses) || Number(uses) < 1) malformed(`uses ("u") "${uses}" is not a whole number from 1`);
    invite.uses = Number(uses);
  }
  return invite;
}

/** The part of the qrcode package this CLI uses (it ships no types). */
interface QrCodeModule {
  toString(text: string, options: { type: 'terminal'; small: boolean; errorCorrectionLevel: 'L' | 'M' | 'Q' | 'H' }): Promise<string>;
}

/**
 * A QR code of `text` for a terminal: two modules per character cell (half blocks),
 * dark on an explicitly light background so it scans in dark themes too. The qrcode
 * package is loaded here, on first use, so no other command pays for it.
 */
export async function renderQr(text: string): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const qrcode = require('qrcode') as QrCodeModule;
  // Level L: a screen does not get scratched, and a lower level keeps the code small.
  return qrcode.toString(text, { type: 'terminal', small: true, errorCorrectionLevel: 'L' });
}

/** Writes the QR code of an invite to `stream` when it is a terminal; says whether it did. */
export async function printInviteQr(invite: string, stream: NodeJS.WritableStream & { isTTY?: boolean }): Promise<boolean> {
  if (!stream.isTTY) return false;
  const qr = await renderQr(invite);
  stream.write(qr.endsWith('\n') ? qr : `${qr}\n`);
  return true;
}
