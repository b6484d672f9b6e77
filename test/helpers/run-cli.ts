/**
 * Runs the project's compiled programs (and helper scripts) as real child processes.
 * Tests run from dist/test, so paths are resolved from this file's compiled location:
 * dist/test/helpers -> dist.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

/** The dist folder (where tsc puts src/, certs-tools/ and test/). */
export const DIST_ROOT = resolve(__dirname, '..', '..');
/** The built certs-tools entry point. */
export const CERTS_TOOLS_MAIN = join(DIST_ROOT, 'certs-tools', 'main.js');

/** Path of a compiled helper script in test/helpers, by base name (e.g. 'provision-worker'). */
export function helperScript(name: string): string {
  return join(__dirname, `${name}.js`);
}

export interface RunOptions {
  cwd?: string;
  /** Added to (and overriding) the inherited environment. */
  env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin, which is then closed. */
  input?: string;
  /** The child is killed (SIGKILL) and the promise rejects after this long; default 30 s. */
  timeoutMs?: number;
}

export interface RunResult {
  /** Exit code, or null when the child was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function childEnv(extra: NodeJS.ProcessEnv | undefined): NodeJS.ProcessEnv {
  // Plain output whatever the terminal, and no state dir leaking in from the outer environment.
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
  delete env.OPENCLAW_STATE_DIR;
  return { ...env, ...extra };
}

/** Runs `node <script> ...args` to completion and collects its output. */
export function runNode(script: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = startNode(script, args, opts);
  if (opts.input !== undefined) started.child.stdin?.end(opts.input);
  else started.child.stdin?.end();
  return started.exited;
}

/** Runs the built certs-tools with the given arguments (pass --state-dir explicitly). */
export function runCertsTools(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return runNode(CERTS_TOOLS_MAIN, args, opts);
}

/** Non-empty lines of a text (stdout or stderr). */
export function linesOf(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0);
}

/** A child process whose stdout is read line by line while it runs. */
export interface StartedNode {
  child: ChildProcess;
  /** Every complete stdout line so far. */
  readonly lines: string[];
  /**
   * Resolves with the first stdout line (already seen or yet to come) that matches;
   * rejects if the child exits first or after `timeoutMs` (default 20 s).
   */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Settles when the child has exited, with everything it printed. */
  exited: Promise<RunResult>;
}

/** Starts `node <script> ...args` without waiting for it; see StartedNode. */
export function startNode(script: string, args: readonly string[], opts: RunOptions = {}): StartedNode {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: opts.cwd,
    env: childEnv(opts.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: { match: (line: string) => boolean; resolve: (line: string) => void }[] = [];
  let stdout = '';
  let stderr = '';
  let partial = '';
  let done = false;
  const exitListeners: (() => void)[] = [];

  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    stdout += chunk;
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      lines.push(line);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i].match(line)) waiters.splice(i, 1)[0].resolve(line);
      }
    }
  });
  child.stderr!.on('data', (chunk: string) => {
    stderr += chunk;
  });

  const timeoutMs = opts.timeoutMs ?? 30_000;
  const exited = new Promise<RunResult>((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      done = true;
      for (const fn of exitListeners.splice(0)) fn();
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
  // Callers that only use waitForLine must not get an unhandled rejection on timeout.
  exited.catch(() => undefined);

  const waitForLine = (match: (line: string) => boolean, waitMs = 20_000): Promise<string> =>
    new Promise<string>((resolveLine, reject) => {
      const seen = lines.find(match);
      if (seen !== undefined) return resolveLine(seen);
      if (done) return reject(new Error(`child exited before printing the expected line\nstdout: ${stdout}\nstderr: ${stderr}`));
      const timer = setTimeout(() => reject(new Error(`no matching line within ${waitMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`)), waitMs);
      const waiter = {
        match,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolveLine(line);
        },
      };
      waiters.push(waiter);
      exitListeners.push(() => {
        const i = waiters.indexOf(waiter);
        if (i < 0) return;
        waiters.splice(i, 1);
        clearTimeout(timer);
        reject(new Error(`child exited before printing the expected line\nstdout: ${stdout}\nstderr: ${stderr}`));
      });
    });

  return { child, lines, waitForLine, exited };
}
