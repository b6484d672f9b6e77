/**
 * Small helpers shared by the service tests: throw-away state folders and
 * assertions on GatewayError reasons.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { GatewayError } from '../../src/errors';
import { createLogger, type Logger } from '../../src/logging';

/** A fresh folder under the OS temp dir; remove it with `removeTempDir`. */
export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `openclaw-${prefix}-`));
}

/** Deletes a folder made by `makeTempDir`. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Runs `fn` (sync or async) and returns the GatewayError it threw; fails the test otherwise. */
export async function caught(fn: () => unknown): Promise<GatewayError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw new Error(`expected a GatewayError, got ${String(err)}`);
  }
  throw new Error('expected a GatewayError, nothing was thrown');
}

/** A logger whose JSON lines are kept in `lines` (to check what reaches the log). */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      cb();
    },
  });
  return { logger: createLogger({ level: 'trace', destination }), lines };
}
