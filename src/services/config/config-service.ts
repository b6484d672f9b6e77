import { createHash } from 'node:crypto';
import { errors } from '../../errors';
import type { Logger } from '../../logging';
import { JsonFile } from '../../store/json-file';
import type { EventPublisher } from '../events/event-publisher';
import { parseConfig, type GatewayConfig } from './config-schema';
import { applyMergePatch, canonicalJson, changedPaths } from './json-merge-patch';

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

/** Called after a patch changed the config. */
export type ConfigListener = (next: ConfigSnapshot, previous: ConfigSnapshot) => void;

/** What the config service is built from. */
export interface ConfigServiceDeps {
  /** The JSON file holding what operators set (defaults are not written). */
  path: string;
  events: EventPublisher;
  logger: Logger;
}

/**
 * The gateway's runtime configuration: a JSON document of the settings operators
 * changed, read with defaults filled in and changed with JSON merge patches. Every
 * patch is validated as a whole before it is saved (atomically, under the state-file
 * lock), and `baseHash` gives optimistic concurrency: a patch written against a
 * config someone else has since changed is refused with `CONFIG_CHANGED`.
 */
export class ConfigService {
  private readonly file: JsonFile<Record<string, unknown>>;
  private readonly listeners = new Set<ConfigListener>();
  private cache?: { raw: Record<string, unknown>; snapshot: ConfigSnapshot };

  constructor(private readonly deps: ConfigServiceDeps) {
    this.file = new JsonFile<Record<string, unknown>>(deps.path, () => ({}), (raw) => {
      parseConfig(raw);
      return raw as Record<string, unknown>;
    });
  }

  /** The current config and its hash. A file broken by hand fails with FAILED_PRECONDITION `STATE_CORRUPT`. */
  get(): ConfigSnapshot {
    const raw = this.file.read();
    if (this.cache?.raw === raw) return this.cache.snapshot;
    const snapshot = snapshotOf(raw);
    this.cache = { raw, snapshot };
    return snapshot;
  }

  /**
   * Applies a JSON merge patch (null deletes, so the default applies again).
   * INVALID_ARGUMENT `INVALID_CONFIG` naming each bad field; FAILED_PRECONDITION
   * `CONFIG_CHANGED` if `baseHash` is given and is not the current hash.
   */
  patch(patch: unknown, baseHash?: string): ConfigSnapshot {
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
      throw errors.invalid('INVALID_CONFIG', '(root): patch must be a JSON object');
    }
    const { previous, next } = this.file.update((doc) => {
      const previous = snapshotOf(doc);
      if (baseHash && baseHash !== previous.hash) {
        throw errors.precondition('CONFIG_CHANGED', 'the config changed since it was read; get it again and reapply the patch', {
          currentHash: previous.hash,
        });
      }
      const merged = applyMergePatch(doc, patch) as Record<string, unknown>;
      const next = snapshotOf(merged);
      // JsonFile saves the object it handed out, so the merge result replaces its content.
      for (const k of Object.keys(doc)) delete doc[k];
      Object.assign(doc, merged);
      return { previous, next };
    });
    if (next.hash !== previous.hash) {
      const event: ConfigChangedEvent = { hash: next.hash, previousHash: previous.hash, changedPaths: changedPaths(previous.config, next.config) };
      this.deps.logger.info(event, 'config changed');
      this.deps.events.publish('config.changed', event);
      for (const l of [...this.listeners]) {
        try {
          l(next, previous);
        } catch (err) {
          this.deps.logger.error({ err: (err as Error).message }, 'config change listener failed');
        }
      }
    }
    return next;
  }

  /** Registers a listener for successful changes; returns the function that removes it. */
  onChange(listener: ConfigListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
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
