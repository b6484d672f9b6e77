import { linkSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { fsyncDir, tempPathFor } from './atomic-file';

/**
 * The files next to a journal `<name>.journal` (see README.md):
 * - `<name>.journal.1`, the previous generation: the journal as it was when it was last
 *   compacted (its replay gives exactly what the current journal's snapshot line holds),
 *   so a damaged snapshot line can be rebuilt from it;
 * - `<name>.journal.damaged-<time>`, a damaged journal as it was found, kept as evidence
 *   when it was recovered (never deleted by the gateway).
 */

/** Where the previous generation of the journal at `path` is kept. */
export function previousGenerationPath(path: string): string {
  return `${path}.1`;
}

/**
 * Makes the journal at `path`, as it is now, its previous generation: a hard link
 * (no copy; the journal is about to be replaced by a new file, never written again)
 * renamed over `<path>.1` in one step, and the folder fsynced.
 */
export function keepAsPreviousGeneration(path: string): void {
  const tmp = tempPathFor(previousGenerationPath(path));
  linkSync(path, tmp);
  try {
    renameSync(tmp, previousGenerationPath(path));
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
  fsyncDir(dirname(path));
}

/**
 * The previous generation of the journal at `path` if there is one that is not the
 * journal itself (a compaction that died between keeping it and replacing the journal
 * leaves both names on one file).
 */
export function distinctPreviousGeneration(path: string): string | undefined {
  const previous = previousGenerationPath(path);
  try {
    return statSync(previous).ino === statSync(path).ino ? undefined : previous;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Keeps the damaged file at `path` as `<path>.damaged-<time>` (a hard link: the file
 * stays exactly as found, whatever then replaces `path`); returns that name.
 */
export function keepDamaged(path: string, at: Date): string {
  const stamp = at.toISOString().replace(/[:.]/g, '-');
  for (let n = 1; ; n++) {
    const kept = n === 1 ? `${path}.damaged-${stamp}` : `${path}.damaged-${stamp}-${n}`;
    try {
      linkSync(path, kept);
      fsyncDir(dirname(path));
      return kept;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
