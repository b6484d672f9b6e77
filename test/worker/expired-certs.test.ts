/**
 * A worker or bridge running as its own process whose certificate expired (a laptop that
 * slept, a container stopped over a holiday) renews itself through the signed-challenge
 * path and goes on working; one expired beyond the window says exactly what to do, does
 * not spin, and picks up a re-issued folder without a restart. Certificates are issued
 * "in the past" by moving the test gateway's clock back while provisioning.
 */
import type * as grpc from '@grpc/grpc-js';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { BIN, startNode, type Child } from '../helpers/processes';
import { useTmpDirs } from '../helpers/tmp';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { CronService } from '../../src/gen/openclaw/cron/v1/cron_pb';
import { EventService, type SubscribeResponse } from '../../src/gen/openclaw/events/v1/events_pb';
import { writeIssuedIdentity } from '../../src/identity';
import { ManualClock } from '../../src/clock';
import { DeviceRegistry } from '../../src/identity';
import { silentLogger } from '../../src/logging';
import { LegacyClient, connectParams } from '../bridge/legacy-client';

const DAY_MS = 24 * 3600_000;
const TOKEN = 'expired-certs-test-token-0123456789';
const tmp = useTmpDirs('expired-certs-');
let t: TestGateway;
const children: Child[] = [];

beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  for (const c of children) await c.kill();
  await t.close();
});

async function issueAgo(role: string, label: string, ageDays: number, dir = tmp()): Promise<{ dir: string; deviceId: string }> {
  // A registry of its own, whose clock is ageDays back, over the gateway's device store.
  const registry = new DeviceRegistry({ store: t.gw.devices, ca: t.gw.registry.ca, clock: new ManualClock(Date.now() - ageDays * DAY_MS), log: silentLogger(), policy: t.gw.registry.policy });
  const issued = await registry.provision({ role, label });
  writeIssuedIdentity(dir, issued, t.gw.registry.ca, { issuedBy: 'certs-tools', gateway: t.address });
  return { dir, deviceId: issued.device.id };
}

function start(args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const c = startNode(BIN.gateway, args, env);
  children.push(c);
  return c;
}

/** Adds an every-second job and resolves with its first finished run (status ok). */
async function cronRunsOnce(name: string): Promise<Record<string, unknown>> {
  const conn = t.connect('cli');
  const cron = conn.client(CronService);
  const events = conn.client(EventService).subscribe({ types: ['cron'] });
  events.on('error', () => undefined);
  const { job } = await unaryCall(cron, cron.addJob, {
    name,
    schedule: { kind: { case: 'everyMs', value: 1000n } },
    payload: { kind: { case: 'agentTurn', value: { message: `hello from ${name}` } } },
    enabled: true,
  });
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no finished run within 30 s')), 30_000);
      (events as grpc.ClientReadableStream<SubscribeResponse>).on('data', (m: SubscribeResponse) => {
        const p = JSON.parse(m.event!.payloadJson) as Record<string, unknown>;
        if (m.event!.type === 'cron' && p.action === 'finished' && p.jobId === job!.jobId) {
          clearTimeout(timer);
          resolve(p);
        }
      });
    });
  } finally {
    events.cancel();
    await unaryCall(cron, cron.removeJob, { jobId: job!.jobId });
  }
}

test('a worker process whose certificate expired a day ago renews itself and runs cron jobs', async () => {
  const w = await issueAgo('backend', 'sleepy-worker', 15);
  const worker = start(['worker', '--gateway', t.address, '--certs', w.dir, '--log-level', 'info']);
  await worker.waitFor(/renewed the worker certificate/);
  expect(t.logs.audits('device.renew').some((l) => l.deviceId === w.deviceId && l.afterExpiry === true)).toBe(true);
  const run = await cronRunsOnce('after-holiday');
  expect(run.status).toBe('ok');
  expect(worker.output()).not.toMatch(/renew it/);
  await worker.kill();
});

test('a worker expired beyond the window says what to do, does not spin, and picks up a re-issued folder', async () => {
  const w = await issueAgo('backend', 'ancient-worker', 30);
  const worker = start(['worker', '--gateway', t.address, '--certs', w.dir, '--log-level', 'info', '--renew-check', '1']);
  await worker.waitFor(/certs-tools issue --role backend --name ancient-worker --out/);
  expect(worker.output()).toMatch(/CERT_EXPIRED_BEYOND_WINDOW/);
  expect(worker.output()).not.toMatch(/renew it/);
  // What an operator does: issue the identity again into the same folder.
  const reissuedAt = Date.now();
  await issueAgo('backend', 'ancient-worker', 0, w.dir);
  expect((await cronRunsOnce('after-reissue')).status).toBe('ok');
  // It said so once, and did not ask the gateway again for the same refused certificate.
  expect(worker.output().match(/no usable certificate/g)).toHaveLength(1);
  expect(t.logs.audits('device.renew.denied').filter((l) => l.deviceId === w.deviceId)).toHaveLength(1);
  expect(Date.now() - reissuedAt).toBeLessThan(30_000);
  await worker.kill();
});

test('a bridge process whose certificate expired renews itself and serves legacy clients', async () => {
  const b = await issueAgo('bridge', 'sleepy-bridge', 15);
  const bridge = start(['bridge', '--gateway', t.address, '--certs', b.dir, '--port', '0', '--log-level', 'info'], { OPENCLAW_GATEWAY_TOKEN: TOKEN });
  const url = (await bridge.waitFor(/bridge listening on (ws:\/\/[^\s;]+)/))[1];
  expect(t.logs.audits('device.renew').some((l) => l.deviceId === b.deviceId && l.afterExpiry === true)).toBe(true);
  const client = await LegacyClient.open(url);
  await client.challenge();
  const hello = await client.request('connect', connectParams({ auth: { token: TOKEN } }));
  expect(hello).toMatchObject({ ok: true, payload: { type: 'hello-ok' } });
  expect(await client.request('health')).toMatchObject({ ok: true });
  await client.close();
  await bridge.kill();
});
