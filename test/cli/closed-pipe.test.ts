/**
 * `openclaw-cli ... | head -1`: when the reader of its output goes away early, the CLI
 * ends quietly (exit 0, nothing on stderr) instead of crashing with an unhandled EPIPE.
 */
import { spawn } from 'node:child_process';
import { BIN } from '../helpers/processes';

test('a closed output pipe ends the CLI quietly', async () => {
  const proc = spawn(process.execPath, [BIN.cli, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  // The reader goes away before the CLI writes.
  proc.stdout.destroy();
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)));
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
});
