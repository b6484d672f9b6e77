/**
 * The Docker packaging, checked without a Docker engine: docker-compose.yml and the
 * Dockerfile are parsed the way Docker reads them, every program, subcommand and flag
 * they use is checked against the built programs, and the parts that run code (the
 * init script, the HEALTHCHECK, the CLI service) are run here against real state and
 * a real gateway, with each named volume standing in as a temporary folder.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import {
  containerArgv,
  containerEnvOf,
  dependsOn,
  execForm,
  healthcheckArgv,
  interpolate,
  lastInstruction,
  loadCompose,
  loadDockerfile,
  mountsOf,
  packageBins,
  REPO_ROOT,
  resolveFrom,
  stageEnv,
  VolumeFolders,
  type ComposeService,
  type Mount,
} from './compose-file';
import { binShims, runProcess, type Finished } from './run-process';
import { runInitService, serviceProcess } from './compose-runner';
import { eventually } from '../helpers/eventually';
import { snapshotTree, useTmpDirs } from '../helpers/tmp';
import { startTestGateway } from '../helpers/gateway';
import { connectParams, LegacyClient } from '../bridge/legacy-client';

const INIT = 'openclaw-init';
const GATEWAY = 'openclaw-gateway';
const WORKER = 'openclaw-worker';
const BRIDGE = 'openclaw-bridge';
const CLI = 'openclaw-cli';
/** The services holding a client certificate folder provisioned by init, and init's variable for it. */
const CLIENTS: Record<string, string> = { [CLI]: 'OPENCLAW_CLI_CERTS', [WORKER]: 'OPENCLAW_WORKER_CERTS', [BRIDGE]: 'OPENCLAW_BRIDGE_CERTS' };

const compose = loadCompose();
const dockerfile = loadDockerfile();
const runtime = dockerfile.stages[dockerfile.stages.length - 1];
const imageEnv = stageEnv(runtime);
const bins = packageBins();
const services = compose.services;
const tmpDir = useTmpDirs('ocgw-compose-');

/** The environment a container of the service starts with: image ENV, then the service's own. */
function containerEnv(service: ComposeService, shellEnv: NodeJS.ProcessEnv = {}): Record<string, string> {
  return containerEnvOf(service, runtime, shellEnv);
}

/** Named volumes a service mounts. */
function namedMounts(name: string): Mount[] {
  return mountsOf(services[name]).filter((m) => m.named);
}

/** The one named volume of `service` mounted at `path` (or at a parent of it). */
function volumeAt(service: string, path: string): Mount | undefined {
  return namedMounts(service).find((m) => path === m.target || path.startsWith(m.target + '/'));
}

/** The value after `flag` in an argv list. */
function flagValue(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i >= 0 ? argv[i + 1] : undefined;
}

/** Runs a built program by its package.json bin name. */
function runBin(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Finished> {
  expect(Object.keys(bins)).toContain(name);
  return runProcess(process.execPath, [join(REPO_ROOT, bins[name]), ...args], { env });
}

/** The --help text of a program's (sub)command. */
async function helpOf(program: string, sub: string[] = []): Promise<string> {
  const r = await runBin(program, [...sub, '--help']);
  expect({ program, sub, code: r.code, stderr: r.stderr }).toEqual({ program, sub, code: 0, stderr: '' });
  expect(r.stdout).toMatch(/Usage:/);
  return r.stdout;
}

/** Whether a commander help text lists a flag (negations such as --no-worker are listed as written). */
function helpHasFlag(help: string, flag: string): boolean {
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[\\s,])${esc(flag)}(?=[\\s,=<\\[]|$)`, 'm').test(help);
}

/** Whether a commander help text lists a subcommand. */
function helpHasCommand(help: string, command: string): boolean {
  const section = help.split(/\nCommands:\n/)[1] ?? '';
  return new RegExp(`^\\s+${command}(\\s|\\|)`, 'm').test(section);
}

/** The certs-tools invocations in the init script: [global flags..., subcommand, flags...]. */
function certsToolsCalls(script: string): string[][] {
  const calls: string[][] = [];
  for (const m of script.matchAll(/(?:^|[\s;(|&])certs-tools\s+([^|;&\n]*)/g)) {
    calls.push(m[1].split(/\s+/).filter(Boolean).map((t) => t.replace(/^["']|["']$/g, '')));
  }
  return calls;
}

/** The init service's shell script, as the container's shell receives it. */
function initScript(shellEnv: NodeJS.ProcessEnv = {}): string {
  const init = services[INIT];
  const argv = containerArgv(init, runtime);
  expect(argv.slice(0, 2)).toEqual(['/bin/sh', '-ec']);
  expect(argv).toHaveLength(3);
  return interpolate(argv[2], shellEnv);
}

/** Runs the init service's script against the volume folders. */
function runInit(volumes: VolumeFolders, shellEnv: NodeJS.ProcessEnv = {}): Promise<Finished> {
  return runInitService({ compose, runtime }, volumes, join(volumes.dirs[stateVolume()], '..', 'bin'), { shellEnv });
}

/** The state volume: where the gateway keeps OPENCLAW_STATE_DIR. */
function stateVolume(): string {
  const dir = containerEnv(services[GATEWAY]).OPENCLAW_STATE_DIR;
  expect(dir).toBeTruthy();
  const m = volumeAt(GATEWAY, dir);
  expect(m).toBeDefined();
  return m!.source;
}

/** The certificate folder each client service uses (container path). */
function clientCertsDir(service: string): string {
  if (service === CLI) return containerEnv(services[CLI]).OPENCLAW_CERTS_DIR;
  return flagValue(containerArgv(services[service], runtime), '--certs')!;
}

describe('docker-compose.yml', () => {
  test('has the init, gateway, worker, bridge and CLI services, all running this repository\'s image', () => {
    expect(Object.keys(services).sort()).toEqual([INIT, GATEWAY, WORKER, BRIDGE, CLI].sort());
    const images = new Set(Object.values(services).map((s) => s.image));
    expect(images.size).toBe(1);
    for (const [name, s] of Object.entries(services)) {
      expect({ name, build: s.build }).toEqual({ name, build: expect.objectContaining({ context: '.' }) });
    }
  });

  test('every named volume a service mounts is declared, and every declared volume is used', () => {
    const declared = Object.keys(compose.volumes ?? {});
    const used = new Set<string>();
    for (const [name, s] of Object.entries(services)) {
      for (const m of mountsOf(s)) {
        expect({ service: name, mount: m.source || m.target, named: m.named }).toEqual({ service: name, mount: m.source || m.target, named: true });
        expect(declared).toContain(m.source);
        used.add(m.source);
      }
    }
    expect([...used].sort()).toEqual([...declared].sort());
  });

  test('the state volume (CA key, registry) is mounted only by init and the gateway, at the state dir of both', () => {
    const state = stateVolume();
    const mounters = Object.keys(services).filter((n) => namedMounts(n).some((m) => m.source === state));
    expect(mounters.sort()).toEqual([GATEWAY, INIT].sort());
    for (const n of mounters) {
      expect(volumeAt(n, containerEnv(services[n]).OPENCLAW_STATE_DIR)?.source).toBe(state);
      expect(namedMounts(n).find((m) => m.source === state)!.readOnly).toBe(false);
    }
  });

  test('each client mounts only its own certificate volume, which init writes: the CLI read-only, the long-running ones writable', () => {
    const state = stateVolume();
    const initEnv = containerEnv(services[INIT]);
    const written = Object.fromEntries(Object.entries(CLIENTS).map(([client, variable]) => [client, initEnv[variable]]));
    const seen = new Set<string>();
    for (const client of Object.keys(CLIENTS)) {
      const mounts = namedMounts(client);
      expect(mounts).toHaveLength(1);
      const [m] = mounts;
      expect(m.source).not.toBe(state);
      expect(seen.has(m.source)).toBe(false);
      seen.add(m.source);
      // The folder the program is told to use is that volume, and init provisions the same volume.
      expect(volumeAt(client, clientCertsDir(client))?.source).toBe(m.source);
      expect(volumeAt(INIT, written[client])?.source).toBe(m.source);
      // Only init and this client mount it.
      const mounters = Object.keys(services).filter((n) => namedMounts(n).some((x) => x.source === m.source));
      expect(mounters.sort()).toEqual([client, INIT].sort());
      // The CLI never needs to write (renewal is best effort and skipped on a read-only folder);
      // the long-running worker and bridge must: a certificate renewed over gRPC but not stored
      // would leave them with a superseded one.
      expect({ client, readOnly: m.readOnly }).toEqual({ client, readOnly: client === CLI });
    }
  });

  test('every program a service runs is a package.json bin that the build produced', () => {
    for (const [name, s] of Object.entries(services)) {
      const argv = containerArgv(s, runtime);
      const program = argv[0] === '/bin/sh' ? undefined : argv[0];
      if (!program) continue; // the init script: its programs are checked below
      expect({ service: name, program, known: program in bins }).toEqual({ service: name, program, known: true });
      expect(existsSync(join(REPO_ROOT, bins[program]))).toBe(true);
    }
    expect(certsToolsCalls(initScript()).length).toBeGreaterThan(0);
    for (const file of Object.values(bins)) expect({ file, exists: existsSync(join(REPO_ROOT, file)) }).toEqual({ file, exists: true });
  });

  test('every subcommand and flag the gateway, worker and bridge services pass is accepted by openclaw-gateway', async () => {
    for (const name of [GATEWAY, WORKER, BRIDGE]) {
      const argv = containerArgv(services[name], runtime);
      expect(argv[0]).toBe('openclaw-gateway');
      const sub = argv[1];
      expect(sub).not.toMatch(/^-/);
      expect(helpHasCommand(await helpOf('openclaw-gateway'), sub)).toBe(true);
      const help = await helpOf('openclaw-gateway', [sub]);
      for (const flag of argv.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0])) {
        expect({ service: name, flag, accepted: helpHasFlag(help, flag) }).toEqual({ service: name, flag, accepted: true });
      }
    }
  });

  test('every certs-tools subcommand and flag of the init script is accepted by certs-tools', async () => {
    const calls = certsToolsCalls(initScript());
    expect(calls.map((c) => c.find((t) => !t.startsWith('-') && !t.startsWith('$')))).toEqual(expect.arrayContaining(['init', 'issue', 'inspect']));
    const rootHelp = await helpOf('certs-tools');
    for (const call of calls) {
      const subAt = call.findIndex((t) => !t.startsWith('-'));
      const sub = call[subAt];
      for (const flag of call.slice(0, subAt)) expect({ flag, accepted: helpHasFlag(rootHelp, flag) }).toEqual({ flag, accepted: true });
      expect({ sub, listed: helpHasCommand(rootHelp, sub) }).toEqual({ sub, listed: true });
      const help = await helpOf('certs-tools', [sub]);
      for (const flag of call.slice(subAt + 1).filter((t) => t.startsWith('--'))) {
        expect({ sub, flag, accepted: helpHasFlag(help, flag) }).toEqual({ sub, flag, accepted: true });
      }
    }
    // Each role the script provisions is one certs-tools knows.
    const issueHelp = await helpOf('certs-tools', ['issue']);
    for (const role of ['operator', 'backend', 'bridge']) {
      expect(initScript()).toMatch(new RegExp(`provision ${role} `));
      expect(issueHelp).toContain(role);
    }
  });

  test('the CLI service is in profile "cli", runs openclaw-cli, and its default command and env are ones the CLI knows', async () => {
    const cli = services[CLI];
    expect(cli.profiles).toEqual(['cli']);
    const argv = containerArgv(cli, runtime);
    expect(argv[0]).toBe('openclaw-cli');
    const help = await helpOf('openclaw-cli');
    for (const command of ['cron', 'sessions', 'devices', 'pair', 'health', 'status']) expect({ command, listed: helpHasCommand(help, command) }).toEqual({ command, listed: true });
    expect(helpHasCommand(help, argv[1])).toBe(true);
    expect(helpHasCommand(await helpOf('openclaw-cli', ['cron']), 'list')).toBe(true);
    const env = containerEnv(cli);
    expect(env.OPENCLAW_GATEWAY_GRPC).toBe(`${GATEWAY}:18790`);
    expect(env.OPENCLAW_CERTS_DIR).toMatch(/^\//);
    expect(help).toMatch(/OPENCLAW_GATEWAY_GRPC/);
    expect(help).toMatch(/OPENCLAW_CERTS_DIR/);
  });

  test('the clients reach the gateway by its service name, which the server certificate covers', () => {
    const gwArgv = containerArgv(services[GATEWAY], runtime);
    expect(flagValue(gwArgv, '--grpc-host')).toBe('0.0.0.0');
    // The worker and the bridge run as their own services, not inside the gateway.
    expect(gwArgv).toEqual(expect.arrayContaining(['--no-worker', '--no-bridge']));
    const sans = gwArgv.filter((_a, i) => gwArgv[i - 1] === '--san');
    expect(sans).toContain(GATEWAY);
    for (const name of [WORKER, BRIDGE]) expect(flagValue(containerArgv(services[name], runtime), '--gateway')).toBe(`${GATEWAY}:18790`);
    expect(containerEnv(services[CLI]).OPENCLAW_GATEWAY_GRPC).toBe(`${GATEWAY}:18790`);
    // init issues the server certificate for the same names (host name included), so the
    // gateway finds it current instead of re-issuing it at every start.
    expect(services[INIT].hostname).toBe(services[GATEWAY].hostname);
    expect(containerEnv(services[INIT]).OPENCLAW_GATEWAY_NAME).toBe(GATEWAY);
    expect(initScript()).toMatch(/certs-tools init "\$@"/);
    // gRPC on the gateway, the legacy WS port on the bridge, listening on all of its interfaces.
    expect((services[GATEWAY].expose ?? []).map(String)).toEqual(['18790']);
    expect((services[BRIDGE].expose ?? []).map(String)).toEqual(['18789']);
    const bridgeArgv = containerArgv(services[BRIDGE], runtime);
    expect([flagValue(bridgeArgv, '--host'), flagValue(bridgeArgv, '--port')]).toEqual(['0.0.0.0', '18789']);
  });

  test('depends_on: targets exist; everything waits for init to complete, the clients for a healthy gateway', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [target, condition] of Object.entries(dependsOn(s))) {
        expect(Object.keys(services)).toContain(target);
        expect(['service_started', 'service_healthy', 'service_completed_successfully']).toContain(condition);
        expect(target).not.toBe(name);
      }
    }
    for (const name of [GATEWAY, WORKER, BRIDGE, CLI]) expect(dependsOn(services[name])[INIT]).toBe('service_completed_successfully');
    for (const name of [WORKER, BRIDGE, CLI]) expect(dependsOn(services[name])[GATEWAY]).toBe('service_healthy');
    expect(dependsOn(services[INIT])).toEqual({});
  });

  test('health checks: the gateway the image\'s gRPC check, the bridge its /readyz, the others none', () => {
    expect(services[GATEWAY].healthcheck).toBeUndefined();
    expect(healthcheckArgv(services[GATEWAY], runtime)?.[0]).toBe('node');
    const bridgeCheck = healthcheckArgv(services[BRIDGE], runtime)!.join(' ');
    expect(bridgeCheck).toContain(`127.0.0.1:${flagValue(containerArgv(services[BRIDGE], runtime), '--port')}/readyz`);
    for (const name of [INIT, WORKER, CLI]) expect({ name, check: healthcheckArgv(services[name], runtime) }).toEqual({ name, check: undefined });
  });
});

describe('Dockerfile', () => {
  test('multi-stage: node:20-bookworm-slim build stage with npm ci and npm run build', () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    const build = dockerfile.stages[0];
    expect(resolveFrom(dockerfile, build)).toBe('node:20-bookworm-slim');
    const runs = build.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /\bnpm ci\b/.test(r) && !/--omit=dev/.test(r))).toBe(true);
    expect(runs.some((r) => /\bnpm run build\b/.test(r))).toBe(true);
  });

  test('runtime stage: production dependencies and dist only, non-root node user, health check, ports, state dir', () => {
    expect(resolveFrom(dockerfile, runtime)).toBe('node:20-bookworm-slim');
    const runs = runtime.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(runs.some((r) => /\bnpm ci\b.*--omit=dev/.test(r))).toBe(true);
    expect(runs.filter((r) => /\bnpm (ci|install)\b/.test(r)).every((r) => /--omit=dev/.test(r))).toBe(true);
    const fromBuild = runtime.instructions.filter((i) => i.keyword === 'COPY' && /--from=/.test(i.args));
    expect(fromBuild.length).toBeGreaterThan(0);
    for (const c of fromBuild) expect(c.args).toMatch(/--from=\S+\s+\/app\/dist\//);
    expect(lastInstruction(runtime, 'USER')?.args).toBe('node');
    // USER node comes after the last RUN: nothing in the final image runs as root.
    const idx = (k: string) => runtime.instructions.map((i) => i.keyword).lastIndexOf(k);
    expect(idx('USER')).toBeGreaterThan(idx('RUN'));
    expect(lastInstruction(runtime, 'HEALTHCHECK')?.args).toMatch(/\bCMD\b/);
    expect(runtime.instructions.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/)).sort()).toEqual(['18789', '18790']);
    expect(imageEnv.OPENCLAW_STATE_DIR).toBe('/var/lib/openclaw');
    // Every mount point of a named volume exists in the image, owned by node (an empty
    // volume takes that owner, so the unprivileged user can write to it).
    const setup = runs.join('\n');
    for (const s of Object.values(services)) {
      for (const m of mountsOf(s)) expect({ target: m.target, created: setup.includes(m.target) }).toEqual({ target: m.target, created: true });
    }
    expect(setup).toMatch(/chown -R node:node/);
    // The programs are on PATH, from package.json "bin".
    expect(setup).toMatch(/package\.json"\)\.bin/);
    expect(execForm(lastInstruction(runtime, 'ENTRYPOINT')!.args)).toEqual(['openclaw-gateway']);
  });

  test('the compiled programs the image copies need only production dependencies', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const copied = runtime.instructions
      .filter((i) => i.keyword === 'COPY' && /--from=/.test(i.args))
      .map((i) => /\/app\/(\S+)/.exec(i.args)![1].replace(/\/$/, ''));
    const missing = new Set<string>();
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const full = join(dir, name);
        if (statSync(full).isDirectory()) walk(full);
        else if (name.endsWith('.js')) {
          for (const m of readFileSync(full, 'utf8').matchAll(/require\(\s*["']([^"'./][^"']*)["']\s*\)/g)) {
            const spec = m[1];
            const pkgName = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
            if (spec.startsWith('node:') || builtinModules.includes(pkgName)) continue;
            if (!(pkgName in pkg.dependencies)) missing.add(`${pkgName} (from ${relative(REPO_ROOT, full)})`);
          }
        }
      }
    };
    for (const c of copied) walk(join(REPO_ROOT, c));
    expect([...missing]).toEqual([]);
  });

  test('.dockerignore keeps keys, state and build output out of the build context, but not what the build copies', () => {
    const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const p of ['**/node_modules', 'dist', '**/*.pem', '**/*.key', '**/.git']) expect(ignored).toContain(p);
    const copiedFromContext = dockerfile.stages
      .flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'COPY' && !/--from=/.test(i.args))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(copiedFromContext).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'src', 'certs-tools']));
    for (const src of copiedFromContext) {
      expect({ src, ignored: ignored.includes(src) || ignored.includes(`**/${src}`) }).toEqual({ src, ignored: false });
    }
  });
});

describe('the compose services\' code, run here', () => {
  test('init provisions every client folder once, keeps current ones, and re-issues revoked, foreign or missing ones', async () => {
    const root = tmpDir();
    const volumes = new VolumeFolders(compose, root);
    const stateDir = volumes.dirs[stateVolume()];
    const certsTools = (...args: string[]) => runBin('certs-tools', ['--state-dir', stateDir, ...args]);
    const initEnv = containerEnv(services[INIT]);
    const [cliDir, workerDir, bridgeDir] = [initEnv.OPENCLAW_CLI_CERTS, initEnv.OPENCLAW_WORKER_CERTS, initEnv.OPENCLAW_BRIDGE_CERTS].map((p) => volumes.path(INIT, p));
    const clientVolumes = [cliDir, workerDir, bridgeDir];
    const sansEnv = { OPENCLAW_SANS: 'gw.example.internal,192.0.2.7' };

    const first = await runInit(volumes, sansEnv);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout.match(/^Issued /gm)).toHaveLength(3);
    for (const dir of clientVolumes) {
      const extra = dir === bridgeDir ? ['legacy-token'] : [];
      expect(readdirSync(dir).sort()).toEqual(['ca.pem', 'cert.pem', 'identity.json', 'key.pem', ...extra].sort());
      expect(statSync(join(dir, 'key.pem')).mode & 0o777).toBe(0o600);
      expect(readFileSync(join(dir, 'key.pem'), 'utf8')).not.toBe(readFileSync(join(stateDir, 'ca', 'ca-key.pem'), 'utf8'));
      expect(JSON.parse(readFileSync(join(dir, 'identity.json'), 'utf8')).gateway).toBe(`${GATEWAY}:18790`);
    }
    // The bridge's shared token for legacy clients: generated once, private.
    const token = readFileSync(join(bridgeDir, 'legacy-token'), 'utf8').trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(statSync(join(bridgeDir, 'legacy-token')).mode & 0o777).toBe(0o600);
    const serverNames = (JSON.parse(readFileSync(join(stateDir, 'server', 'server.json'), 'utf8')) as { names: string[] }).names;
    expect(serverNames).toEqual(expect.arrayContaining([GATEWAY, 'gw.example.internal', '192.0.2.7']));
    const snapshot = () => clientVolumes.map((d) => snapshotTree(d));

    // Every later `up` (and every `run` of a service depending on init) runs it again: nothing changes.
    const before = snapshot();
    const second = await runInit(volumes, sansEnv);
    expect(second.code).toBe(0);
    expect(second.stdout.match(/^kept the /gm)).toHaveLength(3);
    expect(second.stdout).not.toMatch(/^Issued /m);
    expect(snapshot()).toEqual(before);
    const listed = JSON.parse((await certsTools('--json', 'list')).stdout) as { label: string; status: string }[];
    expect(listed.filter((d) => d.label.startsWith('compose-')).map((d) => d.label).sort()).toEqual(['compose-bridge', 'compose-cli', 'compose-worker']);

    // A revoked CLI identity is replaced (new key) on the next run; the others are kept.
    expect((await certsTools('revoke', 'compose-cli')).code).toBe(0);
    const third = await runInit(volumes, sansEnv);
    expect(third.code).toBe(0);
    expect(third.stdout).toMatch(/Issued operator identity "compose-cli"/);
    expect(third.stdout.match(/^kept the /gm)).toHaveLength(2);
    const after = snapshot();
    expect(after[0]['key.pem']).not.toEqual(before[0]['key.pem']);
    expect(after.slice(1)).toEqual(before.slice(1));

    // A folder holding an identity of another CA, or nothing, is provisioned from this CA.
    const otherState = join(root, 'other-state');
    expect((await runBin('certs-tools', ['--state-dir', otherState, 'init'])).code).toBe(0);
    expect((await runBin('certs-tools', ['--state-dir', otherState, 'issue', '--role', 'backend', '--name', 'compose-worker', '--out', workerDir])).code).toBe(0);
    rmSync(join(bridgeDir, 'cert.pem'));
    const fourth = await runInit(volumes, sansEnv);
    expect(fourth.code).toBe(0);
    expect(fourth.stdout).toMatch(/Issued backend identity "compose-worker"/);
    expect(fourth.stdout).toMatch(/Issued bridge identity "compose-bridge"/);
    for (const dir of clientVolumes) {
      const inspected = JSON.parse((await certsTools('--json', 'inspect', dir)).stdout) as { signedByThisCa: boolean; registry?: { status: string } };
      expect(inspected.signedByThisCa).toBe(true);
      expect(inspected.registry?.status).toBe('active');
    }
    expect(readFileSync(join(bridgeDir, 'legacy-token'), 'utf8').trim()).toBe(token);

    // A token chosen by the operator (OPENCLAW_GATEWAY_TOKEN) replaces the generated one.
    const chosen = await runInit(volumes, { ...sansEnv, OPENCLAW_GATEWAY_TOKEN: 'operator-chosen-token' });
    expect(chosen.code).toBe(0);
    expect(readFileSync(join(bridgeDir, 'legacy-token'), 'utf8')).toBe('operator-chosen-token\n');
    expect(readdirSync(bridgeDir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  test('the image HEALTHCHECK passes against a serving gateway and fails when none is there', async () => {
    const cmd = execForm(lastInstruction(runtime, 'HEALTHCHECK')!.args.replace(/^.*?\bCMD\s+/, ''))!;
    expect(cmd[0]).toBe('node');
    const gw = await startTestGateway();
    const env = { ...imageEnv, OPENCLAW_STATE_DIR: gw.stateDir, OPENCLAW_GRPC_PORT: String(gw.gw.grpcPort) };
    try {
      const ok = await runProcess(process.execPath, cmd.slice(1), { env, cwd: REPO_ROOT });
      expect(ok.code).toBe(0);
    } finally {
      await gw.close();
    }
    const down = await runProcess(process.execPath, cmd.slice(1), { env: { ...env, OPENCLAW_STATE_DIR: tmpDir() }, cwd: REPO_ROOT });
    expect(down.code).not.toBe(0);
  });

  test('with OPENCLAW_BRIDGE_TLS=1, init keeps a server certificate from the CA in the bridge\'s folder for the names clients use', async () => {
    const root = tmpDir();
    const volumes = new VolumeFolders(compose, root);
    const shellEnv = { OPENCLAW_BRIDGE_TLS: '1', OPENCLAW_BRIDGE_NAMES: 'bridge.lan,192.0.2.9' };
    const first = await runInit(volumes, shellEnv);
    expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
    expect(first.stdout).toMatch(/^Issued the server certificate in .*\/tls \(new\)/m);
    const tlsDir = join(volumes.path(INIT, containerEnv(services[INIT]).OPENCLAW_BRIDGE_CERTS), 'tls');
    expect(readdirSync(tlsDir).sort()).toEqual(['cert.pem', 'key.pem', 'server.json']);
    expect(statSync(join(tlsDir, 'key.pem')).mode & 0o777).toBe(0o600);
    const cert = new X509Certificate(readFileSync(join(tlsDir, 'cert.pem')));
    expect(cert.verify(new X509Certificate(readFileSync(join(volumes.dirs[stateVolume()], 'ca', 'ca.pem'))).publicKey)).toBe(true);
    for (const name of ['DNS:openclaw-bridge', 'DNS:localhost', 'DNS:bridge.lan', 'IP Address:127.0.0.1', 'IP Address:192.0.2.9']) expect(cert.subjectAltName).toContain(name);
    // The next `up` keeps it; without TLS nothing is issued.
    const again = await runInit(volumes, shellEnv);
    expect(again.stdout).toMatch(/^Kept the server certificate in .*\/tls \(current\)/m);
    const plain = new VolumeFolders(compose, tmpDir());
    expect((await runInit(plain)).stdout).not.toMatch(/server certificate in/);
  });

  test('the bridge service refuses plain ws:// published beyond loopback, serves it on loopback, and serves wss:// with OPENCLAW_BRIDGE_TLS=1', async () => {
    const root = tmpDir();
    const volumes = new VolumeFolders(compose, root);
    expect((await runInit(volumes, { OPENCLAW_BRIDGE_TLS: '1' })).code).toBe(0);
    const gw = await startTestGateway({ stateDir: volumes.dirs[stateVolume()] });
    // The service's argv and environment. A run that must be refused keeps its --host (every
    // interface, as in its container: refused before it listens); one that serves listens on
    // 127.0.0.1 port 0 here.
    const bridgeRun = (shellEnv: NodeJS.ProcessEnv, serves = true) => {
      const { argv, env } = serviceProcess({ compose, runtime }, volumes, BRIDGE, { shellEnv });
      const args = argv.slice(1).map((a, i, all) => (all[i - 1] === '--host' && serves ? '127.0.0.1' : all[i - 1] === '--port' ? '0' : all[i - 1] === '--gateway' ? gw.address : a));
      return { cmd: argv[0], args, env: { ...env, HOME: root } };
    };
    try {
      const refused = bridgeRun({ OPENCLAW_BRIDGE_PUBLISH: '0.0.0.0:18789' }, false);
      expect(flagValue([refused.cmd, ...refused.args], '--host')).toBe('0.0.0.0');
      const r = await runProcess(refused.cmd, refused.args, { env: refused.env });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/would listen on 0\.0\.0\.0 without TLS/);
      // The way out is named in the service's own terms (its variable and the bridge command's
      // options), not in the options of `openclaw-gateway start`, which this command refuses.
      expect(r.stderr).toMatch(/set OPENCLAW_BRIDGE_TLS=1 or add --tls .*--tls-cert\/--tls-key.*--insecure to accept/);
      expect(r.stderr).not.toMatch(/--bridge-(tls|cert|insecure)/);
      // The published address is judged only for a wildcard --host: a specific address is judged as it is.
      const specific = bridgeRun({ OPENCLAW_BRIDGE_PUBLISH: '127.0.0.1:18789' }, false);
      specific.args = specific.args.map((a, i, all) => (all[i - 1] === '--host' ? '192.0.2.1' : a));
      expect((await runProcess(specific.cmd, specific.args, { env: specific.env })).stderr).toMatch(/would listen on 192\.0\.2\.1 without TLS/);
      const portOnly = bridgeRun({ OPENCLAW_BRIDGE_PUBLISH: '18789' }, false);
      expect((await runProcess(portOnly.cmd, portOnly.args, { env: portOnly.env })).stderr).toMatch(/without TLS/);

      for (const [shellEnv, scheme] of [[{}, 'ws'], [{ OPENCLAW_BRIDGE_TLS: '1', OPENCLAW_BRIDGE_PUBLISH: '0.0.0.0:18789' }, 'wss']] as const) {
        const run = bridgeRun(shellEnv);
        const child = spawn(run.cmd, run.args, { env: run.env, stdio: ['ignore', 'pipe', 'pipe'] });
        try {
          let out = '';
          child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
          const url = await eventually(`the bridge prints its ${scheme}:// address`, () => /bridge listening on (\S+);/.exec(out)?.[1], 20_000);
          expect(url).toMatch(new RegExp(`^${scheme}://127\\.0\\.0\\.1:\\d+/$`));
        } finally {
          child.kill('SIGTERM');
          await new Promise((resolve) => child.once('exit', resolve));
        }
      }
    } finally {
      await gw.close();
    }
  });

  test('a new OPENCLAW_GATEWAY_TOKEN written by init reaches the running bridge service (compose does not restart it): new connections need the new token, an emptied file keeps the last one', async () => {
    const root = tmpDir();
    const volumes = new VolumeFolders(compose, root);
    expect((await runInit(volumes, { OPENCLAW_GATEWAY_TOKEN: 'first-token-0123456789' })).code).toBe(0);
    const gw = await startTestGateway({ stateDir: volumes.dirs[stateVolume()] });
    const { argv, env } = serviceProcess({ compose, runtime }, volumes, BRIDGE);
    const args = argv.slice(1).map((a, i, all) => (all[i - 1] === '--host' ? '127.0.0.1' : all[i - 1] === '--port' ? '0' : all[i - 1] === '--gateway' ? gw.address : a));
    const tokenFile = flagValue(argv, '--token-file')!;
    const child = spawn(argv[0], args, { env: { ...env, HOME: root }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    /** The connect answer a token-only legacy client gets. */
    const connectWith = async (url: string, token: string) => {
      const c = await LegacyClient.open(url);
      try {
        await c.challenge();
        return await c.request('connect', connectParams({ auth: { token } }));
      } finally {
        await c.close();
      }
    };
    try {
      const url = await eventually('the bridge prints its address', () => /bridge listening on (\S+);/.exec(out)?.[1], 20_000);
      expect((await connectWith(url, 'first-token-0123456789')).payload?.type).toBe('hello-ok');
      // The next `up` with another token: init rewrites the file, the bridge keeps running.
      expect((await runInit(volumes, { OPENCLAW_GATEWAY_TOKEN: 'second-token-0123456789' })).code).toBe(0);
      await eventually('the bridge takes the new token', () => /legacy token file changed; new connections need the new token/.test(out), 15_000);
      expect((await connectWith(url, 'second-token-0123456789')).payload?.type).toBe('hello-ok');
      const old = await connectWith(url, 'first-token-0123456789');
      expect(old.ok).toBe(false);
      expect(old.error?.details?.code).toBe('AUTH_TOKEN_MISMATCH');
      // A file emptied by mistake is not a token: the last one stays in force.
      writeFileSync(`${tokenFile}.tmp`, '\n', { mode: 0o600 });
      renameSync(`${tokenFile}.tmp`, tokenFile);
      await eventually('the bridge reports the unusable file', () => /holds no token; keeping the current one/.test(out), 15_000);
      expect((await connectWith(url, 'second-token-0123456789')).payload?.type).toBe('hello-ok');
      expect((await connectWith(url, '')).ok).toBe(false);
      expect(out).not.toMatch(/first-token|second-token/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      await gw.close();
    }
  });

  test('`docker compose run --rm openclaw-cli cron list` as the container runs it: provisioned by init, first try', async () => {
    const root = tmpDir();
    const volumes = new VolumeFolders(compose, root);
    expect((await runInit(volumes)).code).toBe(0);
    const gw = await startTestGateway({ stateDir: volumes.dirs[stateVolume()] });
    try {
      const argv = containerArgv(services[CLI], runtime, ['cron', 'list']);
      expect(argv).toEqual(['openclaw-cli', 'cron', 'list']);
      // The container's environment with the volume folders; the service name resolves only
      // inside a compose network, so the address is the test gateway's (netns e2e covers names).
      const env = { ...volumes.env(CLI, containerEnv(services[CLI])), OPENCLAW_GATEWAY_GRPC: gw.address, HOME: root, PATH: binShims(join(root, 'bin')) };
      const r = await runProcess(argv[0], argv.slice(1), { env });
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(r.stdout + r.stderr).not.toMatch(/pairing required/i);
      const defaultCommand = containerArgv(services[CLI], runtime);
      const st = await runProcess(defaultCommand[0], defaultCommand.slice(1), { env });
      expect(st.code).toBe(0);
    } finally {
      await gw.close();
    }
  });
});
