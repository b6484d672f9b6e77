/**
 * The two storage backends service tests run on, each as replicas would use it: files
 * (a temp state dir; two processes on one dir) and PostgreSQL (a database of a real
 * server this helper starts; two replicas on one database). Opening the same place twice
 * gives two independent backends over the same state.
 *
 *   const stores = storeBackends();               // at file level
 *   beforeAll(() => stores.start()); afterAll(() => stores.stop());
 *   describe.each(stores.all)('... ($label)', (b) => { ... await b.open(await b.newPlace()) ... });
 */
import { silentLogger } from '../../src/logging';
import type { StoreBackend } from '../../src/store/collection';
import { openStore } from '../../src/store/open-store';
import { PostgresBackend } from '../../src/store/postgres/postgres-backend';
import { startPostgres, type TestPostgres } from './postgres';
import { makeTmpDir, removeTmpDir } from './tmp';

/** One backend under test. */
export interface BackendUnderTest {
  label: 'files' | 'PostgreSQL';
  /** A new, empty place: a state dir, or a database URL. */
  newPlace(): Promise<string>;
  /** A backend over `place`, as one gateway process (replica) opens it; closed by `stop`. */
  open(place: string): Promise<StoreBackend>;
}

/** Both backends, with the PostgreSQL server they need. */
export function storeBackends(): { all: BackendUnderTest[]; start(): Promise<void>; closeOpened(): Promise<void>; stop(): Promise<void> } {
  let pg: TestPostgres | undefined;
  const dirs: string[] = [];
  const opened: StoreBackend[] = [];
  const track = (b: StoreBackend) => {
    opened.push(b);
    return b;
  };
  const files: BackendUnderTest = {
    label: 'files',
    newPlace: async () => {
      const dir = makeTmpDir('svc-store-');
      dirs.push(dir);
      return dir;
    },
    open: async (dir) => track(await openStore({ stateDir: dir, log: silentLogger() })),
  };
  const postgres: BackendUnderTest = {
    label: 'PostgreSQL',
    newPlace: () => {
      if (!pg) throw new Error('storeBackends().start() was not awaited');
      return pg.createDatabase();
    },
    open: async (url) => track(await PostgresBackend.open({ url, log: silentLogger(), poolSize: 4 })),
  };
  const closeOpened = async () => {
    for (const b of opened.splice(0)) await b.close().catch(() => undefined);
  };
  return {
    all: [files, postgres],
    start: async () => {
      pg = await startPostgres();
    },
    // A file with many cases closes its backends after each one (every PostgreSQL backend holds a few server connections).
    closeOpened,
    stop: async () => {
      await closeOpened();
      await pg?.stop();
      for (const d of dirs.splice(0)) removeTmpDir(d);
    },
  };
}
