/**
 * The `openclaw-gateway import-openclaw` program: the report for people and as JSON, audit
 * lines on stderr, the dry run, and a refusal as one line with exit code 1.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DIST_ROOT, linesOf, runNode } from '../helpers/run-cli';
import { snapshotTree, useTmpDirs } from '../helpers/tmp';
import { copyOpenclawState } from './openclaw-fixture';

const GATEWAY = join(DIST_ROOT, 'src', 'bin', 'openclaw-gateway.js');
const tmp = useTmpDirs('import-command-');
const env = { OPENCLAW_DATABASE_URL: '', OPENCLAW_GATEWAY_TOKEN: '' };

test('dry run, import, import again: the report says what happened; audit lines on stderr', async () => {
  const from = copyOpenclawState(tmp());
  const stateDir = join(tmp(), 'ours');
  const dry = await runNode(GATEWAY, ['import-openclaw', '--from', from, '--state-dir', stateDir, '--dry-run', '--json'], { env });
  expect(dry.code).toBe(0);
  const report = JSON.parse(dry.stdout);
  expect(report).toMatchObject({ dryRun: true, source: { openclawVersion: '2026.9.6', schemaVersion: 18 }, counts: { imported: 12, unchanged: 0, skipped: 9 } });
  expect(existsSync(stateDir)).toBe(false);

  const real = await runNode(GATEWAY, ['import-openclaw', '--from', from, '--state-dir', stateDir], { env });
  expect(real.code).toBe(0);
  expect(real.stdout).toMatch(/^Imported OpenClaw 2026\.9\.6 \(state schema 18\)/);
  expect(real.stdout).toMatch(/imported +\S+ \(fixture-laptop\): operator \[operator\.read, operator\.write\], device token kept/);
  expect(real.stdout).toMatch(/skipped +disk-check .*payload kind "command" has no equivalent here/);
  expect(real.stdout).toContain('Imported 12, unchanged 0, skipped 9.');
  const audits = linesOf(real.stderr).map((l) => JSON.parse(l)).filter((l) => l.event === 'device.import.openclaw');
  expect(audits).toHaveLength(3);
  // The audit line names the device, never its token.
  expect(real.stderr).not.toMatch(/"token"/);

  const again = await runNode(GATEWAY, ['import-openclaw', '--from', from, '--state-dir', stateDir], { env });
  expect(again.code).toBe(0);
  expect(again.stdout).toContain('Imported 0, unchanged 12, skipped 9.');
}, 60_000);

test('a source it does not understand: one line on stderr, exit code 1, nothing written', async () => {
  const dir = tmp();
  const before = snapshotTree(dir);
  const stateDir = join(tmp(), 'ours');
  const r = await runNode(GATEWAY, ['import-openclaw', '--from', dir, '--state-dir', stateDir], { env });
  expect(r.code).toBe(1);
  expect(linesOf(r.stderr)).toEqual([`openclaw-gateway: error: ${dir}: not an OpenClaw state folder: no openclaw.json`]);
  expect(r.stdout).toBe('');
  expect(snapshotTree(dir)).toEqual(before);
  expect(existsSync(stateDir)).toBe(false);
}, 30_000);
