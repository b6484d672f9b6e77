import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { BIN, startNode, type Child } from '../helpers/processes';
import { GatewayConnection, unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { CronService } from '../../src/gen/openclaw/cron/v1/cron_pb';
import { SessionService } from '../../src/gen/openclaw/sessions/v1/sessions_pb';
import { EventService, type SubscribeResponse } from '../../src/gen/openclaw/events/v1/events_pb';
import { readCertsDir } from '../../src/identity';

/** Waits for the first event matching `pred` on a subscription. */
function waitEvent(stream: grpc.ClientReadableStream<SubscribeResponse>, pred: (type: string, payload: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('event did not arrive')), timeoutMs);
    const onData = (m: SubscribeResponse) => {
      const e = m.event!;
      const payload = JSON.parse(e.payloadJson) as Record<string, unknown>;
      if (pred(e.type, payload)) {
        clearTimeout(timer);
        stream.off('data', onData);
        resolve(payload);
      }
    };
    stream.on('data', onData);
  });
}

describe('the worker as a separate process with its own backend certificate', () => {
  let t: TestGateway;
  let worker: Child;
  beforeAll(async () => {
    t = await startTestGateway();
    worker = startNode(BIN.gateway, ['worker', '--gateway', t.address, '--certs', t.gw.identities.worker, '--log-level', 'warn']);
    await worker.waitFor(/worker \S+ started/);
  });
  afterAll(async () => {
    await worker.kill();
    await t.close();
  });

  test('a short-interval cron job fires, the worker creates and lists a session over gRPC, history shows success', async () => {
    const conn = t.connect('cli');
    const cron = conn.client(CronService);
    const events = conn.client(EventService).subscribe({ types: ['cron'] });
    events.on('error', () => undefined); // cancelled below on purpose
    const { job } = await unaryCall(cron, cron.addJob, {
      name: 'every-second',
      schedule: { kind: { case: 'everyMs', value: 1000n } },
      payload: { kind: { case: 'agentTurn', value: { message: 'status report please' } } },
      enabled: true,
    });
    const finished = await waitEvent(events, (type, p) => type === 'cron' && p.action === 'finished' && p.jobId === job!.jobId);
    events.cancel();
    expect(finished.status).toBe('ok');
    // The run that finished (on a loaded machine more runs of this every-second job may be queued after it).
    const { runs } = await unaryCall(cron, cron.listRuns, { jobId: job!.jobId, limit: 500 });
    const ok = runs.find((r) => r.runId === finished.runId)!;
    expect(ok.status).toBe('ok');
    expect(ok.sessionId).toMatch(/\S/);
    expect(ok.output).toContain('status report please');
    expect(Number(ok.durationMs)).toBeGreaterThanOrEqual(0);
    const sessions = conn.client(SessionService);
    const { messages } = await unaryCall(sessions, sessions.getHistory, { sessionId: ok.sessionId, limit: 10 });
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    await unaryCall(cron, cron.removeJob, { jobId: job!.jobId });
    // No pairing, ever, for a provisioned backend.
    expect(worker.output()).not.toMatch(/pairing required/i);
    expect(t.logs.audits('call.deny').filter((l) => l.deviceId === readCertsDir(t.gw.identities.worker).meta?.deviceId)).toEqual([]);
  });

  test('1,000 backend calls in a row: 0 identity failures', async () => {
    const c = readCertsDir(t.gw.identities.worker);
    const conn = new GatewayConnection(t.address, { caPem: c.caPem, keyPem: c.keyPem, certPem: c.certPem });
    const sessions = conn.client(SessionService);
    let failures = 0;
    for (let i = 0; i < 1000; i++) {
      try {
        await unaryCall(sessions, sessions.listSessions, {});
      } catch {
        failures++;
      }
    }
    conn.close();
    expect(failures).toBe(0);
  });
});

describe('restart: jobs and transcripts survive a killed gateway process', () => {
  test('kill -9 then start again on the same state dir', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'ocgw-restart-'));
    const start = () => startNode(BIN.gateway, ['start', '--state-dir', stateDir, '--grpc-port', '0', '--no-bridge', '--no-worker', '--log-level', 'warn']);
    const connect = (port: string) => {
      const c = readCertsDir(join(stateDir, 'identities', 'cli'));
      return new GatewayConnection(`127.0.0.1:${port}`, { caPem: c.caPem, keyPem: c.keyPem, certPem: c.certPem }, { 'grpc.use_local_subchannel_pool': 1 });
    };
    let gw = start();
    try {
      let port = (await gw.waitFor(/gRPC \(mTLS\):\s+127\.0\.0\.1:(\d+)/))[1];
      let conn = connect(port);
      const cron = conn.client(CronService);
      const sessions = conn.client(SessionService);
      const { job } = await unaryCall(cron, cron.addJob, { name: 'nightly', schedule: { kind: { case: 'cron', value: '0 3 * * *' }, tz: 'UTC' }, payload: { kind: { case: 'systemEvent', value: { text: 'wake up' } } }, enabled: true });
      const { session } = await unaryCall(sessions, sessions.createSession, { label: 'kept' });
      await new Promise<void>((resolve, reject) => {
        const s = sessions.sendMessage({ sessionId: session!.sessionId, text: 'remember me' });
        s.on('data', () => undefined);
        s.on('end', resolve);
        s.on('error', reject);
      });
      conn.close();
      await gw.kill('SIGKILL');

      gw = start();
      port = (await gw.waitFor(/gRPC \(mTLS\):\s+127\.0\.0\.1:(\d+)/))[1];
      conn = connect(port);
      const cron2 = conn.client(CronService);
      const sessions2 = conn.client(SessionService);
      const jobs = await unaryCall(cron2, cron2.listJobs, {});
      expect(jobs.jobs.map((j) => j.jobId)).toContain(job!.jobId);
      const { messages } = await unaryCall(sessions2, sessions2.getHistory, { sessionId: session!.sessionId, limit: 10 });
      expect(messages[0].text).toBe('remember me');
      expect(messages[1].role).toBe('assistant');
      conn.close();
    } finally {
      await gw.kill();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
