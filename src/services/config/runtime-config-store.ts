import { existsSync } from 'node:fs';
import type { Logger } from '../../logging';
import type { Collection, StoreBackend } from '../../store/collection';
import { importLegacyRecords, readLegacyRecords } from '../../store/legacy-import';
import { parseConfig } from './config-schema';

/** Name of the runtime config collection. */
export const RUNTIME_CONFIG = 'runtime_config';

/** Id of the one record of the collection. */
export const RUNTIME_CONFIG_ID = 'current';

/** The runtime config as stored: what operators set (defaults are never written). */
export interface RuntimeConfigRecord {
  id: typeof RUNTIME_CONFIG_ID;
  settings: Record<string, unknown>;
}

/**
 * Checks a runtime config record read from storage: the settings must pass the same
 * validation as a patch, so a record edited by hand into something invalid stops the
 * gateway with STATE_CORRUPT naming the field (the backend adds where it was found).
 */
export function validateRuntimeConfig(raw: unknown): RuntimeConfigRecord {
  const r = raw as RuntimeConfigRecord;
  if (!r || typeof r !== 'object' || r.id !== RUNTIME_CONFIG_ID) throw new Error(`expected the one runtime config record, id "${RUNTIME_CONFIG_ID}"`);
  if (typeof r.settings !== 'object' || r.settings === null || Array.isArray(r.settings)) throw new Error('settings must be a JSON object');
  parseConfig(r.settings);
  return r;
}

/**
 * Opens the runtime config collection. With the files backend, the `config.json` of an
 * earlier release is imported once (then renamed `config.json.imported`); a database
 * never reads it (copy it with `migrate-store`), which is said in the log.
 */
export async function openRuntimeConfig(backend: StoreBackend, legacyJson?: string, log?: Logger): Promise<Collection<RuntimeConfigRecord>> {
  const legacy =
    backend.kind === 'files' && legacyJson
      ? readLegacyRecords(legacyJson, 'runtime config', (doc) => [validateRuntimeConfig({ id: RUNTIME_CONFIG_ID, settings: doc })])
      : undefined;
  const collection = await backend.collection(RUNTIME_CONFIG, validateRuntimeConfig);
  if (legacy && legacyJson) await importLegacyRecords(collection, legacyJson, legacy);
  if (backend.kind !== 'files' && legacyJson && existsSync(legacyJson)) {
    log?.warn({ file: legacyJson }, 'the runtime config kept in this state dir is not read with --database-url: copy it once with "openclaw-gateway migrate-store --to <url>"');
  }
  return collection;
}
