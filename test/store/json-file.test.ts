/**
 * JsonFile / FileDeviceStore: read-modify-write under the lock, fresh reads across
 * instances, and a corrupted state file that is reported and never overwritten.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, GatewayError } from '../../src/errors';
import { FileDeviceStore, MemoryDeviceStore } from '../../src/store/device-store';
import { JsonFile } from '../../src/store/json-file';
import { fakeDevice } from '../helpers/store-writer';
import { modeOf, useTmpDirs } from '../helpers/tmp';

const tmp = useTmpDirs('openclaw-json-');

interface Doc {
  n: number;
  items: string[];
}
const empty = (): Doc => ({ n: 0, items: [] });
const validate = (raw: unknown): Doc => {
  const d = raw as Doc;
  if (typeof d?.n !== 'number' || !Array.isArray(d.items)) throw new Error('bad doc');
  return d;
};

function thrown(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError, but the call succeeded');
}

describe('JsonFile', () => {
  it('starts empty, persists updates (mode 0600) and returns what the update returns', () => {
    const path = join(tmp(), 'doc.json');
    const f = new JsonFile<Doc>(path, empty, validate);
    expect(f.read()).toEqual({ n: 0, items: [] });
    expect(existsSync(path)).toBe(false);
    const r = f.update((d) => {
      d.n += 1;
      d.items.push('a');
      return 'result';
    });
    expect(r).toBe('result');
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({ n: 1, items: ['a'] });
    expect(modeOf(path)).toBe(0o600);
    expect(f.read()).toEqual({ n: 1, items: ['a'] });
    expect(readdirSync(join(path, '..')).sort()).toEqual(['doc.json']);
  });

  it('sees what another instance (another process, in effect) wrote', () => {
    const path = join(tmp(), 'doc.json');
    const a = new JsonFile<Doc>(path, empty, validate);
    const b = new JsonFile<Doc>(path, empty, validate);
    a.update((d) => void (d.n = 1));
    expect(b.read().n).toBe(1);
    b.update((d) => void (d.n += 10));
    expect(a.read().n).toBe(11);
    a.update((d) => void (d.n += 100));
    expect(b.read().n).toBe(111);
  });

  it('leaves the file untouched and the lock free when the update function throws', () => {
    const path = join(tmp(), 'doc.json');
    const f = new JsonFile<Doc>(path, empty, validate);
    f.update((d) => void (d.n = 5));
    const before = readFileSync(path);
    expect(() =>
      f.update((d) => {
        d.n = 6;
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(readFileSync(path)).toEqual(before);
    expect(existsSync(`${path}.lock`)).toBe(false);
    f.update((d) => void (d.n += 1));
    expect(f.read().n).toBe(6);
  });

  it('a corrupted file (invalid JSON) -> FAILED_PRECONDITION STATE_CORRUPT on read and update, never overwritten', () => {
    const path = join(tmp(), 'devices.json');
    const corrupt = '{"version":1,"devices":{"abc":{"id":"abc",';
    writeFileSync(path, corrupt);
    const store = new FileDeviceStore(path);
    const readErr = thrown(() => store.list());
    expect(readErr.code).toBe(ErrorCode.FailedPrecondition);
    expect(readErr.reason).toBe('STATE_CORRUPT');
    expect(readErr.message).toContain(path);
    let called = false;
    const updErr = thrown(() =>
      store.transaction((devices) => {
        called = true;
        devices.x = fakeDevice('x');
      }),
    );
    expect(updErr.reason).toBe('STATE_CORRUPT');
    expect(called).toBe(false);
    expect(readFileSync(path, 'utf8')).toBe(corrupt);
    expect(readdirSync(join(path, '..'))).toEqual(['devices.json']);
  });

  it('valid JSON of the wrong shape is STATE_CORRUPT too, naming the bad record', () => {
    const path = join(tmp(), 'devices.json');
    const bad = JSON.stringify({ version: 1, devices: { a: { id: 'b', role: 'node', scopes: [], status: 'active' } } });
    writeFileSync(path, bad);
    const err = thrown(() => new FileDeviceStore(path).transaction(() => undefined));
    expect(err.reason).toBe('STATE_CORRUPT');
    expect(err.message).toContain('device record a is malformed');
    expect(readFileSync(path, 'utf8')).toBe(bad);
    writeFileSync(path, '[]');
    expect(thrown(() => new FileDeviceStore(path).list()).reason).toBe('STATE_CORRUPT');
  });
});

describe.each([
  ['FileDeviceStore', () => new FileDeviceStore(join(tmp(), 'devices.json'))],
  ['MemoryDeviceStore', () => new MemoryDeviceStore()],
])('%s transactions', (_name, make) => {
  it('commit all changes or none', () => {
    const store = make();
    store.transaction((d) => {
      d.a = fakeDevice('a');
      d.b = fakeDevice('b');
    });
    expect(store.list().map((d) => d.id).sort()).toEqual(['a', 'b']);
    expect(() =>
      store.transaction((d) => {
        d.c = fakeDevice('c');
        d.a.status = 'revoked';
        throw new Error('abort');
      }),
    ).toThrow('abort');
    expect(store.list().map((d) => d.id).sort()).toEqual(['a', 'b']);
    expect(store.get('a')!.status).toBe('active');
    expect(store.get('c')).toBeUndefined();
  });
});
