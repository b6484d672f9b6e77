/**
 * The devices collection (the journal `<state>/store/devices.journal`, or memory): the
 * `devices.json` of an earlier release is imported once when the collection is first
 * opened (a damaged one is reported, never touched), and a device transaction commits
 * all its changes or none.
 */
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../../src/clock';
import { ErrorCode, GatewayError } from '../../src/errors';
import { certIdentity, DeviceRegistry, loadOrCreateCa, statePaths } from '../../src/identity';
import { silentLogger } from '../../src/logging';
import { mutateAll, type Collection, type StoreBackend } from '../../src/store/collection';
import { openDevices, type DeviceRecord } from '../../src/store/device-store';
import { FilesBackend } from '../../src/store/journal-collection';
import { MemoryBackend } from '../../src/store/memory-backend';
import { fakeDevice, fakeDeviceId, openDevicesAt } from '../helpers/store-writer';
import { snapshotTree, useTmpDirs } from '../helpers/tmp';

const tmp = useTmpDirs('openclaw-devices-');

async function rejected(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error('expected a rejection, but the call succeeded');
  return err;
}

describe('devices.json of an earlier release', () => {
  /** The devices.json an earlier release wrote (one JSON document: {version: 1, devices: {id: record}}). */
  function writeOldDevicesJson(path: string, records: DeviceRecord[]): Buffer {
    const doc = { version: 1, devices: Object.fromEntries(records.map((r) => [r.id, r])) };
    writeFileSync(path, JSON.stringify(doc, null, 1) + '\n', { mode: 0o600 });
    return readFileSync(path);
  }

  /** What the journal holds, read without importing anything (no devices.json path given). */
  async function journalOnly(stateDir: string): Promise<DeviceRecord[]> {
    const backend = new FilesBackend({ dir: join(stateDir, 'store'), log: silentLogger() });
    const list = (await openDevices(backend)).list();
    await backend.close();
    return list;
  }

  const byId = (a: DeviceRecord, b: DeviceRecord) => a.id.localeCompare(b.id);

  it('is imported once: its devices keep working, the file becomes devices.json.imported, later opens do not import again', async () => {
    const stateDir = join(tmp(), 'state');
    const paths = statePaths(stateDir);
    const { ca } = loadOrCreateCa(paths, systemClock);
    // Devices as an earlier release registered them (one revoked; one written before previousSerials existed).
    const earlier = new DeviceRegistry({ store: await openDevices(new MemoryBackend()), ca, clock: systemClock, log: silentLogger() });
    const kept = await earlier.provision({ role: 'node', label: 'kept' });
    const gone = await earlier.provision({ role: 'operator', label: 'gone' });
    await earlier.revoke(gone.device.id, 'lost');
    const records = earlier.list({ includeRevoked: true });
    const oldest = structuredClone(records.find((d) => d.id === kept.device.id)!) as Partial<DeviceRecord>;
    delete oldest.previousSerials;
    const bytes = writeOldDevicesJson(paths.devices, [oldest as DeviceRecord, ...records.filter((d) => d.id !== kept.device.id)]);

    // First open (as the gateway and certs-tools open it): imported.
    const first = await openDevicesAt(stateDir);
    const registry = new DeviceRegistry({ store: first.devices, ca, clock: systemClock, log: silentLogger() });
    expect(registry.list({ includeRevoked: true }).sort(byId)).toEqual([...records].sort(byId));
    expect(registry.authenticate(certIdentity(kept.certPem)).id).toBe(kept.device.id);
    expect(() => registry.authenticate(certIdentity(gone.certPem))).toThrow(expect.objectContaining({ reason: 'DEVICE_REVOKED' }));
    expect(existsSync(paths.devices)).toBe(false);
    expect(readFileSync(`${paths.devices}.imported`)).toEqual(bytes);
    expect((await journalOnly(stateDir)).sort(byId)).toEqual([...records].sort(byId));
    // The devices change after the import.
    await registry.revoke(kept.device.id, 'retired');
    const current = registry.list({ includeRevoked: true }).sort(byId);
    await first.store.close();

    // Opened again: what the collection holds, not the old file.
    const second = await openDevicesAt(stateDir);
    expect(second.devices.list().sort(byId)).toEqual(current);
    await second.store.close();

    // Even with the old file put back (a restored backup, say), it is not imported over the devices there are now.
    copyFileSync(`${paths.devices}.imported`, paths.devices);
    const third = await openDevicesAt(stateDir);
    expect(third.devices.list().sort(byId)).toEqual(current);
    expect(third.devices.get(kept.device.id)!.status).toBe('revoked');
    await third.store.close();
    expect((await journalOnly(stateDir)).sort(byId)).toEqual(current);
  });

  /** Opening the devices next to `devicesJson` content that cannot be imported: STATE_CORRUPT naming the file, the state dir exactly as it was. */
  async function expectRefused(stateDir: string, content: string): Promise<void> {
    const paths = statePaths(stateDir);
    writeFileSync(paths.devices, content);
    const before = snapshotTree(stateDir);
    const err = await rejected(openDevicesAt(stateDir));
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe(ErrorCode.FailedPrecondition);
    expect((err as GatewayError).reason).toBe('STATE_CORRUPT');
    expect(err.message).toContain(paths.devices);
    expect(snapshotTree(stateDir)).toEqual(before);
    expect(existsSync(`${paths.devices}.imported`)).toBe(false);
  }

  it('a damaged devices.json -> FAILED_PRECONDITION STATE_CORRUPT naming it; nothing is created, imported or renamed', async () => {
    const stateDir = tmp();
    for (const damaged of ['{"version":1,"devices":{"abc":{"id":"abc",', '[]', '{"version":2,"devices":{}}']) await expectRefused(stateDir, damaged);
    expect(await journalOnly(stateDir)).toEqual([]);
  });

  it('a devices.json with one malformed record is refused as a whole, the same way', async () => {
    const stateDir = tmp();
    const good = fakeDevice('good');
    const malformed: DeviceRecord[] = [
      { ...fakeDevice('bad'), id: 'not-a-device-id' },
      { ...fakeDevice('bad'), scopes: 'all' as unknown as string[] },
      { ...fakeDevice('bad'), status: 'suspended' as DeviceRecord['status'] },
    ];
    for (const bad of malformed) {
      const doc = { version: 1, devices: { [good.id]: good, [bad.id]: bad } };
      await expectRefused(stateDir, JSON.stringify(doc, null, 1) + '\n');
    }
    expect(await journalOnly(stateDir)).toEqual([]);
  });
});

describe.each<[string, () => Promise<{ store: StoreBackend; devices: Collection<DeviceRecord>; reopen?: () => Promise<{ store: StoreBackend; devices: Collection<DeviceRecord> }> }>]>([
  [
    'journal in <state>/store',
    async () => {
      const stateDir = join(tmp(), 'state');
      return { ...(await openDevicesAt(stateDir)), reopen: () => openDevicesAt(stateDir) };
    },
  ],
  [
    'memory',
    async () => {
      const store = new MemoryBackend();
      return { store, devices: await openDevices(store) };
    },
  ],
])('devices collection (%s) transactions', (_name, make) => {
  it('commit all changes or none (changes made in place, then a throw, leave nothing behind)', async () => {
    const { store, devices, reopen } = await make();
    const [a, b, c] = ['a', 'b', 'c'].map((n) => fakeDevice(n));
    // mutateAll: how the registry writes.
    await mutateAll(devices, (d) => {
      d[a.id] = a;
      d[b.id] = b;
    });
    const ids = [a.id, b.id].sort();
    expect(devices.list().map((d) => d.id).sort()).toEqual(ids);
    await expect(
      mutateAll(devices, (d) => {
        d[c.id] = c;
        d[a.id].status = 'revoked';
        delete d[b.id];
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    expect(devices.list().map((d) => d.id).sort()).toEqual(ids);
    expect(devices.get(a.id)!.status).toBe('active');
    expect(devices.get(fakeDeviceId('c'))).toBeUndefined();
    await store.close();
    if (reopen) {
      const again = await reopen();
      expect(again.devices.list().sort((x, y) => x.id.localeCompare(y.id))).toEqual([a, b].sort((x, y) => x.id.localeCompare(y.id)));
      await again.store.close();
    }
  });
});
