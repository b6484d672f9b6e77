/**
 * How a PostgreSQL replica knows its copy is current, and keeps it so, when its
 * connections break without a word (through a TCP proxy the test silences):
 * - cut off from the database, it reports its copies stale once STALE_AFTER_MS passed
 *   without a heartbeat confirming them, and current again (with what was committed
 *   meanwhile) once it reaches the database again;
 * - a LISTEN connection that died silently is replaced, so commits reach it by NOTIFY
 *   again (not only by the heartbeat);
 * - catching up with another replica's commit never waits for writers that hold the
 *   main pool's connections (waiting for a collection's lock).
 */
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { silentLogger } from '../../src/logging';
import { STALE_AFTER_MS } from '../../src/store/freshness';
import { PostgresBackend } from '../../src/store/postgres/postgres-backend';
import { eventually } from '../helpers/eventually';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { validateItem } from './collection-contract';

let pg: TestPostgres;
const backends: PostgresBackend[] = [];
const proxies: TcpProxy[] = [];
const clients: Client[] = [];

beforeAll(async () => {
  pg = await startPostgres();
});
afterEach(async () => {
  for (const p of proxies) p.heal();
  for (const c of clients.splice(0)) await c.end().catch(() => undefined);
  for (const b of backends.splice(0)) await b.close();
  for (const p of proxies.splice(0)) await p.close();
});
afterAll(async () => {
  await pg?.stop();
});

const open = async (url: string, poolSize = 4) => {
  const b = await PostgresBackend.open({ url, log: silentLogger(), poolSize });
  backends.push(b);
  return b;
};
const sql = async (url: string) => {
  const c = new Client({ connectionString: url });
  await c.connect();
  clients.push(c);
  return c;
};

test('cut off from the database: stale once the bound passed, current again (with what others committed) once it is back', async () => {
  const url = await pg.createDatabase();
  const proxy = await startTcpProxy(pg.port);
  proxies.push(proxy);
  const cut = await open(proxy.rewrite(url));
  const other = await open(url);
  const mine = await cut.collection('devices', validateItem);
  const theirs = await other.collection('devices', validateItem);
  await theirs.mutate((tx) => tx.put({ id: 'phone', n: 1 }));
  await eventually('the commit reached the replica', () => mine.get('phone')?.n === 1);
  expect(cut.freshness().current).toBe(true);

  proxy.partition();
  const cutAt = performance.now();
  await eventually('the replica says its copies are stale', () => !cut.freshness().current, 3 * STALE_AFTER_MS);
  // Not before the bound (the last confirmation came before the cut, at most a heartbeat earlier).
  expect(performance.now() - cutAt).toBeGreaterThanOrEqual(STALE_AFTER_MS - STALE_AFTER_MS / 3);
  expect(cut.freshness().sinceMs).toBeGreaterThan(STALE_AFTER_MS);

  // Revoked elsewhere meanwhile: the copy still holds the old record, and says it is stale.
  await theirs.mutate((tx) => tx.put({ id: 'phone', n: 2 }));
  expect(mine.get('phone')?.n).toBe(1);
  expect(cut.freshness().current).toBe(false);

  proxy.heal();
  await eventually('current again', () => cut.freshness().current, 3 * STALE_AFTER_MS);
  expect(mine.get('phone')?.n).toBe(2);
});

test('a LISTEN connection that died silently is replaced, and commits arrive by NOTIFY again', async () => {
  const url = await pg.createDatabase();
  const db = new URL(url).pathname.slice(1);
  const proxy = await startTcpProxy(pg.port);
  proxies.push(proxy);
  const replica = await open(proxy.rewrite(url));
  const other = await open(url);
  const mine = await replica.collection('devices', validateItem);
  const theirs = await other.collection('devices', validateItem);
  const admin = await sql(url);
  const listeners = async () =>
    (await admin.query<{ client_port: number }>("SELECT client_port FROM pg_stat_activity WHERE application_name = 'openclaw-gateway-listen' AND datname = $1", [db])).rows.map((r) => r.client_port);
  const viaProxy = proxy.connections().map((c) => c.upstreamPort);
  const [listenPort] = (await listeners()).filter((p) => viaProxy.includes(p));
  expect(listenPort).toBeDefined();

  // The listener's connection goes silent: no error, no reset, nothing more arrives on it.
  proxy.connections().find((c) => c.upstreamPort === listenPort)!.silence();
  const replaced = await eventually(
    'a new LISTEN connection of the replica',
    async () => {
      const now = proxy.connections().filter((c) => !c.silenced).map((c) => c.upstreamPort);
      return (await listeners()).find((p) => p !== listenPort && now.includes(p));
    },
    10_000,
  );
  expect(replaced).not.toBe(listenPort);

  // Through NOTIFY, not the next heartbeat: each of a few commits arrives well within a second.
  for (let i = 1; i <= 3; i++) {
    const t0 = performance.now();
    await theirs.mutate((tx) => tx.put({ id: 'revoked', n: i }));
    await eventually(`commit ${i} reached the replica`, () => mine.get('revoked')?.n === i, 1000);
    expect(performance.now() - t0).toBeLessThan(1000);
  }
  expect(replica.freshness().current).toBe(true);
});

test('a catch-up does not wait for writers holding every connection of the main pool', async () => {
  const url = await pg.createDatabase();
  const replica = await open(url, 2);
  const other = await open(url);
  const mine = await replica.collection('devices', validateItem);
  const theirs = await other.collection('devices', validateItem);
  // Two writers of this replica wait for locks another replica holds, each on a pooled connection.
  const holder = await sql(url);
  await holder.query('BEGIN');
  const blocked: Promise<unknown>[] = [];
  for (const name of ['cron', 'sessions']) {
    const c = await replica.collection(name, validateItem);
    await holder.query('INSERT INTO openclaw_collections (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [name]);
    await holder.query('SELECT 1 FROM openclaw_collections WHERE name = $1 FOR UPDATE', [name]);
    blocked.push(c.mutate((tx) => tx.put({ id: 'x', n: 1 })));
  }
  const waiting = await sql(url);
  await eventually('both writers wait for the lock', async () => {
    const res = await waiting.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'openclaw-gateway' AND wait_event_type = 'Lock'");
    return res.rows[0].n === 2;
  });

  const t0 = performance.now();
  await theirs.mutate((tx) => tx.put({ id: 'revoked-device', n: 1 }));
  await eventually('the revocation reached the replica', () => mine.get('revoked-device') !== undefined, 2000);
  expect(performance.now() - t0).toBeLessThan(1000);

  await holder.query('ROLLBACK');
  await Promise.all(blocked);
});
