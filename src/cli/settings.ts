/**
 * Connection settings of openclaw-cli: which gateway, which certificate folder, and
 * where each value came from. Pure resolution over what the caller passes in (flags,
 * environment, home dir); it reads only small JSON files and never imports grpc-js.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { errors } from '../errors';

/** The gRPC port of the gateway when an address names none. */
export const DEFAULT_GRPC_PORT = 18790;
/** Where the CLI looks for the gateway when nothing else says. */
export const DEFAULT_GATEWAY = `127.0.0.1:${DEFAULT_GRPC_PORT}`;
/** The config file the CLI reads in the state dir. */
export const CLI_CONFIG_FILE = 'cli.json';

/** Where a setting came from, as `openclaw-cli config` shows it. */
export type SettingSource =
  | { kind: 'flag'; name: string }
  | { kind: 'env'; name: string }
  | { kind: 'file'; path: string }
  | { kind: 'default' };

/** One resolved value and its origin. */
export interface Setting<T = string> {
  value: T;
  source: SettingSource;
}

/** What the user typed (global flags). */
export interface SettingsFlags {
  gateway?: string;
  certs?: string;
  stateDir?: string;
}

/** Everything the resolution reads from outside, passed in (no process.env here). */
export interface SettingsInput {
  flags: SettingsFlags;
  env: NodeJS.ProcessEnv;
  homeDir: string;
  cwd: string;
}

/** The resolved connection settings. */
export interface CliSettings {
  stateDir: Setting;
  gateway: Setting;
  certs: Setting;
  /** The CLI config file, whether or not it exists. */
  configFile: string;
  configFileFound: boolean;
}

/** Shape of `<stateDir>/cli.json`. Relative paths are relative to the state dir. */
interface CliConfigFile {
  gateway?: string;
  certs?: string;
}

/** Human form of a source: "flag --gateway", "env OPENCLAW_CERTS_DIR", "file /x/cli.json", "default". */
export function describeSource(s: SettingSource): string {
  switch (s.kind) {
    case 'flag':
      return `flag ${s.name}`;
    case 'env':
      return `env ${s.name}`;
    case 'file':
      return `file ${s.path}`;
    case 'default':
      return 'default';
  }
}

function readJsonObject(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw errors.invalid('CLI_CONFIG_INVALID', `cannot read ${path}: ${(err as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw errors.invalid('CLI_CONFIG_INVALID', `${path} must hold a JSON object`);
  return parsed as Record<string, unknown>;
}

function stringField(obj: Record<string, unknown> | undefined, key: string, path: string): string | undefined {
  const v = obj?.[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw errors.invalid('CLI_CONFIG_INVALID', `"${key}" in ${path} must be a string`);
  return v;
}

/**
 * Resolves state dir, certificate folder and gateway address. Order for each:
 * flag, environment, `<stateDir>/cli.json`, (gateway only) `identity.json` of the
 * certificate folder, then the default (127.0.0.1:18790 and the local operator
 * identity the gateway provisions on first start, `<stateDir>/identities/cli`).
 */
export function resolveSettings(input: SettingsInput): CliSettings {
  const { flags, env, cwd } = input;
  const abs = (p: string, base = cwd) => (isAbsolute(p) ? p : resolve(base, p));

  const stateDir: Setting = flags.stateDir
    ? { value: abs(flags.stateDir), source: { kind: 'flag', name: '--state-dir' } }
    : env.OPENCLAW_STATE_DIR
      ? { value: abs(env.OPENCLAW_STATE_DIR), source: { kind: 'env', name: 'OPENCLAW_STATE_DIR' } }
      : { value: join(input.homeDir, '.openclaw'), source: { kind: 'default' } };

  const configFile = join(stateDir.value, CLI_CONFIG_FILE);
  const file = readJsonObject(configFile) as CliConfigFile | undefined;
  const fileGateway = stringField(file as Record<string, unknown> | undefined, 'gateway', configFile);
  const fileCerts = stringField(file as Record<string, unknown> | undefined, 'certs', configFile);

  const certs: Setting = flags.certs
    ? { value: abs(flags.certs), source: { kind: 'flag', name: '--certs' } }
    : env.OPENCLAW_CERTS_DIR
      ? { value: abs(env.OPENCLAW_CERTS_DIR), source: { kind: 'env', name: 'OPENCLAW_CERTS_DIR' } }
      : fileCerts
        ? { value: abs(fileCerts, dirname(configFile)), source: { kind: 'file', path: configFile } }
        : { value: join(stateDir.value, 'identities', 'cli'), source: { kind: 'default' } };

  let gateway: Setting;
  if (flags.gateway) gateway = { value: flags.gateway, source: { kind: 'flag', name: '--gateway' } };
  else if (env.OPENCLAW_GATEWAY_GRPC) gateway = { value: env.OPENCLAW_GATEWAY_GRPC, source: { kind: 'env', name: 'OPENCLAW_GATEWAY_GRPC' } };
  else if (fileGateway) gateway = { value: fileGateway, source: { kind: 'file', path: configFile } };
  else {
    const identityFile = join(certs.value, 'identity.json');
    let fromIdentity: string | undefined;
    try {
      fromIdentity = stringField(readJsonObject(identityFile), 'gateway', identityFile);
    } catch {
      // A damaged identity.json must not stop the CLI: it is only a hint here.
      fromIdentity = undefined;
    }
    gateway = fromIdentity ? { value: fromIdentity, source: { kind: 'file', path: identityFile } } : { value: DEFAULT_GATEWAY, source: { kind: 'default' } };
  }

  return { stateDir, gateway, certs, configFile, configFileFound: file !== undefined };
}

/**
 * Splits "host", "host:port" or "[v6]:port" (port defaults to 18790). The same rule
 * as the gateway client's parser, kept here so settings need no gRPC code.
 */
export function splitAddress(address: string): { host: string; port: number; address: string } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(address.trim()) ?? /^([^:[\]]+)(?::(\d+))?$/.exec(address.trim());
  const port = m?.[2] ? Number(m[2]) : DEFAULT_GRPC_PORT;
  if (!m || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw errors.invalid('BAD_ADDRESS', `gateway address "${address}" is not HOST:PORT`);
  }
  const host = m[1];
  return { host, port, address: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}` };
}
