/**
 * The key anonymous rate budgets are kept per, derived from a grpc-js peer string.
 *
 * grpc-js (server side) reports a peer as `${remoteAddress}:${remotePort}`, with IPv6
 * addresses NOT in brackets ("127.0.0.1:5678", "::1:5678", "::ffff:10.0.0.1:5678",
 * "fe80::1%eth0:5678"), the bare address when there is no port, or "unknown". Bracketed
 * and "ipv4:"/"ipv6:"-prefixed forms (grpc target syntax) are accepted as well.
 */
import { isIP, isIPv4, isIPv6 } from 'node:net';

/** "2001:db8::1" -> its eight 16-bit groups (the input must already be valid IPv6, without zone). */
function groupsOf(addr: string): number[] {
  let text = addr;
  const tail: number[] = [];
  const dotted = /(?:^|:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    // An embedded IPv4 tail ("::ffff:1.2.3.4") stands for the last two groups.
    const [a, b, c, d] = dotted[1].split('.').map(Number);
    tail.push((a << 8) | b, (c << 8) | d);
    text = text.slice(0, text.length - dotted[1].length);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const hex = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const [head, rest] = text.split('::');
  const left = hex(head);
  const right = [...hex(rest ?? ''), ...tail];
  const zeros = rest === undefined ? [] : new Array<number>(8 - left.length - right.length).fill(0);
  return [...left, ...zeros, ...right];
}

/** The address inside a peer string, without port, brackets or scheme; undefined if there is none. */
function addressIn(peer: string): string | undefined {
  const text = peer.replace(/^ipv[46]:/i, '');
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) return isIPv6(bracketed[1]) && validPort(bracketed[2]) ? bracketed[1] : undefined;
  if (isIPv4(text)) return text;
  // grpc-js always appends the port, so "::1:5678" is ::1 port 5678, not the address ::1:5678.
  const withPort = /^(.+):(\d{1,5})$/.exec(text);
  if (withPort && isIP(withPort[1]) !== 0 && validPort(withPort[2])) return withPort[1];
  return isIPv6(text) ? text : undefined;
}

function validPort(port: string | undefined): boolean {
  return port === undefined || Number(port) <= 65535;
}

/**
 * The rate-budget key of a grpc-js peer: the IPv4 address (IPv4-mapped IPv6 unwrapped,
 * so a dual-stack listener does not give one host two budgets), or for IPv6 its /64
 * prefix, e.g. "2001:db8:1:2::/64" (one host usually holds a whole /64, so per-address
 * budgets would be unlimited). A link-local zone is kept ("fe80::/64%eth0"): it names
 * the link, which the kernel, not the peer, chooses. Anything else is returned as it
 * is; never throws.
 */
export function rateKeyOf(peer: string): string {
  try {
    const address = typeof peer === 'string' ? addressIn(peer) : undefined;
    if (address === undefined) return peer;
    if (isIPv4(address)) return address;
    const [addr, zone] = address.split('%', 2);
    const g = groupsOf(addr);
    if (g.length !== 8 || g.some((x) => !Number.isInteger(x) || x < 0 || x > 0xffff)) return peer;
    if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return [g[6] >> 8, g[6] & 0xff, g[7] >> 8, g[7] & 0xff].join('.');
    // The zeroed interface id is always the longest zero run, so it is where "::" goes (RFC 5952).
    const prefix = g.slice(0, 4);
    while (prefix.length > 0 && prefix[prefix.length - 1] === 0) prefix.pop();
    return `${prefix.map((x) => x.toString(16)).join(':')}::/64${zone ? `%${zone}` : ''}`;
  } catch {
    return peer;
  }
}
