import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** Path of a built entry point (tests run from dist/test). */
export const BIN = {
  gateway: join(__dirname, '..', '..', 'src', 'bin', 'openclaw-gateway.js'),
  cli: join(__dirname, '..', '..', 'src', 'bin', 'openclaw-cli.js'),
  certsTools: join(__dirname, '..', '..', 'certs-tools', 'main.js'),
};

/** A child process whose output is collected, with a way to wait for a line. */
export interface Child {
  proc: ChildProcess;
  output(): string;
  /** Resolves with the first match of `re` in the output (stdout + stderr), rejects if the process exits first. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts a node entry point as a child process. */
export function startNode(entry: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  return startProcess(process.execPath, [entry, ...args], env);
}

/** Starts any program as a child process (e.g. a system daemon in the foreground). */
export function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  const proc = spawn(command, args, { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of [...waiters]) w();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => {
    for (const w of [...waiters]) w();
    resolve(code);
  }));
  let done = false;
  void exited.then(() => (done = true));
  return {
    proc,
    output: () => out,
    exited,
    waitFor: (re, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${re} in output:\n${out}`));
        }, timeoutMs);
        const check = () => {
          const m = out.match(re);
          if (m) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(m);
          } else if (done || proc.exitCode !== null) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`process exited before ${re} appeared; output:\n${out}`));
          }
        };
        waiters.add(check);
        check();
      }),
    kill: (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}
