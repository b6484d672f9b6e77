/**
 * ConfigService on the storage contract, on both backends (files, and a real PostgreSQL
 * server this file starts): defaults, merge patches, validation messages naming the
 * field, optimistic concurrency checked on the committed config, a second replica (a
 * second backend over the same place) seeing and applying changes, a hand-broken record
 * refused as STATE_CORRUPT, and the one-time import of an earlier release's config.json.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { silentLogger } from '../../../src/logging';
import { RecordingPublisher } from '../../../src/services/events/event-publisher';
import { ConfigService, type ConfigSnapshot } from '../../../src/services/config/config-service';
import { defaultConfig, parseConfig } from '../../../src/services/config/config-schema';
import { applyMergePatch, canonicalJson, changedPaths } from '../../../src/services/config/json-merge-patch';
import { RUNTIME_CONFIG, RUNTIME_CONFIG_ID } from '../../../src/services/config/runtime-config-store';
import { capturingLogger, caught, makeTempDir, removeTempDir } from '../helpers';
import { storeBackends } from '../../helpers/store-backends';
import { eventually } from '../../helpers/eventually';

const stores = storeBackends();
beforeAll(() => stores.start(), 60_000);
afterAll(() => stores.stop());

describe.each(stores.all)('ConfigService ($label)', (b) => {
  let place: string;
  let events: RecordingPublisher;
  const opened: ConfigService[] = [];
  /** A config service as one replica opens it (its own backend over the shared place). */
  const make = async (publisher = events, legacyJson?: string, logger = silentLogger()) => {
    const svc = await ConfigService.open({ store: await b.open(place), legacyJson, events: publisher, logger });
    opened.push(svc);
    return svc;
  };

  beforeEach(async () => {
    place = await b.newPlace();
    events = new RecordingPublisher();
  });
  afterEach(() => {
    for (const s of opened.splice(0)) s.close();
  });

  it('returns the defaults and their hash without writing anything', async () => {
    const svc = await make();
    const { config, hash } = svc.get();
    expect(config).toEqual({
      agents: { default: 'main', list: [{ id: 'main', name: 'Main', provider: 'builtin', model: 'builtin-echo' }] },
      providers: {},
      pairing: { pendingTtlSeconds: 300, maxPending: 64 },
      certs: { clientLifetimeDays: 14, renewAfterExpiryDays: 7 },
      bridge: { tokenOnlyScopes: ['operator.read'], controlUi: { allowedOrigins: [] } },
      cron: { enabled: true },
      logging: { level: 'info' },
    });
    expect(hash).toBe(createHash('sha256').update(canonicalJson(config)).digest('hex'));
    expect((await (await b.open(place)).collection(RUNTIME_CONFIG, (r) => r as { id: string })).list()).toEqual([]);
    expect(Object.isFrozen(config.pairing)).toBe(true);
  });

  it('applies a valid patch, stores only what was set, publishes config.changed and tells listeners', async () => {
    const svc = await make();
    const before = svc.get();
    const seen: [ConfigSnapshot, ConfigSnapshot][] = [];
    const off = svc.onChange((next, prev) => seen.push([next, prev]));

    const after = await svc.patch({ pairing: { pendingTtlSeconds: 600 }, logging: { level: 'debug' } }, before.hash);
    expect(after.config.pairing).toEqual({ pendingTtlSeconds: 600, maxPending: 64 });
    expect(after.config.logging.level).toBe('debug');
    expect(after.hash).not.toBe(before.hash);
    const stored = (await b.open(place)).collection(RUNTIME_CONFIG, (r) => r as { id: string; settings: unknown });
    expect((await stored).get(RUNTIME_CONFIG_ID)).toEqual({ id: RUNTIME_CONFIG_ID, settings: { pairing: { pendingTtlSeconds: 600 }, logging: { level: 'debug' } } });
    expect((await make()).get()).toEqual(after);

    expect(events.events).toEqual([
      { type: 'config.changed', payload: { hash: after.hash, previousHash: before.hash, changedPaths: ['logging.level', 'pairing.pendingTtlSeconds'] } },
    ]);
    // Listeners have been told by the time patch resolves.
    expect(seen).toEqual([[after, before]]);
    off();
    await svc.patch({ cron: { enabled: false } });
    expect(seen).toHaveLength(1);
  });

  it('deletes with null, so the default applies again', async () => {
    const svc = await make();
    const original = svc.get().hash;
    await svc.patch({ certs: { clientLifetimeDays: 30 }, bridge: { tokenOnlyScopes: ['operator.read', 'operator.write'] } });
    await svc.patch({ certs: { clientLifetimeDays: null } });
    expect(svc.get().config.certs.clientLifetimeDays).toBe(14);
    await svc.patch({ bridge: null, certs: null });
    expect(svc.get().hash).toBe(original);
  });

  it('replaces arrays as a whole', async () => {
    const svc = await make();
    await svc.patch({ bridge: { tokenOnlyScopes: ['operator.read', 'operator.talk'] } });
    await svc.patch({ bridge: { tokenOnlyScopes: ['operator.talk'] } });
    expect(svc.get().config.bridge.tokenOnlyScopes).toEqual(['operator.talk']);
  });

  it.each<[string, unknown, string]>([
    ['an out-of-range integer', { pairing: { pendingTtlSeconds: 10 } }, 'pairing.pendingTtlSeconds: must be an integer from 30 to 86400'],
    ['a fraction', { pairing: { maxPending: 2.5 } }, 'pairing.maxPending: must be an integer from 1 to 1000'],
    ['a string for a number', { certs: { clientLifetimeDays: '14' } }, 'certs.clientLifetimeDays: must be an integer from 1 to 365'],
    ['an unknown key', { pairing: { ttl: 60 } }, 'pairing.ttl: unknown key'],
    ['an unknown section', { plugins: {} }, 'plugins: unknown key'],
    ['a wrong boolean', { cron: { enabled: 'yes' } }, 'cron.enabled: must be true or false'],
    ['an unknown log level', { logging: { level: 'loud' } }, 'logging.level: must be one of trace, debug, info, warn, error'],
    ['a section that is not an object', { pairing: 5 }, 'pairing: must be an object'],
    ['an unknown scope', { bridge: { tokenOnlyScopes: ['operator.read', 'root'] } }, 'bridge.tokenOnlyScopes[1]: must be one of operator.read'],
    ['a repeated scope', { bridge: { tokenOnlyScopes: ['operator.read', 'operator.read'] } }, 'bridge.tokenOnlyScopes: must not repeat a scope'],
    ['a browser origin with a path', { bridge: { controlUi: { allowedOrigins: ['https://ui.example/app'] } } }, 'bridge.controlUi.allowedOrigins[0]: must be a browser origin'],
    ['a browser origin in upper case', { bridge: { controlUi: { allowedOrigins: ['https://UI.example'] } } }, 'bridge.controlUi.allowedOrigins[0]: must be a browser origin'],
    ['a browser origin that is not http(s)', { bridge: { controlUi: { allowedOrigins: ['file:///tmp'] } } }, 'bridge.controlUi.allowedOrigins[0]: must be a browser origin'],
    ['a bad provider URL', { providers: { openai: { baseUrl: 'localhost:11434' } } }, 'providers.openai.baseUrl: must be an http(s) URL'],
    ['a URL with credentials', { providers: { openai: { baseUrl: 'https://u:p@api.example/v1' } } }, 'providers.openai.baseUrl: must be an http(s) URL without credentials'],
    ['a bad env var name', { providers: { openai: { apiKeyEnv: 'MY-KEY' } } }, 'providers.openai.apiKeyEnv: must be an environment variable name'],
    ['a timeout out of range', { providers: { openai: { timeoutMs: 10 } } }, 'providers.openai.timeoutMs: must be an integer from 1000 to 600000'],
    ['an agent without provider', { agents: { list: [{ id: 'main' }] } }, 'agents.list[0].provider: is required (one of builtin, openai)'],
    ['an agent with a bad id', { agents: { list: [{ id: 'a b', provider: 'builtin' }] } }, 'agents.list[0].id: must be letters, digits'],
    ['an openai agent without the openai section', { agents: { list: [{ id: 'main', provider: 'openai' }] } }, 'agents.list[0].provider: "openai" needs the providers.openai section'],
    ['duplicate agent ids', { agents: { list: [{ id: 'main', provider: 'builtin' }, { id: 'main', provider: 'builtin' }] } }, 'agents.list[1].id: duplicate agent id "main"'],
    ['a default agent not in the list', { agents: { default: 'ops' } }, 'agents.default: must be the id of an agent in agents.list (got "ops")'],
    ['an empty agent list', { agents: { list: [] } }, 'agents.list: must list at least one agent'],
    ['a patch that is not an object', ['pairing'], '(root): patch must be a JSON object'],
    ['a null patch', null, '(root): patch must be a JSON object'],
  ])('refuses %s with INVALID_CONFIG naming the field, changing nothing', async (_name, patch, message) => {
    const svc = await make();
    await svc.patch({ cron: { enabled: false } });
    const before = svc.get();
    events.events.length = 0;
    const err = await caught(() => svc.patch(patch));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.reason).toBe('INVALID_CONFIG');
    expect(err.message).toContain(message);
    expect((await make()).get()).toEqual(before);
    expect(events.events).toEqual([]);
  });

  it('lists every problem of a patch at once', async () => {
    const err = await caught(async () => (await make()).patch({ pairing: { pendingTtlSeconds: 1, maxPending: 0 }, nope: true }));
    expect(err.message).toBe(
      'nope: unknown key; pairing.pendingTtlSeconds: must be an integer from 30 to 86400; pairing.maxPending: must be an integer from 1 to 1000',
    );
    expect(err.details.issues).toHaveLength(3);
  });

  it('refuses a patch based on a stale hash with CONFIG_CHANGED, even before the change reached this replica', async () => {
    const a = await make();
    const b2 = await make();
    const base = a.get().hash;
    await b2.patch({ pairing: { maxPending: 10 } }, base);
    // Checked on the committed config, not on this replica's copy (which may not know yet).
    const err = await caught(() => a.patch({ pairing: { maxPending: 20 } }, base));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(err.reason).toBe('CONFIG_CHANGED');
    expect(err.details.currentHash).toBe(b2.get().hash);
    expect(a.get().config.pairing.maxPending).toBe(10);
    // With the fresh hash it goes through.
    expect((await a.patch({ pairing: { maxPending: 20 } }, a.get().hash)).config.pairing.maxPending).toBe(20);
  });

  it('two replicas patching the same base at once: one wins, the other gets CONFIG_CHANGED', async () => {
    const a = await make();
    const b2 = await make();
    const base = a.get().hash;
    const results = await Promise.allSettled([a.patch({ pairing: { maxPending: 11 } }, base), b2.patch({ pairing: { maxPending: 22 } }, base)]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected').map((r) => ((r as PromiseRejectedResult).reason as { reason: string }).reason);
    expect({ won: won.length, lost }).toEqual({ won: 1, lost: ['CONFIG_CHANGED'] });
    const winner = (won[0] as PromiseFulfilledResult<ConfigSnapshot>).value;
    await eventually('both replicas hold the winning config', () => a.get().hash === winner.hash && b2.get().hash === winner.hash);
  });

  it('a change made on another replica reaches get() and the listeners here; config.changed is published once, where it was made', async () => {
    const here = new RecordingPublisher();
    const there = new RecordingPublisher();
    const a = await make(here);
    const b2 = await make(there);
    const seen: [boolean, boolean][] = [];
    a.onChange((next, prev) => seen.push([next.config.cron.enabled, prev.config.cron.enabled]));
    await b2.patch({ cron: { enabled: false } });
    await eventually('the listener on the other replica was called', () => seen.length > 0);
    expect(seen).toEqual([[false, true]]);
    expect(a.get().config.cron.enabled).toBe(false);
    expect(there.events.map((e) => e.type)).toEqual(['config.changed']);
    expect(here.events).toEqual([]);
  });

  it('publishes nothing for a patch that changes nothing', async () => {
    const svc = await make();
    await svc.patch({ pairing: { pendingTtlSeconds: 300 } });
    await svc.patch({});
    expect(events.events).toEqual([]);
  });

  it('refuses a patch nested absurdly deep', async () => {
    let patch: Record<string, unknown> = {};
    for (let i = 0; i < 100; i++) patch = { a: patch };
    const svc = await make();
    expect((await caught(() => svc.patch(patch))).reason).toBe('INVALID_CONFIG');
  });

  it('a stored record broken by hand is refused as STATE_CORRUPT naming the problem', async () => {
    await (await make()).patch({ cron: { enabled: false } });
    if (b.label === 'PostgreSQL') {
      const c = new Client({ connectionString: place });
      await c.connect();
      try {
        const r = await c.query('UPDATE openclaw_records SET doc = $1 WHERE collection = $2 AND id = $3', [
          JSON.stringify({ id: RUNTIME_CONFIG_ID, settings: { pairing: { pendingTtlSeconds: 5 } } }),
          RUNTIME_CONFIG,
          RUNTIME_CONFIG_ID,
        ]);
        expect(r.rowCount).toBe(1);
      } finally {
        await c.end();
      }
    } else {
      const journal = join(place, 'store', `${RUNTIME_CONFIG}.journal`);
      const text = readFileSync(journal, 'utf8');
      expect(text).toContain('"enabled":false');
      writeFileSync(journal, text.replace('"cron":{"enabled":false}', '"pairing":{"pendingTtlSeconds":5}'));
    }
    const err = await caught(() => make());
    expect({ code: err.code, reason: err.reason }).toEqual({ code: 'FAILED_PRECONDITION', reason: 'STATE_CORRUPT' });
    expect(err.message).toContain('runtime_config');
    expect(err.message).toContain('pairing.pendingTtlSeconds: must be an integer from 30 to 86400');
  });

  it('the config.json of an earlier release: imported once with the files backend, left alone (and said so) with a database', async () => {
    const stateDir = b.label === 'files' ? place : makeTempDir('config-legacy');
    try {
      const legacy = join(stateDir, 'config.json');
      writeFileSync(legacy, JSON.stringify({ pairing: { maxPending: 7 } }));
      const log = capturingLogger();
      const svc = await make(events, legacy, log.logger);
      if (b.label === 'files') {
        expect(svc.get().config.pairing.maxPending).toBe(7);
        expect(existsSync(legacy)).toBe(false);
        expect(existsSync(`${legacy}.imported`)).toBe(true);
        // Imported once: a config.json appearing later changes nothing.
        writeFileSync(legacy, JSON.stringify({ pairing: { maxPending: 9 } }));
        expect((await make(events, legacy)).get().config.pairing.maxPending).toBe(7);
      } else {
        expect(svc.get().config.pairing.maxPending).toBe(64);
        expect(existsSync(legacy)).toBe(true);
        expect(log.lines.some((l) => l.includes('is not read with --database-url') && l.includes('migrate-store'))).toBe(true);
      }
    } finally {
      if (stateDir !== place) removeTempDir(stateDir);
    }
  });
});

describe('ConfigService: a broken config.json of an earlier release (files)', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir('config-broken');
  });
  afterEach(() => removeTempDir(dir));

  it('stops the start with STATE_CORRUPT naming the problem, and stays where it is', async () => {
    const files = stores.all.find((x) => x.label === 'files')!;
    const legacy = join(dir, 'config.json');
    const open = async () => ConfigService.open({ store: await files.open(dir), legacyJson: legacy, events: new RecordingPublisher(), logger: silentLogger() });
    writeFileSync(legacy, '{ not json');
    const err = await caught(open);
    expect(err.reason).toBe('STATE_CORRUPT');
    expect(err.message).toContain('config.json');
    writeFileSync(legacy, JSON.stringify({ pairing: { pendingTtlSeconds: 5 } }));
    const err2 = await caught(open);
    expect(err2.reason).toBe('STATE_CORRUPT');
    expect(err2.message).toContain('pairing.pendingTtlSeconds: must be an integer from 30 to 86400');
    expect(existsSync(legacy)).toBe(true);
  });
});

describe('config helpers', () => {
  it('canonical JSON does not depend on key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[2,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });

  it('merge patch follows RFC 7396', () => {
    const target = { a: 'b', c: { d: 'e', f: 'g' }, arr: [1, 2] };
    expect(applyMergePatch(target, { a: 'z', c: { f: null }, arr: [3], n: { x: 1 } })).toEqual({ a: 'z', c: { d: 'e' }, arr: [3], n: { x: 1 } });
    expect(target).toEqual({ a: 'b', c: { d: 'e', f: 'g' }, arr: [1, 2] });
    expect(applyMergePatch({ a: 1 }, 'x')).toBe('x');
    expect(applyMergePatch('x', { a: null, b: 1 })).toEqual({ b: 1 });
  });

  it('lists changed paths with arrays compared whole', () => {
    expect(changedPaths({ a: { b: 1, c: [1] } }, { a: { b: 1, c: [2] }, d: 1 })).toEqual(['a.c', 'd']);
  });

  it('defaultConfig is parseConfig of an empty document', () => {
    expect(defaultConfig()).toEqual(parseConfig({}));
    expect(parseConfig(undefined)).toEqual(defaultConfig());
  });
});
