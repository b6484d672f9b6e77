/**
 * certs-tools on bad input: a clear `certs-tools: error: ...` line on stderr, a
 * non-zero exit, nothing on stdout, and the state directory exactly as it was
 * (devices.json byte-identical). Permissions are not used to provoke errors (root
 * ignores them); an --out path under a regular file is.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { statePaths } from '../../src/identity/state-layout';
import { linesOf, runCertsTools, type RunResult } from '../helpers/run-cli';
import { snapshotTree, useTmpDirs } from '../helpers/tmp';

const tmp = useTmpDirs('openclaw-certs-errors-');
let work: string;
let stateDir: string;
let devicesPath: string;

beforeAll(async () => {
  work = tmp();
  stateDir = join(work, 'state');
  devicesPath = statePaths(stateDir).devices;
  for (const args of [['init'], ['issue', '--role', 'node', '--name', 'existing', '--out', join(work, 'existing')]]) {
    const r = await runCertsTools(['--state-dir', stateDir, ...args]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  }
  writeFileSync(join(work, 'file'), 'a regular file\n');
  writeFileSync(join(work, 'garbage.pem'), '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
});

/**
 * Runs certs-tools against `dir` (default: the shared state dir) and checks the
 * failure contract: non-zero exit, nothing on stdout, the state tree unchanged.
 */
async function fails(args: string[], dir = stateDir): Promise<RunResult> {
  // The audit log may be opened (created empty) before the failure; it is not state.
  const snapshot = () => (existsSync(dir) ? snapshotTree(dir, (rel) => rel === 'logs' || rel.startsWith('logs/')) : undefined);
  const before = snapshot();
  const devicesBefore = existsSync(join(dir, 'devices.json')) ? readFileSync(join(dir, 'devices.json')) : undefined;
  const r = await runCertsTools(['--state-dir', dir, ...args]);
  expect(r.code).not.toBe(0);
  expect(r.code).not.toBeNull();
  expect(r.stdout).toBe('');
  expect(snapshot()).toEqual(before);
  if (devicesBefore) expect(readFileSync(join(dir, 'devices.json')).equals(devicesBefore)).toBe(true);
  return r;
}

/** The single stderr line, which must be `certs-tools: error: <message>`; returns the message. */
function oneErrorLine(r: RunResult): string {
  const lines = linesOf(r.stderr);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^certs-tools: error: \S/);
  expect(lines[0]).not.toContain('unexpected failure');
  return lines[0].slice('certs-tools: error: '.length);
}

describe('bad input to issue', () => {
  it('unknown role: names the allowed roles; no identity written', async () => {
    const out = join(work, 'bad-role');
    const msg = oneErrorLine(await fails(['issue', '--role', 'wizard', '--name', 'x', '--out', out]));
    expect(msg).toBe('unknown role "wizard" (allowed: operator, node, backend, bridge)');
    expect(existsSync(join(out, 'key.pem'))).toBe(false);
  });

  it('unknown scope: names it and the allowed scopes', async () => {
    const out = join(work, 'bad-scope');
    const msg = oneErrorLine(await fails(['issue', '--role', 'operator', '--name', 'x', '--out', out, '--scopes', 'operator.read,operator.sudo']));
    expect(msg).toMatch(/^unknown scope "operator\.sudo" \(allowed: operator\.read, operator\.write, operator\.admin, /);
    expect(existsSync(join(out, 'key.pem'))).toBe(false);
  });

  it('--out under a regular file: says it cannot write there; the file is untouched', async () => {
    const target = join(work, 'file', 'sub');
    const msg = oneErrorLine(await fails(['issue', '--role', 'node', '--name', 'x', '--out', target]));
    expect(msg.startsWith(`cannot write to ${target}: `)).toBe(true);
    expect(readFileSync(join(work, 'file'), 'utf8')).toBe('a regular file\n');
  });

  it('missing required option: exits non-zero and starts stderr with the error line', async () => {
    const r = await fails(['issue', '--role', 'node', '--name', 'x']);
    expect(linesOf(r.stderr)[0]).toBe("certs-tools: error: required option '--out <dir>' not specified");
  });

  // KNOWN BUG (certs-tools/main.ts + commands.ts): commander errors (missing option,
  // bad --days, unknown command) print the error, then the whole help text
  // (showHelpAfterError), then main.ts's catch prints a second line "certs-tools:
  // error: unexpected failure: error: ..." and turns the exit code 2 into 1. Fix: in
  // main.ts's catch, `if (err instanceof CommanderError) return;` (commander already
  // printed the line and exitOverride set exitCode 2), and drop `.showHelpAfterError()`
  // (or pass it a one-line hint). Remove `.failing` once fixed.
  it('missing required option: exactly one error line, exit code 2', async () => {
    const r = await fails(['issue', '--role', 'node', '--name', 'x']);
    expect(oneErrorLine(r)).toBe("required option '--out <dir>' not specified");
    expect(r.code).toBe(2);
  });
});

describe('bad input to other commands', () => {
  it('revoke of an unknown name', async () => {
    expect(oneErrorLine(await fails(['revoke', 'ghost']))).toBe('no device with id or name "ghost"');
  });

  it('inspect of a garbage PEM and of a missing path', async () => {
    const garbage = join(work, 'garbage.pem');
    expect(oneErrorLine(await fails(['inspect', garbage]))).toBe(`${garbage} is not a PEM certificate`);
    const missing = join(work, 'no-such-file.pem');
    expect(oneErrorLine(await fails(['inspect', missing]))).toBe(`cannot read ${missing}`);
    const emptyDir = join(work, 'empty-identity');
    mkdirSync(emptyDir);
    // A folder issued for a CSR has no key.pem, so inspect only needs cert.pem.
    expect(oneErrorLine(await fails(['inspect', emptyDir]))).toBe(`no cert.pem in ${emptyDir}`);
  });
});

describe('commands that need a CA, on an empty state dir', () => {
  it.each([
    [['list'], 'no CA in'],
    [['list', '--all'], 'no CA in'],
    [['revoke', 'anything'], 'no CA in'],
    [['ca-fingerprint'], 'no CA in'],
  ])('%j fails with "no CA" and creates nothing', async (args, prefix) => {
    const empty = join(tmp(), 'state');
    mkdirSync(empty);
    const msg = oneErrorLine(await fails(args, empty));
    expect(msg.startsWith(`${prefix} ${empty}; run "certs-tools init"`)).toBe(true);
    expect(readdirSync(empty)).toEqual([]);
  });
});

describe('a corrupted devices.json', () => {
  it('every command that reads it reports it and none rewrites it', async () => {
    const dir = join(tmp(), 'state');
    const init = await runCertsTools(['--state-dir', dir, 'init']);
    expect(init.code).toBe(0);
    const corrupt = '{"version":1,"devices":{"abc":';
    writeFileSync(join(dir, 'devices.json'), corrupt);
    const out = join(work, 'after-corrupt');
    for (const args of [['list'], ['revoke', 'existing'], ['issue', '--role', 'node', '--name', 'y', '--out', out]]) {
      const msg = oneErrorLine(await fails(args, dir));
      expect(msg).toBe(`state file ${join(dir, 'devices.json')} is not valid JSON; restore it from a backup or move it away`);
    }
    expect(readFileSync(join(dir, 'devices.json'), 'utf8')).toBe(corrupt);
    // No key was written for a device that could not be registered.
    expect(existsSync(join(out, 'key.pem'))).toBe(false);
  });
});

it('the shared state dir still works after all the failures', async () => {
  const r = await runCertsTools(['--state-dir', stateDir, '--json', 'list']);
  expect(r.code).toBe(0);
  expect((JSON.parse(r.stdout) as { label: string }[]).map((d) => d.label)).toEqual(['existing']);
  expect(readFileSync(devicesPath, 'utf8')).toContain('"existing"');
});
