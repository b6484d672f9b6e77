/**
 * `openclaw-gateway import-openclaw` on the state of a real OpenClaw 2026.9.6 gateway
 * (devices paired through its approval flow, cron jobs added with its CLI), on both
 * storage backends: the imported devices reconnect through our bridge with their device
 * token alone and get their scopes, the shared token keeps working, the jobs are listed;
 * a dry run writes nothing; a failure midway leaves the state as it was; importing twice
 * changes nothing; the source is never written.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importOpenclaw, type ImportStep } from '../../src/import/openclaw/import-openclaw';
import { silentLogger } from '../../src/logging';
import { openStore } from '../../src/store/open-store';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { startPostgres, type TestPostgres } from '../helpers/postgres';
import { snapshotTree, useTmpDirs } from '../helpers/tmp';
import { closeAllClients, connectParams, LegacyClient, signDevice, type Frame } from '../bridge/legacy-client';
import { copyOpenclawState, deviceOf, fixtureClient, type FixtureDevice } from './openclaw-fixture';

const tmp = useTmpDirs('import-openclaw-');
let pg: TestPostgres;
beforeAll(async () => {
  pg = await startPostgres();
}, 120_000);
afterAll(async () => {
  await closeAllClients();
  await pg?.stop();
});

const fx = fixtureClient();
const laptop = fx.devices.find((d) => d.displayName === 'fixture-laptop')!;
const phone = fx.devices.find((d) => d.displayName === 'fixture-phone')!;
const node = fx.devices.find((d) => d.displayName === 'fixture-node')!;
const IMPORTED_JOBS = ['morning-brief', 'water-plants', 'dentist', 'paused-report', 'stretch'];

type Target = { stateDir: string; databaseUrl?: string };
const backends: { label: string; target: () => Promise<Target> }[] = [
  { label: 'files', target: async () => ({ stateDir: tmp() }) },
  { label: 'PostgreSQL', target: async () => ({ stateDir: tmp(), databaseUrl: await pg.createDatabase() }) },
];

/** Every record of the collections an import writes, and the shared token file. */
async function stateOf(t: Target): Promise<Record<string, unknown>> {
  const tokenFile = join(t.stateDir, 'legacy-token');
  const out: Record<string, unknown> = { token: existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8') : null };
  const store = await openStore({ stateDir: t.stateDir, databaseUrl: t.databaseUrl, log: silentLogger() });
  try {
    for (const name of ['devices', 'cron', 'runtime_config']) {
      const c = await store.collection(name, (r) => r as { id: string });
      out[name] = c.list().sort((a, b) => a.id.localeCompare(b.id));
    }
  } finally {
    await store.close();
  }
  return out;
}

/** Connects a recorded device through the bridge, signed, with these credentials. */
async function connectDevice(t: TestGateway, d: FixtureDevice, auth: Record<string, string>, scopes = d.scopes): Promise<{ client: LegacyClient; hello: Frame }> {
  const client = await LegacyClient.open(t.gw.bridgeUrl!);
  const nonce = await client.challenge();
  const params = connectParams({ client: { version: '2026.9.6', ...d.client }, role: d.role, scopes, auth });
  const hello = await client.request('connect', signDevice(params, deviceOf(d), nonce));
  return { client, hello };
}

describe.each(backends)('import-openclaw ($label)', ({ target }) => {
  test('import, start: the paired devices reconnect with their device token alone and get their scopes; the shared token works; the jobs are listed; a second import changes nothing', async () => {
    const t = await target();
    const from = copyOpenclawState(tmp());
    const sourceBefore = snapshotTree(from);

    const report = await importOpenclaw({ from, ...t, log: silentLogger() });
    expect(report.dryRun).toBe(false);
    expect(report.source).toMatchObject({ openclawVersion: '2026.9.6', schemaVersion: 18 });
    const outcome = (kind: string, name: string) => report.items.find((i) => i.kind === kind && i.source.includes(name))?.outcome;
    expect(outcome('device', laptop.deviceId)).toBe('imported');
    expect(outcome('device', phone.deviceId)).toBe('imported');
    expect(outcome('device', node.deviceId)).toBe('imported');
    for (const job of IMPORTED_JOBS) expect(outcome('cron-job', job)).toBe('imported');
    // A command job and OpenClaw's own maintenance jobs have no equivalent: skipped, with why.
    expect(report.items.find((i) => i.source.startsWith('disk-check'))).toMatchObject({ outcome: 'skipped', reason: expect.stringContaining('payload kind "command"') });
    expect(report.items.find((i) => i.source.startsWith('heartbeat-main'))).toMatchObject({ outcome: 'skipped', reason: expect.stringContaining('kept up by OpenClaw itself') });
    expect(outcome('shared-token', 'gateway.auth.token')).toBe('imported');
    expect(outcome('provider', 'openai')).toBe('imported');
    expect(outcome('agent', 'research')).toBe('imported');
    expect(snapshotTree(from)).toEqual(sourceBefore);

    // No clear device token in our records: only what verification needs.
    const stored = JSON.stringify((await stateOf(t)).devices);
    expect(stored).toContain(laptop.deviceId);
    expect(stored).not.toContain(laptop.deviceToken);
    expect(stored).not.toContain(phone.deviceToken);

    const gw = await startTestGateway({ stateDir: t.stateDir, databaseUrl: t.databaseUrl, bridge: true });
    try {
      // The device token alone (no shared token): no pairing prompt, its approved scopes.
      const a = await connectDevice(gw, laptop, { deviceToken: laptop.deviceToken });
      expect(a.hello).toMatchObject({ ok: true, payload: { auth: { method: 'device-token', role: 'operator' } } });
      expect([...a.hello.payload.auth.scopes].sort()).toEqual(['operator.read', 'operator.write']);
      // The same token is handed back: clients that store it keep a working one.
      expect(a.hello.payload.auth.deviceToken).toBe(laptop.deviceToken);
      const jobs = await a.client.request('cron.list', { includeDisabled: true });
      expect(jobs.ok).toBe(true);
      const listed = (jobs.payload.jobs as { name: string; enabled: boolean; schedule: Record<string, unknown> }[]).map((j) => j.name).sort();
      expect(listed).toEqual([...IMPORTED_JOBS].sort());
      const brief = jobs.payload.jobs.find((j: { name: string }) => j.name === 'morning-brief');
      expect(brief.schedule).toMatchObject({ kind: 'cron', expr: '0 7 * * 1-5', tz: 'Europe/Berlin' });
      expect(jobs.payload.jobs.find((j: { name: string }) => j.name === 'paused-report').enabled).toBe(false);
      expect(jobs.payload.jobs.find((j: { name: string }) => j.name === 'dentist').schedule).toMatchObject({ kind: 'at' });
      expect(jobs.payload.jobs.find((j: { name: string }) => j.name === 'water-plants').schedule).toMatchObject({ kind: 'every', everyMs: 7_200_000 });
      expect(jobs.payload.jobs.find((j: { name: string }) => j.name === 'stretch').payload).toMatchObject({ kind: 'systemEvent', text: 'Time to stretch' });
      await a.client.close();

      // The token as auth.token (what openclaw-node sends once it has one) works too, again.
      const again = await connectDevice(gw, laptop, { token: laptop.deviceToken });
      expect(again.hello).toMatchObject({ ok: true, payload: { auth: { method: 'device-token', deviceToken: laptop.deviceToken } } });
      await again.client.close();

      const p = await connectDevice(gw, phone, { deviceToken: phone.deviceToken });
      expect(p.hello).toMatchObject({ ok: true, payload: { auth: { method: 'device-token', scopes: ['operator.read'] } } });
      await p.client.close();

      // A node host, in its role.
      const n = await connectDevice(gw, node, { deviceToken: node.deviceToken });
      expect(n.hello).toMatchObject({ ok: true, payload: { auth: { method: 'device-token', role: 'node', deviceToken: node.deviceToken } } });
      await n.client.close();
      const asOperator = await connectDevice(gw, { ...node, role: 'operator' }, { deviceToken: node.deviceToken }, ['operator.read']);
      expect(asOperator.hello.ok).toBe(false);

      // Not beyond what was approved, not another device's token, not without a device.
      const more = await connectDevice(gw, phone, { deviceToken: phone.deviceToken }, ['operator.read', 'operator.write']);
      expect(more.hello.ok).toBe(false);
      const crossed = await connectDevice(gw, phone, { deviceToken: laptop.deviceToken });
      expect(crossed.hello).toMatchObject({ ok: false, error: { details: { code: 'AUTH_DEVICE_TOKEN_MISMATCH' } } });
      const bare = await LegacyClient.open(gw.gw.bridgeUrl!);
      await bare.challenge();
      const bareHello = await bare.request('connect', connectParams({ auth: { deviceToken: laptop.deviceToken } }));
      expect(bareHello.ok).toBe(false);

      // The shared token of the OpenClaw install is this gateway's now.
      const tok = await LegacyClient.open(gw.gw.bridgeUrl!);
      await tok.challenge();
      expect(await tok.request('connect', connectParams({ auth: { token: fx.sharedToken } }))).toMatchObject({ ok: true, payload: { auth: { method: 'token' } } });
      await tok.close();
      const wrong = await LegacyClient.open(gw.gw.bridgeUrl!);
      await wrong.challenge();
      expect((await wrong.request('connect', connectParams({ auth: { token: `${fx.sharedToken}x` } }))).ok).toBe(false);
      await closeAllClients();
    } finally {
      await gw.close();
    }

    // Importing again (after the devices connected here) changes nothing.
    const before = await stateOf(t);
    const second = await importOpenclaw({ from, ...t, log: silentLogger() });
    expect(second.counts.imported).toBe(0);
    expect(second.items.filter((i) => i.kind === 'device').map((i) => i.outcome)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    expect(await stateOf(t)).toEqual(before);
    expect(snapshotTree(from)).toEqual(sourceBefore);
  }, 120_000);

  test('a dry run reports what an import would do and writes nothing', async () => {
    const t = await target();
    const from = copyOpenclawState(tmp());
    const stateBefore = await stateOf(t);
    const treeBefore = snapshotTree(t.stateDir);
    const dry = await importOpenclaw({ from, ...t, dryRun: true, log: silentLogger() });
    expect(dry.dryRun).toBe(true);
    expect(snapshotTree(t.stateDir)).toEqual(treeBefore);
    expect(await stateOf(t)).toEqual(stateBefore);
    // The same decisions as the import that follows.
    const real = await importOpenclaw({ from, ...t, log: silentLogger() });
    expect(dry.items.map((i) => [i.source, i.outcome])).toEqual(real.items.map((i) => [i.source, i.outcome]));
    expect(dry.counts.imported).toBeGreaterThan(0);
  }, 60_000);

  test.each<ImportStep>(['cron', 'runtime-config', 'shared-token'])('a failure before the %s step leaves the state as it was (all or nothing)', async (step) => {
    const t = await target();
    // A gateway state with something in it already: a token, a device's worth of config.
    writeFileSync(join(t.stateDir, 'legacy-token'), 'previous-token\n', { mode: 0o600 });
    const seed = await openStore({ stateDir: t.stateDir, databaseUrl: t.databaseUrl, log: silentLogger() });
    const cfg = await seed.collection('runtime_config', (r) => r as { id: string; settings: unknown });
    await cfg.mutate((tx) => tx.put({ id: 'current', settings: { logging: { level: 'debug' } } }));
    await seed.close();
    const before = await stateOf(t);
    const from = copyOpenclawState(tmp());
    const sourceBefore = snapshotTree(from);
    await expect(
      importOpenclaw({
        from,
        ...t,
        log: silentLogger(),
        beforeStep: (s) => {
          if (s === step) throw new Error(`injected failure before ${s}`);
        },
      }),
    ).rejects.toThrow(`injected failure before ${step}`);
    expect(await stateOf(t)).toEqual(before);
    expect(snapshotTree(from)).toEqual(sourceBefore);
    // And the import then goes through whole.
    const ok = await importOpenclaw({ from, ...t, log: silentLogger() });
    expect(ok.counts.imported).toBeGreaterThan(0);
    expect(readFileSync(join(t.stateDir, 'legacy-token'), 'utf8').trim()).toBe(fx.sharedToken);
  }, 60_000);
});
