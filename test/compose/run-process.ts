/**
 * Runs a program (not only node scripts) to completion with a bounded time, and
 * makes a folder of PATH shims so that shell scripts written for the image (which
 * call `certs-tools`, `openclaw-cli`, ... by name) run against the built files here.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { packageBins, REPO_ROOT } from './compose-file';

/** What a finished process printed and how it ended. */
export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cmd args` with `env` (added to a clean copy of this process's environment). */
export function runProcess(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
    delete env.OPENCLAW_STATE_DIR;
    delete env.OPENCLAW_CERTS_DIR;
    delete env.OPENCLAW_GATEWAY_GRPC;
    const child = spawn(cmd, args, { env: { ...env, ...opts.env }, cwd: opts.cwd ?? REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Writes one executable shim per package.json bin into `dir` (each runs the built file
 * with this node), and returns a PATH with `dir` first: the image's programs by name.
 */
export function binShims(dir: string): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, file] of Object.entries(packageBins())) {
    const shim = join(dir, name);
    writeFileSync(shim, `#!/bin/sh\nexec '${process.execPath}' '${join(REPO_ROOT, file)}' "$@"\n`);
    chmodSync(shim, 0o755);
  }
  return [dir, dirname(process.execPath), process.env.PATH ?? ''].join(delimiter);
}
