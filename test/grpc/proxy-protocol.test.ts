/**
 * The PROXY protocol (`--proxy-protocol`, behind HAProxy `send-proxy-v2`): the header
 * parser on its own, then a real gateway whose gRPC port expects the header: the
 * client address it names is the one the gateway records (pairing requests, rate
 * budgets), loopback TLS without a header still works (health checks, local tools), and
 * anything else without a valid header is closed.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { PairingService, DeviceService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { unaryCall, GatewayConnection } from '../../src/transport/grpc/client/gateway-connection';
import { parseProxyHeader, ProxyHeaderError } from '../../src/transport/grpc/server/proxy-protocol';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { newKey } from '../helpers/grpc-kit';

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** A v2 PROXY header for a TCP/IPv4 (or IPv6) client. */
function v2(src: string, sport: number, opts: { local?: boolean; tlv?: Buffer } = {}): Buffer {
  const v6 = src.includes(':');
  const addr = Buffer.alloc(v6 ? 36 : 12);
  if (v6) {
    const full = src.split('::');
    const left = full[0] ? full[0].split(':') : [];
    const right = full[1] ? full[1].split(':') : [];
    const groups = [...left, ...new Array(8 - left.length - right.length).fill('0'), ...right];
    groups.forEach((g, i) => addr.writeUInt16BE(parseInt(g, 16), i * 2));
    addr.writeUInt16BE(sport, 32);
    addr.writeUInt16BE(443, 34);
  } else {
    src.split('.').forEach((n, i) => (addr[i] = Number(n)));
    addr.set([10, 0, 0, 1], 4);
    addr.writeUInt16BE(sport, 8);
    addr.writeUInt16BE(443, 10);
  }
  const body = Buffer.concat([addr, opts.tlv ?? Buffer.alloc(0)]);
  const head = Buffer.from([opts.local ? 0x20 : 0x21, v6 ? 0x21 : 0x11, 0, 0]);
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIG, head, body]);
}

describe('parseProxyHeader', () => {
  test('v2: IPv4, IPv6 (compressed as Node prints it), TLVs skipped, LOCAL names no client', () => {
    expect(parseProxyHeader(v2('203.0.113.7', 4242))).toEqual({ length: 28, source: { address: '203.0.113.7', port: 4242 } });
    expect(parseProxyHeader(v2('2001:db8::1', 5000))?.source).toEqual({ address: '2001:db8::1', port: 5000 });
    const withTlv = v2('198.51.100.2', 1, { tlv: Buffer.from([0x04, 0x00, 0x01, 0x00]) });
    expect(parseProxyHeader(withTlv)).toEqual({ length: withTlv.length, source: { address: '198.51.100.2', port: 1 } });
    expect(parseProxyHeader(v2('203.0.113.7', 4242, { local: true }))).toEqual({ length: 28 });
  });

  test('v1: TCP4, TCP6, UNKNOWN', () => {
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 192.0.2.9 10.0.0.1 3456 443\r\nrest'))).toEqual({ length: 40, source: { address: '192.0.2.9', port: 3456 } });
    expect(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::9 2001:db8::1 3456 443\r\n'))?.source).toEqual({ address: '2001:db8::9', port: 3456 });
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toEqual({ length: 15 });
  });

  test('incomplete headers wait for more bytes, at every split point', () => {
    for (const whole of [v2('203.0.113.7', 4242), Buffer.from('PROXY TCP4 192.0.2.9 10.0.0.1 3456 443\r\n')]) {
      for (let i = 0; i < whole.length; i++) expect(parseProxyHeader(whole.subarray(0, i))).toBeUndefined();
      expect(parseProxyHeader(whole)).toBeDefined();
    }
  });

  test('anything else is refused with the reason', () => {
    const bad = [
      Buffer.from('GET / HTTP/1.1\r\n'),
      Buffer.from([0x16, 0x03, 0x01]),
      Buffer.from('PROXY TCP4 999.0.0.1 10.0.0.1 1 2\r\n'),
      Buffer.from('PROXY TCP4 192.0.2.9 10.0.0.1 99999 443\r\n'),
      Buffer.from('PROXY SCTP 1 2 3 4\r\n'),
      Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`),
      Buffer.concat([SIG, Buffer.from([0x31, 0x11, 0, 12]), Buffer.alloc(12)]), // version 3
      Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0xff, 0xff])]), // far too long
      Buffer.concat([SIG, Buffer.from([0x21, 0x31, 0, 0])]), // unix sockets
    ];
    for (const b of bad) expect(() => parseProxyHeader(b)).toThrow(ProxyHeaderError);
  });
});

describe('a gateway behind a PROXY-protocol balancer', () => {
  let t: TestGateway;
  let lb: Server;
  let lbPort = 0;
  /** What the stand-in balancer announces as the client of its next connection. */
  let announce: Buffer;
  const open = new Set<Socket>();

  beforeAll(async () => {
    t = await startTestGateway({ proxyProtocol: true });
    // A stand-in for HAProxy: prepend the header, then relay.
    lb = createServer((client) => {
      open.add(client);
      const upstream = connect(t.gw.grpcPort, '127.0.0.1', () => {
        upstream.write(announce);
        client.pipe(upstream);
        upstream.pipe(client);
      });
      open.add(upstream);
      const end = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve) => lb.listen(0, '127.0.0.1', resolve));
    lbPort = (lb.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of open) s.destroy();
    await new Promise((resolve) => lb?.close(resolve));
    await t?.close();
  });

  const viaBalancer = () => {
    const conn = new GatewayConnection(`127.0.0.1:${lbPort}`, { caPem: t.gw.registry.ca.certPem }, { 'grpc.use_local_subchannel_pool': 1 });
    return conn;
  };

  test('the client the header names is the one the gateway records (a pairing request from 203.0.113.7)', async () => {
    announce = v2('203.0.113.7', 40123);
    const conn = viaBalancer();
    try {
      const p = conn.client(PairingService);
      const res = await unaryCall(p, p.submitCsr, { csrPem: newKey().csr('behind-lb'), label: 'behind-lb', role: 'operator', scopes: [], bootstrapToken: '' });
      const d = t.connect('cli').client(DeviceService);
      const pending = (await unaryCall(d, d.listDevices, {})).pending.find((r) => r.requestId === res.requestId);
      expect(pending?.clientInfo).toBe('203.0.113.7');
    } finally {
      conn.close();
    }
  });

  test('TLS from loopback without a header still works (health checks, local tools)', async () => {
    const g = t.connect('cli').client(GatewayService);
    expect((await unaryCall(g, g.getStatus, {})).devicesActive).toBeGreaterThan(0);
  });

  test('a connection that starts with anything but a header (or loopback TLS) is closed, and logged', async () => {
    const closed = await new Promise<string>((resolve) => {
      const s = connect(t.gw.grpcPort, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', () => undefined);
    });
    expect(closed).toBe('');
    expect(t.logs.lines.some((l) => String(l.msg).startsWith('connection without a valid PROXY protocol header closed'))).toBe(true);
  });
});
