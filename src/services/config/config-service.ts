import { createHash } from 'node:crypto';
import { errors } from '../../errors';
import type { Logger } from '../../logging';
import type { Collection, StoreBackend } from '../../store/collection';
import type { EventPublisher } from '../events/event-publisher';
import { parseConfig, type GatewayConfig } from './config-schema';
import { applyMergePatch, canonicalJson, changedPaths } from './json-merge-patch';
import { openRuntimeConfig, RUNTIME_CONFIG_ID, type RuntimeConfigRecord } from './runtime-config-store';

/** The effective config (defaults filled in, frozen) and its hash. */
export interface ConfigSnapshot {
  config: Readonly<GatewayConfig>;
  /** sha256 hex of the canonical JSON of `config`; pass it back as `baseHash`. */
  hash: string;
}

/** Payload of `config.changed`. */
export interface ConfigChangedEvent {
  hash: string;
  previousHash: string;
  /** Dotted paths whose effective value changed, e.g. `pairing.pendingTtlSeconds`. */
  changedPaths: string[];
}

/** Called after the config changed (here or on another replica). */
export type ConfigListener = (next: ConfigSnapshot, previous: ConfigSnapshot) => void;

/** What the config service is built from. */
export interface ConfigServiceDeps {
  /** The `runtime_config` collection: one record holding what operators set (defaults are not written). */
  collection: Collection<RuntimeConfigRecord>;
  events: EventPublisher;
  logger: Logger;
}

/**
 * The gateway's runtime configuration: a JSON document of the settings operators
 * changed, read with defaults filled in and changed with JSON merge patches. It lives
 * in the store, so every replica reads the same config: `get` answers from the local
 * copy (never waits), `patch` validates the merged document as a whole and commits it
 * in one transaction, where `baseHash` is compared with the committed config (a patch
 * written against a config someone else has since changed, on any replica, is refused
 * with `CONFIG_CHANGED`). Listeners are called on every replica when the effective
 * config changes, whoever changed it.
 */
export class ConfigService {
  private readonly listeners = new Set<ConfigListener>();
  private readonly storedListeners = new Set<() => void>();
  private cache?: { key: string; snapshot: ConfigSnapshot };
  /** What listeners were last told (changes are announced against it). */
  private announced: ConfigSnapshot;
  private readonly unsubscribe: () => void;

  constructor(private readonly deps: ConfigServiceDeps) {
    this.announced = this.get();
    this.unsubscribe = deps.collection.subscribe(() => this.announce());
  }

  /**
   * Opens the config over a store; with the files backend, the `config.json` of an
   * earlier release (`legacyJson`) is imported once.
   */
  static async open(deps: { store: StoreBackend; legacyJson?: string; events: EventPublisher; logger: Logger }): Promise<ConfigService> {
    const collection = await openRuntimeConfig(deps.store, deps.legacyJson, deps.logger);
    return new ConfigService({ collection, events: deps.events, logger: deps.logger });
  }

  /** The current config and its hash, from the local copy. */
  get(): ConfigSnapshot {
    const settings = this.deps.collection.get(RUNTIME_CONFIG_ID)?.settings ?? {};
    const key = JSON.stringify(settings);
    if (this.cache?.key === key) return this.cache.snapshot;
    const snapshot = snapshotOf(settings);
    this.cache = { key, snapshot };
    return snapshot;
  }

  /**
   * Applies a JSON merge patch (null deletes, so the default applies again).
   * INVALID_ARGUMENT `INVALID_CONFIG` naming each bad field; FAILED_PRECONDITION
   * `CONFIG_CHANGED` if `baseHash` is given and is not the hash of the committed config.
   * Listeners (here) have been called when it resolves.
   */
  async patch(patch: unknown, baseHash?: string): Promise<ConfigSnapshot> {
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
      throw errors.invalid('INVALID_CONFIG', '(root): patch must be a JSON object');
    }
    const { next, event } = await this.deps.collection.mutate((tx) => {
      const settings = tx.get(RUNTIME_CONFIG_ID)?.settings ?? {};
      const previous = snapshotOf(settings);
      if (baseHash && baseHash !== previous.hash) {
        throw errors.precondition('CONFIG_CHANGED', 'the config changed since it was read; get it again and reapply the patch', {
          currentHash: previous.hash,
        });
      }
      const merged = applyMergePatch(settings, patch) as Record<string, unknown>;
      const next = snapshotOf(merged);
      if (JSON.stringify(merged) !== JSON.stringify(settings)) tx.put({ id: RUNTIME_CONFIG_ID, settings: merged });
      let event: ConfigChangedEvent | undefined;
      if (next.hash !== previous.hash) {
        // Announced once, with the change, by the replica that made it; listeners run everywhere.
        event = { hash: next.hash, previousHash: previous.hash, changedPaths: changedPaths(previous.config, next.config) };
        this.deps.events.stage(tx, 'config.changed', event);
      }
      return { next, event };
    });
    if (event) this.deps.logger.info(event, 'config changed');
    return next;
  }

  /**
   * What operators set at `path` (e.g. ['logging', 'level']), or undefined where the
   * default applies: for settings whose default is something given at start (a flag).
   */
  stored(path: readonly string[]): unknown {
    let v: unknown = this.deps.collection.get(RUNTIME_CONFIG_ID)?.settings;
    for (const k of path) v = typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>)[k] : undefined;
    return v;
  }

  /**
   * Registers a listener called whenever the stored settings change (here or on another
   * replica), also when the effective config does not (a setting written with its
   * default value); returns the function that removes it.
   */
  onStoredChange(listener: () => void): () => void {
    this.storedListeners.add(listener);
    return () => {
      this.storedListeners.delete(listener);
    };
  }

  /** Registers a listener for changes of the effective config; returns the function that removes it. */
  onChange(listener: ConfigListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Stops following changes (the collection is closed by the store's owner). */
  close(): void {
    this.unsubscribe();
  }

  /** Tells listeners when the committed config differs from what they were last told. */
  private announce(): void {
    for (const l of [...this.storedListeners]) {
      try {
        l();
      } catch (err) {
        this.deps.logger.error({ err: (err as Error).message }, 'config change listener failed');
      }
    }
    let next: ConfigSnapshot;
    try {
      next = this.get();
    } catch (err) {
      this.deps.logger.error({ err: (err as Error).message }, 'the stored runtime config cannot be read; keeping the previous one');
      return;
    }
    const previous = this.announced;
    if (next.hash === previous.hash) return;
    this.announced = next;
    for (const l of [...this.listeners]) {
      try {
        l(next, previous);
      } catch (err) {
        this.deps.logger.error({ err: (err as Error).message }, 'config change listener failed');
      }
    }
  }
}

function snapshotOf(raw: unknown): ConfigSnapshot {
  const config = parseConfig(raw);
  return { config: deepFreeze(config), hash: createHash('sha256').update(canonicalJson(config)).digest('hex') };
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}
