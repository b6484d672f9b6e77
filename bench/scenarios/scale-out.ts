/**
 * Scale-out: the real `openclaw-gateway start` as child processes in three set-ups,
 * same run, same load: one gateway on the files backend, one on PostgreSQL, and two
 * replicas on one PostgreSQL (the load split evenly over them, as a balancer would).
 * Two operations: a unary read (GatewayService.Ping from a raw HTTP/2 client, cheap on
 * the load-generator side, 64 in flight) and a durable write (CronService.AddJob over
 * grpc-js, 16 in flight: every add is one committed transaction of the `cron`
 * collection). PostgreSQL is a private server this scenario starts (skipped when it is
 * not installed), durable as in production (fsync and synchronous commit on), so its
 * writes are compared fairly with the files backend's fsync per write. On a 2-core machine the load generator, the replicas and the database
 * share the cores: two replicas cannot show more than the cores allow, which the notes
 * say.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { randomBytes } from 'node:crypto';
import { PingRequestSchema } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { CronService } from '../../src/gen/openclaw/cron/v1/cron_pb';
import { unaryCall, type GatewayConnection } from '../../src/transport/grpc/client/gateway-connection';
import { startPostgres, type TestPostgres } from '../../test/helpers/postgres';
import { freshDir } from '../lib/fixture';
import { spawnGateway, type GatewayProcess } from '../lib/gateway-process';
import { connectTo, identityTls } from '../lib/grpc';
import { RawGrpcClient } from '../lib/h2-load';
import { measureClosedLoop, round, type Measurement } from '../measure';
import { ComponentMissing, type Figure, type Scenario, type ScenarioOptions, type ScenarioResult } from '../types';

const PING_PATH = '/openclaw.gateway.v1.GatewayService/Ping';

interface SetUp {
  name: string;
  gateways: GatewayProcess[];
  stateDir: string;
}

interface Result {
  unary: Measurement;
  add: Measurement;
}

/** Starts `n` gateways on one state dir (and database, when `url` is given), one after another. */
async function startSetUp(name: string, n: number, url?: string): Promise<SetUp> {
  const stateDir = freshDir('scale-out');
  const gateways: GatewayProcess[] = [];
  try {
    for (let i = 0; i < n; i++) {
      gateways.push(
        await spawnGateway(['--state-dir', stateDir, '--grpc-port', '0', '--grpc-host', '127.0.0.1', '--no-bridge', '--no-worker', '--log-level', 'warn'], {
          env: url ? { OPENCLAW_DATABASE_URL: url } : { OPENCLAW_DATABASE_URL: '' },
          timeoutMs: 30_000,
        }),
      );
    }
  } catch (err) {
    for (const g of gateways) await g.stop();
    throw err;
  }
  return { name, gateways, stateDir };
}

/** Splits `total` callers over the set-up's gateways: caller i uses gateway i mod n. */
async function measureSetUp(s: SetUp, phaseMs: number, warmMs: number): Promise<Result> {
  const tls = identityTls(`${s.stateDir}/identities/cli`);
  const raws = await Promise.all(s.gateways.map((g) => RawGrpcClient.connect(g.grpcAddress, tls)));
  const conns: GatewayConnection[] = s.gateways.map((g) => connectTo(g.grpcAddress, tls));
  try {
    const framed = RawGrpcClient.frame(toBinary(PingRequestSchema, create(PingRequestSchema, { payload: randomBytes(32) })));
    let u = 0;
    const pingOp = () => raws[u++ % raws.length].unary(PING_PATH, framed);
    let a = 0;
    const addOp = () => {
      const conn = conns[a % conns.length];
      const cron = conn.client(CronService);
      return unaryCall(cron, cron.addJob, {
        name: `bench job ${a++}`,
        enabled: false,
        schedule: { kind: { case: 'everyMs', value: 3_600_000n } },
        payload: { kind: { case: 'systemEvent', value: { text: 'bench' } } },
      });
    };
    await measureClosedLoop(pingOp, { concurrency: 64, durationMs: warmMs });
    await measureClosedLoop(addOp, { concurrency: 16, durationMs: warmMs / 2 });
    const unary = await measureClosedLoop(pingOp, { concurrency: 64, durationMs: phaseMs });
    const add = await measureClosedLoop(addOp, { concurrency: 16, durationMs: phaseMs });
    return { unary, add };
  } finally {
    for (const r of raws) r.close();
    for (const c of conns) c.close();
  }
}

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const phaseMs = opts.quick ? 500 : 3000;
  const warmMs = opts.quick ? 200 : 1500;
  let pg: TestPostgres;
  try {
    pg = await startPostgres({ durable: true });
  } catch (err) {
    throw new ComponentMissing(`PostgreSQL: ${(err as Error).message}`);
  }
  const results: Record<string, Result> = {};
  try {
    const plans: [string, number, string | undefined][] = [
      ['files, 1 gateway', 1, undefined],
      ['PostgreSQL, 1 gateway', 1, await pg.createDatabase('one')],
      ['PostgreSQL, 2 replicas', 2, await pg.createDatabase('two')],
    ];
    for (const [name, n, url] of plans) {
      opts.log?.(`  ${name}`);
      const s = await startSetUp(name, n, url);
      try {
        results[name] = await measureSetUp(s, phaseMs, warmMs);
      } finally {
        for (const g of s.gateways) await g.stop();
      }
    }
  } finally {
    await pg.stop();
  }
  const files = results['files, 1 gateway'];
  const one = results['PostgreSQL, 1 gateway'];
  const two = results['PostgreSQL, 2 replicas'];
  const fig = (name: string, m: Measurement, unit: string, baseline?: { name: string; m: Measurement }): Figure => ({
    name,
    unit,
    value: round(m.opsPerSec, 1),
    p50: round(m.p50, 3),
    p99: round(m.p99, 3),
    ...(baseline ? { baseline: { name: baseline.name, value: round(baseline.m.opsPerSec, 1) }, ratio: round(m.opsPerSec / baseline.m.opsPerSec, 2) } : {}),
  });
  return {
    scenario: 'scale-out',
    figures: [
      fig('unary Ping, files, 1 gateway', files.unary, 'calls/s'),
      fig('unary Ping, PostgreSQL, 1 gateway', one.unary, 'calls/s', { name: 'files, same run', m: files.unary }),
      fig('unary Ping, PostgreSQL, 2 replicas', two.unary, 'calls/s', { name: 'PostgreSQL 1 gateway, same run', m: one.unary }),
      fig('cron.add, files, 1 gateway', files.add, 'adds/s'),
      fig('cron.add, PostgreSQL, 1 gateway', one.add, 'adds/s', { name: 'files, same run', m: files.add }),
      fig('cron.add, PostgreSQL, 2 replicas', two.add, 'adds/s', { name: 'PostgreSQL 1 gateway, same run', m: one.add }),
    ],
    notes: [
      'unary: raw HTTP/2 client, 64 calls in flight (split evenly over the replicas); cron.add: grpc-js, 16 in flight, each add one durable transaction',
      'durable on both sides, so the write figures compare like with like: PostgreSQL is a private server on 127.0.0.1 with fsync=on and synchronous_commit=on (a COMMIT waits for its WAL on disk); files: fsync per write',
      'all processes (load, replicas, database) share this machine\'s cores: two replicas scale only as far as spare cores allow',
    ],
  };
}

/** The harness entry. */
export const scenario: Scenario = {
  name: 'scale-out',
  description: 'one gateway on files vs PostgreSQL vs two replicas on PostgreSQL: unary reads and durable cron.add writes',
  run,
};
