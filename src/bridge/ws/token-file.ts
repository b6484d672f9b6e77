/**
 * The legacy shared token of a bridge in its own process (`openclaw-gateway bridge
 * --token-file`), read from its file and watched. Whoever provisions the bridge (the
 * compose init service, an operator) may write a new token there while the bridge runs:
 * new connections then need the new token, without a restart; connections already in
 * stay. A file that turns empty or unreadable keeps the last token (and says so), so a
 * slip never leaves the bridge without one.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { errors } from '../../errors';
import type { Logger } from '../../logging';

/** A token that may change while the bridge serves. */
export interface TokenFileSource {
  /** The token in force now. */
  current(): string;
  /** Stops watching. */
  close(): void;
}

/** The token in `file` (trimmed); INVALID_ARGUMENT NO_LEGACY_TOKEN when it is unreadable or empty. */
export function readTokenFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw errors.invalid('NO_LEGACY_TOKEN', `cannot read the legacy token file: ${(err as Error).message}`);
  }
  const token = text.trim();
  if (!token) throw errors.invalid('NO_LEGACY_TOKEN', `the legacy token file ${file} is empty`);
  return token;
}

/**
 * Reads `file` now (throws like readTokenFile) and then polls it every `intervalMs` (works
 * on volumes and with writers that rename a new file into place). Logs each change it
 * takes and each one it cannot use, never the token.
 */
export function watchedTokenFile(file: string, log: Logger, intervalMs = 2000): TokenFileSource {
  let token = readTokenFile(file);
  let closed = false;
  const reload = () => {
    if (closed) return;
    let next: string;
    try {
      next = readTokenFile(file);
    } catch (err) {
      log.warn({ file, err: (err as Error).message }, 'the legacy token file changed but holds no token; keeping the current one');
      return;
    }
    if (next === token) return;
    token = next;
    log.info({ file }, 'the legacy token file changed; new connections need the new token');
  };
  watchFile(file, { interval: intervalMs, persistent: false }, reload);
  return {
    current: () => token,
    close: () => {
      closed = true;
      unwatchFile(file, reload);
    },
  };
}
