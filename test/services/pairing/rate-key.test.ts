/** The key anonymous rate budgets are kept per, from what grpc-js getPeer() returns. */
import { rateKeyOf } from '../../../src/services/pairing/rate-key';

test.each([
  // grpc-js server peers: "address:port", IPv6 without brackets.
  ['127.0.0.1:39994', '127.0.0.1'],
  ['10.1.2.3:1', '10.1.2.3'],
  ['10.1.2.3', '10.1.2.3'],
  ['::1:42264', '::/64'],
  ['::ffff:127.0.0.1:43972', '127.0.0.1'],
  ['::FFFF:192.168.1.20:5', '192.168.1.20'],
  ['::ffff:c0a8:114:5', '192.168.1.20'],
  ['2001:db8:1:2:3:4:5:6:443', '2001:db8:1:2::/64'],
  ['2001:0DB8:0001:0002:aaaa:bbbb:cccc:dddd:443', '2001:db8:1:2::/64'],
  ['2001:db8::1:5678', '2001:db8::/64'],
  ['2001:db8:0:0:1::1:5678', '2001:db8::/64'],
  ['2001:0:0:1::7:5678', '2001:0:0:1::/64'],
  ['fd00:0:0:20::1:1', 'fd00:0:0:20::/64'],
  ['64:ff9b::10.0.0.1:80', '64:ff9b::/64'],
  ['fe80::1%eth0:5678', 'fe80::/64%eth0'],
  ['fe80::abcd:1%3:5678', 'fe80::/64%3'],
  // Bracketed and scheme-prefixed forms (grpc target syntax), with or without a port.
  ['[::1]:5678', '::/64'],
  ['[::1]', '::/64'],
  ['[::ffff:1.2.3.4]:5', '1.2.3.4'],
  ['ipv6:[2001:db8:1:2::9]:5678', '2001:db8:1:2::/64'],
  ['ipv4:1.2.3.4:5678', '1.2.3.4'],
  // A bare IPv6 address (no port) that does not end in something port-like.
  ['2001:db8:1:2::abc', '2001:db8:1:2::/64'],
  ['fe80::1%eth0', 'fe80::/64%eth0'],
])('%s -> %s', (peer, key) => {
  expect(rateKeyOf(peer)).toBe(key);
});

test('every address of one /64 shares a key; neighbouring /64s and IPv4 hosts do not', () => {
  const keys = new Set(Array.from({ length: 100 }, (_, i) => rateKeyOf(`2001:db8:aa:bb:${i.toString(16)}:${((i * 7919) & 0xffff).toString(16)}::1:${1000 + i}`)));
  expect([...keys]).toEqual(['2001:db8:aa:bb::/64']);
  expect(rateKeyOf('2001:db8:aa:bc::1:1')).not.toBe(rateKeyOf('2001:db8:aa:bb::1:1'));
  expect(rateKeyOf('10.0.0.1:1')).not.toBe(rateKeyOf('10.0.0.2:1'));
});

test('the same host over IPv4 and IPv4-mapped IPv6 (a dual-stack listener) gets one key', () => {
  expect(rateKeyOf('::ffff:203.0.113.7:40000')).toBe(rateKeyOf('203.0.113.7:40001'));
});

test('anything that is not an address is returned as it is, and nothing throws', () => {
  const garbage = [
    '',
    'unknown',
    'localhost:5678',
    '1.2.3:4',
    '1.2.3.256:4',
    '01.2.3.4:5',
    '1.2.3.4:99999',
    '[1.2.3.4]:5',
    '[::1',
    '[::1]:99999',
    '[nothost]:1',
    '::::1',
    '1:2:3:4:5:6:7:8:9:10',
    'fe80::1%',
    'ipv6:',
    'unix:gateway.sock',
    '\u0000',
    'x'.repeat(10_000),
  ];
  for (const peer of garbage) expect({ peer, key: rateKeyOf(peer) }).toEqual({ peer, key: peer });
  for (const odd of [undefined, null, 42, {}] as unknown as string[]) expect(() => rateKeyOf(odd)).not.toThrow();
});
