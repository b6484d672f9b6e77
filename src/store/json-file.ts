import { readFileSync, statSync } from 'node:fs';
import { errors } from '../errors';
import { writeFileAtomicSync } from './atomic-file';
import { withFileLockSync } from './file-lock';

/**
 * One JSON state file shared between processes. Reads are cached and refreshed when
 * the file changes on disk; `update` does read-modify-write under the cross-process
 * lock and writes atomically, so concurrent writers never lose an update and a crash
 * leaves either the old or the new file.
 */
export class JsonFile<T> {
  private cached?: T;
  private signature = '';

  constructor(
    readonly path: string,
    private readonly empty: () => T,
    private readonly validate: (raw: unknown) => T,
  ) {}

  /** The current content (fresh from disk if another process changed it). */
  read(): T {
    const sig = this.statSignature();
    if (this.cached !== undefined && sig === this.signature) return this.cached;
    this.cached = this.load(sig);
    this.signature = sig;
    return this.cached;
  }

  /** Applies `fn` to a fresh copy under the lock and persists the result; returns what fn returns. */
  update<R>(fn: (doc: T) => R): R {
    return withFileLockSync(this.path, () => {
      const sig = this.statSignature();
      const doc = this.load(sig);
      const result = fn(doc);
      writeFileAtomicSync(this.path, JSON.stringify(doc, null, 1) + '\n', 0o600);
      this.cached = doc;
      this.signature = this.statSignature();
      return result;
    });
  }

  private statSignature(): string {
    try {
      const s = statSync(this.path, { bigint: true });
      return `${s.ino}:${s.size}:${s.mtimeNs}`;
    } catch {
      return 'missing';
    }
  }

  private load(sig: string): T {
    if (sig === 'missing') return this.empty();
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.empty();
      throw err;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw errors.precondition('STATE_CORRUPT', `state file ${this.path} is not valid JSON; restore it from a backup or move it away`);
    }
    try {
      return this.validate(raw);
    } catch (err) {
      throw errors.precondition('STATE_CORRUPT', `state file ${this.path} is invalid: ${(err as Error).message}`);
    }
  }
}
