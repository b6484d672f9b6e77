/**
 * The PROXY protocol header (versions 1 and 2, as HAProxy's `send-proxy` /
 * `send-proxy-v2` write it) that a TCP load balancer puts in front of a connection to
 * say where it really came from. Parsed before TLS: the rest of the stream is the
 * client's own bytes.
 */

/** The address a header names: the client's, or none for a LOCAL/UNKNOWN connection (e.g. the balancer's own health check). */
export interface ProxySource {
  address: string;
  port: number;
}

/** A complete header: how many bytes it took and the client it names. */
export interface ProxyHeader {
  length: number;
  source?: ProxySource;
}

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** The longest v1 header the specification allows, CRLF included. */
const V1_MAX = 107;
/** v2 headers carry TLVs after the addresses; more than this is not a header we accept. */
const V2_MAX_PAYLOAD = 4096;

/** Thrown for bytes that are not a valid PROXY header. */
export class ProxyHeaderError extends Error {}

/**
 * Parses the header at the start of `buf`: `undefined` while more bytes are needed,
 * the header once complete; throws ProxyHeaderError when the bytes are not one.
 */
export function parseProxyHeader(buf: Buffer): ProxyHeader | undefined {
  if (buf.length === 0) return undefined;
  if (buf[0] === V2_SIGNATURE[0]) return parseV2(buf);
  if (buf[0] === 0x50 /* P */) return parseV1(buf);
  throw new ProxyHeaderError('the connection did not start with a PROXY protocol header');
}

function parseV1(buf: Buffer): ProxyHeader | undefined {
  const prefix = 'PROXY ';
  const head = buf.subarray(0, Math.min(buf.length, prefix.length)).toString('latin1');
  if (!prefix.startsWith(head)) throw new ProxyHeaderError('the connection did not start with a PROXY protocol header');
  const end = buf.indexOf('\r\n');
  if (end < 0) {
    if (buf.length >= V1_MAX) throw new ProxyHeaderError('PROXY v1 header longer than 107 bytes');
    return undefined;
  }
  const line = buf.subarray(0, end).toString('latin1');
  const parts = line.split(' ');
  const length = end + 2;
  if (parts[1] === 'UNKNOWN') return { length };
  const [, proto, src, , sport] = parts;
  if (parts.length !== 6 || (proto !== 'TCP4' && proto !== 'TCP6')) throw new ProxyHeaderError(`malformed PROXY v1 header: ${JSON.stringify(line)}`);
  const port = Number(sport);
  if (!/^\d{1,5}$/.test(sport) || port > 65535 || !validAddress(src, proto === 'TCP4' ? 4 : 6)) throw new ProxyHeaderError(`malformed PROXY v1 header: ${JSON.stringify(line)}`);
  return { length, source: { address: src, port } };
}

function parseV2(buf: Buffer): ProxyHeader | undefined {
  const have = Math.min(buf.length, V2_SIGNATURE.length);
  if (!buf.subarray(0, have).equals(V2_SIGNATURE.subarray(0, have))) throw new ProxyHeaderError('the connection did not start with a PROXY protocol header');
  if (buf.length < 16) return undefined;
  const verCmd = buf[12];
  if (verCmd >> 4 !== 2) throw new ProxyHeaderError(`PROXY v2 header with version ${verCmd >> 4}`);
  const command = verCmd & 0x0f;
  const family = buf[13];
  const payload = buf.readUInt16BE(14);
  if (payload > V2_MAX_PAYLOAD) throw new ProxyHeaderError(`PROXY v2 header of ${payload} bytes`);
  if (buf.length < 16 + payload) return undefined;
  const length = 16 + payload;
  if (command === 0x0) return { length }; // LOCAL: the balancer's own connection (health check)
  if (command !== 0x1) throw new ProxyHeaderError(`PROXY v2 header with command ${command}`);
  const body = buf.subarray(16, length);
  if (family === 0x11 /* TCP over IPv4 */ && payload >= 12) {
    return { length, source: { address: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8) } };
  }
  if (family === 0x21 /* TCP over IPv6 */ && payload >= 36) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(body.readUInt16BE(i).toString(16));
    return { length, source: { address: compressIpv6(groups), port: body.readUInt16BE(32) } };
  }
  if (family === 0x00) return { length }; // UNSPEC
  throw new ProxyHeaderError(`PROXY v2 header with an address family this gateway does not take (${family})`);
}

function validAddress(text: string, version: 4 | 6): boolean {
  if (version === 4) return /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(text) && text.split('.').every((n) => Number(n) <= 255);
  return /^[0-9a-fA-F:.]+$/.test(text) && text.includes(':');
}

/** "2001:db8:0:0:0:0:0:1" -> "2001:db8::1" (the longest run of zero groups, as Node prints addresses). */
function compressIpv6(groups: string[]): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}
