/**
 * The legacy port over TLS (`wss://`, `https://`): a certificate from the gateway's CA
 * or one the operator brings, TLS 1.2 at least, HSTS, a plain request refused with a
 * readable answer, certificates replaced under live connections, and a plain port on a
 * non-loopback address refused unless the operator accepts it.
 */
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import WebSocket from 'ws';
import { startBridge } from '../../src/bridge/ws';
import { checkBridgeExposure, isLoopbackHost } from '../../src/bridge/ws/exposure';
import { fileTlsSource, readTlsPair } from '../../src/bridge/ws/tls-source';
import { systemClock } from '../../src/clock';
import { resolveGatewayConfig } from '../../src/config/gateway-config';
import { ensureServerCert, loadOrCreateCa, serverCertFolder, statePaths, type CertificateAuthority } from '../../src/identity';
import { createLogger } from '../../src/logging';
import { GatewayConnection } from '../../src/transport/grpc/client/gateway-connection';
import { eventually } from '../helpers/eventually';
import { LogCapture, startTestGateway, type TestGateway } from '../helpers/gateway';
import { connectParams } from './legacy-client';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'ocgw-tls-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A CA of the test's own (another trust domain than any gateway's), as a user's own CA would be. */
function ownCa(): { ca: CertificateAuthority; dir: string } {
  const dir = tmp();
  return { ca: loadOrCreateCa(statePaths(dir), systemClock).ca, dir };
}

/** Issues a server certificate from `ca` for the loopback names into a fresh folder. */
function issueInto(ca: CertificateAuthority, names = ['localhost', '127.0.0.1']): { cert: string; key: string; serial: string } {
  const folder = serverCertFolder(tmp());
  ensureServerCert(folder, ca, names, systemClock);
  return { cert: folder.serverCert, key: folder.serverKey, serial: new X509Certificate(readFileSync(folder.serverCert)).serialNumber };
}

/** The certificate a TLS server presents to a client trusting `ca` (rejects what the client rejects). */
function peerOf(port: number, o: { ca?: string; minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2'; maxVersion?: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'; servername?: string } = {}): Promise<PeerCertificate & { protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: o.servername ?? 'localhost',
      ca: o.ca,
      minVersion: o.minVersion,
      maxVersion: o.maxVersion,
      // Lets this client offer TLS 1.0/1.1 at all (OpenSSL's default security level forbids them client-side).
      ...(o.maxVersion === 'TLSv1.1' ? { ciphers: 'DEFAULT@SECLEVEL=0' } : {}),
    });
    socket.once('secureConnect', () => {
      const cert = socket.getPeerCertificate();
      const protocol = socket.getProtocol();
      socket.end();
      resolve(Object.assign(cert, { protocol }));
    });
    socket.once('error', reject);
  });
}

/** A WebSocket hello with the shared token over `url`, trusting `ca`. */
async function tokenHello(url: string, token: string, ca?: string): Promise<{ ws: WebSocket; hello: any }> {
  const ws = new WebSocket(url, { ca });
  const frames: any[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (d) => {
    frames.push(JSON.parse(d.toString()));
    waiters.splice(0).forEach((w) => w());
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const next = async (pred: (f: any) => boolean) => {
    for (;;) {
      const i = frames.findIndex(pred);
      if (i >= 0) return frames.splice(i, 1)[0];
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  await next((f) => f.event === 'connect.challenge');
  ws.send(JSON.stringify({ type: 'req', id: 'c1', method: 'connect', params: connectParams({ scopes: ['operator.read'], auth: { token } }) }));
  const hello = await next((f) => f.id === 'c1');
  const call = async (method: string) => {
    const id = `r${Math.random()}`;
    ws.send(JSON.stringify({ type: 'req', id, method, params: {} }));
    return next((f) => f.id === id);
  };
  return { ws, hello: Object.assign(hello, { call }) };
}

function getText(url: string, ca?: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? httpsGet : httpGet)(url, url.startsWith('https:') ? { ca } : {}, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

describe('TLS with a certificate from the gateway\'s CA (--bridge-tls)', () => {
  let t: TestGateway;
  let caPem: string;
  let token: string;
  let port: number;
  beforeAll(async () => {
    t = await startTestGateway({ bridge: true, bridgeTls: true });
    caPem = readFileSync(t.gw.paths.caCert, 'utf8');
    token = readFileSync(t.gw.legacyTokenFile!, 'utf8').trim();
    port = Number(new URL(t.gw.bridgeUrl!).port);
  });
  afterAll(() => t.close());

  test('the bridge announces wss:// and a client that trusts our CA completes the legacy handshake', async () => {
    expect(t.gw.bridgeUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/$/);
    const { ws, hello } = await tokenHello(t.gw.bridgeUrl!, token, caPem);
    expect(hello).toMatchObject({ type: 'res', ok: true, payload: { type: 'hello-ok', protocol: 4 } });
    expect(await hello.call('health')).toMatchObject({ ok: true });
    ws.close();
  });

  test('the certificate is the gateway server certificate: issued by our CA, naming localhost and 127.0.0.1', async () => {
    const peer = await peerOf(port, { ca: caPem });
    const served = new X509Certificate(peer.raw);
    expect(served.verify(new X509Certificate(caPem).publicKey)).toBe(true);
    expect(served.subjectAltName).toContain('DNS:localhost');
    expect(served.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(served.serialNumber).toBe(new X509Certificate(readFileSync(t.gw.paths.serverCert)).serialNumber);
  });

  test('a client that does not trust our CA refuses the connection (the check is the client\'s)', async () => {
    await expect(peerOf(port)).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
    await expect(tokenHello(t.gw.bridgeUrl!, token)).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
  });

  test('TLS 1.1 and older are refused; TLS 1.2 and 1.3 are accepted', async () => {
    await expect(peerOf(port, { ca: caPem, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' })).rejects.toThrow(/protocol version|unsupported protocol|no protocols available|wrong version/i);
    expect((await peerOf(port, { ca: caPem, maxVersion: 'TLSv1.2' })).protocol).toBe('TLSv1.2');
    expect((await peerOf(port, { ca: caPem })).protocol).toBe('TLSv1.3');
  });

  test('HTTPS answers carry HSTS; /healthz works over https://', async () => {
    const r = await getText(`https://127.0.0.1:${port}/healthz`, caPem);
    expect(r.status).toBe(200);
    expect(r.headers['strict-transport-security']).toBe('max-age=31536000');
  });

  test('plain http:// and ws:// on the TLS port get one readable 400, and the port keeps serving', async () => {
    const r = await getText(`http://127.0.0.1:${port}/healthz`);
    expect(r.status).toBe(400);
    expect(r.body).toMatch(/this port speaks TLS: use https:\/\/ \(or wss:\/\//i);
    await expect(tokenHello(`ws://127.0.0.1:${port}/`, token)).rejects.toThrow(/400/);
    const { ws, hello } = await tokenHello(t.gw.bridgeUrl!, token, caPem);
    expect(hello.ok).toBe(true);
    ws.close();
  });

  test('the bridge\'s listening address is named in the server certificate when it is specific', () => {
    // 127.0.0.1 is always there; the config adds the bridge host (a wildcard address names nothing).
    const meta = JSON.parse(readFileSync(t.gw.paths.serverMeta, 'utf8')) as { names: string[] };
    expect(meta.names).toContain('127.0.0.1');
  });
});

describe('TLS with a certificate the operator brings (--bridge-cert/--bridge-key)', () => {
  let t: TestGateway;
  let own: { ca: CertificateAuthority };
  let live: { cert: string; key: string };
  let token: string;
  let port: number;
  beforeAll(async () => {
    own = ownCa();
    const first = issueInto(own.ca);
    // The files the gateway watches: copied, so the test can replace them in place.
    const dir = tmp();
    live = { cert: join(dir, 'bridge.crt'), key: join(dir, 'bridge.key') };
    copyFileSync(first.cert, live.cert);
    copyFileSync(first.key, live.key);
    t = await startTestGateway({ bridge: true, bridgeTls: live });
    token = readFileSync(t.gw.legacyTokenFile!, 'utf8').trim();
    port = Number(new URL(t.gw.bridgeUrl!).port);
  });
  afterAll(() => t.close());

  test('a client trusting the operator\'s CA connects; one trusting only the gateway\'s CA is refused', async () => {
    const { ws, hello } = await tokenHello(t.gw.bridgeUrl!, token, own.ca.certPem);
    expect(hello.ok).toBe(true);
    ws.close();
    await expect(tokenHello(t.gw.bridgeUrl!, token, readFileSync(t.gw.paths.caCert, 'utf8'))).rejects.toThrow(/unable to (get|verify)|self[- ]signed/i);
  });

  test('replaced files are served to new connections while a live connection keeps working; a broken pair is not loaded', async () => {
    const before = (await peerOf(port, { ca: own.ca.certPem })).serialNumber;
    const { ws, hello } = await tokenHello(t.gw.bridgeUrl!, token, own.ca.certPem);
    expect(hello.ok).toBe(true);

    // Half a replacement: a new key next to the old certificate. Not usable: the old pair stays.
    const next = issueInto(own.ca);
    copyFileSync(next.key, live.key);
    await eventually('the half replacement is noticed and refused', () => t.logs.lines.some((l) => /TLS files changed but are not usable/.test(String(l.msg))), 15_000);
    expect((await peerOf(port, { ca: own.ca.certPem })).serialNumber).toBe(before);

    // The certificate follows: the new pair is served to new handshakes.
    copyFileSync(next.cert, live.cert);
    await eventually('new handshakes get the new certificate', async () => (await peerOf(port, { ca: own.ca.certPem })).serialNumber === next.serial, 15_000);
    expect(t.logs.lines.some((l) => l.msg === 'the legacy port serves a new TLS certificate')).toBe(true);

    // The connection made before the change was not dropped.
    expect(await hello.call('health')).toMatchObject({ ok: true });
    ws.close();
  });

  test('unusable files at start are refused with one clear line', async () => {
    const { ca } = ownCa();
    const a = issueInto(ca);
    const b = issueInto(ca);
    expect(() => readTlsPair(a.cert, b.key)).toThrow(/is not the key of the certificate/);
    const junk = join(tmp(), 'junk.pem');
    writeFileSync(junk, 'not a certificate');
    expect(() => readTlsPair(junk, a.key)).toThrow(/holds no PEM certificate/);
    expect(() => readTlsPair(join(tmp(), 'missing.pem'), a.key)).toThrow(/cannot read the bridge's TLS files/);
    // Outside its validity period, as TLS clients would refuse it.
    const leaf = new X509Certificate(readFileSync(a.cert));
    expect(() => readTlsPair(a.cert, a.key, Date.parse(leaf.validTo) + 1)).toThrow(/expired on/);
    expect(() => readTlsPair(a.cert, a.key, Date.parse(leaf.validFrom) - 1)).toThrow(/is not valid before/);
    expect(readTlsPair(a.cert, a.key).leaf.serialNumber).toBe(a.serial);
    expect(() => resolveGatewayConfig({ bridgeCert: a.cert }, {})).toThrow(/--bridge-cert and --bridge-key go together/);
  });
});

describe('a plain port on an address other hosts can reach', () => {
  test('loopback addresses are told apart from the rest', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', 'gateway.example', '::ffff:10.0.0.1']) expect(isLoopbackHost(h)).toBe(false);
  });

  test('the gateway refuses it without TLS, before it creates anything; TLS or --bridge-insecure allow it', () => {
    expect(() => resolveGatewayConfig({ bridgeHost: '0.0.0.0' }, {})).toThrow(/would listen on 0\.0\.0\.0 without TLS.*--bridge-tls.*--bridge-insecure/);
    expect(() => resolveGatewayConfig({}, { OPENCLAW_BRIDGE_HOST: '192.168.1.10' })).toThrow(/BRIDGE_NEEDS_TLS|without TLS/);
    expect(resolveGatewayConfig({ bridgeHost: '0.0.0.0', bridgeTls: true }, {}).bridgeTls).toEqual({ kind: 'ca' });
    expect(resolveGatewayConfig({}, { OPENCLAW_BRIDGE_HOST: '0.0.0.0', OPENCLAW_BRIDGE_TLS: '1' }).bridgeTls).toEqual({ kind: 'ca' });
    expect(resolveGatewayConfig({ bridgeHost: '0.0.0.0', bridgeInsecure: true }, {}).bridgeInsecure).toBe(true);
    expect(resolveGatewayConfig({}, { OPENCLAW_BRIDGE_HOST: '0.0.0.0', OPENCLAW_BRIDGE_INSECURE: '1' }).bridgeInsecure).toBe(true);
    // Without a bridge in this process there is nothing to refuse.
    expect(() => resolveGatewayConfig({ bridgeHost: '0.0.0.0', bridge: false }, {})).not.toThrow();
    expect(checkBridgeExposure('127.0.0.1', false, false)).toBe('secure');
  });

  test('the bridge itself refuses it (the standalone bridge too), and with --bridge-insecure it warns at start', async () => {
    const logs = new LogCapture();
    const log = createLogger({ level: 'debug', destination: logs });
    // Never dialled: the bridge is refused (or fails to bind) before any call.
    const gateway = new GatewayConnection('127.0.0.1:1', { caPem: '', keyPem: '', certPem: '' });
    try {
      await expect(startBridge({ host: '0.0.0.0', port: 0, gateway, legacyToken: 'x'.repeat(24), log })).rejects.toThrow(/without TLS/);
      // 192.0.2.1 (TEST-NET-1) is on no interface here: the start warns, then cannot bind, so nothing listens beyond loopback.
      await expect(startBridge({ host: '192.0.2.1', port: 0, gateway, legacyToken: 'x'.repeat(24), log, insecure: true })).rejects.toThrow(/cannot listen on 192\.0\.2\.1/);
      expect(logs.lines.filter((l) => /listens without TLS on an address other hosts can reach/.test(String(l.msg)))).toHaveLength(1);
    } finally {
      gateway.close();
    }
  });
});

describe('the file source', () => {
  test('announces a new pair once, and nothing for a rewrite with the same content', async () => {
    const { ca } = ownCa();
    const a = issueInto(ca);
    const dir = tmp();
    const live = { cert: join(dir, 'c.pem'), key: join(dir, 'k.pem') };
    copyFileSync(a.cert, live.cert);
    copyFileSync(a.key, live.key);
    const seen: string[] = [];
    const src = fileTlsSource(live.cert, live.key, { intervalMs: 50 });
    src.onChange((p) => seen.push(p.leaf.serialNumber));
    try {
      copyFileSync(a.cert, live.cert);
      const b = issueInto(ca);
      copyFileSync(b.key, live.key);
      copyFileSync(b.cert, live.cert);
      await eventually('the new pair is announced', () => seen.length > 0, 10_000);
      expect(seen).toEqual([b.serial]);
      expect(src.current().leaf.serialNumber).toBe(b.serial);
    } finally {
      src.close();
    }
  });
});
