import { existsSync, readFileSync, accessSync, constants } from 'node:fs';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { errors } from '../errors';
import { writeFileAtomicSync, ensureDir } from '../store/atomic-file';
import type { KeyType } from './keys';

/** What a certificate folder (written by `certs-tools issue` or `openclaw-cli pair`) says about itself. */
export interface IdentityMeta {
  deviceId: string;
  label: string;
  role: string;
  scopes: string[];
  /** The certificate's key type (absent in folders written before key types existed). */
  keyType?: KeyType;
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
 * Whether a folder already holds the private key of `publicKeyPem` ('matches') or no
 * key at all ('absent'). A key.pem of another key (a stale one from an earlier issue)
 * is refused with FAILED_PRECONDITION rather than deleted: it may still be in use,
 * and a folder must never pair a certificate with a key that is not its own.
 */
export function checkExistingKey(dir: string, publicKeyPem: string): 'absent' | 'matches' {
  const file = join(dir, CERTS_DIR_FILES.key);
  if (!existsSync(file)) return 'absent';
  let same = false;
  try {
    const existing = createPublicKey(createPrivateKey(readFileSync(file, 'utf8'))).export({ type: 'spki', format: 'der' });
    same = existing.equals(createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' }));
  } catch {
    same = false;
  }
  if (!same) throw errors.precondition('STALE_KEY', `${file} is not the new certificate's key (another key, or unreadable); move it away or write to another folder: a certificate is never paired with a key that is not its own`);
  return 'matches';
}

/**
 * Writes key (0600), certificate, CA bundle and metadata into a folder, each file
 * atomically. The key goes first so a folder never holds a cert without its key.
 * Without a key (a CSR-issued identity: the key stays on the device) the folder must
 * hold no key or the certificate's own (checkExistingKey).
 */
export function writeCertsDir(dir: string, content: { keyPem?: string; certPem: string; caPem: string; meta: IdentityMeta }): void {
  assertWritableDir(dir);
  if (content.keyPem !== undefined) writeFileAtomicSync(join(dir, CERTS_DIR_FILES.key), content.keyPem, 0o600);
  else checkExistingKey(dir, createPublicKey(content.certPem).export({ type: 'spki', format: 'pem' }).toString());
  writeFileAtomicSync(join(dir, CERTS_DIR_FILES.cert), content.certPem, 0o644);
  writeFileAtomicSync(join(dir, CERTS_DIR_FILES.ca), content.caPem, 0o644);
  writeFileAtomicSync(join(dir, CERTS_DIR_FILES.meta), JSON.stringify(content.meta, null, 2) + '\n', 0o644);
}

/** Whether a folder holds a key, certificate and CA bundle. */
export function hasCertsDir(dir: string): boolean {
  return [CERTS_DIR_FILES.key, CERTS_DIR_FILES.cert, CERTS_DIR_FILES.ca].every((f) => existsSync(join(dir, f)));
}

/** Reads just the certificate of a folder (which may have no key: CSR-issued); NOT_FOUND when there is none. */
export function readCertificateOf(dir: string): string {
  try {
    return readFileSync(join(dir, CERTS_DIR_FILES.cert), 'utf8');
  } catch {
    throw errors.notFound('CERTS_NOT_FOUND', `no ${CERTS_DIR_FILES.cert} in ${dir}`, { dir });
  }
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
