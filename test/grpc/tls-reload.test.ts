/**
 * The server certificate is replaced while clients are busy: no call fails, open
 * connections keep their session, and new handshakes see the new certificate. A
 * broken replacement (key and certificate that do not match) is refused and the
 * gateway keeps serving the previous one.
 */
import { gatewayServerName } from '../../src/identity';
import { readFileSync } from 'node:fs';
import { generateRsaKeyPair, readCertsDir, SERVER_CERT_LIFETIME_MS } from '../../src/identity';
import { writeFileAtomicSync } from '../../src/store/atomic-file';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { unaryCall, type GatewayConnection } from '../../src/transport/grpc/client/gateway-connection';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { Connections, normSerial, serverCertSerial } from '../helpers/grpc-kit';

const conns = new Connections();
let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  conns.closeAll();
  await t.close();
});

const NAMES = ['localhost', '127.0.0.1', '::1'];

/** Issues a new server certificate with the gateway's CA; returns PEMs as the gateway stores them (leaf + CA). */
function newServerCert(): { certPem: string; keyPem: string; serial: string } {
  const keys = generateRsaKeyPair(2048);
  const issued = t.gw.registry.ca.issueServer({ publicKeyPem: keys.publicKeyPem, names: [gatewayServerName(t.gw.trustDomain), ...NAMES], now: Date.now(), lifetimeMs: SERVER_CERT_LIFETIME_MS });
  return { certPem: issued.certPem + t.gw.registry.ca.certPem, keyPem: keys.privateKeyPem, serial: normSerial(issued.serial) };
}

async function getStatus(c: GatewayConnection): Promise<void> {
  const g = c.client(GatewayService);
  await unaryCall(g, g.getStatus, {}, { timeoutMs: 10_000 });
}

test('reloading the server certificate under load: 0 failed calls, new connections get the new certificate', async () => {
  const ca = t.gw.registry.ca.certPem;
  const before = await serverCertSerial('127.0.0.1', t.gw.grpcPort, ca);
  const next = newServerCert();
  expect(next.serial).not.toBe(before);

  const conn = t.connect('cli');
  await getStatus(conn);

  const TOTAL = 200;
  const CONCURRENCY = 4;
  const RELOAD_AT = 60;
  let started = 0;
  let done = 0;
  let reloadedAfter = -1;
  const failures: unknown[] = [];
  let midConn: GatewayConnection | undefined;
  const midCalls: Promise<void>[] = [];

  const worker = async () => {
    while (started < TOTAL) {
      started++;
      try {
        await getStatus(conn);
      } catch (err) {
        failures.push(err);
      }
      done++;
      if (done === RELOAD_AT) {
        // Calls are in flight on the other workers while the files change and the gateway reloads.
        writeFileAtomicSync(t.gw.paths.serverKey, next.keyPem, 0o600);
        writeFileAtomicSync(t.gw.paths.serverCert, next.certPem, 0o644);
        expect(t.gw.reloadTls()).toBe(true);
        reloadedAfter = done;
        // A connection made in the middle of the run handshakes with the new certificate.
        midConn = conns.connect(t.address, { caPem: ca, keyPem: readCli().keyPem, certPem: readCli().certPem });
        midCalls.push(getStatus(midConn).catch((err: unknown) => void failures.push(err)));
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await Promise.all(midCalls);

  expect(failures).toEqual([]);
  expect(done).toBe(TOTAL);
  expect(reloadedAfter).toBe(RELOAD_AT);
  expect(done - reloadedAfter).toBeGreaterThan(100);

  // A fresh handshake shows the new serial; the old connection still works.
  expect(await serverCertSerial('127.0.0.1', t.gw.grpcPort, ca)).toBe(next.serial);
  await getStatus(conn);
  const fresh = conns.connect(t.address, { caPem: ca, keyPem: readCli().keyPem, certPem: readCli().certPem });
  await getStatus(fresh);
  // Reloading unchanged files is a no-op.
  expect(t.gw.reloadTls()).toBe(false);
  expect(t.logs.lines.some((l) => l.msg === 'reloaded the server certificate and CA bundle')).toBe(true);
});

test('a key that does not match the certificate is refused; the gateway keeps serving the previous certificate', async () => {
  const ca = t.gw.registry.ca.certPem;
  const current = await serverCertSerial('127.0.0.1', t.gw.grpcPort, ca);
  const savedKey = readFileSync(t.gw.paths.serverKey, 'utf8');
  const next = newServerCert();
  // Half-written update: new certificate, old key.
  writeFileAtomicSync(t.gw.paths.serverCert, next.certPem, 0o644);
  expect(() => t.gw.reloadTls()).toThrow(expect.objectContaining({ reason: 'TLS_KEY_MISMATCH' }) as unknown as Error);
  expect(await serverCertSerial('127.0.0.1', t.gw.grpcPort, ca)).toBe(current);
  await getStatus(conns.connect(t.address, { caPem: ca, keyPem: readCli().keyPem, certPem: readCli().certPem }));
  // Completing the update applies it.
  expect(savedKey).not.toBe(next.keyPem);
  writeFileAtomicSync(t.gw.paths.serverKey, next.keyPem, 0o600);
  expect(t.gw.reloadTls()).toBe(true);
  expect(await serverCertSerial('127.0.0.1', t.gw.grpcPort, ca)).toBe(next.serial);
});

function readCli(): { keyPem: string; certPem: string } {
  return readCertsDir(t.gw.identities.cli);
}
