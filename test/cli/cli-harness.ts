/**
 * Runs the built openclaw-cli as a child process (async, so an in-process test gateway
 * keeps serving) with a clean environment: its own HOME, no OPENCLAW_* settings leaking
 * in from outside, no colour.
 */
import { join } from 'node:path';
import { DIST_ROOT, runNode, startNode, type RunResult, type StartedNode } from '../helpers/run-cli';
import { writeIssuedIdentity, type IssuedIdentity } from '../../src/identity';
import type { TestGateway } from '../helpers/gateway';

/** The built CLI entry point. */
export const CLI_MAIN = join(DIST_ROOT, 'src', 'bin', 'openclaw-cli.js');

/** Settings every run of a runner gets. */
export interface RunnerDefaults {
  /** HOME for the child (so ~/.openclaw never means the real one). */
  home: string;
  /** Passed as --gateway unless a run gives its own. */
  gateway?: string;
  /** Passed as --certs unless a run gives its own. */
  certs?: string;
  env?: NodeJS.ProcessEnv;
  /** Compile cache directory for the child (default: under the first home). */
  compileCache?: string;
  /** Written to the child's standard input (default: none, stdin closed at once). */
  input?: string;
}

/** A bound openclaw-cli: run(...args) to completion, json(...args) parsed, start(...args) while it runs. */
export class CliRunner {
  private readonly defaults: RunnerDefaults;

  constructor(defaults: RunnerDefaults) {
    this.defaults = { ...defaults, compileCache: defaults.compileCache ?? join(defaults.home, '.cache', 'openclaw-cli') };
  }

  /** A runner with other defaults (e.g. another certs dir). */
  with(overrides: Partial<RunnerDefaults>): CliRunner {
    return new CliRunner({ ...this.defaults, ...overrides });
  }

  private argv(args: readonly string[]): string[] {
    const out: string[] = [];
    if (this.defaults.gateway && !args.includes('--gateway')) out.push('--gateway', this.defaults.gateway);
    if (this.defaults.certs && !args.includes('--certs')) out.push('--certs', this.defaults.certs);
    return [...out, ...args];
  }

  private env(): NodeJS.ProcessEnv {
    return {
      HOME: this.defaults.home,
      OPENCLAW_GATEWAY_GRPC: undefined,
      OPENCLAW_CERTS_DIR: undefined,
      OPENCLAW_STATE_DIR: undefined,
      XDG_CACHE_HOME: undefined,
      // One compile cache per test file (runners made with .with() share it).
      OPENCLAW_CLI_COMPILE_CACHE: this.defaults.compileCache,
      ...this.defaults.env,
    };
  }

  run(...args: string[]): Promise<RunResult> {
    return runNode(CLI_MAIN, this.argv(args), { env: this.env(), timeoutMs: 30_000, input: this.defaults.input });
  }

  /** Runs and requires exit 0 with an empty stderr; returns stdout. */
  async ok(...args: string[]): Promise<string> {
    const r = await this.run(...args);
    expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
    return r.stdout;
  }

  /** Runs with --json, requires success, parses stdout. */
  async json<T = Record<string, any>>(...args: string[]): Promise<T> {
    return JSON.parse(await this.ok('--json', ...args)) as T;
  }

  /** Runs and requires failure with exactly one stderr line; returns code and that line. */
  async fails(...args: string[]): Promise<{ code: number | null; line: string; stdout: string }> {
    const r = await this.run(...args);
    const lines = r.stderr.split('\n').filter(Boolean);
    expect({ args, failed: r.code !== 0, lines: lines.length }).toEqual({ args, failed: true, lines: 1 });
    expect(lines[0]).toMatch(/^openclaw-cli: error: /);
    return { code: r.code, line: lines[0], stdout: r.stdout };
  }

  /** Starts the CLI and returns at once; read its stdout lines while it runs. */
  start(...args: string[]): StartedNode {
    const started = startNode(CLI_MAIN, this.argv(args), { env: this.env(), timeoutMs: 30_000 });
    started.child.stdin?.end();
    return started;
  }
}

/** A runner for a test gateway with its local operator identity. */
export function cliFor(t: TestGateway, home: string): CliRunner {
  return new CliRunner({ home, gateway: t.address, certs: t.gw.identities.cli });
}

/** Writes an identity the registry issued into a certificate folder, as certs-tools would. */
export function writeIdentity(dir: string, t: TestGateway, issued: IssuedIdentity): void {
  writeIssuedIdentity(dir, issued, { trustDomain: t.gw.trustDomain, fingerprint: t.gw.caFingerprint }, { issuedBy: 'test' });
}
