#!/usr/bin/env node
/**
 * openclaw-cli: the operator's command line over gRPC with mTLS. Kept tiny on purpose:
 * the program loads each command's code (grpc-js, generated protos) only when it runs,
 * and compiled code comes from a cache after the first run.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { chooseCacheDir, enableCompileCache } from '../cli/compile-cache';

/**
 * OPENCLAW_CLI_COMPILE_CACHE: a directory, or "0" to turn the cache off. Default: the
 * `compile-cache` folder beside the installed code (dist/compile-cache: it outlives a
 * fresh HOME such as `docker compose run --rm`, and the image build warms it), else
 * ~/.cache/openclaw-cli when that folder cannot be used (not writable and not warmed).
 */
function compileCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  const v = env.OPENCLAW_CLI_COMPILE_CACHE;
  if (v === '0' || v === 'off') return undefined;
  if (v) return v;
  return chooseCacheDir([join(__dirname, '..', '..', 'compile-cache'), join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'openclaw-cli')]);
}

enableCompileCache(compileCacheDir(process.env));

// Output piped into a reader that stops early (`openclaw-cli devices list | head -1`):
// the reader has what it wanted, so end quietly instead of crashing on EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

// Required after the cache is on, so the program and everything it loads use it.
const { runCli } = require('../cli/program') as typeof import('../cli/program');

runCli(process.argv, {
  env: process.env,
  homeDir: homedir(),
  cwd: process.cwd(),
  stdout: process.stdout,
  stderr: process.stderr,
  now: () => Date.now(),
  stdin: () => process.stdin,
  onInterrupt: (fn) => {
    process.on('SIGINT', fn);
    return () => process.off('SIGINT', fn);
  },
}).then(
  (code) => exitNow(code),
  (err: unknown) => {
    process.stderr.write(`openclaw-cli: error: unexpected failure: ${(err as Error)?.message ?? String(err)}\n`);
    exitNow(1);
  },
);

/**
 * Ends the process once the command is done: nothing it leaves behind (a channel still
 * trying to reach a gateway that accepted the connection and never answered) may keep
 * the CLI running after it said what happened. Output is written synchronously first.
 */
function exitNow(code: number): void {
  process.exitCode = code;
  setImmediate(() => process.exit(code));
}
