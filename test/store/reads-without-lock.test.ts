/**
 * Reads never take a collection's write lock, on both backends: `refresh()` brings a
 * copy up to what another opener committed while a writer holds the lock (another
 * replica's transaction, another process's journal lock), and so do the services that
 * must not answer from a copy a moment behind: the device registry's `sync()` and a
 * pairing watch of a request id this replica does not know (which anyone may send,
 * without a certificate).
 */
import lockfile from 'proper-lockfile';
import { join } from 'node:path';
import { Client } from 'pg';
import { ManualClock } from '../../src/clock';
import { silentLogger } from '../../src/logging';
import { CertificateAuthority, DeviceRegistry } from '../../src/identity';
import { RecordingPublisher } from '../../src/services/events/event-publisher';
import { BootstrapTokens, openTokens } from '../../src/services/pairing/bootstrap-tokens';
import { PairingService } from '../../src/services/pairing/pairing-service';
import { openPairingRequests, PAIRING_REQUESTS } from '../../src/services/pairing/pairing-requests';
import { RateLimiter } from '../../src/services/pairing/rate-limiter';
import { openDevices } from '../../src/store/device-store';
import type { StoreBackend } from '../../src/store/collection';
import { storeBackends, type BackendUnderTest } from '../helpers/store-backends';
import { validateItem } from './collection-contract';

const clock = new ManualClock(Date.now());
const made = CertificateAuthority.create('reads.local', clock.now());
const ca = new CertificateAuthority(made.certPem, made.keyPem, 'reads.local');
const WIDE = { capacity: 1000, perMinute: 1000 };

const stores = storeBackends();
beforeAll(() => stores.start(), 60_000);
afterAll(() => stores.stop());

/**
 * Holds a collection's write lock the way another writer would (PostgreSQL: a
 * transaction holding its row FOR UPDATE; files: the journal's lock); returns the release.
 */
async function holdWriteLock(b: BackendUnderTest, place: string, collection: string): Promise<() => Promise<void>> {
  if (b.label === 'PostgreSQL') {
    const c = new Client({ connectionString: place });
    await c.connect();
    await c.query('BEGIN');
    await c.query('INSERT INTO openclaw_collections (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [collection]);
    await c.query('SELECT version FROM openclaw_collections WHERE name = $1 FOR UPDATE', [collection]);
    return async () => {
      await c.query('ROLLBACK');
      await c.end();
    };
  }
  const journal = join(place, 'store', `${collection}.journal`);
  const release = await lockfile.lock(journal, { realpath: false, lockfilePath: `${journal}.lock`, stale: 20_000, update: 5_000 });
  return release;
}

/** `p`, or a rejection saying that it waited (for the lock) instead of reading. */
function withoutWaiting<T>(p: Promise<T>, what: string, ms = 3000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} waited for the write lock (still pending after ${ms} ms)`)), ms);
  });
  return Promise.race([p, waited]).finally(() => clearTimeout(timer));
}

describe.each(stores.all)('reads take no write lock ($label)', (b) => {
  let releases: (() => Promise<void>)[] = [];
  const stops: (() => void)[] = [];
  afterEach(async () => {
    for (const r of releases.splice(0)) await r();
    for (const s of stops.splice(0)) s();
  });

  test('refresh() takes in another opener\'s commit while a writer holds the lock', async () => {
    const place = await b.newPlace();
    const [one, two]: StoreBackend[] = [await b.open(place), await b.open(place)];
    const writer = await one.collection('items', validateItem);
    const reader = await two.collection('items', validateItem);
    await writer.mutate((tx) => tx.put({ id: 'a', n: 1 }));
    await writer.mutate((tx) => tx.put({ id: 'b', n: 2 }));
    releases.push(await holdWriteLock(b, place, 'items'));
    await withoutWaiting(reader.refresh(), 'refresh()');
    expect(reader.list().map((r) => r.id).sort()).toEqual(['a', 'b']);
  });

  test('DeviceRegistry.sync() and a pairing watch of an unknown request id answer while a writer holds the lock', async () => {
    const place = await b.newPlace();
    const store = await b.open(place);
    const registry = new DeviceRegistry({ store: await openDevices(store), ca, clock, log: silentLogger() });
    const pairing = new PairingService({
      registry,
      tokens: new BootstrapTokens(await openTokens(store), clock),
      requests: await openPairingRequests(store),
      clock,
      events: new RecordingPublisher(),
      log: silentLogger(),
      limits: () => ({ pendingTtlMs: 60_000, maxPending: 8 }),
      rateLimiter: new RateLimiter(clock, WIDE, WIDE),
    });
    stops.push(() => pairing.stop());
    // Another replica registers a device.
    const elsewhere = new DeviceRegistry({ store: await openDevices(await b.open(place)), ca, clock, log: silentLogger() });
    const issued = await elsewhere.provision({ role: 'operator', label: 'phone' });

    releases.push(await holdWriteLock(b, place, 'devices'));
    await withoutWaiting(registry.sync(), 'DeviceRegistry.sync()');
    expect(registry.get(issued.device.id)?.status).toBe('active');

    releases.push(await holdWriteLock(b, place, PAIRING_REQUESTS));
    const watch = pairing.watch('AAAAAAAAAAAAAAAA', 'not-a-secret', () => undefined);
    await expect(withoutWaiting(watch, 'watch()')).rejects.toMatchObject({ reason: 'PAIRING_REQUEST_NOT_FOUND' });
  });
});
