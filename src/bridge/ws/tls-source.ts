/**
 * Where the legacy port's TLS certificate comes from, and how a new one reaches it.
 *
 * Every source is a pair of PEM files: the gateway's own server certificate (issued by
 * our CA and re-issued by the gateway's hourly check) or a certificate the operator
 * brings (their own CA, a public ACME CA, a VPN's certificate service). The files are
 * watched; a change is loaded only when the key and the certificate belong together and
 * the certificate is in its validity period, so a writer that replaces the two files one
 * after the other never leaves the port with a broken pair: until the pair is whole
 * again, the port keeps serving the last good one. Live connections keep the context
 * they were made with; new handshakes get the new one.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { errors } from '../../errors';
import type { Logger } from '../../logging';

/** One certificate (with its chain) and its key, checked to belong together. */
export interface TlsPair {
  /** PEM: the leaf first, then any intermediates. */
  cert: string;
  /** PEM private key. */
  key: string;
  /** The leaf, parsed. */
  leaf: X509Certificate;
}

/** A TLS certificate that may change while the port serves. */
export interface BridgeTlsSource {
  /** The current pair. */
  current(): TlsPair;
  /** Calls `listener` after each change to a new usable pair; returns the unsubscribe. */
  onChange(listener: (pair: TlsPair) => void): () => void;
  /** Stops watching. */
  close(): void;
}

/** Reads and checks a certificate/key pair; INVALID_ARGUMENT BAD_TLS_FILES saying what is wrong. */
export function readTlsPair(certFile: string, keyFile: string, now = Date.now()): TlsPair {
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(certFile, 'utf8');
    key = readFileSync(keyFile, 'utf8');
  } catch (err) {
    throw errors.invalid('BAD_TLS_FILES', `cannot read the bridge's TLS files: ${(err as Error).message}`);
  }
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw errors.invalid('BAD_TLS_FILES', `${certFile} holds no PEM certificate`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw errors.invalid('BAD_TLS_FILES', `${keyFile} holds no PEM private key (an encrypted key is not supported)`);
  }
  if (!leaf.checkPrivateKey(privateKey)) throw errors.invalid('BAD_TLS_FILES', `${keyFile} is not the key of the certificate in ${certFile}`);
  if (Date.parse(leaf.validTo) <= now) throw errors.invalid('BAD_TLS_FILES', `the certificate in ${certFile} expired on ${new Date(leaf.validTo).toISOString()}`);
  if (Date.parse(leaf.validFrom) > now) throw errors.invalid('BAD_TLS_FILES', `the certificate in ${certFile} is not valid before ${new Date(leaf.validFrom).toISOString()}`);
  return { cert, key, leaf };
}

/**
 * A pair of files, watched (polled every `intervalMs`: works on bind mounts and with
 * writers that rename a new file into place). `onRejected` hears about a change that
 * could not be used (the last good pair stays).
 */
export function fileTlsSource(
  certFile: string,
  keyFile: string,
  opts: { intervalMs?: number; onRejected?: (err: Error) => void; onLoaded?: (pair: TlsPair) => void } = {},
): BridgeTlsSource {
  let pair = readTlsPair(certFile, keyFile);
  const intervalMs = opts.intervalMs ?? 2000;
  const listeners = new Set<(pair: TlsPair) => void>();
  // A writer replaces the two files one after the other: a mismatch seen once is usually
  // the moment between them. It is reported only when it is still there at the next look.
  let mismatchSeen = false;
  let closed = false;
  const reload = () => {
    if (closed) return;
    let next: TlsPair;
    try {
      next = readTlsPair(certFile, keyFile);
    } catch (err) {
      if (mismatchSeen) opts.onRejected?.(err as Error);
      else setTimeout(reload, intervalMs).unref();
      mismatchSeen = true;
      return;
    }
    mismatchSeen = false;
    if (next.cert === pair.cert && next.key === pair.key) return;
    pair = next;
    opts.onLoaded?.(pair);
    for (const l of listeners) l(pair);
  };
  watchFile(certFile, { interval: intervalMs, persistent: false }, reload);
  watchFile(keyFile, { interval: intervalMs, persistent: false }, reload);
  return {
    current: () => pair,
    onChange: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    close: () => {
      closed = true;
      unwatchFile(certFile, reload);
      unwatchFile(keyFile, reload);
      listeners.clear();
    },
  };
}

/** `fileTlsSource` that logs each pair it loads and each change it cannot use (the last good pair stays). */
export function loggedTlsSource(files: { cert: string; key: string }, log: Logger): BridgeTlsSource {
  return fileTlsSource(files.cert, files.key, {
    onLoaded: (pair) => log.info({ subject: pair.leaf.subject, validTo: pair.leaf.validTo }, 'the legacy port serves a new TLS certificate'),
    onRejected: (err) => log.warn({ err: err.message }, "the legacy port's TLS files changed but are not usable (yet); keeping the current certificate"),
  });
}
