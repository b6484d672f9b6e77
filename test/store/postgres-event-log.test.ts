/**
 * The event outbox in PostgreSQL against a real server this file starts: the event log
 * contract, plus what only a shared log has: sequences taken under the head row's lock
 * (an appender waits for one that took a sequence before it, so commit order is sequence
 * order and a tailer reading `seq > last` never skips a row that commits later); many
 * concurrent appenders on several pools, each tail seeing every sequence once and in
 * order; NOTIFY carrying only the head; catching up after the LISTEN connection drops;
 * a replica that fell behind retention told what it lost; an append retried after the
 * answer to its COMMIT was lost stores its events once; events staged by a collection's
 * transaction commit with its records (collection lock, then head lock: no deadlock with
 * appends) and after what this process published on its own before; the schema migrations.
 */
import { Client, Pool } from 'pg';
import { silentLogger } from '../../src/logging';
import type { EventLog } from '../../src/store/event-log';
import { PostgresBackend, type PostgresBackendOptions } from '../../src/store/postgres/postgres-backend';
import { EVENTS_CHANNEL, PgEventLog } from '../../src/store/postgres/pg-event-log';
import { SCHEMA_VERSION } from '../../src/store/postgres/schema';
import { startLostCommitProxy } from '../helpers/lost-commit-proxy';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { eventually } from '../helpers/eventually';
import { collect, describeEventLogContract, ev } from './event-log-contract';

let pg: TestPostgres;
const backends: PostgresBackend[] = [];
const clients: Client[] = [];
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  for (const b of backends) await b.close();
  for (const c of clients) await c.end().catch(() => undefined);
  await pg?.stop();
});

const open = async (url: string, events?: PostgresBackendOptions['events']): Promise<{ backend: PostgresBackend; log: EventLog }> => {
  const backend = await PostgresBackend.open({ url, log: silentLogger(), poolSize: 4, events });
  backends.push(backend);
  return { backend, log: await backend.eventLog() };
};

const sql = async (url: string): Promise<Client> => {
  const c = new Client({ connectionString: url });
  await c.connect();
  clients.push(c);
  return c;
};

describeEventLogContract('PostgreSQL', () => ({
  newPlace: () => pg.createDatabase(),
  open: async (url, retention) => {
    const backend = await PostgresBackend.open({ url, log: silentLogger(), poolSize: 4, events: { retention, retentionEvery: 1 } });
    return { log: await backend.eventLog(), close: () => backend.close() };
  },
  shared: true,
}));

test('an appender waits for one that took a sequence before it: nobody sees seq 2 before seq 1 commits', async () => {
  const url = await pg.createDatabase();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let stalled: readonly number[] | undefined;
  const a = await open(url, {
    beforeCommit: async (seqs) => {
      if (stalled) return;
      stalled = seqs;
      await gate;
    },
  });
  const b = await open(url);
  const reader = await open(url);
  const seen = collect(reader.log);
  const db = await sql(url);

  const pa = a.log.append([ev(1, { origin: 'a' })]);
  let pb: Promise<number[]> | undefined;
  try {
    await eventually('a holds its transaction open after taking seq 1', () => stalled);
    expect(stalled).toEqual([1]);
    pb = b.log.append([ev(2, { origin: 'b' })]);
    // b's transaction waits on the head row's lock (a plain sequence would let it commit seq 2 now).
    await eventually('b waits for a lock', async () => Number((await db.query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")).rows[0].n) === 1);
    expect((await db.query('SELECT seq FROM openclaw_events')).rows).toEqual([]);
    expect(seen.seen).toEqual([]);
  } finally {
    // Also when the test fails: a transaction left open would keep the file from ending.
    release();
  }
  expect(await Promise.all([pa, pb])).toEqual([[1], [2]]);
  await eventually('the reader got both', () => seen.seen.length === 2);
  expect(seen.seen.map((e) => [e.seq, e.origin])).toEqual([
    [1, 'a'],
    [2, 'b'],
  ]);
});

test('concurrent appenders on four pools: every tail sees every sequence exactly once, in order, each appender\'s events in its order', async () => {
  const url = await pg.createDatabase();
  const appenders = await Promise.all([1, 2, 3, 4].map(() => open(url)));
  const reader = await open(url);
  const tails = [reader, ...appenders].map((x) => collect(x.log));
  const PER = 150;
  let total = 0;
  await Promise.all(
    appenders.map(async (x, k) => {
      const pending: Promise<number[]>[] = [];
      for (let i = 0; i < PER; i++) {
        const n = 1 + (i % 3);
        total += n;
        pending.push(x.log.append(Array.from({ length: n }, (_, j) => ev(i * 10 + j, { origin: `p${k}` }))));
        // Every few appends, let the batch go so that transactions of the four interleave.
        if (i % 7 === 0) await pending[pending.length - 1];
      }
      await Promise.all(pending);
    }),
  );
  await eventually('every tail has every event', () => tails.every((t) => t.seen.length >= total), 10_000);
  const expected = Array.from({ length: total }, (_, i) => i + 1);
  for (const t of tails) {
    expect(t.seen.map((e) => e.seq)).toEqual(expected);
    expect(t.lost).toEqual([]);
  }
  for (let k = 0; k < 4; k++) {
    const mine = tails[0].seen.filter((e) => e.origin === `p${k}`).map((e) => (JSON.parse(e.payloadJson) as { n: number }).n);
    expect(mine).toEqual([...mine].sort((x, y) => x - y));
    expect(new Set(mine).size).toBe(mine.length);
  }
  for (const t of tails) expect(t.seen.map((e) => `${e.origin}:${e.payloadJson}`)).toEqual(tails[0].seen.map((e) => `${e.origin}:${e.payloadJson}`));
}, 60_000);

test('NOTIFY carries only the new head, however large the events', async () => {
  const url = await pg.createDatabase();
  const { log } = await open(url);
  const listener = await sql(url);
  const payloads: string[] = [];
  listener.on('notification', (m) => m.channel === EVENTS_CHANNEL && payloads.push(m.payload ?? ''));
  await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
  await log.append([ev(1, { payloadJson: JSON.stringify({ big: 'y'.repeat(20_000) }) }), ev(2)]);
  await eventually('the notification arrived', () => payloads.length === 1);
  expect(payloads).toEqual(['2']);
});

test('after its LISTEN connection is cut, a replica catches up: every event once, in order', async () => {
  const url = await pg.createDatabase();
  const writer = await open(url);
  const reader = await open(url);
  const t = collect(reader.log);
  await writer.log.append([ev(1)]);
  await eventually('first event', () => t.seen.length === 1);
  const db = await sql(url);
  const cut = await db.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'");
  expect(cut.rowCount).toBe(2);
  for (let i = 2; i <= 30; i++) await writer.log.append([ev(i)]);
  await eventually('the reader caught up', () => t.seen.length >= 30, 10_000);
  expect(t.seen.map((e) => e.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  // And it listens again: a new event arrives without waiting for the heartbeat.
  await eventually('the LISTEN connections are back', async () => Number((await db.query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'")).rows[0].n) === 2);
  const before = Date.now();
  await writer.log.append([ev(31)]);
  await eventually('the new event', () => t.seen.length === 31);
  expect(Date.now() - before).toBeLessThan(1000);
});

test('retention deletes old rows; a replica that fell behind what is kept is told what it lost, then goes on', async () => {
  const url = await pg.createDatabase();
  const writer = await open(url, { retention: { keepEvents: 10, keepMs: 0, maxEvents: 10 }, retentionEvery: 5 });
  const db = await sql(url);
  // A log read by nobody's LISTEN connection (no backend): it only learns of the head when told.
  const pool = new Pool({ connectionString: url, max: 2 });
  const behind = await PgEventLog.open({ pool, log: silentLogger() });
  try {
    const t = collect(behind);
    for (let i = 1; i <= 40; i++) await writer.log.append([ev(i)]);
    const rows = Number((await db.query('SELECT count(*) AS n FROM openclaw_events')).rows[0].n);
    expect(rows).toBeLessThanOrEqual(15);
    const keptFrom = Number((await db.query('SELECT kept_from FROM openclaw_event_head')).rows[0].kept_from);
    expect(keptFrom).toBe(41 - rows);
    behind.noticeHead(40);
    await eventually('the lagging log caught up', () => t.seen.length === rows);
    expect(t.lost).toEqual([[0, keptFrom]]);
    expect(t.seen.map((e) => e.seq)).toEqual(Array.from({ length: rows }, (_, i) => keptFrom + i));
  } finally {
    await behind.close();
    await pool.end();
  }
});

test('a database at schema 1 (before the outbox) is migrated: the event tables appear, records stay', async () => {
  const url = await pg.createDatabase();
  const first = await open(url);
  const items = await first.backend.collection('items', (r) => r as { id: string });
  await items.mutate((tx) => tx.put({ id: 'kept' }));
  await first.backend.close();
  const db = await sql(url);
  await db.query('DROP TABLE openclaw_events, openclaw_event_head');
  await db.query('UPDATE openclaw_schema SET version = 1');
  const again = await open(url);
  expect((await db.query('SELECT version FROM openclaw_schema')).rows).toEqual([{ version: SCHEMA_VERSION }]);
  expect((await again.backend.collection('items', (r) => r as { id: string })).get('kept')).toEqual({ id: 'kept' });
  expect(await again.log.append([ev(1)])).toEqual([1]);
});

test('a database at schema 2 (events without ids) is migrated: kept events get one, new ones keep theirs', async () => {
  const url = await pg.createDatabase();
  const first = await open(url);
  await first.log.append([ev(1), ev(2)]);
  await first.backend.close();
  const db = await sql(url);
  await db.query('DROP INDEX openclaw_events_by_id');
  await db.query('ALTER TABLE openclaw_events DROP COLUMN id');
  await db.query('UPDATE openclaw_schema SET version = 2');
  const again = await open(url);
  expect((await db.query('SELECT version FROM openclaw_schema')).rows).toEqual([{ version: SCHEMA_VERSION }]);
  await again.log.append([ev(3)]);
  expect((await again.log.read(0, 10)).events.map((e) => [e.seq, e.id])).toEqual([
    [1, 'seq:1'],
    [2, 'seq:2'],
    [3, 'o1:3'],
  ]);
});

test('an append retried after the answer to its COMMIT was lost stores its events once, with their first sequences', async () => {
  const url = await pg.createDatabase();
  const proxy = await startLostCommitProxy(pg.port);
  try {
    const viaProxy = new URL(url);
    viaProxy.port = String(proxy.port);
    const writer = await open(viaProxy.toString());
    const reader = await open(url);
    const t = collect(reader.log);
    expect(await writer.log.append([ev(1)])).toEqual([1]);
    proxy.loseNextCommit('INSERT INTO openclaw_events');
    // Committed, but the writer is told its connection broke: it writes the batch again.
    expect(await writer.log.append([ev(2), ev(3)])).toEqual([2, 3]);
    expect(proxy.lost).toBe(1);
    expect(await writer.log.append([ev(4)])).toEqual([4]);
    await eventually('the reader has the four events', () => t.seen.length >= 4);
    const db = await sql(url);
    expect((await db.query('SELECT seq::int, id FROM openclaw_events ORDER BY seq')).rows).toEqual([1, 2, 3, 4].map((n) => ({ seq: n, id: `o1:${n}` })));
    expect(t.seen.map((e) => [e.seq, e.id])).toEqual([1, 2, 3, 4].map((n) => [n, `o1:${n}`]));
  } finally {
    await proxy.close();
  }
});

/** A staged event, as a service's transaction stages it. */
const staged = (id: string) => ({ id, type: 'items.changed', ts: 1_000_000, payloadJson: JSON.stringify({ id }), origin: 'svc' });

test('a change and its events commit together: while the outbox\'s head row is locked, neither is visible', async () => {
  const url = await pg.createDatabase();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let stalled = false;
  const a = await open(url, {
    beforeCommit: async () => {
      if (stalled) return;
      stalled = true;
      await gate;
    },
  });
  const b = await open(url);
  const items = await b.backend.collection('items', (r) => r as { id: string });
  const db = await sql(url);
  const pa = a.log.append([ev(1, { origin: 'a' })]);
  let pb: Promise<void> | undefined;
  try {
    await eventually('A holds the head row', () => stalled);
    pb = items.mutate((tx) => {
      tx.put({ id: 'changed' });
      tx.stageEvent(staged('with-the-change'));
    });
    await eventually('B waits for the head row', async () => Number((await db.query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'UPDATE openclaw_event_head%'")).rows[0].n) === 1);
    expect((await db.query("SELECT id FROM openclaw_records WHERE collection = 'items'")).rows).toEqual([]);
  } finally {
    release();
  }
  await Promise.all([pa, pb]);
  expect((await db.query("SELECT id FROM openclaw_records WHERE collection = 'items'")).rows).toEqual([{ id: 'changed' }]);
  expect((await b.log.read(0, 10)).events.map((e) => [e.seq, e.id])).toEqual([
    [1, 'a:1'],
    [2, 'with-the-change'],
  ]);
});

test('transactions of several collections and appends on two replicas at once: no deadlock; every event once, in order, each with its change', async () => {
  const url = await pg.createDatabase();
  const replicas = await Promise.all([0, 1].map(() => open(url)));
  const reader = await open(url);
  const t = collect(reader.log);
  const names = ['xs', 'ys', 'zs'];
  const PER = 25;
  let events = 0;
  await Promise.all(
    replicas.flatMap((r, k) => [
      ...names.map(async (name) => {
        const c = await r.backend.collection(name, (x) => x as { id: string; n: number });
        await Promise.all(
          Array.from({ length: PER }, (_, i) =>
            c.mutate((tx) => {
              tx.put({ id: `${k}-${i}`, n: i });
              tx.stageEvent(staged(`${name}:${k}-${i}:a`));
              tx.stageEvent(staged(`${name}:${k}-${i}:b`));
            }),
          ),
        );
        events += 2 * PER;
      }),
      (async () => {
        await Promise.all(Array.from({ length: PER }, (_, i) => r.log.append([ev(i, { origin: `r${k}` })])));
        events += PER;
      })(),
    ]),
  );
  await eventually('the reader has every event', () => t.seen.length >= events, 20_000);
  expect(t.seen.map((e) => e.seq)).toEqual(Array.from({ length: events }, (_, i) => i + 1));
  expect(new Set(t.seen.map((e) => e.id)).size).toBe(events);
  // A transaction's two events are next to each other.
  for (const e of t.seen.filter((x) => x.id.endsWith(':a'))) expect(t.seen[e.seq].id).toBe(e.id.replace(/:a$/, ':b'));
  const db = await sql(url);
  expect(Number((await db.query('SELECT count(*) AS n FROM openclaw_records').then((r) => r.rows[0])).n)).toBe(2 * names.length * PER);
}, 60_000);

test('a change\'s events come after what this process published on its own before it', async () => {
  const url = await pg.createDatabase();
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let stalled = false;
  const r = await open(url, {
    beforeCommit: async () => {
      if (stalled) return;
      stalled = true;
      await gate;
    },
  });
  const items = await r.backend.collection('items', (x) => x as { id: string });
  const first = r.log.append([ev(1)]);
  let mutated: Promise<void> | undefined;
  try {
    await eventually('the first batch holds the head row', () => stalled);
    // Queued behind the batch being written.
    const second = r.log.append([ev(2)]);
    let ran = false;
    mutated = items.mutate((tx) => {
      ran = true;
      tx.put({ id: 'x' });
      tx.stageEvent(staged('change'));
    });
    await eventually('the change\'s transaction ran its function', () => ran);
    release();
    await Promise.all([first, second, mutated]);
  } finally {
    release();
  }
  expect((await r.log.read(0, 10)).events.map((e) => e.id)).toEqual(['o1:1', 'o1:2', 'change']);
});
