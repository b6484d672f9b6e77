/**
 * /metrics, scraped for real over HTTP from a gateway started with a metrics address:
 * calls by method and status (refused calls included), denials by reason, cron runs by
 * outcome, the scrape-time gauges, and the process metrics. No device id in any label.
 * Without a metrics address nothing listens and nothing is counted.
 */
import { request } from 'node:http';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { PairingService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { CronService } from '../../src/gen/openclaw/cron/v1/cron_pb';
import { EventService } from '../../src/gen/openclaw/events/v1/events_pb';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { resolveGatewayConfig } from '../../src/config/gateway-config';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { DAY_MS, newKey, provisionAt, StreamReader } from '../helpers/grpc-kit';

let t: TestGateway;

beforeAll(async () => {
  t = await startTestGateway({ metricsAddr: '127.0.0.1:0' });
});
afterAll(async () => {
  await t?.close();
});

function get(url: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of one sample line `name{labels} value`, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return undefined;
}

const scrape = async () => {
  const r = await get(t.gw.metricsUrl!);
  expect(r.status).toBe(200);
  expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
  return r.body;
};

test('calls are counted by method and status, refused ones too, and denials by reason', async () => {
  expect(t.gw.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  const before = await scrape();
  const status = '/openclaw.gateway.v1.GatewayService/GetStatus';
  const g = t.connect('cli').client(GatewayService);
  await unaryCall(g, g.getStatus, {});
  await unaryCall(g, g.getStatus, {});
  const anon = t.anonymous().client(GatewayService);
  await expect(unaryCall(anon, anon.getStatus, {})).rejects.toMatchObject({ reason: 'NO_CLIENT_CERT' });
  const after = await scrape();
  const ok = (text: string) => sample(text, 'openclaw_grpc_server_handled_total', { grpc_method: status, grpc_code: 'OK' }) ?? 0;
  const refused = (text: string) => sample(text, 'openclaw_grpc_server_handled_total', { grpc_method: status, grpc_code: 'UNAUTHENTICATED' }) ?? 0;
  const denials = (text: string) => sample(text, 'openclaw_auth_denials_total', { reason: 'NO_CLIENT_CERT' }) ?? 0;
  expect(ok(after) - ok(before)).toBe(2);
  expect(refused(after) - refused(before)).toBe(1);
  expect(denials(after) - denials(before)).toBe(1);
  // Labels are methods, codes and reasons: never a device id.
  const ids = t.gw.registry.list().map((d) => d.id);
  for (const id of ids) expect(after.includes(id)).toBe(false);
});

test('gauges are read at scrape time: pairing queue, streams and subscriptions, certificates expiring within 7 days', async () => {
  const base = await scrape();
  const p = t.anonymous().client(PairingService);
  await unaryCall(p, p.submitCsr, { csrPem: newKey().csr('metrics-phone'), label: 'metrics-phone', role: 'operator', scopes: [], bootstrapToken: '' });
  const now = Date.now();
  await provisionAt(t, now, { role: 'node', label: 'short-lived', lifetimeMs: 3 * DAY_MS });
  const events = new StreamReader(t.connect('cli').client(EventService).subscribe({ types: ['cron'] }));
  expect((await events.next()).event?.type).toBe('subscribed');
  const text = await scrape();
  expect(sample(text, 'openclaw_pairing_requests_pending')).toBe((sample(base, 'openclaw_pairing_requests_pending') ?? 0) + 1);
  expect(sample(text, 'openclaw_certificates_expiring_7d')).toBe((sample(base, 'openclaw_certificates_expiring_7d') ?? 0) + 1);
  expect(sample(text, 'openclaw_streams_active')).toBeGreaterThanOrEqual(1);
  expect(sample(text, 'openclaw_event_subscriptions_active')).toBeGreaterThanOrEqual(1);
  expect(sample(text, 'openclaw_bridge_connections_active')).toBe(0);
  expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  expect(sample(text, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
  await events.cancel();
});

test('cron runs are counted by outcome when a worker reports them', async () => {
  const text0 = await scrape();
  const cron = t.connect('cli').client(CronService);
  const job = await unaryCall(cron, cron.addJob, {
    name: 'metrics job',
    enabled: false,
    schedule: { kind: { case: 'everyMs', value: 3_600_000n } },
    payload: { kind: { case: 'systemEvent', value: { text: 'hi' } } },
  });
  const run = await unaryCall(cron, cron.runJob, { jobId: job.job!.jobId });
  const w = t.connect('worker').client(CronService);
  await unaryCall(w, w.completeRun, { runId: run.run!.runId, status: 'error', error: 'boom' });
  const text = await scrape();
  const errs = (s: string) => sample(s, 'openclaw_cron_runs_finished_total', { status: 'error' }) ?? 0;
  expect(errs(text) - errs(text0)).toBe(1);
});

test('only /metrics is served, and only to GET and HEAD', async () => {
  const base = t.gw.metricsUrl!.replace(/\/metrics$/, '');
  expect((await get(`${base}/`)).status).toBe(404);
  expect((await get(`${base}/metrics`, 'POST')).status).toBe(405);
  const head = await get(`${base}/metrics`, 'HEAD');
  expect({ status: head.status, body: head.body }).toEqual({ status: 200, body: '' });
});

test('a bad metrics address is refused before anything starts', () => {
  expect(() => resolveGatewayConfig({ metricsAddr: 'localhost' }, {})).toThrow(/metrics address must be HOST:PORT/);
  expect(() => resolveGatewayConfig({}, { OPENCLAW_METRICS_ADDR: '1.2.3.4:99999' })).toThrow(/metrics address must be HOST:PORT/);
  expect(resolveGatewayConfig({}, { OPENCLAW_METRICS_ADDR: ':9464' }).metricsAddr).toBe(':9464');
});

test('without a metrics address there is no endpoint', async () => {
  const plain = await startTestGateway();
  try {
    expect(plain.gw.metricsUrl).toBeUndefined();
  } finally {
    await plain.close();
  }
});
