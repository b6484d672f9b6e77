import type { PoolClient } from 'pg';
import { errors } from '../../errors';

/** The schema version this build writes and understands. */
export const SCHEMA_VERSION = 3;

/** Key of the session advisory lock that serializes migrations of concurrent starts. */
const MIGRATION_LOCK = 0x6f63_6d67; // "ocmg"

/**
 * The migrations, in order: entry i brings the schema from version i to i + 1. Every
 * record of every collection lives in one table keyed by (collection, id); each write
 * bumps the collection's version, which readers use to fetch only what changed.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE openclaw_collections (
     name text PRIMARY KEY,
     version bigint NOT NULL DEFAULT 0,
     tombstones_from bigint NOT NULL DEFAULT 0
   );
   CREATE TABLE openclaw_records (
     collection text NOT NULL,
     id text NOT NULL,
     version bigint NOT NULL,
     doc text NOT NULL,
     PRIMARY KEY (collection, id)
   );
   CREATE INDEX openclaw_records_by_version ON openclaw_records (collection, version);
   CREATE TABLE openclaw_tombstones (
     collection text NOT NULL,
     id text NOT NULL,
     version bigint NOT NULL,
     PRIMARY KEY (collection, id)
   );
   CREATE INDEX openclaw_tombstones_by_version ON openclaw_tombstones (collection, version);`,
  // The event outbox. Sequences come from the one row of openclaw_event_head, updated
  // (so locked) by every append until it commits: appends commit in sequence order, and
  // a reader that has everything up to n never sees n + 2 before n + 1. `kept_from` is
  // the first sequence retention has not removed.
  `CREATE TABLE openclaw_event_head (
     id int PRIMARY KEY CHECK (id = 1),
     seq bigint NOT NULL,
     kept_from bigint NOT NULL
   );
   INSERT INTO openclaw_event_head (id, seq, kept_from) VALUES (1, 0, 1);
   CREATE TABLE openclaw_events (
     seq bigint PRIMARY KEY,
     ts bigint NOT NULL,
     type text NOT NULL,
     origin text NOT NULL,
     payload text NOT NULL
   );`,
  // Every event gets an id from its publisher: an append retried after the answer to its
  // COMMIT was lost finds its events stored already (events kept from before get one).
  `ALTER TABLE openclaw_events ADD COLUMN id text;
   UPDATE openclaw_events SET id = 'seq:' || seq;
   ALTER TABLE openclaw_events ALTER COLUMN id SET NOT NULL;
   CREATE UNIQUE INDEX openclaw_events_by_id ON openclaw_events (id);`,
];

/**
 * Brings the database to SCHEMA_VERSION. Safe when several gateways start at once (one
 * migrates, the others wait on the advisory lock and find it done); refuses a database
 * whose schema is newer than this build with one clear line.
 */
export async function migrate(client: PoolClient): Promise<{ from: number; to: number }> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await client.query('CREATE TABLE IF NOT EXISTS openclaw_schema (id int PRIMARY KEY CHECK (id = 1), version int NOT NULL)');
    await client.query('INSERT INTO openclaw_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING');
    const from = Number((await client.query<{ version: number }>('SELECT version FROM openclaw_schema WHERE id = 1')).rows[0].version);
    if (from > SCHEMA_VERSION) {
      throw errors.precondition('SCHEMA_TOO_NEW', `the database schema is version ${from}, newer than this gateway understands (${SCHEMA_VERSION}); upgrade the gateway`);
    }
    for (let v = from; v < SCHEMA_VERSION; v++) {
      await client.query('BEGIN');
      try {
        await client.query(MIGRATIONS[v]);
        await client.query('UPDATE openclaw_schema SET version = $1 WHERE id = 1', [v + 1]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
    return { from, to: Math.max(from, SCHEMA_VERSION) };
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  }
}
