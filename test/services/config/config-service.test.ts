/**
 * ConfigService over a real config file in a temp folder: defaults, merge patches,
 * validation messages naming the field, optimistic concurrency, persistence.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../../src/logging';
import { RecordingPublisher } from '../../../src/services/events/event-publisher';
import { ConfigService, type ConfigSnapshot } from '../../../src/services/config/config-service';
import { defaultConfig, parseConfig } from '../../../src/services/config/config-schema';
import { applyMergePatch, canonicalJson, changedPaths } from '../../../src/services/config/json-merge-patch';
import { caught, makeTempDir, removeTempDir } from '../helpers';

describe('ConfigService', () => {
  let root: string;
  let path: string;
  let events: RecordingPublisher;
  const make = () => new ConfigService({ path, events, logger: silentLogger() });

  beforeEach(() => {
    root = makeTempDir('config');
    path = join(root, 'etc', 'config.json');
    events = new RecordingPublisher();
  });
  afterEach(() => removeTempDir(root));

  it('returns the defaults and their hash without writing anything', () => {
    const { config, hash } = make().get();
    expect(config).toEqual({
      agents: { default: 'main', list: [{ id: 'main', name: 'Main', provider: 'builtin', model: 'builtin-echo' }] },
      providers: {},
      pairing: { pendingTtlSeconds: 300, maxPending: 64 },
      certs: { clientLifetimeDays: 14, renewAfterExpiryDays: 7 },
      bridge: { tokenOnlyScopes: ['operator.read'] },
      cron: { enabled: true },
      logging: { level: 'info' },
    });
    expect(hash).toBe(createHash('sha256').update(canonicalJson(config)).digest('hex'));
    expect(existsSync(path)).toBe(false);
    expect(Object.isFrozen(config.pairing)).toBe(true);
  });

  it('applies a valid patch, persists only what was set, publishes config.changed and tells listeners', () => {
    const svc = make();
    const before = svc.get();
    const seen: [ConfigSnapshot, ConfigSnapshot][] = [];
    const off = svc.onChange((next, prev) => seen.push([next, prev]));

    const after = svc.patch({ pairing: { pendingTtlSeconds: 600 }, logging: { level: 'debug' } }, before.hash);
    expect(after.config.pairing).toEqual({ pendingTtlSeconds: 600, maxPending: 64 });
    expect(after.config.logging.level).toBe('debug');
    expect(after.hash).not.toBe(before.hash);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ pairing: { pendingTtlSeconds: 600 }, logging: { level: 'debug' } });
    expect(make().get()).toEqual(after);

    expect(events.events).toEqual([
      { type: 'config.changed', payload: { hash: after.hash, previousHash: before.hash, changedPaths: ['logging.level', 'pairing.pendingTtlSeconds'] } },
    ]);
    expect(seen).toEqual([[after, before]]);
    off();
    svc.patch({ cron: { enabled: false } });
    expect(seen).toHaveLength(1);
  });

  it('deletes with null, so the default applies again', () => {
    const svc = make();
    const original = svc.get().hash;
    svc.patch({ certs: { clientLifetimeDays: 30 }, bridge: { tokenOnlyScopes: ['operator.read', 'operator.write'] } });
    svc.patch({ certs: { clientLifetimeDays: null } });
    expect(svc.get().config.certs.clientLifetimeDays).toBe(14);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ certs: {}, bridge: { tokenOnlyScopes: ['operator.read', 'operator.write'] } });
    svc.patch({ bridge: null });
    expect(svc.get().hash).toBe(original);
  });

  it('replaces arrays as a whole', () => {
    const svc = make();
    svc.patch({ bridge: { tokenOnlyScopes: ['operator.read', 'operator.talk'] } });
    svc.patch({ bridge: { tokenOnlyScopes: ['operator.talk'] } });
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
    const svc = make();
    svc.patch({ cron: { enabled: false } });
    const before = svc.get();
    events.events.length = 0;
    const err = await caught(() => svc.patch(patch));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.reason).toBe('INVALID_CONFIG');
    expect(err.message).toContain(message);
    expect(make().get()).toEqual(before);
    expect(events.events).toEqual([]);
  });

  it('lists every problem of a patch at once', async () => {
    const err = await caught(() => make().patch({ pairing: { pendingTtlSeconds: 1, maxPending: 0 }, nope: true }));
    expect(err.message).toBe(
      'nope: unknown key; pairing.pendingTtlSeconds: must be an integer from 30 to 86400; pairing.maxPending: must be an integer from 1 to 1000',
    );
    expect(err.details.issues).toHaveLength(3);
  });

  it('refuses a patch based on a stale hash with CONFIG_CHANGED', async () => {
    const a = make();
    const b = make();
    const base = a.get().hash;
    b.patch({ pairing: { maxPending: 10 } }, base);
    const err = await caught(() => a.patch({ pairing: { maxPending: 20 } }, base));
    expect(err.code).toBe('FAILED_PRECONDITION');
    expect(err.reason).toBe('CONFIG_CHANGED');
    expect(err.details.currentHash).toBe(b.get().hash);
    expect(a.get().config.pairing.maxPending).toBe(10);
    // With the fresh hash it goes through.
    expect(a.patch({ pairing: { maxPending: 20 } }, a.get().hash).config.pairing.maxPending).toBe(20);
  });

  it('configures OpenAI agents with defaults filled in', () => {
    const { config } = make().patch({
      providers: { openai: { baseUrl: 'http://127.0.0.1:11434/v1', model: 'llama3.2' } },
      agents: { default: 'ops', list: [{ id: 'main', provider: 'builtin' }, { id: 'ops', name: 'Ops', provider: 'openai' }, { id: 'big', provider: 'openai', model: 'qwen2.5:32b' }] },
    });
    expect(config.providers.openai).toEqual({ baseUrl: 'http://127.0.0.1:11434/v1', model: 'llama3.2', apiKeyEnv: 'OPENAI_API_KEY', timeoutMs: 60000 });
    expect(config.agents).toEqual({
      default: 'ops',
      list: [
        { id: 'main', name: 'main', provider: 'builtin', model: 'builtin-echo' },
        { id: 'ops', name: 'Ops', provider: 'openai', model: 'llama3.2' },
        { id: 'big', name: 'big', provider: 'openai', model: 'qwen2.5:32b' },
      ],
    });
  });

  it('publishes nothing for a patch that changes nothing', () => {
    const svc = make();
    svc.patch({ pairing: { pendingTtlSeconds: 300 } });
    svc.patch({});
    expect(events.events).toEqual([]);
  });

  it('reports a hand-broken file as STATE_CORRUPT naming the problem', async () => {
    make().patch({ cron: { enabled: false } });
    writeFileSync(path, JSON.stringify({ pairing: { pendingTtlSeconds: 5 } }));
    const err = await caught(() => make().get());
    expect(err.reason).toBe('STATE_CORRUPT');
    expect(err.message).toContain('pairing.pendingTtlSeconds: must be an integer from 30 to 86400');
    writeFileSync(path, '{ not json');
    expect((await caught(() => make().get())).reason).toBe('STATE_CORRUPT');
  });

  it('refuses a patch nested absurdly deep', async () => {
    let patch: Record<string, unknown> = {};
    for (let i = 0; i < 100; i++) patch = { a: patch };
    expect((await caught(() => make().patch(patch))).reason).toBe('INVALID_CONFIG');
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
