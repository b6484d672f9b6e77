#!/usr/bin/env node
/**
 * Makes the test fixture of a real OpenClaw install: test/fixtures/openclaw-2026.9.6/.
 *
 *   npm run build && node scripts/make-openclaw-fixture.mjs [OUT_DIR]
 *
 * What it does, with nothing of anyone real in it (throw-away HOME, token and keys):
 * 1. provides the pinned real clients (Node 24, openclaw@2026.9.6; the same installer the
 *    legacy-client tests use: test/legacy-clients/real-clients.ts);
 * 2. writes a throw-away ~/.openclaw/openclaw.json (token auth, loopback, a trusted proxy so
 *    that a device can be made to look remote, two agents and a model provider whose key is
 *    an environment reference) and runs `openclaw gateway run --port P --bind loopback`;
 * 3. pairs three devices (a laptop CLI, a phone app, a node host) through the real approval
 *    flow: each connects signed with a fresh Ed25519 key (remote, through the trusted proxy)
 *    and is told "pairing required", the real CLI approves the request (`openclaw devices
 *    approve`), the device connects again and receives its device token, and that token
 *    alone lets it in;
 * 4. adds cron jobs of every schedule kind with the real CLI (`openclaw cron add`);
 * 5. copies the state folder while the gateway runs (OUT_DIR/home-running/.openclaw: most of
 *    the state is then only in the SQLite WAL), stops the gateway with SIGTERM, copies the
 *    state folder again (OUT_DIR/home/.openclaw), and writes OUT_DIR/client.json: the
 *    throw-away shared token, each device's private key and device token, the job list, for
 *    the tests.
 */
import { spawn, execFile, execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const WebSocket = require('ws');
const { ensureRealClients } = require(join(root, 'dist/test/legacy-clients/real-clients.js'));
const { realClientEnv } = require(join(root, 'dist/test/legacy-clients/real-client-env.js'));

const out = resolve(process.argv[2] ?? join(root, 'test/fixtures/openclaw-2026.9.6'));
const installed = await ensureRealClients();
const home = mkdtempSync(join(tmpdir(), 'openclaw-fixture-'));
// The real gateway records where its package lives (plugin paths) in its state: run it
// from a copy inside the throw-away HOME (hard links when the file system allows), so
// the fixture names no folder of the machine that made it.
const pkg = resolve(installed.openclawCli, '..', '..', '..');
const pkgCopy = join(home, 'openclaw-package');
try {
  execFileSync('cp', ['-al', pkg, pkgCopy]);
} catch {
  cpSync(pkg, pkgCopy, { recursive: true });
}
const clients = { ...installed, openclawCli: join(pkgCopy, relative(pkg, installed.openclawCli)) };
const stateDir = join(home, '.openclaw');
mkdirSync(stateDir, { recursive: true, mode: 0o700 });
const token = randomBytes(24).toString('hex');
const port = await freePort();
const url = `ws://127.0.0.1:${port}`;
const env = realClientEnv(clients, home, { OPENAI_API_KEY: 'sk-fixture-not-a-real-key' });

const config = {
  gateway: {
    mode: 'local',
    port,
    bind: 'loopback',
    auth: { mode: 'token', token },
    trustedProxies: ['127.0.0.1'],
  },
  models: {
    providers: {
      openai: { baseUrl: 'https://api.openai.com/v1', apiKey: '${OPENAI_API_KEY}', models: [] },
    },
  },
  agents: {
    defaults: { model: { primary: 'openai/gpt-4o-mini' } },
    list: [
      { id: 'main', default: true },
      { id: 'research', name: 'Research', model: 'openai/gpt-4o' },
    ],
  },
};
writeFileSync(join(stateDir, 'openclaw.json'), JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });

const step = (s) => process.stderr.write(`fixture: ${s}\n`);
step(`real gateway on ${url}, HOME ${home}`);
const gw = spawn(clients.node, [clients.openclawCli, 'gateway', 'run', '--port', String(port), '--bind', 'loopback'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
let gwLog = '';
gw.stdout.on('data', (d) => (gwLog += d));
gw.stderr.on('data', (d) => (gwLog += d));
const gwExit = new Promise((r) => gw.on('exit', (code, signal) => r({ code, signal })));
try {
  await waitReady();
  step('ready');
  const devices = [];
  devices.push(await pairDevice({ displayName: 'fixture-laptop', clientId: 'cli', clientMode: 'cli', platform: 'linux', role: 'operator', scopes: ['operator.read', 'operator.write'] }));
  devices.push(await pairDevice({ displayName: 'fixture-phone', clientId: 'openclaw-android', clientMode: 'ui', platform: 'android', deviceFamily: 'phone', role: 'operator', scopes: ['operator.read'] }));
  devices.push(await pairDevice({ displayName: 'fixture-node', clientId: 'node-host', clientMode: 'node', platform: 'linux', role: 'node', scopes: [] }));
  const jobs = [
    ['--name', 'morning-brief', '--cron', '0 7 * * 1-5', '--tz', 'Europe/Berlin', '--message', 'Summarize my inbox', '--agent', 'main'],
    ['--name', 'water-plants', '--every', '2h', '--message', 'Remind me to water the plants'],
    ['--name', 'dentist', '--at', '2031-03-04T09:30:00Z', '--message', 'Dentist at 10:30', '--keep-after-run'],
    ['--name', 'paused-report', '--cron', '30 18 * * 5', '--message', 'Weekly report', '--disabled'],
    ['--name', 'stretch', '--every', '45m', '--system-event', 'Time to stretch'],
    ['--name', 'disk-check', '--every', '1d', '--command', 'df -h /'],
  ];
  for (const args of jobs) {
    const r = await cli(['cron', 'add', ...args, '--url', url, '--token', token, '--json']);
    step(`cron add ${args[1]}: exit ${r.code}`);
    if (r.code !== 0) throw new Error(`cron add ${args[1]} failed: ${r.stdout}${r.stderr}`);
  }
  const list = await cli(['cron', 'list', '--all', '--url', url, '--token', token, '--json']);
  // A copy taken while the gateway runs: what someone gets who copies the folder without
  // stopping it first (most of the state is then only in openclaw.sqlite-wal).
  const running = mkdtempSync(join(tmpdir(), 'openclaw-fixture-running-'));
  cpSync(stateDir, running, { recursive: true, filter: (src) => !/\/(logs|tmp|cache)(\/|$)/.test(src.slice(stateDir.length)) });
  step('stopping the gateway (SIGTERM)');
  gw.kill('SIGTERM');
  const exit = await gwExit;
  step(`stopped: ${JSON.stringify(exit)}`);

  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'home'), { recursive: true });
  cpSync(stateDir, join(out, 'home', '.openclaw'), { recursive: true, filter: (src) => !/\/(logs|tmp|cache)(\/|$)/.test(src.slice(stateDir.length)) });
  mkdirSync(join(out, 'home-running'), { recursive: true });
  cpSync(running, join(out, 'home-running', '.openclaw'), { recursive: true });
  rmSync(running, { recursive: true, force: true });
  writeFileSync(
    join(out, 'client.json'),
    JSON.stringify(
      {
        note: 'throw-away secrets of a fixture made by scripts/make-openclaw-fixture.mjs; nothing here belongs to anyone',
        openclaw: '2026.9.6',
        sharedToken: token,
        devices,
        cronList: safeJson(list.stdout),
      },
      null,
      2,
    ) + '\n',
  );
  for (const f of walk(out)) step(`  ${f.slice(out.length + 1)} ${statSync(f).size} bytes`);
  step(`written to ${out}`);
} catch (err) {
  process.stderr.write(`fixture: failed: ${err.stack ?? err}\n--- gateway output ---\n${gwLog.slice(-4000)}\n`);
  process.exitCode = 1;
  gw.kill('SIGTERM');
  await gwExit;
} finally {
  rmSync(home, { recursive: true, force: true });
}

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
    s.on('error', rej);
  });
}

async function waitReady() {
  for (let i = 0; i < 600; i++) {
    if (gw.exitCode !== null) throw new Error('the real gateway exited');
    try {
      const r = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (r.ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('the real gateway did not become ready in 150 s');
}

function cli(args) {
  return new Promise((res) => {
    execFile(clients.node, [clients.openclawCli, ...args], { env, timeout: 120_000 }, (err, stdout, stderr) => res({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
  });
}

/** One WebSocket connect: waits for the challenge, sends connect built from the nonce, resolves with the response. */
function connectOnce(build, headers) {
  return new Promise((res, rej) => {
    const ws = new WebSocket(url, { headers, perMessageDeflate: false });
    const timer = setTimeout(() => (ws.terminate(), rej(new Error('connect timed out'))), 30_000);
    ws.on('error', (e) => (clearTimeout(timer), rej(e)));
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString());
      if (f.type === 'event' && f.event === 'connect.challenge') ws.send(JSON.stringify({ type: 'req', id: 'c1', method: 'connect', params: build(f.payload.nonce) }));
      if (f.type === 'res' && f.id === 'c1') {
        clearTimeout(timer);
        ws.close();
        res(f);
      }
    });
  });
}

/** A device through the real approval flow; returns what the tests need to connect as it again. */
async function pairDevice(d) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  const id = createHash('sha256').update(raw).digest('hex');
  const client = { id: d.clientId, version: '2026.9.6', platform: d.platform, mode: d.clientMode, displayName: d.displayName, ...(d.deviceFamily ? { deviceFamily: d.deviceFamily } : {}) };
  const params = (nonce, auth) => {
    const signedAt = Date.now();
    const secret = auth.token ?? auth.deviceToken ?? '';
    const text = ['v3', id, client.id, client.mode, d.role, d.scopes.join(','), String(signedAt), secret, nonce, d.platform.toLowerCase(), (d.deviceFamily ?? '').toLowerCase()].join('|');
    const signature = sign(null, Buffer.from(text, 'utf8'), privateKey).toString('base64url');
    return { minProtocol: 4, maxProtocol: 4, client, role: d.role, scopes: d.scopes, auth, device: { id, publicKey: raw.toString('base64url'), signature, signedAt, nonce } };
  };
  // Through the trusted proxy, from a documentation address: the real gateway asks for approval.
  const remote = { 'x-forwarded-for': '203.0.113.7' };
  const first = await connectOnce((n) => params(n, { token }), remote);
  const requestId = first.error?.details?.requestId;
  if (first.ok || !requestId) throw new Error(`expected pairing required for ${d.displayName}, got ${JSON.stringify(first)}`);
  step(`${d.displayName}: pairing required, request ${requestId}`);
  const approved = await cli(['devices', 'approve', requestId, '--url', url, '--token', token, '--json']);
  if (approved.code !== 0) throw new Error(`devices approve failed: ${approved.stdout}${approved.stderr}`);
  step(`${d.displayName}: approved with the real CLI`);
  const hello = await connectOnce((n) => params(n, { token }), remote);
  const deviceToken = hello.payload?.auth?.deviceToken;
  if (!hello.ok || !deviceToken) throw new Error(`expected hello-ok with a device token, got ${JSON.stringify(hello)}`);
  const check = await connectOnce((n) => params(n, { deviceToken }), remote);
  if (!check.ok || check.payload?.auth?.method !== 'device-token') throw new Error(`device token refused by the real gateway: ${JSON.stringify(check)}`);
  step(`${d.displayName}: device token works on the real gateway`);
  return {
    displayName: d.displayName,
    deviceId: id,
    publicKey: raw.toString('base64url'),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    role: d.role,
    scopes: d.scopes,
    deviceToken,
    client: { id: client.id, mode: client.mode, platform: client.platform, ...(d.deviceFamily ? { deviceFamily: d.deviceFamily } : {}) },
  };
}
