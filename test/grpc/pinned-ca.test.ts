/**
 * fetchPinnedCa against a plain TLS server: the server name (SNI) it sends is the host
 * for a DNS name and nothing for any IP literal (RFC 6066; Node warns DEP0123 otherwise),
 * IPv6 literals with hex letters included.
 */
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { certificateFingerprint } from '../../src/identity';
import { fetchPinnedCa } from '../../src/transport/grpc/client/pinned-ca';
import { foreignIdentity, pemBody } from '../helpers/grpc-kit';

const id = foreignIdentity();
let server: Server;
let port: number;

beforeAll(async () => {
  server = createServer({ key: id.keyPem, cert: id.certPem + id.caPem, ALPNProtocols: ['h2'] }, (s: TLSSocket) => s.end());
  // Dual stack: reachable as 127.0.0.1, ::1 and ::ffff:127.0.0.1.
  await new Promise<void>((resolve) => server.listen(0, '::', resolve));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

test.each([
  ['127.0.0.1', false],
  ['::1', false],
  ['::ffff:127.0.0.1', false],
  ['0:0:0:0:0:ffff:7f00:1', false],
  ['localhost', 'localhost'],
] as const)('%s: SNI %s', async (host, sni) => {
  // The server name the handshake carried (false: none).
  const seen = new Promise<string | false>((resolve) => server.once('secureConnection', (s: TLSSocket) => resolve(s.servername || false)));
  const ca = await fetchPinnedCa(host, port, certificateFingerprint(id.caPem));
  expect(pemBody(ca)).toBe(pemBody(id.caPem));
  expect(await seen).toBe(sni);
});
