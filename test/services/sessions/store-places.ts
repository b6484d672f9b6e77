/**
 * The two storage backends the session tests run on, as "places": a fresh folder (files
 * journal) or a fresh database on a real PostgreSQL server this file's caller started.
 * Opening a place twice gives two backends that share it, as two gateway processes
 * (replicas) would.
 */
import { silentLogger } from '../../../src/logging';
import type { StoreBackend } from '../../../src/store/collection';
import { FilesBackend } from '../../../src/store/journal-collection';
import { PostgresBackend } from '../../../src/store/postgres/postgres-backend';
import { startPostgres, type TestPostgres } from '../../helpers/postgres';
import { makeTmpDir, removeTmpDir } from '../../helpers/tmp';

/** A backend kind the tests run on. */
export interface StorePlaces {
  label: 'files' | 'PostgreSQL';
  /** A new, empty place. */
  newPlace(): Promise<string>;
  /** A backend over a place (closed by `closeAll`). */
  open(place: string): Promise<StoreBackend>;
  /** Closes every backend opened and removes the folders made. */
  closeAll(): Promise<void>;
}

/** Files journals, one temp folder per place. */
export function filePlaces(): StorePlaces {
  const dirs: string[] = [];
  const opened: StoreBackend[] = [];
  return {
    label: 'files',
    newPlace: async () => {
      const d = makeTmpDir('sessions-store-');
      dirs.push(d);
      return d;
    },
    open: async (dir) => {
      const b = new FilesBackend({ dir, log: silentLogger() });
      opened.push(b);
      return b;
    },
    closeAll: async () => {
      for (const b of opened.splice(0)) await b.close();
      for (const d of dirs.splice(0)) removeTmpDir(d);
    },
  };
}

/** PostgreSQL, one new database per place on the server `pg()` returns. */
export function postgresPlaces(pg: () => TestPostgres): StorePlaces {
  const opened: StoreBackend[] = [];
  return {
    label: 'PostgreSQL',
    newPlace: () => pg().createDatabase(),
    open: async (url) => {
      const b = await PostgresBackend.open({ url, log: silentLogger(), poolSize: 3 });
      opened.push(b);
      return b;
    },
    closeAll: async () => {
      for (const b of opened.splice(0)) await b.close();
    },
  };
}

/**
 * For a test file that runs on both backends: starts its PostgreSQL server before its
 * tests (stopped after them) and returns the `describe.each` table of both kinds.
 */
export function bothBackends(): [string, () => StorePlaces][] {
  let pg: TestPostgres;
  beforeAll(async () => {
    pg = await startPostgres();
  });
  afterAll(async () => {
    await pg?.stop();
  });
  return [
    ['files', filePlaces],
    ['PostgreSQL', () => postgresPlaces(() => pg)],
  ];
}
