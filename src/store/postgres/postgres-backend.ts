import { Client, Pool, type PoolClient } from 'pg';
import { errors, GatewayError } from '../../errors';
import type { Logger } from '../../logging';
import { COLLECTION_NAME, type Collection, type StoreBackend, type StoredRecord } from '../collection';
import { PgCollection } from './pg-collection';
import { migrate } from './schema';

/** The channel every replica listens on; payloads are `<collection>:<version>`. */
export const CHANGES_CHANNEL = 'openclaw_changes';

/** Options of the PostgreSQL backend. */
export interface PostgresBackendOptions {
  /** `postgres://user:password@host:port/database` (password never logged). */
  url: string;
  log: Logger;
  /** Connections in the pool for transactions (the LISTEN connection is extra). */
  poolSize?: number;
  /** How long a connection attempt may take. */
  connectTimeoutMs?: number;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}

/** Checks a database URL before anything connects: one clear line for a malformed one. */
export function parseDatabaseUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw errors.invalid('DATABASE_URL_INVALID', 'the database URL is not a URL; expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw errors.invalid('DATABASE_URL_INVALID', `the database URL must start with postgres:// (got ${u.protocol}//)`);
  }
  if (!u.hostname && !u.searchParams.get('host')) throw errors.invalid('DATABASE_URL_INVALID', 'the database URL names no host');
  if (u.pathname.replace(/^\//, '') === '') throw errors.invalid('DATABASE_URL_INVALID', 'the database URL names no database (…/DATABASE at the end)');
  return u;
}

/** Turns a driver error on connect into one line a user can act on. */
function connectError(url: string, err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const e = err as NodeJS.ErrnoException & { code?: string };
  const where = redactUrl(url);
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === 'EHOSTUNREACH' || e.code === 'ETIMEDOUT' || /timeout/i.test(e.message ?? '')) {
    return errors.unavailable('DATABASE_UNREACHABLE', `cannot reach the database at ${where} (${e.code ?? e.message}); is PostgreSQL running there?`);
  }
  if (e.code === '28P01' || e.code === '28000') return errors.unauthenticated('DATABASE_AUTH', `the database at ${where} refused the login (${e.message})`);
  if (e.code === '3D000') return errors.notFound('DATABASE_MISSING', `the database at ${where} does not exist (${e.message}); create it first`);
  return errors.unavailable('DATABASE_ERROR', `the database at ${where} failed: ${e.message}`);
}

/**
 * Gateway state in PostgreSQL, shared by replicas: a pool for transactions and one
 * dedicated connection that LISTENs for other replicas' commits (never a pooled one).
 */
export class PostgresBackend implements StoreBackend {
  readonly kind = 'postgres' as const;
  private readonly collections = new Map<string, PgCollection<StoredRecord>>();
  private listener?: Client;
  private closed = false;
  private reconnectTimer?: NodeJS.Timeout;

  private constructor(
    private readonly pool: Pool,
    private readonly opts: PostgresBackendOptions,
  ) {}

  /** Connects, migrates the schema (concurrent starts are safe) and starts listening. */
  static async open(opts: PostgresBackendOptions): Promise<PostgresBackend> {
    parseDatabaseUrl(opts.url);
    const pool = new Pool({ connectionString: opts.url, max: opts.poolSize ?? 10, connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000 });
    // An idle client that loses its server must not crash the process; the next query reports it.
    pool.on('error', (err) => opts.log.warn({ err: err.message }, 'an idle database connection failed'));
    let client: PoolClient | undefined;
    try {
      client = await pool.connect();
      const m = await migrate(client);
      if (m.from !== m.to) opts.log.info({ from: m.from, to: m.to, database: redactUrl(opts.url) }, 'migrated the database schema');
    } catch (err) {
      client?.release();
      client = undefined;
      await pool.end().catch(() => undefined);
      throw connectError(opts.url, err);
    } finally {
      client?.release();
    }
    const backend = new PostgresBackend(pool, opts);
    await backend.listen();
    return backend;
  }

  async collection<T extends StoredRecord>(name: string, validate: (raw: unknown) => T): Promise<Collection<T>> {
    if (!COLLECTION_NAME.test(name)) throw errors.invalid('BAD_COLLECTION', `collection name "${name}" is not allowed`);
    const known = this.collections.get(name);
    if (known) return known as unknown as Collection<T>;
    const c = new PgCollection<T>(name, this.pool, validate, this.opts.log);
    await c.refresh();
    this.collections.set(name, c as unknown as PgCollection<StoredRecord>);
    return c;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    for (const c of this.collections.values()) await c.close();
    this.collections.clear();
    await this.listener?.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }

  /** The LISTEN connection; after it drops, every collection reloads once it is back. */
  private async listen(): Promise<void> {
    const client = new Client({ connectionString: this.opts.url, connectionTimeoutMillis: this.opts.connectTimeoutMs ?? 5000 });
    client.on('notification', (msg) => {
      if (msg.channel !== CHANGES_CHANNEL || !msg.payload) return;
      const sep = msg.payload.lastIndexOf(':');
      const c = this.collections.get(msg.payload.slice(0, sep));
      if (c) c.noticeRemote(Number(msg.payload.slice(sep + 1)));
    });
    client.on('error', (err) => {
      this.opts.log.warn({ err: err.message }, 'lost the database change feed; reconnecting');
      this.scheduleRelisten();
    });
    client.on('end', () => this.scheduleRelisten());
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw connectError(this.opts.url, err);
    }
    this.listener = client;
  }

  private scheduleRelisten(): void {
    if (this.closed || this.reconnectTimer) return;
    this.listener = undefined;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.listen().then(
        async () => {
          // Whatever was committed while we were deaf: read it all again.
          for (const c of this.collections.values()) await c.refresh().catch((err: Error) => this.opts.log.error({ err: err.message, collection: c.name }, 'reload failed'));
        },
        () => this.scheduleRelisten(),
      );
    }, 500);
    this.reconnectTimer.unref();
  }
}
