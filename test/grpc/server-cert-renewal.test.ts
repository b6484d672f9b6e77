/**
 * The running gateway's server-certificate check (hourly) while another process holds
 * the server certificate's lock (certs-tools issuing it, say): the renewal waits for
 * the lock without blocking the event loop, so calls keep being answered at their
 * usual speed; once the lock is free it re-issues, and new connections get the new
 * certificate.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { serverCertSerial } from '../helpers/grpc-kit';
import { helperScript, startNode } from '../helpers/run-cli';

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  await t.close();
});

test('while another process holds the server certificate lock, calls are answered at once and the renewal waits; then it re-issues', async () => {
  const { paths } = t.gw;
  const ca = t.gw.registry.ca.certPem;
  const conn = t.connect('cli');
  const g = conn.client(GatewayService);
  await unaryCall(g, g.getStatus, {});
  const before = await serverCertSerial('127.0.0.1', t.gw.grpcPort, ca);

  // Due for re-issue: the metadata no longer lists a name the gateway asks for.
  const meta = JSON.parse(readFileSync(paths.serverMeta, 'utf8')) as { names: string[] };
  writeFileSync(paths.serverMeta, JSON.stringify({ ...meta, names: meta.names.filter((n) => n !== 'localhost') }));

  const holder = startNode(helperScript('store-writer'), [paths.serverMeta, 'hold-file-lock']);
  await holder.waitForLine((l) => l.startsWith('locked '));
  let settled = false;
  const renewal = t.gw.renewServerCert().finally(() => (settled = true));

  // Calls for a second of the wait: each answered in well under the time the lock is held.
  const durations: number[] = [];
  for (const waitStarted = Date.now(); Date.now() - waitStarted < 1000; ) {
    const t0 = Date.now();
    await unaryCall(g, g.getStatus, {});
    durations.push(Date.now() - t0);
  }
  expect(settled).toBe(false);
  expect(durations.length).toBeGreaterThan(10);
  // (A renewal that blocked the process would hold every call until the lock is let go, after this loop.)
  expect(Math.max(...durations)).toBeLessThan(800);
  expect(await serverCertSerial('127.0.0.1', t.gw.grpcPort, ca)).toBe(before);

  // The holder lets go: the renewal takes the lock, re-issues with every name, and applies it.
  holder.child.stdin!.end();
  expect((await holder.exited).code).toBe(0);
  await expect(renewal).resolves.toBe(true);
  expect((JSON.parse(readFileSync(paths.serverMeta, 'utf8')) as { names: string[] }).names).toContain('localhost');
  expect(await serverCertSerial('127.0.0.1', t.gw.grpcPort, ca)).not.toBe(before);
  await unaryCall(g, g.getStatus, {});
  // Nothing left to do: the next check re-issues nothing.
  await expect(t.gw.renewServerCert()).resolves.toBe(false);
});
