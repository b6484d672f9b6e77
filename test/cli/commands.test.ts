/**
 * openclaw-cli against a real gateway, as a user runs it: the built JS in a child
 * process with the gateway's local operator certificates. Status, presence, devices,
 * tokens, events, logs, call and the gateway's runtime config.
 */
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { useTmpDirs } from '../helpers/tmp';
import { cliFor, type CliRunner } from './cli-harness';

const tmp = useTmpDirs('openclaw-cli-');
let t: TestGateway;
let cli: CliRunner;

beforeAll(async () => {
  t = await startTestGateway();
  cli = cliFor(t, tmp());
});
afterAll(async () => {
  await t.close();
});

describe('health, status, presence, whoami', () => {
  test('health says the gateway serves and accepts the certificate', async () => {
    expect(await cli.ok('health')).toMatch(new RegExp(`^ok  gateway ${t.address} is SERVING \\(round trip \\d+ ms`));
    const h = await cli.json('health');
    expect(h).toMatchObject({ ok: true, gateway: t.address, serving: 'SERVING' });
    expect(typeof h.roundTripMs).toBe('number');
  });

  test('status shows the counters and who we are', async () => {
    const s = await cli.json('status');
    expect(s.gateway).toBe(t.address);
    expect(s.status).toMatchObject({ devicesActive: 3, devicesRevoked: 0, trustDomain: t.gw.trustDomain, caFingerprintSha256: t.gw.caFingerprint });
    expect(s.device).toMatchObject({ label: 'local-cli', role: 'operator', status: 'active' });
    const human = await cli.ok('status');
    expect(human).toContain(`CA:            SHA256:${t.gw.caFingerprint}`);
    expect(human).toMatch(/you: +local-cli \(operator/);
  });

  test('presence lists this CLI; whoami names its device', async () => {
    const p = await cli.json<{ entries: { label: string; transport: string }[] }>('presence');
    expect(p.entries).toEqual(expect.arrayContaining([expect.objectContaining({ label: 'local-cli', transport: 'grpc' })]));
    const me = await cli.json('whoami');
    expect(me.device).toMatchObject({ label: 'local-cli', role: 'operator', source: 'provisioned' });
    expect(await cli.ok('whoami')).toContain(`certs dir:    ${t.gw.identities.cli}`);
  });
});

describe('devices and tokens', () => {
  test('devices list shows the local identities; rename and revoke by name', async () => {
    const list = await cli.json<{ devices: { label: string; role: string }[]; pending: unknown[] }>('devices', 'list');
    expect(list.devices.map((d) => d.label).sort()).toEqual(['local-bridge', 'local-cli', 'local-worker']);
    expect(list.pending).toEqual([]);
    expect(await cli.ok('devices', 'list')).toMatch(/^DEVICE +NAME +ROLE +STATUS/);

    const victim = await t.gw.registry.provision({ role: 'operator', label: 'old-laptop' });
    const renamed = await cli.json('devices', 'rename', 'old-laptop', 'retired-laptop');
    expect(renamed.device).toMatchObject({ deviceId: victim.device.id, label: 'retired-laptop' });
    expect(await cli.ok('devices', 'revoke', 'retired-laptop', '--reason', 'lost')).toContain(`Revoked retired-laptop (operator, device ${victim.device.id})`);
    expect(t.gw.registry.get(victim.device.id)).toMatchObject({ status: 'revoked', revokeReason: 'lost' });
    const all = await cli.json<{ devices: { label: string; status: string }[] }>('devices', 'list', '--all');
    expect(all.devices).toEqual(expect.arrayContaining([expect.objectContaining({ label: 'retired-laptop', status: 'revoked' })]));
  });

  test('tokens create shows the secret once with a ready pair command; list and revoke', async () => {
    const human = await cli.ok('tokens', 'create', '--name', 'kiosk', '--ttl', '15m', '--uses', '2', '--scopes', 'operator.read');
    const token = /^token: +(\S+)$/m.exec(human)![1];
    expect(human).toContain(`openclaw-cli pair --gateway ${t.address} --ca-fingerprint SHA256:${t.gw.caFingerprint} --token ${token} --scopes operator.read --out <dir>`);
    const created = await cli.json('tokens', 'create', '--name', 'spare');
    expect(created.token).toEqual(expect.any(String));
    const list = await cli.json<{ tokens: { tokenId: string; label: string; usesLeft: number; scopes: string[]; revoked: boolean }[] }>('tokens', 'list');
    expect(list.tokens).toEqual(expect.arrayContaining([expect.objectContaining({ label: 'kiosk', usesLeft: 2, scopes: ['operator.read'], revoked: false })]));
    expect(JSON.stringify(list)).not.toContain(token);
    const revoked = await cli.json('tokens', 'revoke', created.info.tokenId);
    expect(revoked.token).toMatchObject({ tokenId: created.info.tokenId, revoked: true });
  });

  test('approving an unknown request fails with its reason and exit code 6', async () => {
    const r = await cli.fails('devices', 'approve', 'no-such-request');
    expect(r.code).toBe(6);
    expect(r.line).toContain('no pending pairing request no-such-request');
  });
});

describe('events, logs, call', () => {
  test('events follows the stream: subscription line first, then --count events', async () => {
    const events = cli.start('--json', 'events', '--types', 'cron', '--count', '1');
    const first = JSON.parse(await events.waitForLine((l) => l.includes('"subscribed"'))) as { type: string; seq: string; subscriptionId: string };
    expect(first).toMatchObject({ type: 'subscribed', seq: '0', subscriptionId: expect.any(String) });
    await cli.ok('cron', 'add', '--name', 'from-events-test', '--every', '1h', '--system-event', 'ping');
    const done = await events.exited;
    expect(done.code).toBe(0);
    const lines = done.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; seq: string; payloadJson: string });
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ type: 'cron', seq: '1' });
    expect(JSON.parse(lines[1].payloadJson)).toMatchObject({ action: 'added' });
  });

  test('events in human form prints one line per event', async () => {
    const events = cli.start('events', '--types', 'cron', '--count', '1');
    await events.waitForLine((l) => l.includes('subscribed (subscription '));
    await cli.ok('cron', 'add', '--name', 'from-events-human', '--every', '1h', '--system-event', 'ping');
    const done = await events.exited;
    expect(done.code).toBe(0);
    expect(done.stdout.trim().split('\n')[1]).toMatch(/^\d{4}-\d\d-\d\dT\S+Z {2}cron {2}\{"action":"added"/);
  });

  test('logs prints the recent gateway log lines and ends', async () => {
    const r = await cli.run('--json', 'logs', '--lines', '5');
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    for (const line of r.stdout.split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
  });

  test('call runs any unary method by short or full name and prints protobuf JSON', async () => {
    const status = JSON.parse(await cli.ok('call', 'GatewayService/GetStatus')) as Record<string, unknown>;
    expect(status).toMatchObject({ trustDomain: t.gw.trustDomain, devicesActive: expect.any(Number) });
    const pong = JSON.parse(await cli.ok('call', 'openclaw.gateway.v1.GatewayService/Ping', '{"payload":"aGk="}')) as Record<string, unknown>;
    expect(pong.payload).toBe('aGk=');
    const renamed = JSON.parse(await cli.ok('call', 'DeviceService.renameDevice', JSON.stringify({ deviceId: 'local-worker', label: 'local-worker' }))) as { device: { label: string } };
    expect(renamed.device.label).toBe('local-worker');
  });

  test('call streams server-streaming methods one object per line; lists methods without arguments', async () => {
    const out = await cli.ok('call', 'EventService/Subscribe', '{"types":["none"]}', '--count', '1');
    expect(JSON.parse(out.trim())).toMatchObject({ event: { type: 'subscribed' } });
    const list = await cli.json<{ methods: { method: string; kind: string }[] }>('call');
    expect(list.methods).toEqual(expect.arrayContaining([{ method: 'openclaw.cron.v1.CronService/ListJobs', kind: 'unary', input: 'openclaw.cron.v1.ListJobsRequest', output: 'openclaw.cron.v1.ListJobsResponse' }]));
  });

  test('call refuses unknown methods and requests that do not fit', async () => {
    expect((await cli.fails('call', 'NoService/Nope')).line).toContain('no service "NoService"');
    expect((await cli.fails('call', 'GatewayService/Nope')).line).toContain('has no method "Nope"');
    const bad = await cli.fails('call', 'GatewayService/GetStatus', '{"nope":1}');
    expect(bad.code).toBe(2);
    expect(bad.line).toContain('does not fit openclaw.gateway.v1.GetStatusRequest');
  });
});

describe('gateway-config', () => {
  test('get, get by path, patch (merge patch) and a refused patch', async () => {
    const before = await cli.json<{ config: { logging: { level: string } }; hash: string }>('gateway-config', 'get');
    expect(before.hash).toEqual(expect.any(String));
    expect(await cli.ok('gateway-config', 'get', 'logging.level')).toBe(`${before.config.logging.level}\n`);
    const after = await cli.json<{ config: { logging: { level: string } }; hash: string }>('gateway-config', 'patch', '{"logging":{"level":"warn"}}', '--base-hash', before.hash);
    expect(after.config.logging.level).toBe('warn');
    expect(after.hash).not.toBe(before.hash);
    const stale = await cli.fails('gateway-config', 'patch', '{"logging":{"level":"info"}}', '--base-hash', before.hash);
    expect(stale.code).not.toBe(0);
    expect((await cli.fails('gateway-config', 'patch', 'not json')).code).toBe(2);
    // Every key applies live, and the patch says so; null brings back the start level.
    expect(await cli.ok('gateway-config', 'patch', '{"logging":{"level":null}}')).toMatch(/^Updated the gateway config \(hash [0-9a-f]{64}\); it applies without a restart\n$/);
  });
});
