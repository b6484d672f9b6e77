import { existsSync, readFileSync, accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { errors } from '../errors';
import { writeFileAtomicSync, ensureDir } from '../store/atomic-file';

/** What a certificate folder (written by `certs-tools issue` or `openclaw-cli pair`) says about itself. */
export interface IdentityMeta {
  deviceId: string;
  label: string;
  role: string;
  scopes: string[];
  serial: string;
  notBefore: string;
  notAfter: string;
  trustDomain: string;
  caFingerprint: string;
  /** Where the gateway was reached when this folder was made, if known. */
  gateway?: string;
  issuedBy: string;
}

/** The file names inside a certificate folder. */
export const CERTS_DIR_FILES = { key: 'key.pem', cert: 'cert.pem', ca: 'ca.pem', meta: 'identity.json' } as const;

/** A loaded certificate folder. */
export interface CertsDir {
  dir: string;
  keyPem: string;
  certPem: string;
  caPem: string;
  meta?: IdentityMeta;
}

/** Fails with a clear message when a folder cannot be written. */
export function assertWritableDir(dir: string): void {
  try {
    ensureDir(dir);
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw errors.invalid('OUT_DIR_NOT_WRITABLE', `cannot write to ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * Writes key (0600), certificate, CA bundle and metadata into a folder, each file
 * atomically. The key goes first so a folder never holds a cert without its key.
 */
export function writeCertsDir(dir: string, content: { keyPem: string; certPem: string; caPem: string; meta: IdentityMeta }): void {
  assertWritableDir(dir);
  writeFileAtomicSync(join(dir, CERTS_DIR_FILES.key), content.keyPem, 0o600);
  writeFileAtomicSync(join(dir, CERTS_DIR_FILES.cert), content.certPem, 0o644);
  writeFileAtomicSync(join(dir, CERTS_DIR_FILES.ca), content.caPem, 0o644);
  writeFileAtomicSync(join(dir, CERTS_DIR_FILES.meta), JSON.stringify(content.meta, null, 2) + '\n', 0o644);
}

/** Whether a folder holds a key, certificate and CA bundle. */
export function hasCertsDir(dir: string): boolean {
  return [CERTS_DIR_FILES.key, CERTS_DIR_FILES.cert, CERTS_DIR_FILES.ca].every((f) => existsSync(join(dir, f)));
}

/** Reads a certificate folder; NOT_FOUND naming the folder and the missing file when incomplete. */
export function readCertsDir(dir: string): CertsDir {
  const read = (name: string): string => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch {
      throw errors.notFound('CERTS_NOT_FOUND', `no ${name} in ${dir}`, { dir });
    }
  };
  const keyPem = read(CERTS_DIR_FILES.key);
  const certPem = read(CERTS_DIR_FILES.cert);
  const caPem = read(CERTS_DIR_FILES.ca);
  let meta: IdentityMeta | undefined;
  try {
    meta = JSON.parse(readFileSync(join(dir, CERTS_DIR_FILES.meta), 'utf8')) as IdentityMeta;
  } catch {
    meta = undefined;
  }
  return { dir, keyPem, certPem, caPem, meta };
}
