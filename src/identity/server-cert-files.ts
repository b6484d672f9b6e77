import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ensureDir, writeFileAtomicSync } from '../store/atomic-file';
import { withFileLock, withFileLockSync } from '../store/file-lock';
import type { Clock } from '../clock';
import type { CertificateAuthority } from './certificate-authority';
import { gatewayServerName } from './gateway-name';
import { generateKeyPairAsync, generateRsaKeyPair, type KeyPairPem } from './keys';
import { certValidity, renewalDue } from './renewal-policy';
import type { StatePaths } from './state-layout';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Server certificates live 90 days and are re-issued when a third is left. */
export const SERVER_CERT_LIFETIME_MS = 90 * DAY_MS;

/** Where a server certificate lives: the gateway's (StatePaths) or another folder (`serverCertFolder`). */
export type ServerCertPaths = Pick<StatePaths, 'serverDir' | 'serverCert' | 'serverKey' | 'serverMeta'>;

/** A server certificate kept in `dir` (cert.pem with the CA after the leaf, key.pem 0600, server.json), e.g. the legacy port's of a bridge process. */
export function serverCertFolder(dir: string): ServerCertPaths {
  return { serverDir: dir, serverCert: join(dir, 'cert.pem'), serverKey: join(dir, 'key.pem'), serverMeta: join(dir, 'server.json') };
}

/** The names every server certificate covers, plus configured extra names. */
export function serverNames(trustDomain: string, extra: readonly string[] = []): string[] {
  const names = [gatewayServerName(trustDomain), 'localhost', '127.0.0.1', '::1', hostname(), ...extra];
  return [...new Set(names.filter((n) => n && n.length > 0))];
}

/** The server certificate on disk: the names it covers (when it is this CA's and readable; [] otherwise) and whether it needs nothing. */
function onDisk(paths: ServerCertPaths, ca: CertificateAuthority, names: readonly string[], clock: Clock): { names: string[]; fresh: boolean } {
  if (!existsSync(paths.serverCert) || !existsSync(paths.serverKey) || !existsSync(paths.serverMeta)) return { names: [], fresh: false };
  try {
    const certPem = readFileSync(paths.serverCert, 'utf8');
    if (!ca.issued(certPem)) return { names: [], fresh: false };
    const meta = JSON.parse(readFileSync(paths.serverMeta, 'utf8')) as { names?: string[] };
    const have = Array.isArray(meta.names) ? meta.names.filter((n) => typeof n === 'string' && n.length > 0) : [];
    const covered = names.every((n) => have.includes(n));
    return { names: have, fresh: covered && !renewalDue(certValidity(certPem), clock.now()) };
  } catch {
    return { names: [], fresh: false };
  }
}

/** Issues the server certificate for `names` with `keys` and writes it (key first, metadata last). */
function writeServerCert(paths: ServerCertPaths, ca: CertificateAuthority, names: string[], keys: KeyPairPem, clock: Clock): void {
  const issued = ca.issueServer({ publicKeyPem: keys.publicKeyPem, names, now: clock.now(), lifetimeMs: SERVER_CERT_LIFETIME_MS });
  ensureDir(paths.serverDir);
  writeFileAtomicSync(paths.serverKey, keys.privateKeyPem, 0o600);
  writeFileAtomicSync(paths.serverCert, issued.certPem + ca.certPem, 0o644);
  writeFileAtomicSync(paths.serverMeta, JSON.stringify({ names, serial: issued.serial, notAfter: issued.notAfter }, null, 1) + '\n', 0o644);
}

/**
 * Makes sure the server certificate exists, is signed by the CA, covers every name
 * asked for and has more than a third of its life left; re-issues it otherwise.
 * Names it already covers are kept when it is re-issued: a name added once (e.g. with
 * `certs-tools init --san`) is not dropped by a later start that did not ask for it,
 * and replicas with different host names sharing one state dir agree after one issue.
 * (To drop names, remove the server folder: the next start issues a new certificate.)
 * Returns whether it was (re)issued.
 *
 * Waits for another process's lock blocking the whole process: for a gateway that is
 * starting and for certs-tools. A running gateway uses `ensureServerCertAsync`.
 * `keys`: the RSA pair to issue with, when made beforehand (unused if none is issued).
 */
export function ensureServerCert(paths: ServerCertPaths, ca: CertificateAuthority, names: string[], clock: Clock, keys?: KeyPairPem): boolean {
  if (onDisk(paths, ca, names, clock).fresh) return false;
  return withFileLockSync(paths.serverMeta, () => {
    const now = onDisk(paths, ca, names, clock);
    if (now.fresh) return false;
    writeServerCert(paths, ca, [...new Set([...now.names, ...names])].sort(), keys ?? generateRsaKeyPair(2048), clock);
    return true;
  });
}

/**
 * `ensureServerCert` for a running gateway: waits for another process's lock (and
 * makes the key) without blocking the event loop; UNAVAILABLE STATE_LOCKED when the
 * lock stays taken for `lockWaitMs`.
 */
export async function ensureServerCertAsync(paths: ServerCertPaths, ca: CertificateAuthority, names: string[], clock: Clock, lockWaitMs = 15_000): Promise<boolean> {
  if (onDisk(paths, ca, names, clock).fresh) return false;
  return withFileLock(
    paths.serverMeta,
    async (stillHeld) => {
      const now = onDisk(paths, ca, names, clock);
      if (now.fresh) return false;
      const keys = await generateKeyPairAsync('rsa');
      stillHeld();
      writeServerCert(paths, ca, [...new Set([...now.names, ...names])].sort(), keys, clock);
      return true;
    },
    lockWaitMs,
  );
}
