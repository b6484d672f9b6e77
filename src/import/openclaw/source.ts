import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import initSqlJs, { type Database } from 'sql.js';
import { MAX_INCLUDED_BYTES, resolveIncludes } from './config-includes';
import { parse as parseDotEnv } from 'dotenv';
import { parse as parseJson5 } from 'json5';
import { MAX_DATABASE_BYTES, replayWal, WalError } from './sqlite-wal';

/**
 * An OpenClaw state folder (`~/.openclaw` of a 2026.x install), read without writing a
 * byte of it: `openclaw.json` (JSON5) and the state database `state/openclaw.sqlite`,
 * opened with sql.js from a copy of its bytes with the committed frames of its -wal file
 * applied (sqlite-wal.ts). Anything this reader does not know is refused with one line
 * (`SourceRefused`), before anything is imported.
 */

/** The state database schema versions this reader knows (schema_meta.schema_version = PRAGMA user_version). */
export const KNOWN_SCHEMA_VERSIONS = [18] as const;

/** A source that cannot be imported: the message is one line saying why and what to do. */
export class SourceRefused extends Error {}

/** One row of `device_pairing_paired`. */
export interface PairedRow {
  device_id: string;
  public_key: string;
  display_name: string | null;
  operator_label: string | null;
  platform: string | null;
  device_family: string | null;
  client_id: string | null;
  client_mode: string | null;
  role: string | null;
  roles_json: string | null;
  scopes_json: string | null;
  approved_scopes_json: string | null;
  remote_ip: string | null;
  tokens_json: string | null;
  approved_via: string | null;
  created_at_ms: number;
  approved_at_ms: number;
  last_seen_at_ms: number | null;
  last_seen_reason: string | null;
}

/** One row of `cron_jobs`. */
export interface CronRow {
  job_id: string;
  declaration_key: string | null;
  name: string;
  enabled: number;
  agent_id: string | null;
  payload_kind: string;
  job_json: string;
  state_json: string;
  updated_at: number;
  sort_order: number;
}

/** What was read. */
export interface OpenclawSource {
  dir: string;
  configPath: string;
  /** `openclaw.json`, parsed. */
  config: Record<string, unknown>;
  /** The folder's `.env` (OpenClaw loads it into its environment), empty when there is none. */
  env: Record<string, string>;
  appVersion: string;
  schemaVersion: number;
  /** Committed frames applied from `openclaw.sqlite-wal` (0: none, or no -wal file). */
  walFrames: number;
  paired: PairedRow[];
  cronJobs: CronRow[];
  /** Pairing requests still waiting for an approval in OpenClaw (not carried: the device asks again). */
  pendingPairings: number;
}

const PAIRED_COLUMNS = ['device_id', 'public_key', 'display_name', 'operator_label', 'platform', 'device_family', 'client_id', 'client_mode', 'role', 'roles_json', 'scopes_json', 'approved_scopes_json', 'remote_ip', 'tokens_json', 'approved_via', 'created_at_ms', 'approved_at_ms', 'last_seen_at_ms', 'last_seen_reason'];
const CRON_COLUMNS = ['job_id', 'declaration_key', 'name', 'enabled', 'agent_id', 'payload_kind', 'job_json', 'state_json', 'updated_at', 'sort_order'];

/** Largest state database or -wal file read (each): the size a replayed database may reach. */
export const MAX_SOURCE_FILE_BYTES = MAX_DATABASE_BYTES;

let sqlJs: ReturnType<typeof initSqlJs> | undefined;

/** Reads an OpenClaw state folder; throws `SourceRefused` (one line) for anything it does not understand. */
export async function readOpenclawSource(dir: string): Promise<OpenclawSource> {
  const refuse = (why: string): never => {
    // One line, whatever an underlying error's message holds.
    throw new SourceRefused(`${dir}: ${why}`.replace(/\s*[\r\n]+\s*/g, ' '));
  };
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    refuse('no such folder');
  }
  if (!isDir) refuse('not a folder (give the OpenClaw state folder, e.g. ~/.openclaw)');
  const configPath = join(dir, 'openclaw.json');
  const dbPath = join(dir, 'state', 'openclaw.sqlite');
  if (!existsSync(configPath)) {
    const hint = existsSync(join(dir, '.openclaw', 'openclaw.json')) ? ` (did you mean ${join(dir, '.openclaw')}?)` : '';
    refuse(`not an OpenClaw state folder: no openclaw.json${hint}`);
  }
  if (!existsSync(dbPath)) refuse('unknown OpenClaw layout: no state/openclaw.sqlite (this importer reads OpenClaw 2026.x, whose state is in that database)');

  let config: unknown;
  const configSize = statSync(configPath).size;
  if (configSize > MAX_INCLUDED_BYTES) refuse(`openclaw.json is ${configSize} bytes, larger than the ${MAX_INCLUDED_BYTES / (1024 * 1024)} MB this importer reads`);
  try {
    config = parseJson5(readFileSync(configPath, 'utf8'));
  } catch (err) {
    refuse(`openclaw.json cannot be read: ${(err as Error).message}`);
  }
  if (!config || typeof config !== 'object' || Array.isArray(config)) refuse('openclaw.json is not a JSON object');
  try {
    config = resolveIncludes(config, configPath, dir);
  } catch (err) {
    refuse(`openclaw.json cannot be read: ${(err as Error).message}`);
  }

  let env: Record<string, string> = {};
  if (existsSync(join(dir, '.env'))) {
    try {
      env = parseDotEnv(readFileSync(join(dir, '.env'), 'utf8'));
    } catch (err) {
      refuse(`.env cannot be read: ${(err as Error).message}`);
    }
  }

  // Copies of the bytes: the source files are only ever read, and never more than
  // MAX_SOURCE_FILE_BYTES each (checked before reading).
  const readCapped = (path: string, name: string): Uint8Array => {
    try {
      const size = statSync(path).size;
      if (size > MAX_SOURCE_FILE_BYTES) refuse(`${name} is ${size} bytes, larger than the ${MAX_SOURCE_FILE_BYTES / 1024 ** 3} GiB this importer reads`);
      return new Uint8Array(readFileSync(path));
    } catch (err) {
      if (err instanceof SourceRefused) throw err;
      return refuse(`${name} cannot be read: ${(err as Error).message}`);
    }
  };
  const main = readCapped(dbPath, 'state/openclaw.sqlite');
  const walPath = `${dbPath}-wal`;
  const wal = existsSync(walPath) ? readCapped(walPath, 'state/openclaw.sqlite-wal') : new Uint8Array(0);
  if (main.length < 100 || Buffer.from(main.subarray(0, 16)).toString('latin1') !== 'SQLite format 3\0') refuse('state/openclaw.sqlite is not a SQLite database (damaged or not OpenClaw\'s)');
  let bytes: Uint8Array;
  let walFrames = 0;
  try {
    const replay = replayWal(main, wal);
    bytes = replay.bytes;
    walFrames = replay.frames;
  } catch (err) {
    if (err instanceof WalError) refuse(`state/openclaw.sqlite-wal cannot be applied: ${err.message} (start and stop the OpenClaw gateway once so that it checkpoints, then import again)`);
    // Anything else (a crafted file this reader did not foresee) is still a refusal, never a crash.
    refuse(`state/openclaw.sqlite-wal cannot be applied: ${(err as Error).message}`);
  }

  sqlJs ??= initSqlJs();
  const SQL = await sqlJs;
  let db: Database | undefined;
  try {
    db = new SQL.Database(bytes!);
    const rows = <T>(sql: string): T[] => {
      const stmt = db!.prepare(sql);
      const out: T[] = [];
      try {
        while (stmt.step()) out.push(stmt.getAsObject() as T);
      } finally {
        stmt.free();
      }
      return out;
    };
    let check: { quick_check: string }[];
    try {
      check = rows<{ quick_check: string }>('PRAGMA quick_check');
    } catch (err) {
      return refuse(`state/openclaw.sqlite cannot be read: ${(err as Error).message}`);
    }
    if (check.length !== 1 || check[0].quick_check !== 'ok') refuse(`state/openclaw.sqlite is damaged: ${check.map((r) => r.quick_check).slice(0, 3).join('; ')}`);

    const tables = new Set(rows<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").map((r) => r.name));
    if (!tables.has('schema_meta')) refuse('unknown OpenClaw state database: no schema_meta table');
    const meta = rows<{ schema_version: number; app_version: string | null }>("SELECT schema_version, app_version FROM schema_meta WHERE meta_key = 'primary'");
    const userVersion = rows<{ user_version: number }>('PRAGMA user_version')[0]?.user_version;
    if (meta.length !== 1) refuse('unknown OpenClaw state database: schema_meta has no primary row');
    const schemaVersion = Number(meta[0].schema_version);
    const appVersion = String(meta[0].app_version ?? '');
    if (!(KNOWN_SCHEMA_VERSIONS as readonly number[]).includes(schemaVersion) || userVersion !== schemaVersion) {
      refuse(
        `OpenClaw state schema version ${schemaVersion} (user_version ${userVersion}, written by OpenClaw ${appVersion || 'unknown'}) is not one this importer knows (${KNOWN_SCHEMA_VERSIONS.join(', ')}, OpenClaw 2026.9.x)`,
      );
    }
    for (const [table, columns] of [
      ['device_pairing_paired', PAIRED_COLUMNS],
      ['cron_jobs', CRON_COLUMNS],
    ] as const) {
      if (!tables.has(table)) refuse(`unknown OpenClaw state database: no ${table} table`);
      const have = new Set(rows<{ name: string }>(`PRAGMA table_info(${table})`).map((r) => r.name));
      const missing = columns.filter((c) => !have.has(c));
      if (missing.length) refuse(`unknown OpenClaw state database: ${table} lacks ${missing.join(', ')}`);
    }
    const paired = rows<PairedRow>(`SELECT ${PAIRED_COLUMNS.join(', ')} FROM device_pairing_paired ORDER BY created_at_ms, device_id`);
    const cronJobs = rows<CronRow>(`SELECT ${CRON_COLUMNS.join(', ')} FROM cron_jobs ORDER BY sort_order, job_id`);
    const pendingPairings = tables.has('device_pairing_pending') ? Number(rows<{ n: number }>('SELECT count(*) AS n FROM device_pairing_pending')[0].n) : 0;
    return { dir, configPath, config: config as Record<string, unknown>, env, appVersion, schemaVersion, walFrames, paired, cronJobs, pendingPairings };
  } catch (err) {
    if (err instanceof SourceRefused) throw err;
    return refuse(`state/openclaw.sqlite cannot be read: ${(err as Error).message}`);
  } finally {
    db?.close();
  }
}
