/**
 * A real, private PostgreSQL server for a test file: `initdb` into a fresh temp dir, a
 * free port on 127.0.0.1, its unix socket inside that dir, `pg_ctl start -w` (returns
 * once the server accepts connections). Nothing is shared with a system cluster (its
 * port, data dir and socket dir are never touched), so several test files, or several
 * jest workers, can each run their own.
 *
 * The binaries are taken from PATH first, then from Debian's layout
 * (/usr/lib/postgresql/<highest version>/bin). PostgreSQL refuses to run as root, so
 * as root (CI) initdb and pg_ctl run as the `postgres` OS user through `runuser`, and
 * the temp dir is handed to that user.
 *
 *   const pg = await startPostgres();
 *   const url = await pg.createDatabase();   // a fresh, empty database per test
 *   ...
 *   await pg.stop();                         // server stopped, temp dir removed
 *
 * A test server runs with `fsync = off` (no crash safety against a machine crash, which
 * a test needs none of). `startPostgres({ durable: true })` runs it as production would
 * (`fsync = on`, `synchronous_commit = on`: a COMMIT returns once its WAL is on disk), for
 * benchmarks that compare its writes with the files backend's fsynced ones.
 *
 * Nothing outlives the process that started it, even when a test file never calls stop():
 *  - an 'exit' hook stops every server this process started (`pg_ctl stop -m immediate`)
 *    and removes its dir, synchronously. It fires in plain Node (scripts, benches) but
 *    not under jest: jest gives each test file its own copy of `process`, whose 'exit'
 *    event is never emitted;
 *  - so each server also gets a watchdog: a small detached shell that waits for EOF on a
 *    pipe only this process holds open. However this process ends (normal exit, uncaught
 *    error, jest tearing its worker down, SIGKILL), the pipe closes and the watchdog
 *    stops the server and removes the dir. stop() kills the watchdog.
 * On a failed start, the error carries the end of the server log.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, appendFileSync, chownSync, constants, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Client } from 'pg';

export interface TestPostgres {
  /** Connection URL of the server's maintenance database (`postgres`), as the test superuser. */
  url: string;
  port: number;
  /** The cluster's data directory (inside the temp dir that stop() removes). */
  dataDir: string;
  /** The directory holding the PostgreSQL binaries that were used. */
  binDir: string;
  /**
   * Creates a new, empty database and returns its URL. Without a name, a unique one is
   * chosen; with a name that already exists, it fails (it never reuses a database).
   */
  createDatabase(name?: string): Promise<string>;
  /**
   * Stops the server (`pg_ctl stop -m fast -w`) and removes its temp dir. Idempotent.
   * End clients and pools first: the shutdown cuts their connections, and a pg Client
   * whose connection is cut emits 'error' (uncaught when nothing listens).
   */
  stop(): Promise<void>;
}

/** The superuser initdb creates; authentication is `trust`, so it has no password. */
export const TEST_PG_USER = 'openclaw_test';

const DEBIAN_ROOT = '/usr/lib/postgresql';
const INSTALL_HINT = 'install PostgreSQL (Debian/Ubuntu: apt-get install postgresql) or put its bin directory on PATH';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The directory with both `initdb` and `pg_ctl`: the first PATH entry that has both,
 * else the highest version under /usr/lib/postgresql. Throws with an install hint.
 */
export function findPostgresBinDir(): string {
  const hasBoth = (dir: string) => isExecutable(join(dir, 'initdb')) && isExecutable(join(dir, 'pg_ctl'));
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && hasBoth(dir)) return dir;
  }
  let versions: string[] = [];
  try {
    versions = readdirSync(DEBIAN_ROOT).filter((v) => /^\d+(\.\d+)?$/.test(v));
  } catch {
    // no Debian layout
  }
  versions.sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const dir = join(DEBIAN_ROOT, v, 'bin');
    if (hasBoth(dir)) return dir;
  }
  throw new Error(`PostgreSQL server binaries (initdb, pg_ctl) not found on PATH nor under ${DEBIAN_ROOT}/<version>/bin: ${INSTALL_HINT}`);
}

/** How to run the server's tools: directly, or as the `postgres` OS user when we are root. */
interface Runner {
  /** Command and arguments that run `bin` with `args` as the right user. */
  argv(bin: string, args: string[]): [string, string[]];
  /** Gives `dir` to the user the server runs as (no-op when not root). */
  own(dir: string): void;
  /** The OS user the server runs as, when it is not this process's user. */
  asUser?: string;
}

function makeRunner(): Runner {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    return { argv: (bin, args) => [bin, args], own: () => {} };
  }
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  } catch {
    throw new Error(`running as root, but there is no "postgres" OS user to run the PostgreSQL server as (it refuses to run as root): ${INSTALL_HINT}, or run the tests as a non-root user`);
  }
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find(isExecutable) ?? 'runuser';
  return {
    argv: (bin, args) => [runuser, ['-u', 'postgres', '--', bin, ...args]],
    own: (dir) => chownSync(dir, uid, gid),
    asUser: 'postgres',
  };
}

interface Toolchain {
  binDir: string;
  initdbFlags: string[];
  runner: Runner;
}
let toolchain: Toolchain | undefined;

function run(tc: Toolchain, tool: string, args: string[], cwd: string): Promise<string> {
  const [cmd, argv] = tc.runner.argv(join(tc.binDir, tool), args);
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { cwd, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${tool} ${args.join(' ')} failed: ${err.message.split('\n')[0]}\n${stderr || stdout}`.trim()));
      else resolve(stdout);
    });
  });
}

function runSync(tc: Toolchain, tool: string, args: string[], cwd: string): void {
  const [cmd, argv] = tc.runner.argv(join(tc.binDir, tool), args);
  execFileSync(cmd, argv, { cwd, stdio: 'ignore', timeout: 30_000 });
}

async function loadToolchain(): Promise<Toolchain> {
  if (toolchain) return toolchain;
  const binDir = findPostgresBinDir();
  const runner = makeRunner();
  // Optional flags, by what this initdb supports: --no-sync (skip fsync of the new
  // cluster: much faster, and a test cluster needs no crash safety), --no-instructions.
  const help = await new Promise<string>((resolve) =>
    execFile(join(binDir, 'initdb'), ['--help'], { encoding: 'utf8' }, (_err, stdout) => resolve(stdout ?? '')),
  );
  const initdbFlags = ['--no-sync', '--no-instructions'].filter((flag) => help.includes(flag));
  toolchain = { binDir, initdbFlags, runner };
  return toolchain;
}

/** A port that was free a moment ago (bound to 0, then released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Servers this process started and has not stopped: data dir -> synchronous emergency stop. */
const running = new Map<string, () => void>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const kill of [...running.values()]) kill();
  });
}

/**
 * Starts the watchdog of a server whose temp dir is `root` (see the file comment): it
 * blocks reading its stdin, which only this process holds open, then runs the
 * immediate stop (if a server is running) and removes `root`. Unref'd: it never keeps
 * this process alive.
 */
function startWatchdog(tc: Toolchain, root: string, dataDir: string): ChildProcess {
  const [cmd, argv] = tc.runner.argv(join(tc.binDir, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-s']);
  const script = 'read _ignored; root="$1"; shift; if [ -f "$root/data/postmaster.pid" ]; then "$@"; fi; rm -rf -- "$root"';
  const dog = spawn('/bin/sh', ['-c', script, 'openclaw-pg-watchdog', root, cmd, ...argv], { cwd: '/', detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  dog.on('error', () => {}); // no /bin/sh: the exit hook and stop() still apply
  dog.stdin?.on('error', () => {});
  dog.unref();
  (dog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return dog;
}

/** A postgresql.conf string literal. */
const confString = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

/** Starts a private PostgreSQL server; call stop() when done (e.g. in afterAll). */
export async function startPostgres(opts: { durable?: boolean } = {}): Promise<TestPostgres> {
  const tc = await loadToolchain();
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'openclaw-pg-')));
  const dataDir = join(root, 'data');
  const logFile = join(root, 'server.log');
  const removeRoot = () => rmSync(root, { recursive: true, force: true });
  const watchdog = startWatchdog(tc, root, dataDir);
  const emergencyStop = () => {
    running.delete(dataDir);
    watchdog.kill('SIGKILL');
    try {
      if (existsSync(join(dataDir, 'postmaster.pid'))) runSync(tc, 'pg_ctl', ['stop', '-D', dataDir, '-m', 'immediate', '-w', '-s'], root);
    } catch {
      // already gone
    }
    removeRoot();
  };
  // Registered (like the watchdog) before initdb, so that a crash in the middle still removes the dir.
  installExitHook();
  running.set(dataDir, emergencyStop);

  let port = 0;
  try {
    tc.runner.own(root);
    // The server's unix socket lives in `root`: the socket path must stay under ~107 bytes.
    if (join(root, '.s.PGSQL.65535').length > 107) throw new Error(`temp dir path too long for a unix socket: ${root} (set TMPDIR to a shorter path)`);
    // --locale=C works whatever locales the machine has, and sorts bytewise.
    await run(tc, 'initdb', ['-D', dataDir, '-A', 'trust', '-U', TEST_PG_USER, '-E', 'UTF8', '--locale=C', ...tc.initdbFlags], root);
    appendFileSync(
      join(dataDir, 'postgresql.conf'),
      [
        '',
        '# test server (test/helpers/postgres.ts)',
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = ${confString(root)}`,
        // By default no crash safety against a machine crash (a test cluster needs none);
        // commits stay synchronous, so a server stopped with -m immediate loses nothing
        // acknowledged. Durable: every COMMIT waits for its WAL to be flushed to disk.
        ...(opts.durable ? ['fsync = on', 'synchronous_commit = on'] : ['fsync = off']),
        'max_connections = 200',
        '',
      ].join('\n'),
    );
    // The port comes free from the OS but is only taken when the server binds it: on the
    // rare loss of that race, try another.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const logBefore = existsSync(logFile) ? readFileSync(logFile, 'utf8').length : 0;
      try {
        await run(tc, 'pg_ctl', ['start', '-w', '-t', '60', '-s', '-D', dataDir, '-l', logFile, '-o', `-p ${port}`], root);
        break;
      } catch (err) {
        const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(logBefore) : '';
        if (attempt < 3 && /could not bind|Address already in use/i.test(log)) continue;
        throw new Error(`${(err as Error).message}\n--- end of the server log ---\n${log.split('\n').slice(-20).join('\n')}`);
      }
    }
  } catch (err) {
    emergencyStop();
    if (tc.runner.asUser && /Permission denied/.test((err as Error).message)) {
      (err as Error).message += `\n(the server runs as the "${tc.runner.asUser}" OS user, which must be able to reach ${root}: point TMPDIR at a directory it can traverse, e.g. /tmp)`;
    }
    throw err;
  }

  const urlFor = (db: string) => `postgres://${TEST_PG_USER}@127.0.0.1:${port}/${db}`;
  let dbCount = 0;
  let stopped: Promise<void> | undefined;

  return {
    url: urlFor('postgres'),
    port,
    dataDir,
    binDir: tc.binDir,
    async createDatabase(name?: string) {
      const db = name ?? `test_${++dbCount}`;
      if (!/^[a-z_][a-z0-9_]{0,62}$/.test(db)) throw new Error(`database name must be a lowercase SQL identifier (a-z, 0-9, _; at most 63): ${JSON.stringify(db)}`);
      const client = new Client({ host: '127.0.0.1', port, user: TEST_PG_USER, database: 'postgres', ssl: false });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${db}"`);
      } finally {
        await client.end();
      }
      return urlFor(db);
    },
    stop() {
      stopped ??= (async () => {
        try {
          await run(tc, 'pg_ctl', ['stop', '-D', dataDir, '-m', 'fast', '-w', '-s'], root);
        } catch (err) {
          emergencyStop();
          throw err;
        }
        running.delete(dataDir);
        watchdog.kill('SIGKILL');
        removeRoot();
      })();
      return stopped;
    },
  };
}
