/**
 * The README's way to run the programs in a fresh clone, where none of them is on PATH:
 * `npx <program>` in the project folder finds this package's own programs (what the
 * README and the gateway's banner say), with no install and no `npm link`.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

function npx(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // --no-install: never fetched from the registry (packages of these names may exist there).
    execFile('npx', ['--no-install', ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', npm_config_yes: 'false' }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('every program of package.json runs as `npx <program>` in the project folder', async () => {
  const bins = Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin);
  expect(bins.sort()).toEqual(['certs-tools', 'openclaw-cli', 'openclaw-gateway']);
  for (const bin of bins) {
    const r = await npx([bin, '--help']);
    expect({ bin, code: r.code, usage: /Usage:/.test(r.stdout) }).toEqual({ bin, code: 0, usage: true });
  }
});

test('the README shows the npx way before it calls the programs by name', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const npxAt = readme.indexOf('npx openclaw-cli status');
  const firstByName = readme.indexOf('$ openclaw-cli ');
  expect(npxAt).toBeGreaterThan(0);
  expect(npxAt).toBeLessThan(firstByName);
});
