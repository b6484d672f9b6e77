/**
 * The real `openclaw-gateway start` as a child process (dist/src/bin/openclaw-gateway.js):
 * spawn, time until its banner says it is up, read its RSS, stop it with SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ComponentMissing } from '../types';
import { nowMs, withTimeout } from '../measure';

/** dist/src/bin of this build. */
export const BIN_DIR = join(__dirname, '..', '..', 'src', 'bin');

/** The built gateway entry point; a missing build is a missing component. */
export function gatewayBin(): string {
  const f = join(BIN_DIR, 'openclaw-gateway.js');
  if (!existsSync(f)) throw new ComponentMissing(`${f} is not built`);
  return f;
}

/** A gateway process that printed its banner. */
export interface GatewayProcess {
  proc: ChildProcess;
  /** Spawn to banner, ms. */
  readyMs: number;
  grpcAddress: string;
  /** Everything the process printed on stdout until the banner. */
  output: string;
  stop(): Promise<void>;
}

/** Resident set size of a process in bytes (Linux /proc), or NaN. */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** CPU time (user + system) a process used so far, in seconds (Linux /proc), or NaN. */
export function cpuSecondsOf(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces) start at the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Spawns `openclaw-gateway start <args>` and resolves when the banner's gRPC line appeared. */
export async function spawnGateway(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<GatewayProcess> {
  const t0 = nowMs();
  const proc = spawn(process.execPath, [gatewayBin(), 'start', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...opts.env } });
  let output = '';
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const { readyMs, grpcAddress } = await withTimeout(
      new Promise<{ readyMs: number; grpcAddress: string }>((resolve, reject) => {
        proc.stdout!.on('data', (b: Buffer) => {
          if (output.length < 100_000) output += b.toString();
          const m = /gRPC \(mTLS\):\s+(\S+:\d+)/.exec(output);
          if (m && /is up/.test(output)) resolve({ readyMs: nowMs() - t0, grpcAddress: m[1] });
        });
        proc.once('exit', (code) => reject(new Error(`openclaw-gateway exited (code ${code}) before its banner: ${stderr.trim() || output.slice(-500)}`)));
      }),
      opts.timeoutMs ?? 20_000,
      'openclaw-gateway banner',
    );
    // Keep draining stdout (log lines) so the process never blocks on a full pipe.
    proc.stdout!.on('data', () => undefined);
    return { proc, readyMs, grpcAddress, output, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
