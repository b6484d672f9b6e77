/**
 * SQLite write-ahead log replay, on bytes in memory (the source files are never opened for
 * writing). OpenClaw keeps its state database in WAL mode, and a gateway that was stopped
 * (even cleanly: its last checkpoint may leave committed frames behind) can hold data in
 * `openclaw.sqlite-wal` that the main file does not have yet. sql.js reads a database from
 * bytes and cannot see a -wal file, so the committed frames are applied here, exactly as
 * SQLite's own recovery does (https://www.sqlite.org/fileformat2.html#walformat):
 *
 * - the WAL header (magic, version, page size, salts) must be intact, its checksum right;
 * - frames are read in order while their salts equal the header's and their cumulative
 *   checksum is right; the first frame that fails ends the log (a torn or stale tail);
 * - only frames up to the last commit frame (one whose "database size" field is non-zero)
 *   count; each writes its page, and the database takes the size of that last commit.
 *
 * Frames already checkpointed into the main file are applied again, which changes nothing
 * (a checkpoint copies the same page versions). The result is marked as a rollback-journal
 * database (header bytes 18-19 = 1), so that it opens without a -wal or -shm file.
 */

const WAL_HEADER = 32;
const FRAME_HEADER = 24;
const MAGIC_LE = 0x377f0682;
const MAGIC_BE = 0x377f0683;

/** Largest database this importer reads, as a file or after a replay (a real OpenClaw state database is a few MB). */
export const MAX_DATABASE_BYTES = 1024 ** 3;

/** Why a WAL could not be used: one line for the refusal. */
export class WalError extends Error {}

/** What a replay did, for the report. */
export interface WalReplay {
  /** The database bytes with the committed frames applied. */
  bytes: Uint8Array;
  /** Frames applied (0 when the log was empty or held no committed frame). */
  frames: number;
  /** Frames after the last commit, or invalid ones, that were ignored. */
  ignored: number;
}

/** Page size of a database header (bytes 16-17, big-endian; 1 means 65536). */
export function pageSizeOf(db: Uint8Array): number {
  if (db.length < 100) throw new WalError('the database file is shorter than its 100-byte header');
  const v = (db[16] << 8) | db[17];
  return v === 1 ? 65536 : v;
}

function checksum(data: Uint8Array, start: number, end: number, littleEndian: boolean, s0: number, s1: number): [number, number] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = start; i < end; i += 8) {
    s0 = (s0 + view.getUint32(i, littleEndian) + s1) >>> 0;
    s1 = (s1 + view.getUint32(i + 4, littleEndian) + s0) >>> 0;
  }
  return [s0, s1];
}

/** Applies a WAL's committed frames to a copy of the database bytes. `db` and `wal` are not changed. */
export function replayWal(db: Uint8Array, wal: Uint8Array): WalReplay {
  const out = new Uint8Array(db);
  const mark = (b: Uint8Array) => {
    // Rollback-journal mode: opened without a -wal or -shm file.
    b[18] = 1;
    b[19] = 1;
    return b;
  };
  if (wal.length === 0) return { bytes: mark(out), frames: 0, ignored: 0 };
  if (wal.length < WAL_HEADER) throw new WalError(`the -wal file is ${wal.length} bytes, shorter than a WAL header`);
  const view = new DataView(wal.buffer, wal.byteOffset, wal.byteLength);
  const magic = view.getUint32(0);
  if (magic !== MAGIC_LE && magic !== MAGIC_BE) throw new WalError('the -wal file is not a SQLite write-ahead log (bad magic number)');
  const le = magic === MAGIC_LE;
  const version = view.getUint32(4);
  if (version !== 3007000) throw new WalError(`the -wal file has an unknown WAL format version ${version}`);
  const pageSize = view.getUint32(8);
  const salt1 = view.getUint32(16);
  const salt2 = view.getUint32(20);
  const [h0, h1] = checksum(wal, 0, 24, le, 0, 0);
  if (h0 !== view.getUint32(24) || h1 !== view.getUint32(28)) {
    // SQLite treats a log with a bad header as empty: nothing was committed through it.
    return { bytes: mark(out), frames: 0, ignored: Math.floor((wal.length - WAL_HEADER) / (FRAME_HEADER + Math.max(pageSize, 1))) };
  }
  if (pageSize !== pageSizeOf(db)) throw new WalError(`the -wal file's page size ${pageSize} differs from the database's ${pageSizeOf(db)}`);

  const frameSize = FRAME_HEADER + pageSize;
  const total = Math.floor((wal.length - WAL_HEADER) / frameSize);
  let s: [number, number] = [h0, h1];
  const valid: { pgno: number; at: number }[] = [];
  let committed = 0;
  let dbPages = 0;
  for (let i = 0; i < total; i++) {
    const at = WAL_HEADER + i * frameSize;
    const pgno = view.getUint32(at);
    const commitSize = view.getUint32(at + 4);
    if (pgno === 0 || view.getUint32(at + 8) !== salt1 || view.getUint32(at + 12) !== salt2) break;
    s = checksum(wal, at, at + 8, le, s[0], s[1]);
    s = checksum(wal, at + FRAME_HEADER, at + frameSize, le, s[0], s[1]);
    if (s[0] !== view.getUint32(at + 16) || s[1] !== view.getUint32(at + 20)) break;
    valid.push({ pgno, at: at + FRAME_HEADER });
    if (commitSize !== 0) {
      committed = valid.length;
      dbPages = commitSize;
    }
  }
  if (committed === 0) return { bytes: mark(out), frames: 0, ignored: total };

  // A commit frame's size is the database's size in pages after that commit: every page up
  // to it is in the main file or written by a frame, so it can never be larger than both.
  // (The field is only as trustworthy as the file: checksums can be recomputed.)
  const mainPages = Math.ceil(db.length / pageSize);
  let highest = 0;
  for (let i = 0; i < committed; i++) highest = Math.max(highest, valid[i].pgno);
  if (dbPages > Math.max(mainPages, highest)) {
    throw new WalError(`the -wal file's last commit says the database has ${dbPages} pages, but the database file has ${mainPages} and the log writes none beyond page ${highest}`);
  }
  // A frame may also name a far page (its number is as crafted as the size): bounded all the same.
  if (dbPages * pageSize > MAX_DATABASE_BYTES) {
    throw new WalError(`the -wal file's last commit makes the database ${dbPages} pages of ${pageSize} bytes, larger than the ${MAX_DATABASE_BYTES / 1024 ** 3} GiB this importer reads`);
  }

  const result = new Uint8Array(dbPages * pageSize);
  result.set(out.subarray(0, Math.min(out.length, result.length)));
  for (const f of valid.slice(0, committed)) {
    if (f.pgno > dbPages) continue; // a page beyond the committed size (truncated by that commit)
    result.set(wal.subarray(f.at, f.at + pageSize), (f.pgno - 1) * pageSize);
  }
  return { bytes: mark(result), frames: committed, ignored: total - committed };
}
