/**
 * The HA packaging (docker-compose.ha.yml + deploy/haproxy.cfg), checked without a
 * Docker engine, the way compose reads it: the balancer is the service clients dial,
 * its configuration is the one test/e2e/ha-haproxy.test.ts runs for real, it checks
 * each replica's readiness endpoint (not just a TCP connect, and without the PROXY
 * header it sends ahead of client connections), every replica and init share one
 * database URL and one state volume, and nothing else mounts the CA key. The replicas'
 * command and settings are accepted by the built gateway.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { argvOf, containerArgv, dependsOn, envOf, interpolate, loadCompose, loadDockerfile, mountsOf, packageBins, REPO_ROOT } from './compose-file';
import { runProcess } from './run-process';
import { resolveGatewayConfig } from '../../src/config/gateway-config';

const HA = join(REPO_ROOT, 'docker-compose.ha.yml');
const compose = loadCompose(HA);
const base = loadCompose();
const services = compose.services;
const dockerfile = loadDockerfile();
const runtime = dockerfile.stages[dockerfile.stages.length - 1];
const REPLICAS = ['openclaw-gateway-1', 'openclaw-gateway-2'];
const LB = 'openclaw-gateway';
const OURS = base.services['openclaw-gateway'].image;
const shell = { OPENCLAW_DB_PASSWORD: 's3cret' };

/** A service's environment as compose hands it to the container (shell variables interpolated). */
function envWith(service: string, shellEnv: NodeJS.ProcessEnv = shell): Record<string, string> {
  return Object.fromEntries(Object.entries(envOf(services[service])).map(([k, v]) => [k, interpolate(v, shellEnv)]));
}

test('the balancer is the service clients dial: HAProxy with deploy/haproxy.cfg, published where the single gateway was', () => {
  const lb = services[LB];
  expect(lb.image).toMatch(/^haproxy:/);
  expect(mountsOf(lb)).toEqual([{ source: './deploy/haproxy.cfg', target: '/usr/local/etc/haproxy/haproxy.cfg', readOnly: true, named: false }]);
  expect(lb.ports).toEqual(base.services['openclaw-gateway'].ports);
  // Every client of the base file reaches "openclaw-gateway:18790": here that is the balancer.
  for (const client of ['openclaw-worker', 'openclaw-bridge']) expect(containerArgv(services[client], runtime).join(' ')).toContain('--gateway openclaw-gateway:18790');
  expect(envOf(services['openclaw-cli']).OPENCLAW_GATEWAY_GRPC).toBe('openclaw-gateway:18790');
});

test('haproxy.cfg reads exactly the variables the balancer service sets: its bind, one server per replica and its check port', () => {
  const cfg = readFileSync(join(REPO_ROOT, 'deploy', 'haproxy.cfg'), 'utf8')
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join('\n');
  const used = [...cfg.matchAll(/"\$\{([A-Z0-9_]+)\}"/g)].map((m) => m[1]).sort();
  const env = envWith(LB);
  expect(used).toEqual(Object.keys(env).sort());
  expect(cfg).toMatch(/^\s*mode tcp$/m);
  expect(env.OPENCLAW_LB_BIND).toBe('0.0.0.0:18790');
  expect([env.OPENCLAW_REPLICA_1, env.OPENCLAW_REPLICA_2]).toEqual(REPLICAS.map((r) => `${r}:18790`));
  expect([env.OPENCLAW_REPLICA_1_CHECK_PORT, env.OPENCLAW_REPLICA_2_CHECK_PORT]).toEqual(['18791', '18791']);
  // The balancer waits for healthy replicas (the image's gRPC health check).
  expect(dependsOn(services[LB])).toEqual(Object.fromEntries(REPLICAS.map((r) => [r, 'service_healthy'])));
});

test('the balancer checks each replica\'s GET /readyz on the port where that replica serves it, not just a TCP connect; the PROXY header goes on client connections, never on the checks', () => {
  const cfg = readFileSync(join(REPO_ROOT, 'deploy', 'haproxy.cfg'), 'utf8')
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join('\n');
  expect(cfg).toMatch(/^\s*option httpchk GET \/readyz$/m);
  expect(cfg).toMatch(/^\s*http-check expect status 200$/m);
  expect(cfg).toMatch(/^\s*default-server send-proxy-v2 check inter 1s fall 2 rise 2 on-marked-down shutdown-sessions$/m);
  // The readiness endpoint is plain HTTP: a check must not start with a PROXY header. With
  // a check "port", HAProxy sends one on checks only when told to (check-send-proxy).
  expect(cfg).not.toMatch(/check-send-proxy/);
  const servers = [...cfg.matchAll(/^\s*server (\S+) "\$\{(OPENCLAW_REPLICA_\d)\}" port "\$\{(OPENCLAW_REPLICA_\d_CHECK_PORT)\}"$/gm)];
  expect(servers.map((m) => [m[1], m[2], m[3]])).toEqual([
    ['replica1', 'OPENCLAW_REPLICA_1', 'OPENCLAW_REPLICA_1_CHECK_PORT'],
    ['replica2', 'OPENCLAW_REPLICA_2', 'OPENCLAW_REPLICA_2_CHECK_PORT'],
  ]);
  const lb = envWith(LB);
  REPLICAS.forEach((r, i) => {
    const health = envWith(r).OPENCLAW_HEALTH_ADDR;
    expect({ r, health }).toEqual({ r, health: `0.0.0.0:${lb[`OPENCLAW_REPLICA_${i + 1}_CHECK_PORT`]}` });
    expect(services[r].expose).toEqual(expect.arrayContaining(['18790', lb[`OPENCLAW_REPLICA_${i + 1}_CHECK_PORT`]]));
  });
});

test('replicas and init share one database URL, which names the database service and its credentials', () => {
  const db = envWith('openclaw-db');
  const url = `postgres://${db.POSTGRES_USER}:${db.POSTGRES_PASSWORD}@openclaw-db:5432/${db.POSTGRES_DB}`;
  expect(db.POSTGRES_PASSWORD).toBe('s3cret');
  for (const s of [...REPLICAS, 'openclaw-init']) expect({ s, url: envWith(s).OPENCLAW_DATABASE_URL }).toEqual({ s, url });
  expect(dependsOn(services['openclaw-init'])).toMatchObject({ 'openclaw-db': 'service_healthy' });
});

test('without OPENCLAW_DB_PASSWORD, compose refuses to start and says which variable is missing', () => {
  expect(() => envWith('openclaw-db', {})).toThrow(/OPENCLAW_DB_PASSWORD/);
});

test('the state volume (CA key) is mounted by init and the replicas only; the replicas are our image, not published', () => {
  const holders = Object.entries(services)
    .filter(([, s]) => mountsOf(s).some((m) => m.named && m.source === 'openclaw-state'))
    .map(([n]) => n)
    .sort();
  expect(holders).toEqual(['openclaw-init', ...REPLICAS].sort());
  for (const r of REPLICAS) {
    expect(services[r].image).toBe(OURS);
    expect(services[r].ports).toBeUndefined();
    expect(mountsOf(services[r]).find((m) => m.source === 'openclaw-state')?.target).toBe(envOf(services[r]).OPENCLAW_STATE_DIR);
  }
  // Every named volume used is declared.
  const declared = Object.keys(compose.volumes ?? {});
  for (const s of Object.values(services)) for (const m of mountsOf(s).filter((x) => x.named)) expect(declared).toContain(m.source);
});

test('the replicas\' command is one the built gateway accepts, with the database URL it takes from the environment', async () => {
  const argv = argvOf(services[REPLICAS[0]].command)!;
  expect(argv[0]).toBe('start');
  // The balancer sends each connection's PROXY header (send-proxy-v2): the replicas expect it.
  expect(argv).toContain('--proxy-protocol');
  const help = await runProcess(process.execPath, [join(REPO_ROOT, packageBins()['openclaw-gateway']), 'start', '--help'], {});
  expect(help.code).toBe(0);
  for (const flag of argv.filter((a) => a.startsWith('--'))) expect({ flag, known: help.stdout.includes(flag) }).toEqual({ flag, known: true });
  expect(help.stdout).toContain('OPENCLAW_DATABASE_URL');
  // The readiness endpoint the balancer checks: a setting the gateway knows, and an address it accepts.
  expect(help.stdout).toContain('OPENCLAW_HEALTH_ADDR');
  expect(resolveGatewayConfig({}, envWith(REPLICAS[0])).healthAddr).toBe('0.0.0.0:18791');
});
