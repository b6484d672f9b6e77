/**
 * Fills openclaw-cli's compile cache beside the installed code (dist/compile-cache), as
 * an image build or an install step does once: starts a throw-away gateway on a free
 * loopback port with a temporary state folder, runs the everyday read commands against
 * it twice (a first run only marks the folder, the second fills the cache; see
 * compile-cache.ts), stops the gateway and removes the folder. Afterwards a CLI started
 * with a fresh HOME (`docker compose run --rm openclaw-cli ...`) starts from cached code.
 *
 * Usage: node dist/src/cli/warm-compile-cache.js [CACHE_DIR]. Exit 1 when a command failed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = join(__dirname, '..', 'bin');
const COMMANDS = [['health'], ['status'], ['cron', 'list'], ['devices', 'list'], ['sessions', 'list'], ['whoami'], ['--help']];

async function startGateway(stateDir: string): Promise<{ address: string; stop(): Promise<void> }> {
  const proc = spawn(process.execPath, [join(BIN, 'openclaw-gateway.js'), 'start', '--state-dir', stateDir, '--grpc-host', '127.0.0.1', '--grpc-port', '0', '--no-bridge', '--no-worker'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the gateway did not start within 60 s')), 60_000);
    proc.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /gRPC \(mTLS\):\s+(\S+:\d+)/.exec(out);
      if (m && /is up/.test(out)) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited (${code}) before it was up`));
    });
  });
  proc.stdout!.resume();
  return {
    address,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

async function main(): Promise<void> {
  const cacheDir = process.argv[2] ?? join(__dirname, '..', '..', 'compile-cache');
  const stateDir = mkdtempSync(join(tmpdir(), 'openclaw-warm-'));
  let failed = false;
  try {
    const gw = await startGateway(stateDir);
    try {
      const env = { ...process.env, OPENCLAW_CLI_COMPILE_CACHE: cacheDir, NO_COLOR: '1', HOME: stateDir };
      for (let round = 0; round < 2; round++) {
        for (const args of COMMANDS) {
          const r = spawnSync(process.execPath, [join(BIN, 'openclaw-cli.js'), '--certs', join(stateDir, 'identities', 'cli'), '--gateway', gw.address, ...args], { env, encoding: 'utf8', timeout: 60_000 });
          if (r.status !== 0) {
            failed = true;
            process.stderr.write(`openclaw-cli ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.stdout || '').trim().split('\n')[0]}\n`);
          }
        }
      }
    } finally {
      await gw.stop();
    }
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
  if (failed) process.exitCode = 1;
  else process.stdout.write(`openclaw-cli compile cache warmed in ${cacheDir}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`warm-compile-cache: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
