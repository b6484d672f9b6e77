/**
 * The seed scenario across real network boundaries. Gateway, CLI and worker each run
 * in their own network namespace (as containers on a compose network do), provisioned
 * by the init script of docker-compose.yml against the gateway's state directory:
 *
 *   - the provisioned CLI works on the first try (`cron list`, `sessions list`, `health`),
 *     from a namespace whose loopback is not the gateway's, with its folder read-only;
 *   - a cron job fired by the worker in its own namespace creates and lists sessions;
 *   - a CLI without certificates is told so, pairs with the pinned CA fingerprint, is
 *     approved by the provisioned CLI, and then works;
 *   - revoked devices and certificates of another CA are refused with a clear message;
 *   - no output of a provisioned identity ever says "pairing required".
 *
 * Needs root and iproute2; fails (does not skip) without them.
 */
import { existsSync, mkdirSync, readFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetnsLab, type Ran, type Running } from './netns-lab';
import { packageBins, REPO_ROOT, VolumeFolders } from '../compose/compose-file';
import { composeModel, runInitService } from '../compose/compose-runner';
import { runProcess, type Finished } from '../compose/run-process';
import { makeTmpDir, removeTmpDir } from '../helpers/tmp';

const PORT = 18790;
const bins = packageBins();
const BIN = {
  gateway: join(REPO_ROOT, bins['openclaw-gateway']),
  cli: join(REPO_ROOT, bins['openclaw-cli']),
  certsTools: join(REPO_ROOT, bins['certs-tools']),
};
/** Node's notice about TLS server names that are IP addresses: noise, not an answer. */
const NODE_NOTICE = /^\(node:\d+\) \[DEP0123\].*\n(\(Use `node --trace-deprecation.*\n)?/gm;

let lab: NetnsLab | undefined;
let root = '';
let stateDir = '';
let gatewayAddr = '';
const dirs = { cli: '', worker: '', bridge: '' };
let gateway: Running | undefined;
let worker: Running | undefined;
/** Everything a provisioned identity (CLI, worker) printed, for the "pairing required" check. */
const provisionedOutput: string[] = [];

/** stderr without Node's deprecation notices. */
function errText(r: Finished | Ran): string {
  return r.stderr.replace(NODE_NOTICE, '');
}

/** Runs docker-compose.yml's init script (the openclaw-init service) against this test's folders. */
async function runInit(): Promise<Finished> {
  const model = composeModel();
  const r = await runInitService(model, new VolumeFolders(model.compose, root), join(root, 'bin'), {
    env: {
      OPENCLAW_STATE_DIR: stateDir,
      OPENCLAW_CLI_CERTS: dirs.cli,
      OPENCLAW_WORKER_CERTS: dirs.worker,
      OPENCLAW_BRIDGE_CERTS: dirs.bridge,
      // Clients reach the gateway by its address on the lab network (compose: its service name).
      OPENCLAW_GATEWAY_NAME: lab!.addr.gateway,
    },
  });
  if (r.code !== 0) throw new Error(`the init script failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** certs-tools on the gateway's state directory (a one-shot container mounting the state volume). */
function certsTools(args: string[], state = stateDir): Promise<Finished> {
  return runProcess(process.execPath, [BIN.certsTools, '--state-dir', state, ...args]);
}

/**
 * openclaw-cli in the CLI's namespace. `certs` is mounted read-only for the process
 * (as the compose CLI service mounts its volume) unless `writable` is set.
 */
async function cli(certs: string, args: string[], opts: { writable?: boolean } = {}): Promise<Ran> {
  const readOnly = !opts.writable && existsSync(certs) ? [certs] : [];
  const r = await lab!.run('cli', [process.execPath, BIN.cli, '--gateway', gatewayAddr, '--certs', certs, ...args], { readOnly });
  if (certs === dirs.cli) provisionedOutput.push(r.stdout, r.stderr);
  return r;
}

/** The same, expecting success, returning stdout. */
async function cliOk(args: string[], certs = dirs.cli): Promise<string> {
  const r = await cli(certs, args);
  if (r.code !== 0) throw new Error(`openclaw-cli ${args.join(' ')} exited ${r.code}:\n${r.stdout}\n${r.stderr}`);
  expect(errText(r)).toBe('');
  return r.stdout;
}

/** Polls until `probe` returns a value, with a short pause between tries and an overall deadline. */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, deadlineMs = 20_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`${what}: not within ${deadlineMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function cleanup(): Promise<void> {
  await gateway?.stop();
  await worker?.stop();
  await lab?.destroy();
  if (root) removeTmpDir(root);
}

beforeAll(async () => {
  try {
    lab = await NetnsLab.create({ gateway: 'ocgw', cli: 'occli', worker: 'ocwrk' });
    root = makeTmpDir('ocgw-netns-');
    stateDir = join(root, 'state');
    for (const k of Object.keys(dirs) as (keyof typeof dirs)[]) {
      dirs[k] = join(root, `${k}-certs`);
      mkdirSync(dirs[k]);
    }
    gatewayAddr = `${lab.addr.gateway}:${PORT}`;

    // Provisioned before the gateway ever ran, exactly as the compose init container does.
    const init = await runInit();
    expect(init.stdout.match(/^Issued /gm)).toHaveLength(3);

    gateway = lab.start('gateway', [process.execPath, BIN.gateway, 'start', '--state-dir', stateDir, '--grpc-host', lab.addr.gateway, '--grpc-port', String(PORT), '--san', lab.addr.gateway, '--no-bridge', '--no-worker', '--log-level', 'warn']);
    await gateway.waitFor(/gRPC \(mTLS\):\s+\S+:18790/);

    worker = lab.start('worker', [process.execPath, BIN.gateway, 'worker', '--gateway', gatewayAddr, '--certs', dirs.worker, '--log-level', 'info']);
    await worker.waitFor(/worker \S+ started/);
  } catch (err) {
    await cleanup();
    throw err;
  }
}, 40_000);

afterAll(async () => {
  const names = lab ? Object.values(lab.ns) : [];
  await cleanup();
  // Nothing is left behind: no namespace of this run exists any more.
  expect(NetnsLab.existingNamespaces().filter((n) => names.includes(n))).toEqual([]);
}, 20_000);

describe('seed scenario across network namespaces (gateway, CLI and worker each in their own)', () => {
  test('the provisioned CLI works on the first try: cron list, sessions list, health', async () => {
    // The CLI's namespace has its own loopback: nothing of the gateway is there to "be local" to.
    const local = await cli(dirs.cli, ['--gateway', `127.0.0.1:${PORT}`, 'health']);
    expect(local.code).toBe(3);

    expect(await cliOk(['cron', 'list'])).toMatch(/No cron jobs|JOB|ID/);
    expect(await cliOk(['sessions', 'list'])).toMatch(/No sessions|ID/);
    expect(await cliOk(['health'])).toMatch(/SERVING/);
    // Its certificate folder is read-only for it, as the compose volume is mounted `:ro`.
    const write = await lab!.run('cli', ['/bin/sh', '-c', 'touch "$0/probe"', dirs.cli], { readOnly: [dirs.cli] });
    expect(write.code).not.toBe(0);
    expect(write.stderr).toMatch(/read-only/i);
    expect(existsSync(join(dirs.cli, 'probe'))).toBe(false);
  });

  test('re-running init while the gateway runs keeps every current identity', async () => {
    const again = await runInit();
    expect(again.stdout.match(/^kept the /gm)).toHaveLength(3);
    expect(again.stdout).not.toMatch(/^Issued /m);
    expect(await cliOk(['health'])).toMatch(/SERVING/);
  });

  test('a cron job fired by the worker in its own namespace creates and lists sessions', async () => {
    const added = JSON.parse(await cliOk(['--json', 'cron', 'add', '--name', 'netns-every-second', '--every', '1s', '--message', 'status report from the worker namespace'])) as { job: { jobId: string } };
    const jobId = added.job.jobId;
    expect(jobId).toMatch(/\S/);

    const run = await eventually('an ok run of the job', async () => {
      const { runs } = JSON.parse(await cliOk(['--json', 'cron', 'runs', jobId])) as { runs: { status: string; sessionId: string; output: string }[] };
      return runs.find((r) => r.status === 'ok' && r.sessionId);
    });
    expect(run.output).toContain('status report from the worker namespace');
    const { sessions } = JSON.parse(await cliOk(['--json', 'sessions', 'list'])) as { sessions: { sessionId: string; label: string }[] };
    expect(sessions.map((s) => s.sessionId)).toContain(run.sessionId);

    // No run failed for identity reasons, and the worker never saw a denial.
    const { runs } = JSON.parse(await cliOk(['--json', 'cron', 'runs', jobId])) as { runs: { status: string; error: string }[] };
    expect(runs.filter((r) => r.status !== 'ok' && r.status !== 'running').map((r) => r.error)).toEqual([]);
    await cliOk(['cron', 'rm', jobId]);
    expect(worker!.output()).not.toMatch(/denied|refused|UNAUTHENTICATED|PERMISSION_DENIED/i);
    provisionedOutput.push(worker!.output());
  });

  test('a CLI without certificates is told it is not provisioned, then pairs, is approved, and works', async () => {
    const laptop = join(root, 'laptop');
    const none = await cli(laptop, ['status']);
    expect(none.code).not.toBe(0);
    expect(errText(none)).toMatch(/no client certificate in .*laptop/);
    expect(errText(none)).toMatch(/certs-tools issue|openclaw-cli pair/);
    expect(none.stdout + none.stderr).not.toMatch(/pairing required/i);

    const fp = (await certsTools(['ca-fingerprint'])).stdout.trim();
    expect(fp).toMatch(/^SHA256:[0-9a-f:]+$/i);
    const pairing = lab!.start('cli', [process.execPath, BIN.cli, 'pair', '--gateway', gatewayAddr, '--ca-fingerprint', fp, '--name', 'laptop', '--out', laptop, '--json']);
    try {
      const pending = JSON.parse((await pairing.waitFor(/^\{.*"state":\s*"PENDING".*\}$/m))[0]) as { requestId: string; verificationCode: string };
      // The operator sees the same verification code as the device.
      const listed = await cliOk(['--json', 'devices', 'list']);
      expect(listed).toContain(pending.verificationCode);
      await cliOk(['devices', 'approve', pending.requestId]);
      const done = await pairing.exited;
      expect({ code: done.code, stderr: errText(done) }).toEqual({ code: 0, stderr: '' });
      expect(done.stdout).toMatch(/"state":\s*"APPROVED"/);
    } finally {
      await pairing.stop();
    }
    const status = await cli(laptop, ['status']);
    expect({ code: status.code, stderr: errText(status) }).toEqual({ code: 0, stderr: '' });
    expect(status.stdout).toMatch(/laptop/);
  });

  test('a revoked device is refused at once with a clear message: devices revoke and certs-tools revoke', async () => {
    const laptop = join(root, 'laptop');
    await cliOk(['devices', 'revoke', 'laptop']);
    const refused = await cli(laptop, ['status']);
    expect(refused.code).toBe(4);
    expect(errText(refused)).toMatch(/refused the client certificate.*revoked/i);

    // The provisioned CLI revoked on the gateway host with certs-tools (gateway running) ...
    expect((await certsTools(['revoke', 'compose-cli'])).code).toBe(0);
    const cut = await cli(dirs.cli, ['cron', 'list']);
    expect(cut.code).toBe(4);
    expect(errText(cut)).toMatch(/refused the client certificate.*revoked/i);
    // ... and re-provisioned by the next `docker compose up` (init, while the gateway runs).
    const init = await runInit();
    expect(init.stdout).toMatch(/Issued operator identity "compose-cli"/);
    expect(init.stdout.match(/^kept the /gm)).toHaveLength(2);
    expect(await cliOk(['cron', 'list'])).toBeDefined();
  });

  test('certificates of another CA are refused', async () => {
    const otherState = join(root, 'other-state');
    const intruder = join(root, 'intruder');
    expect((await certsTools(['init'], otherState)).code).toBe(0);
    expect((await certsTools(['issue', '--role', 'operator', '--name', 'intruder', '--out', intruder], otherState)).code).toBe(0);

    // As issued: the folder's CA is not the gateway's, so the gateway is not trusted either.
    const foreign = await cli(intruder, ['cron', 'list']);
    expect(foreign.code).not.toBe(0);
    expect(errText(foreign)).toMatch(/does not verify against the CA|wrong gateway|another CA/i);
    expect(foreign.stdout).toBe('');

    // With the gateway's (public) CA certificate copied in: the gateway refuses the client certificate.
    copyFileSync(join(dirs.cli, 'ca.pem'), join(intruder, 'ca.pem'));
    const refused = await cli(intruder, ['cron', 'list']);
    expect(refused.code).toBe(4);
    expect(errText(refused)).toMatch(/refused the client certificate/);
    expect(errText(refused)).toMatch(/another CA|CERT_UNTRUSTED|not issued by/i);
  });

  test('no output of a provisioned identity says "pairing required"', () => {
    provisionedOutput.push(worker!.output(), gateway!.output());
    const all = provisionedOutput.join('\n');
    expect(all.length).toBeGreaterThan(0);
    expect(all).not.toMatch(/pairing required/i);
    expect(readFileSync(join(dirs.cli, 'identity.json'), 'utf8')).toContain(`"gateway": "${gatewayAddr}"`);
  });
});
