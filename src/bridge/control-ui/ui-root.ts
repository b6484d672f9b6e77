import { constants as fsc, realpathSync, statSync } from 'node:fs';
import { open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
import { errors } from '../../errors';
import type { Encoding } from './content-types';
import { prepareIndexHtml, type PreparedIndex } from './index-html';

/** A file of the root, opened (the caller closes `handle`, or streams it, which closes it). */
export interface OpenedFile {
  handle: FileHandle;
  size: number;
  mtimeMs: number;
}

/** The prepared index.html, with its compressed forms. */
export interface CachedIndex extends PreparedIndex {
  body: Record<'identity' | Encoding, Buffer>;
  mtimeMs: number;
}

const HINT = 'point it at the dist/control-ui folder of an installed openclaw npm package';

/**
 * The folder a Control UI bundle is served from. Files are opened only after their real
 * path (symlinks resolved) was found inside the root's real path, so no link leads out
 * of it. Nothing is read at start but the check that index.html is there; index.html,
 * once prepared, is kept (and prepared again when it changes on disk).
 */
export class ControlUiRoot {
  private indexCache?: { key: string; value: CachedIndex };

  private constructor(
    readonly dir: string,
    private readonly realDir: string,
  ) {}

  /** Checks the folder (BAD_CONFIG when it is not a Control UI bundle). */
  static open(dir: string): ControlUiRoot {
    let real: string;
    try {
      real = realpathSync(dir);
      if (!statSync(real).isDirectory()) throw new Error('not a directory');
    } catch (err) {
      throw errors.invalid('BAD_CONFIG', `control UI root ${dir} is not a readable folder (${(err as Error).message}): ${HINT}`);
    }
    try {
      if (!statSync(join(real, 'index.html')).isFile()) throw new Error('not a file');
    } catch {
      throw errors.invalid('BAD_CONFIG', `control UI root ${dir} has no index.html: ${HINT}`);
    }
    return new ControlUiRoot(dir, real);
  }

  /**
   * Opens the regular file at `segments` (checked path segments) when it exists inside
   * the root; undefined when it does not, is not a regular file, or its real path lies
   * outside the root.
   */
  async openFile(segments: readonly string[]): Promise<OpenedFile | undefined> {
    let real: string;
    try {
      real = await realpath(join(this.realDir, ...segments));
    } catch {
      return undefined;
    }
    if (!real.startsWith(this.realDir + sep)) return undefined;
    let handle: FileHandle;
    try {
      // The real path has no links left; one swapped in since is not followed.
      handle = await open(real, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch {
      return undefined;
    }
    try {
      const st = await handle.stat();
      // A folder on the way swapped for a link between the check and the open would lead
      // the open elsewhere: the path must still resolve inside the root, to this same file.
      const again = await realpath(join(this.realDir, ...segments));
      const there = again.startsWith(this.realDir + sep) ? await stat(again) : undefined;
      if (!st.isFile() || !there || there.ino !== st.ino || there.dev !== st.dev) {
        await handle.close();
        return undefined;
      }
      return { handle, size: st.size, mtimeMs: st.mtimeMs };
    } catch {
      await handle.close().catch(() => undefined);
      return undefined;
    }
  }

  /** index.html as served (prepared and compressed once per version of the file). */
  async index(): Promise<CachedIndex | undefined> {
    const file = await this.openFile(['index.html']);
    if (!file) return undefined;
    try {
      const key = `${file.mtimeMs}:${file.size}`;
      if (this.indexCache?.key === key) return this.indexCache.value;
      const source = (await file.handle.readFile()).toString('utf8');
      const prepared = prepareIndexHtml(source);
      const identity = Buffer.from(prepared.html, 'utf8');
      const value: CachedIndex = {
        ...prepared,
        mtimeMs: file.mtimeMs,
        body: { identity, br: brotliCompressSync(identity, { params: { [zlib.BROTLI_PARAM_QUALITY]: 9 } }), gzip: gzipSync(identity, { level: 9 }) },
      };
      this.indexCache = { key, value };
      return value;
    } finally {
      await file.handle.close().catch(() => undefined);
    }
  }
}
