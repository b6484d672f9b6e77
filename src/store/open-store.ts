import { join } from 'node:path';
import type { Logger } from '../logging';
import type { StoreBackend } from './collection';
import { FilesBackend } from './journal-collection';

/** Where the gateway's state goes: the state dir (default), or a PostgreSQL database shared by replicas. */
export interface StoreLocation {
  stateDir: string;
  /** `postgres://...`; when set, records live in that database instead of the state dir. */
  databaseUrl?: string;
  log: Logger;
}

/** Opens the storage backend for a location (the PostgreSQL driver is loaded only when one is used). */
export async function openStore(at: StoreLocation): Promise<StoreBackend> {
  if (at.databaseUrl) {
    const { PostgresBackend } = await import('./postgres/postgres-backend');
    return PostgresBackend.open({ url: at.databaseUrl, log: at.log });
  }
  return new FilesBackend({ dir: join(at.stateDir, 'store'), log: at.log }); // = statePaths(stateDir).storeDir
}
