/**
 * `docker compose up -d`, then `docker compose run --rm openclaw-cli cron list`, without
 * Docker: every service of docker-compose.yml runs with the argv and environment its
 * container would get, in its own network namespace, reaching the others by service
 * name (a hosts file stands in for compose's DNS), with each named volume a folder
 * (bind-mounted read-only where the service mounts it `:ro`). Services start in
 * depends_on order, and a `service_healthy` dependency waits for the image's own
 * HEALTHCHECK command to pass inside the gateway's namespace, as Docker does.
 *
 * What this adds to netns.test.ts: the exact commands, names and flags of the compose
 * file (0.0.0.0 binding, the service-name SAN, clients configured by environment only).
 * Needs root and iproute2; fails (does not skip) without them.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { NetnsLab, type Ran, type Running } from './netns-lab';
import { dependsOn, healthcheckArgv, mountsOf, VolumeFolders } from '../compose/compose-file';
import { composeModel, runInitService, serviceProcess } from '../compose/compose-runner';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp';

const model = composeModel();
const services = model.compose.services;
const INIT = 'openclaw-init';
const GATEWAY = 'openclaw-gateway';
const BRIDGE = 'openclaw-bridge';
const CLI = 'openclaw-cli';
/** Long-running services of `docker compose up` (no profile, not the one-shot init), gateway first. */
const upServices = Object.keys(services)
  .filter((n) => n !== INIT && !(services[n].profiles ?? []).length)
  .sort((a, b) => (a === GATEWAY ? -1 : b === GATEWAY ? 1 : a.localeCompare(b)));
/** Services with a network namespace: the up services and the CLI. */
const netServices = [...upServices, CLI];

let lab: NetnsLab | undefined;
let root = '';
let volumes: VolumeFolders;
const running: Record<string, Running> = {};
const outputs: string[] = [];

/** Read-only folders of a service (its `:ro` mounts). */
function readOnlyOf(service: string): string[] {
  return mountsOf(services[service])
    .filter((m) => m.named && m.readOnly)
    .map((m) => volumes.dirs[m.source]);
}

/** A container-like environment: HOME of its own, no colours. */
function envFor(service: string, env: Record<string, string>): Record<string, string> {
  const home = join(root, 'home', service);
  mkdirSync(home, { recursive: true });
  return { ...env, HOME: home };
}

/** The health check of a service (its own, or the image's), run inside its namespace with its environment. */
async function healthcheck(service: string): Promise<Ran> {
  const cmd = healthcheckArgv(services[service], model.runtime);
  if (!cmd) throw new Error(`${service} has no health check`);
  const { env } = serviceProcess(model, volumes, service);
  // `node` in the image is this node here; the image's working directory is the app root.
  const argv = cmd[0] === 'node' ? [process.execPath, ...cmd.slice(1)] : cmd;
  return lab!.run(service, argv, { env: envFor(service, env), timeoutMs: 10_000 });
}

/** Waits for a dependency condition, the way compose does before starting a dependent. */
async function waitCondition(target: string, condition: string): Promise<void> {
  if (condition === 'service_completed_successfully') return; // init ran to completion before anything started
  if (!running[target]) throw new Error(`${target} was not started before its dependents`);
  if (condition !== 'service_healthy') return;
  const until = Date.now() + 20_000;
  for (;;) {
    const r = await healthcheck(target);
    if (r.code === 0) return;
    if (Date.now() > until) throw new Error(`${target} did not become healthy; last check: ${r.stdout}${r.stderr}\n${target} output:\n${running[target].output()}`);
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** `docker compose run --rm openclaw-cli [args]` inside the CLI's namespace (no args: the service's command). */
async function composeRunCli(args?: string[]): Promise<Ran> {
  for (const [target, condition] of Object.entries(dependsOn(services[CLI]))) await waitCondition(target, condition);
  const { argv, env } = serviceProcess(model, volumes, CLI, { runArgs: args });
  const r = await lab!.run(CLI, argv, { env: envFor(CLI, env), readOnly: readOnlyOf(CLI) });
  outputs.push(r.stdout, r.stderr);
  return r;
}

async function composeRunCliOk(args: string[]): Promise<string> {
  const r = await composeRunCli(args);
  if (r.code !== 0) throw new Error(`openclaw-cli ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

async function cleanup(): Promise<void> {
  await Promise.all(Object.values(running).map((r) => r.stop()));
  await lab?.destroy();
  if (root) removeTmpDir(root);
}

beforeAll(async () => {
  try {
    const prefixes: Record<string, string> = {};
    netServices.forEach((n, i) => (prefixes[n] = n === GATEWAY ? 'occgw' : n === CLI ? 'occli' : `occ${i}`));
    lab = await NetnsLab.create(prefixes);
    root = makeTmpDir('ocgw-compose-netns-');
    volumes = new VolumeFolders(model.compose, root);
    for (const dir of Object.values(volumes.dirs)) mkdirSync(dir);
    // Compose's DNS: service names (and host names) resolve to the services' addresses.
    const names: Record<string, string> = {};
    for (const n of netServices) {
      names[n] = lab.addr[n];
      if (services[n].hostname) names[services[n].hostname!] = lab.addr[n];
    }
    lab.setHosts(join(root, 'hosts'), names);

    // docker compose up: init first (one-shot), then the services in depends_on order.
    const init = await runInitService(model, volumes, join(root, 'bin'));
    if (init.code !== 0) throw new Error(`openclaw-init failed (${init.code}):\n${init.stdout}\n${init.stderr}`);
    const pending = [...upServices];
    while (pending.length > 0) {
      const next = pending.find((n) => Object.keys(dependsOn(services[n])).every((d) => d === INIT || running[d]));
      if (!next) throw new Error(`depends_on cycle or unknown dependency among ${pending.join(', ')}`);
      for (const [target, condition] of Object.entries(dependsOn(services[next]))) await waitCondition(target, condition);
      const { argv, env } = serviceProcess(model, volumes, next);
      running[next] = lab.start(next, argv, { env: envFor(next, env), readOnly: readOnlyOf(next) });
      pending.splice(pending.indexOf(next), 1);
    }
    await waitCondition(GATEWAY, 'service_healthy');
  } catch (err) {
    await cleanup();
    throw err;
  }
}, 50_000);

afterAll(async () => {
  const names = lab ? Object.values(lab.ns) : [];
  await cleanup();
  expect(NetnsLab.existingNamespaces().filter((n) => names.includes(n))).toEqual([]);
}, 20_000);

describe('docker-compose.yml, each service in its own network namespace', () => {
  test('`docker compose run --rm openclaw-cli cron list` works the first time', async () => {
    const r = await composeRunCli(['cron', 'list']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/No cron jobs/);
    // The service's default command too (`docker compose run --rm openclaw-cli`).
    const status = await composeRunCli();
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/compose-cli/);
  });

  test('a cron job run by the worker service creates a session that the CLI lists', async () => {
    const { job } = JSON.parse(await composeRunCliOk(['--json', 'cron', 'add', '--name', 'compose-every-second', '--every', '1s', '--message', 'hello from compose'])) as { job: { jobId: string } };
    const until = Date.now() + 20_000;
    let ok: { sessionId: string } | undefined;
    while (!ok) {
      const { runs } = JSON.parse(await composeRunCliOk(['--json', 'cron', 'runs', job.jobId])) as { runs: { status: string; sessionId: string }[] };
      ok = runs.find((r) => r.status === 'ok' && r.sessionId);
      if (!ok) {
        if (Date.now() > until) throw new Error('no ok run of the cron job within 20 s');
        await new Promise((res) => setTimeout(res, 250));
      }
    }
    const { sessions } = JSON.parse(await composeRunCliOk(['--json', 'sessions', 'list'])) as { sessions: { sessionId: string }[] };
    expect(sessions.map((s) => s.sessionId)).toContain(ok.sessionId);
    await composeRunCliOk(['cron', 'rm', job.jobId]);
  });

  test('a legacy client with the shared token reaches the gateway through the bridge service by name', async () => {
    const bridgeArgv = serviceProcess(model, volumes, BRIDGE).argv;
    const port = bridgeArgv[bridgeArgv.indexOf('--port') + 1];
    const tokenFile = bridgeArgv[bridgeArgv.indexOf('--token-file') + 1];
    const probe = join(__dirname, 'legacy-probe.js');
    const r = await lab!.run(CLI, [process.execPath, probe, `ws://${BRIDGE}:${port}/`, tokenFile, 'cron.list'], { env: { HOME: join(root, 'home') } });
    outputs.push(r.stdout, r.stderr);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const { hello, res } = JSON.parse(r.stdout) as { hello: { ok: boolean }; res: { ok: boolean; payload: unknown } };
    expect(hello.ok).toBe(true);
    expect(res.ok).toBe(true);
  });

  test('every service is still running and passes its health check, and none printed "pairing required"', async () => {
    for (const [name, r] of Object.entries(running)) {
      expect({ name, exitCode: r.child.exitCode }).toEqual({ name, exitCode: null });
      if (healthcheckArgv(services[name], model.runtime)) {
        const h = await healthcheck(name);
        expect({ name, health: h.code }).toEqual({ name, health: 0 });
      }
      outputs.push(r.output());
    }
    expect(Object.keys(running).sort()).toEqual(upServices.slice().sort());
    // init issued the server certificate for exactly the names the gateway wants: no re-issue at start.
    expect(running[GATEWAY].output()).toMatch(/gateway ready/);
    expect(running[GATEWAY].output()).not.toMatch(/issued the server certificate/);
    expect(outputs.join('\n')).not.toMatch(/pairing required/i);
  });
});
