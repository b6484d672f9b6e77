/**
 * The PostgreSQL backend against a real server this file starts (initdb + pg_ctl into a
 * temp dir on a free port): the storage contract, plus what only it has: schema
 * migration at start (concurrent starts safe, a newer schema refused), one-line errors
 * for an unreachable server and a malformed URL, catching up after a lost change feed,
 * and a replica far behind reloading instead of missing deletions.
 */
import { Client } from 'pg';
import { silentLogger } from '../../src/logging';
import { PostgresBackend, parseDatabaseUrl } from '../../src/store/postgres/postgres-backend';
import { SCHEMA_VERSION } from '../../src/store/postgres/schema';
import { GatewayError } from '../../src/errors';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { describeCollectionContract, validateItem } from './collection-contract';

let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
});

const open = (url: string) => PostgresBackend.open({ url, log: silentLogger(), poolSize: 4 });

describeCollectionContract('PostgreSQL', () => ({
  newPlace: () => pg.createDatabase(),
  open,
}));

describe('PostgreSQL specifics', () => {
  const backends: PostgresBackend[] = [];
  const track = async (p: Promise<PostgresBackend>) => {
    const b = await p;
    backends.push(b);
    return b;
  };
  afterAll(async () => {
    for (const b of backends) await b.close();
  });

  test('the schema is created at first start; five gateways starting at once all come up', async () => {
    const url = await pg.createDatabase();
    const all = await Promise.all(Array.from({ length: 5 }, () => track(open(url))));
    expect(all).toHaveLength(5);
    const c = new Client({ connectionString: url });
    await c.connect();
    try {
      expect((await c.query('SELECT version FROM openclaw_schema')).rows).toEqual([{ version: SCHEMA_VERSION }]);
    } finally {
      await c.end();
    }
  });

  test('a schema newer than this build is refused with one line', async () => {
    const url = await pg.createDatabase();
    await (await track(open(url))).close();
    const c = new Client({ connectionString: url });
    await c.connect();
    await c.query('UPDATE openclaw_schema SET version = $1', [SCHEMA_VERSION + 1]);
    await c.end();
    await expect(open(url)).rejects.toMatchObject({ reason: 'SCHEMA_TOO_NEW', message: expect.stringContaining(`version ${SCHEMA_VERSION + 1}, newer than this gateway understands`) });
  });

  test('unreachable server, missing database and malformed URLs: one clear line each, no hang', async () => {
    const refused = await open(`postgres://nobody@127.0.0.1:1/db`).catch((e: unknown) => e as GatewayError);
    expect(refused).toBeInstanceOf(GatewayError);
    expect((refused as GatewayError).reason).toBe('DATABASE_UNREACHABLE');
    expect((refused as GatewayError).message).toMatch(/cannot reach the database at postgres:\/\/nobody@127\.0\.0\.1:1\/db/);
    const missing = await open(pg.url.replace(/\/[^/]*$/, '/no_such_db')).catch((e: unknown) => e as GatewayError);
    expect((missing as GatewayError).reason).toBe('DATABASE_MISSING');
    for (const bad of ['not a url', 'mysql://h/db', 'postgres://host-only', 'postgres:///db']) {
      expect(() => parseDatabaseUrl(bad)).toThrow(GatewayError);
    }
    // The password never appears in a message.
    const withPassword = (await open('postgres://u:hunter2@127.0.0.1:1/db').catch((e: unknown) => e)) as Error;
    expect(withPassword.message).not.toContain('hunter2');
  });

  test('a replica that was not listening catches up on refresh, deletions included', async () => {
    const url = await pg.createDatabase();
    const a = await (await track(open(url))).collection('items', validateItem);
    const b = await (await track(open(url))).collection('items', validateItem);
    await a.mutate((tx) => {
      for (let i = 0; i < 20; i++) tx.put({ id: `r${i}`, n: i });
    });
    await b.refresh();
    expect(b.list()).toHaveLength(20);
    await a.mutate((tx) => {
      tx.delete('r3');
      tx.put({ id: 'r4', n: 400 });
    });
    // Without waiting for the notification: a transaction on b sees the committed state.
    const seen = await b.mutate((tx) => ({ r3: tx.get('r3'), r4: tx.get('r4') }));
    expect(seen).toEqual({ r3: undefined, r4: { id: 'r4', n: 400 } });
    expect(b.get('r3')).toBeUndefined();
  });

  test('another replica\'s commit reaches this one through NOTIFY within a second', async () => {
    const url = await pg.createDatabase();
    const a = await (await track(open(url))).collection('devices', validateItem);
    const b = await (await track(open(url))).collection('devices', validateItem);
    const t0 = Date.now();
    const heard = new Promise<number>((resolve) => b.subscribe((ch) => !ch.local && resolve(Date.now() - t0)));
    await a.mutate((tx) => tx.put({ id: 'revoked-device', n: 1 }));
    expect(await heard).toBeLessThan(1000);
    expect(b.get('revoked-device')).toEqual({ id: 'revoked-device', n: 1 });
  });
});
