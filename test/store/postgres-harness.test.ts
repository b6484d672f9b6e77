/**
 * The PostgreSQL test harness itself (test/helpers/postgres.ts): a private server starts,
 * hands out isolated databases, supports what the PostgreSQL backend relies on
 * (LISTEN/NOTIFY across connections, session advisory locks), and leaves nothing behind
 * once stopped: no data dir, nothing listening on its port.
 */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { Client, Pool, type Notification } from 'pg';
import { startPostgres, type TestPostgres } from '../helpers/postgres';

let pg: TestPostgres;
const clients: Client[] = [];
const pools: Pool[] = [];

beforeAll(async () => {
  pg = await startPostgres();
});

afterAll(async () => {
  await Promise.all([...clients.map((c) => c.end().catch(() => {})), ...pools.map((p) => p.end().catch(() => {}))]);
  await pg?.stop();
});

async function client(url: string): Promise<Client> {
  const c = new Client({ connectionString: url });
  clients.push(c);
  await c.connect();
  return c;
}

function pool(url: string): Pool {
  const p = new Pool({ connectionString: url, max: 4 });
  pools.push(p);
  return p;
}

/** Resolves with the connection error code, or 'connected'. */
function probe(port: number): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve('connected');
    });
    sock.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

it('serves SQL on 127.0.0.1, with databases isolated from each other', async () => {
  expect(pg.url).toMatch(/^postgres:\/\/\w+@127\.0\.0\.1:\d+\/postgres$/);
  const [urlA, urlB] = [await pg.createDatabase(), await pg.createDatabase('harness_b')];
  expect(urlA).not.toBe(urlB);
  expect(urlB).toBe(pg.url.replace(/\/postgres$/, '/harness_b'));
  await expect(pg.createDatabase('harness_b')).rejects.toThrow(/already exists/);

  const a = pool(urlA);
  await a.query('CREATE TABLE jobs (id text PRIMARY KEY, n integer NOT NULL)');
  await a.query('INSERT INTO jobs (id, n) VALUES ($1, $2), ($3, $4)', ['x', 1, 'é€𝄞', 2]);
  const { rows } = await a.query('SELECT id, n FROM jobs ORDER BY n');
  expect(rows).toEqual([
    { id: 'x', n: 1 },
    { id: 'é€𝄞', n: 2 },
  ]);
  expect((await a.query('SHOW server_encoding')).rows[0].server_encoding).toBe('UTF8');

  const b = await client(urlB);
  await expect(b.query('SELECT * FROM jobs')).rejects.toThrow(/relation "jobs" does not exist/);
  // Multi-replica tests open many connections.
  expect(Number((await b.query('SHOW max_connections')).rows[0].max_connections)).toBeGreaterThanOrEqual(200);
});

it('delivers NOTIFY payloads to a LISTEN on another connection', async () => {
  const url = await pg.createDatabase();
  const listener = await client(url);
  const sender = await client(url);
  const senderPid = (await sender.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
  await listener.query('LISTEN outbox');
  const got = new Promise<Notification>((resolve) => listener.once('notification', resolve));
  await sender.query("SELECT pg_notify('outbox', $1)", ['seq=42']);
  const note = await got;
  expect(note.channel).toBe('outbox');
  expect(note.payload).toBe('seq=42');
  expect(note.processId).toBe(senderPid);
});

it('grants a session advisory lock to one connection and refuses it to another until released', async () => {
  const url = await pg.createDatabase();
  const [one, two] = [await client(url), await client(url)];
  const tryLock = async (c: Client) => (await c.query('SELECT pg_try_advisory_lock(7001) AS ok')).rows[0].ok as boolean;
  expect(await tryLock(one)).toBe(true);
  expect(await tryLock(two)).toBe(false);
  expect((await one.query('SELECT pg_advisory_unlock(7001) AS ok')).rows[0].ok).toBe(true);
  expect(await tryLock(two)).toBe(true);
  // A session lock dies with its session: the other side can take it once `two` is gone.
  await two.end();
  expect(await tryLock(one)).toBe(true);
});

it('stop() shuts the server down, frees its port and removes its data dir', async () => {
  const { port, dataDir } = pg;
  expect(existsSync(dataDir)).toBe(true);
  expect(await probe(port)).toBe('connected');
  // Close connections first: a fast shutdown cuts them, and a pg Client whose server goes
  // away emits 'error' (an uncaught exception when nothing listens).
  await Promise.all(clients.splice(0).map((c) => c.end().catch(() => {})));
  await Promise.all(pools.splice(0).map((p) => p.end()));
  await pg.stop();
  expect(existsSync(dataDir)).toBe(false);
  expect(await probe(port)).toBe('ECONNREFUSED');
  await pg.stop(); // idempotent
});
