/**
 * What every command gets: resolved settings, the output writer, and (on first use)
 * the mTLS connection made from the certificate folder, renewed first when due.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import { errors, GatewayError } from '../errors';
import { CERTS_DIR_FILES, readCertsDir, type CertsDir } from '../identity/certs-dir';
import { describeSource, resolveSettings, splitAddress, type CliSettings, type SettingsFlags } from './settings';
import { Output, colorWanted, isoTime } from './output';
import type { CliConnection, ConnectionTarget } from './cli-connection';
import { certValidity, renewalDue } from './cert-validity';

/** The process around the CLI, passed in so nothing below reads globals. */
export interface CliRuntime {
  env: NodeJS.ProcessEnv;
  homeDir: string;
  cwd: string;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
  now: () => number;
  /** Registers a Ctrl-C handler for the duration of a command; returns its remover. */
  onInterrupt?: (fn: () => void) => () => void;
}

/** The global flags of openclaw-cli. */
export interface GlobalFlags extends SettingsFlags {
  json?: boolean;
}

/** The per-run context of a command. */
export class CliContext {
  readonly settings: CliSettings;
  readonly out: Output;
  /** Warnings shown after the command succeeded (e.g. a failed automatic renewal). */
  readonly warnings: string[] = [];
  private readonly connections: CliConnection[] = [];
  private connection?: Promise<CliConnection>;
  private loaded?: CertsDir;

  constructor(
    readonly flags: GlobalFlags,
    readonly runtime: CliRuntime,
  ) {
    this.settings = resolveSettings({ flags, env: runtime.env, homeDir: runtime.homeDir, cwd: runtime.cwd });
    this.out = new Output({ json: Boolean(flags.json), color: colorWanted(runtime.stdout, runtime.env), stdout: runtime.stdout, stderr: runtime.stderr });
  }

  now(): number {
    return this.runtime.now();
  }

  /** Where the gateway is, parsed, with the origin of the address for messages. */
  target(caFile?: string): ConnectionTarget {
    const a = splitAddress(this.settings.gateway.value);
    return { ...a, sourceLabel: describeSource(this.settings.gateway.source), caFile };
  }

  /** The certificate folder, loaded once; CERTS_NOT_FOUND saying where it looked and how to get one. */
  certs(): CertsDir {
    if (this.loaded) return this.loaded;
    const { value: dir, source } = this.settings.certs;
    let certs: CertsDir;
    try {
      certs = readCertsDir(dir);
    } catch (err) {
      if (!(err instanceof GatewayError) || err.reason !== 'CERTS_NOT_FOUND') throw err;
      const origin = source.kind === 'default' ? "the default: the local operator identity a gateway's first start creates" : describeSource(source);
      throw errors.notFound(
        'CERTS_NOT_FOUND',
        `no client certificate in ${dir} (${missingFiles(dir)}; certs dir from ${origin}): ` +
          `provision one on the gateway host with "certs-tools issue --role operator --name <name> --out ${dir}", ` +
          `pair this machine with "openclaw-cli pair --gateway HOST:PORT --ca-fingerprint <SHA256> --out ${dir}", ` +
          `or point --certs / OPENCLAW_CERTS_DIR at an existing certs dir`,
        { dir },
      );
    }
    try {
      certValidity(certs.certPem);
    } catch {
      throw errors.invalid('CERTS_INVALID', `${join(dir, CERTS_DIR_FILES.cert)} is not a PEM certificate`);
    }
    this.loaded = certs;
    return certs;
  }

  /** The certificate folder if a command loaded it (for error messages; never loads it). */
  get loadedCerts(): CertsDir | undefined {
    return this.loaded;
  }

  /** The mTLS connection (made once). Renews the certificate first when a third of its life is left. */
  connect(): Promise<CliConnection> {
    this.connection ??= this.open();
    return this.connection;
  }

  /** A connection without a client certificate (pairing), trusting `caPem`. */
  async anonymous(caPem: string): Promise<CliConnection> {
    const { CliConnection } = await import('./cli-connection');
    return this.track(new CliConnection(this.target(), { caPem }));
  }

  /** Closes every connection this run opened. */
  close(): void {
    for (const c of this.connections.splice(0)) c.close();
  }

  private track(c: CliConnection): CliConnection {
    this.connections.push(c);
    return c;
  }

  private async open(): Promise<CliConnection> {
    let certs = this.certs();
    const target = this.target(join(certs.dir, CERTS_DIR_FILES.ca));
    if (renewalDue(certs.certPem, this.now()) && writable(certs.dir)) certs = await this.autoRenew(certs, target);
    // Loaded here, not at the top: `config` and `--help` never need grpc-js.
    const { CliConnection } = await import('./cli-connection');
    return this.track(new CliConnection(target, { caPem: certs.caPem, keyPem: certs.keyPem, certPem: certs.certPem }));
  }

  /** Best effort: a failed renewal becomes a warning, never a failed command. */
  private async autoRenew(certs: CertsDir, target: ConnectionTarget): Promise<CertsDir> {
    try {
      const { renewCertsDir, waitForRenewal } = await import('./renewal');
      const outcome = await renewCertsDir(certs.dir, target, { now: this.now(), onlyIfDue: true, timeoutMs: 5000 });
      if (outcome.kind === 'busy') {
        // Another CLI is renewing this folder: use what it writes.
        await waitForRenewal(certs.dir);
        this.loaded = readCertsDir(certs.dir);
      } else {
        this.loaded = outcome.certs;
      }
      return this.loaded;
    } catch (err) {
      const why = err instanceof GatewayError ? err.message : (err as Error).message;
      this.warnings.push(`could not renew the certificate in ${certs.dir} (it expires ${isoTime(certValidity(certs.certPem).notAfter)}): ${why}`);
      return certs;
    }
  }
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function missingFiles(dir: string): string {
  if (!existsSync(dir)) return 'the folder does not exist';
  const missing = [CERTS_DIR_FILES.key, CERTS_DIR_FILES.cert, CERTS_DIR_FILES.ca].filter((f) => !existsSync(join(dir, f)));
  return `missing ${missing.join(', ') || 'readable files'}`;
}
