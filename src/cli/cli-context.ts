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
import type { ConnectionTarget, GatewayConnection } from '../transport/grpc/client/gateway-connection';
import type { CertFolderClient } from '../transport/grpc/client/cert-folder-client';
import { certValidity } from '../identity/renewal-policy';

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
  /** Standard input, opened only by a command that reads it (e.g. `pair --invite -`). */
  stdin?: () => NodeJS.ReadableStream & { isTTY?: boolean };
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
  private readonly connections: { close(): void }[] = [];
  private connection?: Promise<GatewayConnection>;
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

  /** The mTLS connection (made once). Renews the certificate first when it is due. */
  connect(): Promise<GatewayConnection> {
    this.connection ??= this.open();
    return this.connection;
  }

  /** A connection without a client certificate (pairing), trusting `caPem`. */
  async anonymous(caPem: string): Promise<GatewayConnection> {
    const { GatewayConnection } = await import('../transport/grpc/client/gateway-connection');
    return this.track(new GatewayConnection(this.target(), { caPem }, CHANNEL_OPTIONS));
  }

  /** The client of the certificate folder: renewal and the connection made from it. */
  async folderClient(): Promise<CertFolderClient> {
    const certs = this.certs();
    // Loaded here, not at the top: `config` and `--help` never need grpc-js.
    const { CertFolderClient } = await import('../transport/grpc/client/cert-folder-client');
    const client = new CertFolderClient({
      dir: certs.dir,
      target: this.target(join(certs.dir, CERTS_DIR_FILES.ca)),
      clock: { now: () => this.now() },
      timeoutMs: 5000,
      channelOptions: CHANNEL_OPTIONS,
    });
    return this.track(client);
  }

  /** Closes every connection this run opened. */
  close(): void {
    for (const c of this.connections.splice(0)) c.close();
  }

  private track<T extends { close(): void }>(c: T): T {
    this.connections.push(c);
    return c;
  }

  private async open(): Promise<GatewayConnection> {
    const folder = await this.folderClient();
    const current = this.certs();
    if (!writable(folder.dir)) {
      // Mounted read-only (e.g. a CLI container): use it as it is, and say when it needs a renewal.
      if (folder.due(current)) {
        const { notAfter } = certValidity(current.certPem);
        if (notAfter <= this.now()) {
          const { replacementCommand } = await import('../transport/grpc/client/cert-folder-client');
          throw errors.precondition(
            'CERTS_READ_ONLY',
            `the certificate in ${folder.dir} expired at ${isoTime(notAfter)} and the folder is read-only here, so it cannot be renewed; renew it where it is writable ("openclaw-cli renew --certs ${folder.dir}") within the renewal window, or ${replacementCommand(folder.dir, current.meta, folder.target.address)}`,
          );
        }
        this.warnings.push(readOnlyWarning(current));
      }
      return folder.connection();
    }
    // A certificate past two thirds of its life is renewed first; if that fails while it
    // is still valid, the command goes on and says so afterwards. An expired one that
    // cannot be renewed fails here, saying how to get a new one.
    this.loaded = await folder.ensureFresh((w) => this.warnings.push(w));
    return folder.connection();
  }
}

const CHANNEL_OPTIONS = { 'grpc.primary_user_agent': 'openclaw-cli' };

function readOnlyWarning(certs: CertsDir): string {
  return `the certificate in ${certs.dir} is due for renewal (it expires ${isoTime(certValidity(certs.certPem).notAfter)}) but the folder is read-only here; renew it where it is writable ("openclaw-cli renew --certs ${certs.dir}")`;
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
