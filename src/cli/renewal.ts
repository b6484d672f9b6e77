/**
 * Renewal of the certificate in a certificate folder, for `openclaw-cli renew` and for
 * the automatic renewal every command attempts when less than a third of the
 * certificate's lifetime is left. Same key, new certificate: DeviceService.RenewCertificate
 * while the certificate is valid, PairingService.RenewExpiredCertificate (anonymous,
 * proof of possession by CSR) shortly after it expired.
 */
import { X509Certificate, createPublicKey } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { errors, GatewayError } from '../errors';
import { CERTS_DIR_FILES, readCertsDir, type CertsDir, type IdentityMeta } from '../identity/certs-dir';
import { createCsr } from '../identity/csr';
import { deviceIdFromCertificate } from '../identity/device-id';
import { writeFileAtomicSync } from '../store/atomic-file';
import { DeviceService, PairingService } from '../gen/openclaw/devices/v1/devices_pb';
import { CliConnection, type ConnectionTarget } from './cli-connection';
import { certValidity, renewalDue } from './cert-validity';

/** What a renewal produced. */
export interface RenewResult {
  deviceId: string;
  serial: string;
  notBefore: number;
  notAfter: number;
  /** Whether the old certificate had already expired (renewed anonymously). */
  afterExpiry: boolean;
  certPem: string;
  caPem: string;
}

const LOCK_FILE = '.renew.lock';
const STALE_LOCK_MS = 60_000;

/**
 * Takes a lock file in the folder so two CLIs that both find the certificate due do not
 * both renew (the second certificate would supersede the first one another process just
 * wrote). Returns the release function, or undefined when someone else holds it.
 */
function tryLock(dir: string, now: number): (() => void) | undefined {
  const path = join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          unlinkSync(path);
        } catch {
          /* already gone */
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        if (now - statSync(path).mtimeMs < STALE_LOCK_MS) return undefined;
        unlinkSync(path);
      } catch {
        /* raced with its owner: try once more */
      }
    }
  }
  return undefined;
}

/**
 * Waits (up to `timeoutMs`) until no other process holds the renewal lock of a folder,
 * so a command that found the certificate due while another CLI renews it goes on with
 * the new certificate instead of the one that renewal just superseded.
 */
export async function waitForRenewal(dir: string, timeoutMs = 10_000): Promise<void> {
  const path = join(dir, LOCK_FILE);
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (Date.now() - statSync(path).mtimeMs >= STALE_LOCK_MS || Date.now() >= until) return;
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Writes the new certificate (and CA bundle, if it changed) and updates identity.json; each file atomically. */
function writeRenewed(current: CertsDir, certPem: string, caPem: string): { serial: string; notBefore: number; notAfter: number; deviceId: string } {
  const x = new X509Certificate(certPem);
  const serial = x.serialNumber.toLowerCase().replace(/^0+/, '');
  const { notBefore, notAfter } = certValidity(certPem);
  const deviceId = deviceIdFromCertificate(x);
  writeFileAtomicSync(join(current.dir, CERTS_DIR_FILES.cert), certPem, 0o644);
  if (caPem && caPem.trim() !== current.caPem.trim()) writeFileAtomicSync(join(current.dir, CERTS_DIR_FILES.ca), caPem, 0o644);
  let meta: IdentityMeta | undefined;
  try {
    meta = JSON.parse(readFileSync(join(current.dir, CERTS_DIR_FILES.meta), 'utf8')) as IdentityMeta;
  } catch {
    meta = undefined;
  }
  if (meta) {
    const next: IdentityMeta = { ...meta, deviceId, serial, notBefore: new Date(notBefore).toISOString(), notAfter: new Date(notAfter).toISOString() };
    writeFileAtomicSync(join(current.dir, CERTS_DIR_FILES.meta), JSON.stringify(next, null, 2) + '\n', 0o644);
  }
  return { serial, notBefore, notAfter, deviceId };
}

/** What renewCertsDir did. */
export type RenewOutcome =
  /** Renewed and written. */
  | { kind: 'renewed'; result: RenewResult; certs: CertsDir }
  /** Another process holds the renewal lock of the folder. */
  | { kind: 'busy' }
  /** `onlyIfDue` and the folder (as read under the lock) is not due: someone renewed it already. */
  | { kind: 'not-due'; certs: CertsDir };

/**
 * Renews the certificate in a folder with the same key and writes it back, under the
 * folder's renewal lock. The folder is read after taking the lock, so a process that
 * loaded it before another one renewed it does not renew a superseded certificate.
 */
export async function renewCertsDir(dir: string, target: ConnectionTarget, opts: { now: number; onlyIfDue: boolean; timeoutMs?: number }): Promise<RenewOutcome> {
  const release = tryLock(dir, opts.now);
  if (!release) return { kind: 'busy' };
  try {
    const current = readCertsDir(dir);
    if (opts.onlyIfDue && !renewalDue(current.certPem, opts.now)) return { kind: 'not-due', certs: current };
    const validity = certValidity(current.certPem);
    const publicKeyPem = createPublicKey(current.keyPem).export({ type: 'spki', format: 'pem' }).toString();
    const csrPem = createCsr({ privateKeyPem: current.keyPem, publicKeyPem, label: current.meta?.label ?? 'device' });
    const timeoutMs = opts.timeoutMs ?? 10_000;
    let afterExpiry = validity.notAfter <= opts.now;
    let res: { certPem: string; caPem: string } | undefined;
    if (!afterExpiry) {
      const conn = new CliConnection(target, { caPem: current.caPem, keyPem: current.keyPem, certPem: current.certPem });
      try {
        res = await conn.unary(DeviceService.method.renewCertificate, { csrPem }, { timeoutMs });
      } catch (err) {
        // Our clock may be behind the gateway's: it says expired, so take the expired path.
        if (!(err instanceof GatewayError && err.reason === 'CERT_EXPIRED')) throw err;
        afterExpiry = true;
      } finally {
        conn.close();
      }
    }
    if (!res) {
      const conn = new CliConnection(target, { caPem: current.caPem });
      try {
        res = await conn.unary(PairingService.method.renewExpiredCertificate, { certPem: current.certPem, csrPem }, { timeoutMs });
      } finally {
        conn.close();
      }
    }
    if (!res.certPem) throw errors.internal('RENEW_EMPTY', 'the gateway returned no certificate');
    const written = writeRenewed(current, res.certPem, res.caPem);
    const caPem = res.caPem || current.caPem;
    return { kind: 'renewed', result: { ...written, afterExpiry, certPem: res.certPem, caPem }, certs: { ...current, certPem: res.certPem, caPem } };
  } finally {
    release();
  }
}
