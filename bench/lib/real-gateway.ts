/**
 * The real OpenClaw gateway (npm `openclaw@2026.9.6` on the pinned Node 24) as a child
 * process, for side-by-side figures: the pinned packages come from the legacy-client
 * cache (installed on first use), the gateway runs as `openclaw gateway run --port P
 * --bind loopback` with a throw-away HOME whose config sets token auth, and it is ready
 * when `/readyz` answers 200 (about 8 to 10 s here).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { ensureRealClients, PINNED } from '../../test/legacy-clients/real-clients';
import { ComponentMissing } from '../types';
import { freshDir } from './fixture';
import { freePort } from './ports';
import { nowMs, sleep } from '../measure';

/** A real gateway that answered /readyz. */
export interface RealGateway {
  url: string;
  token: string;
  /** Spawn to the first 200 on /readyz, ms. */
  readyMs: number;
  pid: number;
  /** "openclaw@2026.9.6 on node 24.22.3". */
  label: string;
  stop(): Promise<void>;
}

function readyz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/readyz', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/**
 * Installs (first use) and starts the real gateway. A missing install is a
 * ComponentMissing with one line saying why.
 */
export async function startRealGateway(opts: { readyTimeoutMs?: number } = {}): Promise<RealGateway> {
  let clients;
  try {
    clients = await ensureRealClients();
  } catch (err) {
    throw new ComponentMissing(`real OpenClaw gateway not available: ${(err as Error).message.split('\n')[0]}`);
  }
  const port = await freePort();
  const token = randomBytes(24).toString('hex');
  const home = freshDir('real-gateway-home');
  mkdirSync(join(home, '.openclaw'), { recursive: true });
  writeFileSync(join(home, '.openclaw', 'openclaw.json'), JSON.stringify({ gateway: { mode: 'local', port, bind: 'loopback', auth: { mode: 'token', token } } }, null, 2) + '\n', { mode: 0o600 });
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, NO_COLOR: '1' };
  // Its token is the one in the config; a token from the caller's environment would not match it.
  delete env.OPENCLAW_GATEWAY_TOKEN;
  const t0 = nowMs();
  const proc: ChildProcess = spawn(clients.node, [clients.openclawCli, 'gateway', 'run', '--port', String(port), '--bind', 'loopback'], {
    cwd: home,
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let tail = '';
  const keep = (b: Buffer) => (tail = (tail + b.toString()).slice(-2000));
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = t0 + (opts.readyTimeoutMs ?? 60_000);
  while (!(await readyz(port))) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`the real gateway exited (${proc.exitCode ?? proc.signalCode}) before it was ready: ${tail.trim().split('\n').slice(-3).join(' | ')}`);
    if (nowMs() > deadline) {
      await stop();
      throw new Error(`the real gateway was not ready within ${Math.round((opts.readyTimeoutMs ?? 60_000) / 1000)} s: ${tail.trim().split('\n').slice(-3).join(' | ')}`);
    }
    await sleep(100);
  }
  return {
    url: `ws://127.0.0.1:${port}/`,
    token,
    readyMs: nowMs() - t0,
    pid: proc.pid!,
    label: `${PINNED.openclaw.name}@${PINNED.openclaw.version} on node ${PINNED.node.version}`,
    stop,
  };
}
