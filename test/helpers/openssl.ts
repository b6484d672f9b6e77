/**
 * The openssl command-line tool as an independent second opinion on what the
 * project's code produces (verify chains, read certificates, make foreign CSRs).
 */
import { spawnSync } from 'node:child_process';

export interface OpensslResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `openssl ...args` synchronously (optionally feeding stdin). */
export function openssl(args: readonly string[], opts: { input?: string | Buffer; cwd?: string } = {}): OpensslResult {
  const r = spawnSync('openssl', args, { input: opts.input, cwd: opts.cwd, encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Like openssl() but throws with openssl's stderr when it exits non-zero. */
export function opensslOk(args: readonly string[], opts: { input?: string | Buffer; cwd?: string } = {}): string {
  const r = openssl(args, opts);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Normalizes a hex fingerprint ("AB:CD:..", "sha256 Fingerprint=AB:CD", "abcd") to bare lowercase hex. */
export function bareHex(fingerprint: string): string {
  return fingerprint.replace(/^.*=/, '').replace(/^sha256:/i, '').replace(/[^0-9a-fA-F]/g, '').toLowerCase();
}
