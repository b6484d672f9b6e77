/**
 * Runs the real `openclaw` CLI (npm, on the pinned Node 24) as a child process with its
 * own HOME, and parses its `--json` output.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RealClients } from './real-clients';
import { realClientEnv } from './real-client-env';

export interface RealCliResult {
  args: string[];
  code: number | null;
  stdout: string;
  /** stderr without the notice the CLI prints when its optional native addon is not built. */
  stderr: string;
  /** stdout parsed as JSON, when it is JSON. */
  json?: any;
  ms: number;
}

/**
 * The real CLI bound to one HOME (its config, device identity and stored device tokens
 * live there). Its config always sends its log file into that HOME too (by default it
 * writes to a shared folder under /tmp).
 */
export class RealCli {
  constructor(
    private readonly clients: RealClients,
    readonly home: string,
  ) {
    this.writeConfig({});
  }

  /** Writes the CLI's config file (~/.openclaw/openclaw.json). */
  writeConfig(config: Record<string, unknown>): void {
    mkdirSync(join(this.home, '.openclaw'), { recursive: true });
    const full = { logging: { file: join(this.home, 'openclaw.log') }, ...config };
    writeFileSync(join(this.home, '.openclaw', 'openclaw.json'), JSON.stringify(full, null, 2) + '\n');
  }

  /** Runs `openclaw ...args` to completion (`env`: e.g. OPENCLAW_GATEWAY_URL / _TOKEN). */
  run(args: string[], o: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RealCliResult> {
    const started = Date.now();
    const timeoutMs = o.timeoutMs ?? 90_000;
    const child = spawn(this.clients.node, [this.clients.openclawCli, ...args], { env: realClientEnv(this.clients, this.home, o.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => (stdout += d));
    child.stderr!.on('data', (d: string) => (stderr += d));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`openclaw ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
      }, timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        const cleanErr = stderr
          .split('\n')
          .filter((l) => !l.startsWith('[postinstall]'))
          .join('\n');
        let json: unknown;
        try {
          json = JSON.parse(stdout);
        } catch {
          json = undefined;
        }
        resolve({ args, code, stdout, stderr: cleanErr, json, ms: Date.now() - started });
      });
    });
  }

  /** Runs with `--json` added; the result must have printed JSON. */
  async json(args: string[], env?: Record<string, string>): Promise<RealCliResult> {
    const r = await this.run([...args, '--json'], { env });
    if (r.json === undefined) throw new Error(`openclaw ${args.join(' ')} --json printed no JSON (exit ${r.code})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r;
  }
}

/** What a test compares for one CLI run: exit code and parsed output together, so a failure shows both. */
export const outcome = (r: RealCliResult) => ({ code: r.code, json: r.json });
