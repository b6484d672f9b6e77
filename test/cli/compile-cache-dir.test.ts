/**
 * Where openclaw-cli keeps its compile cache: the first candidate folder (the one beside
 * the installed code, then the user's) that exists or can be made and that nobody but its
 * owner can write to: the cache holds code the CLI runs.
 */
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chooseCacheDir } from '../../src/cli/compile-cache';
import { useTmpDirs } from '../helpers/tmp';

const tmp = useTmpDirs('openclaw-cli-cache-dir-');

test('the first candidate is used when it can be made; it is made readable by all, writable by its owner', () => {
  const root = tmp();
  const beside = join(root, 'pkg', 'dist', 'compile-cache');
  expect(chooseCacheDir([beside, join(root, 'home-cache')])).toBe(beside);
  expect(statSync(beside).mode & 0o777).toBe(0o755);
});

test('a folder that others may write to is passed over for the next one', () => {
  const root = tmp();
  const shared = join(root, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o777);
  const home = join(root, 'home-cache');
  expect(chooseCacheDir([shared, home])).toBe(home);
  chmodSync(shared, 0o775);
  expect(chooseCacheDir([shared, home])).toBe(home);
  chmodSync(shared, 0o755);
  expect(chooseCacheDir([shared, home])).toBe(shared);
});

test('a candidate that cannot be a folder is passed over; none usable gives no cache', () => {
  const root = tmp();
  const file = join(root, 'a-file');
  writeFileSync(file, 'x');
  expect(chooseCacheDir([join(file, 'compile-cache'), file])).toBeUndefined();
  expect(chooseCacheDir([join(file, 'compile-cache'), join(root, 'ok')])).toBe(join(root, 'ok'));
});
