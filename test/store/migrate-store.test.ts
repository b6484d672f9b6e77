/**
 * Moving a gateway's state from its state dir to PostgreSQL: `openclaw-gateway
 * migrate-store --to URL` copies devices, bootstrap tokens, cron jobs and runs and the
 * runtime config, verified, and running it again writes nothing; a gateway then started
 * on the database serves the same devices, jobs and config. A real PostgreSQL server is
 * started by this file.
 */
import { silentLogger } from '../../src/logging';
import { readCertsDir } from '../../src/identity';
import { BootstrapTokens, openTokens } from '../../src/services/pairing/bootstrap-tokens';
import { openStore } from '../../src/store/open-store';
import { existsSync, writeFileSync } from 'node:fs';
import { ConfigService } from '../../src/gen/openclaw/config/v1/config_pb';
import { DeviceService } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { CronService as CronDesc } from '../../src/gen/openclaw/cron/v1/cron_pb';
import { CronService } from '../../src/services/cron/cron-service';
import { RecordingPublisher } from '../../src/services/events/event-publisher';
import { GatewayConnection, unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { systemClock } from '../../src/clock';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { BIN, startNode } from '../helpers/processes';
import { runCertsTools, runNode } from '../helpers/run-cli';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp';

let pg: TestPostgres;
let root: string;
beforeAll(async () => {
  pg = await startPostgres();
  root = makeTmpDir('migrate-');
});
afterAll(async () => {
  await pg?.stop();
  if (root) removeTmpDir(root);
});

test('files -> PostgreSQL: every device, token and cron record copied and verified, idempotent, then served from the database', async () => {
  const state = `${root}/state`;
  expect((await runCertsTools(['--state-dir', state, 'init'])).code).toBe(0);
  for (const name of ['laptop', 'phone']) expect((await runCertsTools(['--state-dir', state, 'issue', '--role', 'operator', '--name', name, '--out', `${root}/${name}`])).code).toBe(0);
  const files = await openStore({ stateDir: state, log: silentLogger() });
  const tokens = new BootstrapTokens(await openTokens(files), systemClock);
  await tokens.create({ label: 'kiosk', role: 'operator', scopes: ['operator.read'], ttlMs: 3600_000, uses: 2 });
  const cron = await CronService.open({ store: files, clock: systemClock, events: new RecordingPublisher(), logger: silentLogger() });
  const nightly = await cron.add({ name: 'nightly', schedule: { kind: 'cron', expr: '0 3 * * *', tz: 'UTC' }, payload: { kind: 'systemEvent', text: 'wake up' } });
  await cron.add({ name: 'hourly', schedule: { kind: 'every', everyMs: 3600_000 }, payload: { kind: 'agentTurn', message: 'status?' } });
  const run = await cron.runNow(nightly.jobId);
  await files.close();
  // The runtime config of an earlier release (a config.json): imported into the state dir's store, then copied.
  writeFileSync(`${state}/config.json`, JSON.stringify({ pairing: { maxPending: 7 } }));

  const url = await pg.createDatabase('migrated');
  const first = await runNode(BIN.gateway, ['migrate-store', '--state-dir', state, '--to', url]);
  expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
  expect(first.stdout).toContain('devices: 2 records, 2 written, verified');
  expect(first.stdout).toContain('bootstrap_tokens: 1 records, 1 written, verified');
  // Two jobs, one run, the creation counter.
  expect(first.stdout).toContain('cron: 4 records, 4 written, verified');
  expect(first.stdout).toContain('runtime_config: 1 records, 1 written, verified');
  expect(existsSync(`${state}/config.json.imported`)).toBe(true);
  const again = await runNode(BIN.gateway, ['migrate-store', '--state-dir', state, '--to', url]);
  expect(again.stdout).toContain('devices: 2 records, 0 written, verified');
  expect(again.stdout).toContain('bootstrap_tokens: 1 records, 0 written, verified');
  expect(again.stdout).toContain('cron: 4 records, 0 written, verified');
  expect(again.stdout).toContain('runtime_config: 1 records, 0 written, verified');

  const gw = startNode(BIN.gateway, ['start', '--state-dir', state, '--grpc-port', '0', '--no-bridge', '--no-worker', '--log-level', 'warn'], { OPENCLAW_DATABASE_URL: url });
  try {
    const port = (await gw.waitFor(/gRPC \(mTLS\):\s+127\.0\.0\.1:(\d+)/))[1];
    const c = readCertsDir(`${root}/phone`);
    // The laptop (an operator with admin rights) sees the migrated token too.
    const l = readCertsDir(`${root}/laptop`);
    const admin = new GatewayConnection(`127.0.0.1:${port}`, { caPem: l.caPem, keyPem: l.keyPem, certPem: l.certPem }, { 'grpc.use_local_subchannel_pool': 1 });
    try {
      const a = admin.client(DeviceService);
      expect((await unaryCall(a, a.listBootstrapTokens, {})).tokens.map((t) => t.label)).toEqual(['kiosk']);
      const c = admin.client(CronDesc);
      expect((await unaryCall(c, c.listJobs, {})).jobs.map((j) => j.name)).toEqual(['nightly', 'hourly']);
      expect((await unaryCall(c, c.listRuns, { jobId: nightly.jobId })).runs.map((r) => [r.runId, r.status])).toEqual([[run.runId, 'pending']]);
      const cfg = admin.client(ConfigService);
      expect(JSON.parse((await unaryCall(cfg, cfg.getConfig, {})).configJson).pairing.maxPending).toBe(7);
    } finally {
      admin.close();
    }
    const conn = new GatewayConnection(`127.0.0.1:${port}`, { caPem: c.caPem, keyPem: c.keyPem, certPem: c.certPem }, { 'grpc.use_local_subchannel_pool': 1 });
    try {
      const d = conn.client(DeviceService);
      expect((await unaryCall(d, d.whoAmI, {})).device).toMatchObject({ label: 'phone', status: 'active' });
    } finally {
      conn.close();
    }
  } finally {
    await gw.kill();
  }
});

test('a malformed target URL: one line, nothing written', async () => {
  const r = await runNode(BIN.gateway, ['migrate-store', '--state-dir', `${root}/state`, '--to', 'mysql://nope/db']);
  expect(r.code).not.toBe(0);
  expect(r.stderr.trim().split('\n')).toEqual(['openclaw-gateway: error: the database URL must start with postgres:// (got mysql://)']);
});
