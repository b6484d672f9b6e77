import { Client, Pool, type PoolClient } from 'pg';
import { errors, GatewayError } from '../../errors';
import type { Logger } from '../../logging';
import { COLLECTION_NAME, type Collection, type StoreBackend, type StoredRecord } from '../collection';
import type { EventLog } from '../event-log';
import { EVENTS_CHANNEL, PgEventLog, type PgEventLogOptions } from './pg-event-log';
import { PgCollection } from './pg-collection';
import { migrate } from './schema';

/** How often versions are compared with the database (a lost NOTIFY, a silently dead connection). */
const HEARTBEAT_MS = 3000;

/** Connection settings shared by the pool and the LISTEN connection: keepalive and timeouts, so nothing waits forever. */
function connectionSettings(opts: PostgresBackendOptions) {
  return {
    connectionString: opts.url,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    query_timeout: 15_000,
    statement_timeout: 15_000,
    idle_in_transaction_session_timeout: 30_000,
    application_name: 'openclaw-gateway',
  };
}

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
  /** The event outbox: retention (and, for tests, a hook inside an append's transaction). */
  events?: Pick<PgEventLogOptions, 'retention' | 'retentionEvery' | 'beforeCommit'>;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    for (const k of [...u.searchParams.keys()]) if (/pass|secret|key/i.test(k)) u.searchParams.set(k, '***');
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
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOTFOUND' || e.code === 'EHOSTUNREACH' || e.code === 'ETIMEDOUT' || /timeout|terminated unexpectedly/i.test(e.message ?? '')) {
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
  private heartbeat?: NodeJS.Timeout;
  private events?: Promise<PgEventLog>;

  private constructor(
    private readonly pool: Pool,
    private readonly opts: PostgresBackendOptions,
  ) {}

  /** Connects, migrates the schema (concurrent starts are safe) and starts listening. */
  static async open(opts: PostgresBackendOptions): Promise<PostgresBackend> {
    parseDatabaseUrl(opts.url);
    const pool = new Pool({ ...connectionSettings(opts), max: opts.poolSize ?? 10 });
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
    try {
      await backend.listen();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    backend.startHeartbeat();
    return backend;
  }

  /**
   * A connection can die without anyone saying so (a failover, a dropped NAT entry): every
   * few seconds each collection compares its version with the database's, which catches
   * up whatever a lost NOTIFY did not bring, and a failing look restarts the LISTEN.
   */
  private startHeartbeat(): void {
    this.heartbeat = setInterval(() => {
      if (this.closed) return;
      // A lost NOTIFY of the outbox only delays its events until here.
      void this.events?.then((log) => log.checkHead()).catch(() => undefined);
      if (this.collections.size === 0) return;
      this.pool.query<{ name: string; version: string }>('SELECT name, version FROM openclaw_collections').then(
        (res) => {
          for (const row of res.rows) this.collections.get(row.name)?.noticeRemote(Number(row.version));
        },
        (err: Error) => {
          this.opts.log.warn({ err: err.message }, 'the database did not answer the heartbeat; reconnecting the change feed');
          const dead = this.listener;
          this.listener = undefined;
          void dead?.end().catch(() => undefined);
          this.scheduleRelisten();
        },
      );
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  async collection<T extends StoredRecord>(name: string, validate: (raw: unknown) => T): Promise<Collection<T>> {
    if (!COLLECTION_NAME.test(name)) throw errors.invalid('BAD_COLLECTION', `collection name "${name}" is not allowed`);
    const known = this.collections.get(name);
    if (known) return known as unknown as Collection<T>;
    const c = new PgCollection<T>(name, this.pool, validate, this.opts.log, () => this.outbox());
    // Registered before the first load: a notification arriving meanwhile is queued behind it, not lost.
    this.collections.set(name, c as unknown as PgCollection<StoredRecord>);
    try {
      await c.refresh();
    } catch (err) {
      this.collections.delete(name);
      throw err;
    }
    return c;
  }

  /** The event outbox (one per backend), tailed through this backend's LISTEN connection. */
  eventLog(): Promise<EventLog> {
    return this.outbox();
  }

  /** The outbox, also written by collections' transactions (the events they stage). */
  private outbox(): Promise<PgEventLog> {
    if (this.closed) return Promise.reject(errors.unavailable('STORE_CLOSED', 'the store is closed'));
    this.events ??= PgEventLog.open({ pool: this.pool, log: this.opts.log, ...this.opts.events }).catch((err: unknown) => {
      this.events = undefined;
      throw connectError(this.opts.url, err);
    });
    return this.events;
  }

  /** The database server's clock (`clock_timestamp()`, not the transaction's start), in ms since the epoch. */
  async serverTime(): Promise<number> {
    const res = await this.pool.query<{ ms: string }>('SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint::text AS ms');
    return Number(res.rows[0].ms);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    const events = await this.events?.catch(() => undefined);
    await events?.close();
    for (const c of this.collections.values()) await c.close();
    this.collections.clear();
    await this.listener?.end().catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }

  /** The LISTEN connection; after it drops, every collection reloads once it is back. */
  private async listen(): Promise<void> {
    const client = new Client(connectionSettings(this.opts));
    client.on('notification', (msg) => {
      if (msg.channel === EVENTS_CHANNEL && msg.payload) {
        const head = Number(msg.payload);
        void this.events?.then((log) => log.noticeHead(head)).catch(() => undefined);
        return;
      }
      if (msg.channel !== CHANGES_CHANNEL || !msg.payload) return;
      const sep = msg.payload.lastIndexOf(':');
      const c = this.collections.get(msg.payload.slice(0, sep));
      if (c) c.noticeRemote(Number(msg.payload.slice(sep + 1)));
    });
    // Until it is up, failures belong to the caller; after that, to the reconnect loop.
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
      await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw connectError(this.opts.url, err);
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    client.on('error', (err) => {
      if (this.listener !== client) return;
      this.opts.log.warn({ err: err.message }, 'lost the database change feed; reconnecting');
      this.scheduleRelisten();
    });
    client.on('end', () => {
      if (this.listener === client) this.scheduleRelisten();
    });
    this.listener = client;
  }

  private scheduleRelisten(): void {
    if (this.closed || this.reconnectTimer) return;
    this.listener = undefined;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.listen().then(
        async () => {
          // Whatever was committed while we were deaf: events after the last one delivered, and every collection again.
          void this.events?.then((log) => log.checkHead()).catch((err: Error) => this.opts.log.error({ err: err.message }, 'catching up with the event log failed'));
          for (const c of this.collections.values()) await c.refresh().catch((err: Error) => this.opts.log.error({ err: err.message, collection: c.name }, 'reload failed'));
        },
        () => this.scheduleRelisten(),
      );
    }, 500);
    this.reconnectTimer.unref();
  }
}
