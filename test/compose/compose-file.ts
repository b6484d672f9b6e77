/**
 * Reading the Docker packaging of the project the way Docker reads it, for tests that
 * have no Docker engine: docker-compose.yml (YAML with merge keys, compose variable
 * interpolation, short and long volume syntax) and the Dockerfile (stages,
 * instructions with line continuations, the image's ENTRYPOINT/CMD/ENV).
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parse } from 'yaml';

/** The repository root (tests run from dist/test/compose). */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..');

/** A compose service, as far as these tests look at it. */
export interface ComposeService {
  image?: string;
  build?: unknown;
  hostname?: string;
  entrypoint?: string | string[];
  command?: string | string[];
  environment?: Record<string, string | number | boolean | null> | string[];
  volumes?: (string | { type?: string; source?: string; target: string; read_only?: boolean })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  profiles?: string[];
  healthcheck?: { disable?: boolean; test?: unknown };
  ports?: (string | number | Record<string, unknown>)[];
  expose?: (string | number)[];
  user?: string;
  [key: string]: unknown;
}

/** The parts of a compose file these tests use. */
export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/**
 * Parses a compose file (docker-compose.yml by default) the way compose reads it: merge
 * keys `<<` resolved, and `extends: { file, service }` replaced by that service with
 * this one's keys on top (mappings such as environment and depends_on merged key by
 * key, sequences such as volumes and ports appended, anything else replaced).
 */
export function loadCompose(path = join(REPO_ROOT, 'docker-compose.yml')): ComposeFile {
  const file = parse(readFileSync(path, 'utf8'), { merge: true }) as ComposeFile;
  for (const [name, service] of Object.entries(file.services)) {
    const ext = service.extends as { file?: string; service: string } | undefined;
    if (!ext) continue;
    const base = ext.file ? loadCompose(join(dirname(path), ext.file)).services[ext.service] : file.services[ext.service];
    if (!base) throw new Error(`${path}: ${name} extends ${ext.file ?? ''}:${ext.service}, which does not exist`);
    const merged: ComposeService = { ...base };
    for (const [key, value] of Object.entries(service)) {
      if (key === 'extends') continue;
      const prev = merged[key];
      if (Array.isArray(prev) && Array.isArray(value)) merged[key] = [...prev, ...value];
      else if (isMap(prev) && isMap(value)) merged[key] = { ...prev, ...value };
      else merged[key] = value;
    }
    file.services[name] = merged;
  }
  return file;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Compose variable interpolation: `$$` is a literal `$`; `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?message}`, `${VAR?message}` and `$VAR` are taken from `env`
 * (the shell environment of `docker compose`); a required variable that is missing
 * throws with its message, as compose refuses to start. Enough of the specification
 * for this project's files.
 */
export function interpolate(text: string, env: NodeJS.ProcessEnv = {}): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (all, braced?: string, colon?: string, op?: string, arg?: string, bare?: string) => {
    if (all === '$$') return '$';
    const name = braced ?? bare!;
    const value = env[name];
    if (op !== undefined) {
      const unset = value === undefined || (colon === ':' && value === '');
      if (!unset) return value!;
      if (op === '?') throw new Error(`required variable ${name} is missing a value: ${arg}`);
      return arg!;
    }
    return value ?? '';
  });
}

/** A command or entrypoint as an argv list (compose's list form; a string is split on blanks). */
export function argvOf(value: string | string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.map(String) : value.split(/\s+/).filter(Boolean);
}

/** A service's environment as a map (list form `KEY=value` accepted), values as strings. */
export function envOf(service: ComposeService): Record<string, string> {
  const out: Record<string, string> = {};
  const env = service.environment;
  if (Array.isArray(env)) {
    for (const item of env) {
      const i = item.indexOf('=');
      out[i < 0 ? item : item.slice(0, i)] = i < 0 ? '' : item.slice(i + 1);
    }
  } else if (env) {
    for (const [k, v] of Object.entries(env)) out[k] = v === null || v === undefined ? '' : String(v);
  }
  return out;
}

/** One mount of a service. `named` is true for a named volume (not a bind mount). */
export interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
  named: boolean;
}

/** The service's mounts, from short (`src:target[:ro]`) or long syntax. */
export function mountsOf(service: ComposeService): Mount[] {
  return (service.volumes ?? []).map((v) => {
    if (typeof v === 'string') {
      const parts = v.split(':');
      const [source, target, mode = ''] = parts.length === 1 ? ['', parts[0]] : parts;
      const named = source !== '' && !source.startsWith('.') && !source.startsWith('/') && !source.startsWith('~');
      return { source, target, readOnly: mode.split(',').includes('ro'), named };
    }
    const source = v.source ?? '';
    return { source, target: v.target, readOnly: v.read_only === true, named: (v.type ?? 'volume') === 'volume' && source !== '' };
  });
}

/** Names of the services a service depends on, with their conditions. */
export function dependsOn(service: ComposeService): Record<string, string> {
  const d = service.depends_on;
  if (!d) return {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((n) => [n, 'service_started']));
  return Object.fromEntries(Object.entries(d).map(([n, v]) => [n, v?.condition ?? 'service_started']));
}

/** One Dockerfile instruction: keyword (upper case) and its arguments as written. */
export interface Instruction {
  keyword: string;
  args: string;
}

/** One build stage: its FROM line and its instructions. */
export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** The Dockerfile split into global instructions (ARG before the first FROM) and stages. */
export interface Dockerfile {
  globals: Instruction[];
  stages: Stage[];
}

/** Parses a Dockerfile: comments dropped, backslash continuations joined. */
export function loadDockerfile(path = join(REPO_ROOT, 'Dockerfile')): Dockerfile {
  const logical: string[] = [];
  let current = '';
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.trimEnd();
    if (current === '' && /^\s*#/.test(line)) continue;
    if (current !== '' && /^\s*#/.test(line)) continue; // comment lines inside a continuation are skipped by Docker too
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    current += line;
    if (current.trim()) logical.push(current.trim());
    current = '';
  }
  if (current.trim()) logical.push(current.trim());
  const out: Dockerfile = { globals: [], stages: [] };
  for (const l of logical) {
    const m = /^(\S+)\s*(.*)$/.exec(l)!;
    const ins: Instruction = { keyword: m[1].toUpperCase(), args: m[2] };
    if (ins.keyword === 'FROM') {
      const f = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/i.exec(ins.args)!;
      out.stages.push({ from: f[1], name: f[2], instructions: [] });
    } else if (out.stages.length === 0) out.globals.push(ins);
    else out.stages[out.stages.length - 1].instructions.push(ins);
  }
  return out;
}

/** Resolves `${ARG}` in a FROM line from the global ARG defaults. */
export function resolveFrom(df: Dockerfile, stage: Stage): string {
  const args: Record<string, string> = {};
  for (const g of df.globals) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(g.args);
    if (g.keyword === 'ARG' && m) args[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
  }
  return stage.from.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_all, n: string) => args[n] ?? '');
}

/** The JSON (exec) form of an ENTRYPOINT/CMD/HEALTHCHECK CMD; undefined for the shell form. */
export function execForm(args: string): string[] | undefined {
  const t = args.trim();
  if (!t.startsWith('[')) return undefined;
  return JSON.parse(t) as string[];
}

/** ENV of a stage as a map (both `K=V K2=V2` and the legacy `K V` forms). */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of stage.instructions.filter((i) => i.keyword === 'ENV')) {
    if (!ins.args.includes('=')) {
      const [k, ...rest] = ins.args.split(/\s+/);
      env[k] = rest.join(' ');
      continue;
    }
    for (const m of ins.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) env[m[1]] = m[2].replace(/^"(.*)"$/, '$1');
  }
  return env;
}

/** The last value of an instruction in a stage (e.g. ENTRYPOINT, CMD, USER). */
export function lastInstruction(stage: Stage, keyword: string): Instruction | undefined {
  return [...stage.instructions].reverse().find((i) => i.keyword === keyword);
}

/** package.json's "bin": program name -> built file, relative to the repository root. */
export function packageBins(): Record<string, string> {
  return (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin;
}

/**
 * What a container of `service` executes: the service's entrypoint (or the image's
 * ENTRYPOINT) followed by the service's command (or the image's CMD, but only when
 * the service did not override the entrypoint, as Docker does).
 */
export function containerArgv(service: ComposeService, runtime: Stage, runArgs?: string[]): string[] {
  const imageEntrypoint = execForm(lastInstruction(runtime, 'ENTRYPOINT')?.args ?? '[]') ?? [];
  const imageCmd = execForm(lastInstruction(runtime, 'CMD')?.args ?? '[]') ?? [];
  const entrypoint = argvOf(service.entrypoint) ?? imageEntrypoint;
  const command = runArgs ?? argvOf(service.command) ?? (service.entrypoint === undefined ? imageCmd : []);
  return [...entrypoint, ...command];
}

/**
 * Stand-ins for a compose project's named volumes on this machine: one folder per
 * volume under `root`, and the rewrite of a service's container paths (values under
 * one of its mount targets) to the folder of the volume mounted there.
 */
export class VolumeFolders {
  /** Volume name -> folder. */
  readonly dirs: Record<string, string> = {};

  constructor(
    private readonly compose: ComposeFile,
    root: string,
  ) {
    for (const name of Object.keys(compose.volumes ?? {})) this.dirs[name] = join(root, name);
  }

  /** The named volume `service` mounts at `path` or at a parent folder of it. */
  mountAt(service: string, path: string): Mount | undefined {
    return mountsOf(this.compose.services[service]).find((m) => m.named && (path === m.target || path.startsWith(m.target + '/')));
  }

  /** A container path of `service` as the folder standing in for it (other values unchanged). */
  path(service: string, value: string): string {
    const m = this.mountAt(service, value);
    return m ? this.dirs[m.source] + value.slice(m.target.length) : value;
  }

  /** Every value of an environment or argv list rewritten with path(). */
  env(service: string, env: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, this.path(service, v)]));
  }
  argv(service: string, argv: string[]): string[] {
    return argv.map((a) => this.path(service, a));
  }
}

/** The environment a container of the service starts with: the image's ENV, then the service's own (interpolated). */
export function containerEnvOf(service: ComposeService, runtime: Stage, shellEnv: NodeJS.ProcessEnv = {}): Record<string, string> {
  const own: Record<string, string> = {};
  const raw = service.environment;
  for (const [k, v] of Object.entries(envOf(service))) {
    // `KEY:` without a value (or `- KEY` in list form) passes the shell's value through, if any.
    const passThrough = Array.isArray(raw) ? raw.includes(k) : (raw as Record<string, unknown>)[k] === null;
    if (passThrough) {
      if (shellEnv[k] !== undefined) own[k] = shellEnv[k]!;
    } else own[k] = interpolate(v, shellEnv);
  }
  return { ...stageEnv(runtime), ...own };
}

/**
 * The health check command of a service as Docker runs it in the container: the
 * service's `healthcheck.test` (CMD / CMD-SHELL / string) or else the image's
 * HEALTHCHECK; undefined when disabled or absent.
 */
export function healthcheckArgv(service: ComposeService, runtime: Stage): string[] | undefined {
  const hc = service.healthcheck as { disable?: boolean; test?: string | string[] } | undefined;
  if (hc?.disable) return undefined;
  if (hc?.test !== undefined) {
    const t = hc.test;
    if (typeof t === 'string') return ['/bin/sh', '-c', t];
    if (t[0] === 'NONE') return undefined;
    if (t[0] === 'CMD') return t.slice(1);
    if (t[0] === 'CMD-SHELL') return ['/bin/sh', '-c', t[1]];
    throw new Error(`unknown healthcheck test form: ${JSON.stringify(t)}`);
  }
  const image = lastInstruction(runtime, 'HEALTHCHECK');
  if (!image || /^NONE\b/.test(image.args)) return undefined;
  const cmd = image.args.replace(/^.*?\bCMD\s+/, '');
  return execForm(cmd) ?? ['/bin/sh', '-c', cmd];
}
