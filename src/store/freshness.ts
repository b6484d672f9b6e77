import { errors, type GatewayError } from '../errors';

/**
 * How current a backend's local copies are known to be. Reads come from a local copy
 * (collection.ts); a backend whose copies follow a remote store (PostgreSQL) confirms
 * them current on every heartbeat, and one cut off from its store stops confirming.
 * A backend that reads its own source on every look (files) is never stale and does not
 * report this.
 */
export interface StoreFreshness {
  /** Whether the copies were confirmed current within the bound (`STALE_AFTER_MS`). */
  current: boolean;
  /** Milliseconds since they last were. */
  sinceMs: number;
}

/**
 * How long a copy may go without being confirmed current before the gateway stops
 * deciding anything from it: three heartbeats of the PostgreSQL backend (one a second),
 * so one slow or lost heartbeat is not enough.
 */
export const STALE_AFTER_MS = 3000;

/** UNAVAILABLE `STORE_STALE`: what a call decided from a stale copy gets instead. */
export function staleStoreError(f: StoreFreshness): GatewayError {
  return errors.unavailable(
    'STORE_STALE',
    `this gateway replica has not reached its database for ${Math.round(f.sinceMs / 100) / 10} s, so its copy of the device registry may be out of date; it refuses authenticated calls until it is current again (try again: another replica may answer)`,
  );
}

/** STORE_STALE when `store` reports its copies stale, else undefined (a backend that reports nothing is never stale). */
export function staleness(store: { freshness?(): StoreFreshness }): GatewayError | undefined {
  const f = store.freshness?.();
  return f && !f.current ? staleStoreError(f) : undefined;
}
