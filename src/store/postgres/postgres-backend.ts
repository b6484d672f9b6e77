import { performance } from 'node:perf_hooks';
import { Client, Pool, type PoolClient, type QueryConfig } from 'pg';
import { errors, GatewayError } from '../../errors';
import type { Logger } from '../../logging';
import { COLLECTION_NAME, type Collection, type StoreBackend, type StoredRecord } from '../collection';
import type { EventLog } from '../event-log';
import { STALE_AFTER_MS, type StoreFreshness } from '../freshness';
import { EVENTS_CHANNEL, PgEventLog, type PgEventLogOptions } from './pg-event-log';
import { PgCollection } from './pg-collection';
import { migrate } from './schema';

/**
 * How often versions are compared with the database (a lost NOTIFY, a silently dead
 * connection): each successful heartbeat confirms the local copies current, and three
 * missed ones (STALE_AFTER_MS) make them stale.
 */
const HEARTBEAT_MS = STALE_AFTER_MS / 3;
/** How long the heartbeat's queries may take (less than a heartbeat: the next one must find the connection given up). */
const HEARTBEAT_TIMEOUT_MS = HEARTBEAT_MS;
/** Connections of the catch-up pool (reads after another replica's commit, and the heartbeat). */
const CATCH_UP_POOL_SIZE = 2;

/** Connection settings shared by the pools and the LISTEN connection: keepalive and timeouts, so nothing waits forever. */
function connectionSettings(opts: PostgresBackendOptions, role: 'write' | 'read' | 'listen') {
  return {
    connectionString: opts.url,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    query_timeout: 15_000,
    statement_timeout: 15_000,
    idle_in_transaction_session_timeout: 30_000,
    // Which of a replica's connections this is, in pg_stat_activity.
    application_name: role === 'write' ? 'openclaw-gateway' : `openclaw-gateway-${role}`,
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

/** A query that gives up after `ms` (pg reads `query_timeout` from a query's config as well). */
function timed(text: string, ms: number): QueryConfig {
  return { text, query_timeout: ms } as QueryConfig;
}

/** Gives a connection up without waiting for its server (which may never answer again). */
function drop(client: Client): void {
  void client.end().catch(() => undefined);
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/**
 * Gateway state in PostgreSQL, shared by replicas: a pool for transactions, a small one
 * for catch-ups and the heartbeat, and one dedicated connection that LISTENs for other
 * replicas' commits (never a pooled one).
 */
export class PostgresBackend implements StoreBackend {
  readonly kind = 'postgres' as const;
  private readonly collections = new Map<string, PgCollection<StoredRecord>>();
  private listener?: Client;
  private closed = false;
  private reconnectTimer?: NodeJS.Timeout;
  private heartbeat?: NodeJS.Timeout;
  private beating = false;
  /** When (performance.now()) the local copies were last confirmed current. */
  private confirmedAt = performance.now();
  private events?: Promise<PgEventLog>;

  private constructor(
    private readonly pool: Pool,
    private readonly reads: Pool,
    private readonly opts: PostgresBackendOptions,
  ) {}

  /** Connects, migrates the schema (concurrent starts are safe) and starts listening. */
  static async open(opts: PostgresBackendOptions): Promise<PostgresBackend> {
    parseDatabaseUrl(opts.url);
    const pool = new Pool({ ...connectionSettings(opts, 'write'), max: opts.poolSize ?? 10 });
    const reads = new Pool({ ...connectionSettings(opts, 'read'), max: CATCH_UP_POOL_SIZE });
    // An idle client that loses its server must not crash the process; the next query reports it.
    for (const p of [pool, reads]) p.on('error', (err) => opts.log.warn({ err: err.message }, 'an idle database connection failed'));
    const endPools = () => Promise.all([pool.end().catch(() => undefined), reads.end().catch(() => undefined)]);
    let client: PoolClient | undefined;
    try {
      client = await pool.connect();
      const m = await migrate(client);
      if (m.from !== m.to) opts.log.info({ from: m.from, to: m.to, database: redactUrl(opts.url) }, 'migrated the database schema');
    } catch (err) {
      client?.release();
      client = undefined;
      await endPools();
      throw connectError(opts.url, err);
    } finally {
      client?.release();
    }
    const backend = new PostgresBackend(pool, reads, opts);
    try {
      await backend.listen();
    } catch (err) {
      await endPools();
      throw err;
    }
    backend.confirmedAt = performance.now();
    backend.startHeartbeat();
    return backend;
  }

  /**
   * Whether the local copies are known to be current: confirmed by a heartbeat (which
   * also catches them up) within STALE_AFTER_MS. A replica cut off from the database
   * stops confirming, and after that bound its gateway refuses to decide from them.
   */
  freshness(): StoreFreshness {
    const sinceMs = performance.now() - this.confirmedAt;
    return { current: sinceMs <= STALE_AFTER_MS, sinceMs };
  }

  /**
   * A connection can die without anyone saying so (a failover, a dropped NAT entry): every
   * second each collection compares its version with the database's, which catches up
   * whatever a lost NOTIFY did not bring and, once every collection holds what the
   * database had when the heartbeat began, confirms the copies current (`freshness`).
   * A failing look restarts the LISTEN, and so does a LISTEN connection that does not
   * answer a `SELECT 1` in time (a dead one that no error announced).
   */
  private startHeartbeat(): void {
    this.heartbeat = setInterval(() => {
      if (this.closed || this.beating) return;
      this.beating = true;
      void this.beat().finally(() => {
        this.beating = false;
      });
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private async beat(): Promise<void> {
    // A lost NOTIFY of the outbox only delays its events until here.
    void this.events?.then((log) => log.checkHead()).catch(() => undefined);
    const startedAt = performance.now();
    await Promise.all([this.confirmCopies(startedAt), this.checkListener()]);
  }

  private async confirmCopies(startedAt: number): Promise<void> {
    let res;
    try {
      res = await this.reads.query<{ name: string; version: string }>(timed('SELECT name, version FROM openclaw_collections', HEARTBEAT_TIMEOUT_MS));
    } catch (err) {
      if (this.closed) return;
      this.opts.log.warn({ err: (err as Error).message }, 'the database did not answer the heartbeat; reconnecting the change feed');
      const dead = this.listener;
      this.listener = undefined;
      if (dead) drop(dead);
      this.scheduleRelisten();
      return;
    }
    try {
      await Promise.all(res.rows.map((row) => this.collections.get(row.name)?.catchUpTo(Number(row.version))));
    } catch (err) {
      // The copies stay unconfirmed until a heartbeat catches them up.
      if (!this.closed) this.opts.log.warn({ err: (err as Error).message }, 'the heartbeat could not catch up with the database');
      return;
    }
    this.confirmedAt = Math.max(this.confirmedAt, startedAt);
  }

  /** A LISTEN connection that does not answer in time is given up and replaced. */
  private async checkListener(): Promise<void> {
    const client = this.listener;
    if (!client) return;
    try {
      await client.query(timed('SELECT 1', HEARTBEAT_TIMEOUT_MS));
    } catch (err) {
      if (this.closed || this.listener !== client) return;
      this.opts.log.warn({ err: (err as Error).message }, 'the database change feed did not answer; reconnecting it');
      this.listener = undefined;
      drop(client);
      this.scheduleRelisten();
    }
  }

  async collection<T extends StoredRecord>(name: string, validate: (raw: unknown) => T): Promise<Collection<T>> {
    if (!COLLECTION_NAME.test(name)) throw errors.invalid('BAD_COLLECTION', `collection name "${name}" is not allowed`);
    const known = this.collections.get(name);
    if (known) return known as unknown as Collection<T>;
    const c = new PgCollection<T>(name, this.pool, this.reads, validate, this.opts.log, () => this.outbox());
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

  /**
   * The database server's clock (`clock_timestamp()`, not the transaction's start), in ms
   * since the epoch. Asked on the small pool, which writers waiting for a lock never hold:
   * the caller takes half the round trip as the error.
   */
  async serverTime(): Promise<number> {
    const res = await this.reads.query<{ ms: string }>('SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint::text AS ms');
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
    const listener = this.listener;
    if (listener) {
      // Said goodbye to, but not waited for long: a server out of reach never answers.
      await Promise.race([listener.end().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      drop(listener);
    }
    await this.pool.end().catch(() => undefined);
    await this.reads.end().catch(() => undefined);
  }

  /** The LISTEN connection; after it drops, every collection catches up once it is back. */
  private async listen(): Promise<void> {
    const client = new Client(connectionSettings(this.opts, 'listen'));
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
          for (const c of this.collections.values()) await c.refresh().catch((err: Error) => this.opts.log.error({ err: err.message, collection: c.name }, 'catching up failed'));
        },
        () => this.scheduleRelisten(),
      );
    }, 500);
    this.reconnectTimer.unref();
  }
}
