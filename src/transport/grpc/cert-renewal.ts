import { X509Certificate } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../logging';
import { assertWritableDir, CERTS_DIR_FILES, createCsr, readCertsDir, writeCertsDir, certIdentity, type CertsDir } from '../../identity';
import { createPublicKey } from 'node:crypto';
import { DeviceService } from '../../gen/openclaw/devices/v1/devices_pb';
import { GatewayConnection, unaryCall } from './client/gateway-connection';

/** Fraction of a certificate's lifetime after which clients renew it. */
export const RENEW_AT_FRACTION = 2 / 3;

/**
 * Whether a certificate should be renewed now: past two thirds of its lifetime, with
 * a per-process jitter so a fleet does not renew at the same second. Compares with
 * the wall clock, since timers do not advance while a machine sleeps.
 */
export function shouldRenew(certPem: string, now: number, jitter = 0): boolean {
  const x = new X509Certificate(certPem);
  const from = Date.parse(x.validFrom);
  const to = Date.parse(x.validTo);
  return now >= from + (to - from) * (RENEW_AT_FRACTION + jitter);
}

/**
 * Renews the certificate of a certificate folder over mTLS with the same key and
 * writes the new certificate back (atomically). Returns the new folder content.
 */
export async function renewCertsDir(address: string, dir: string): Promise<CertsDir> {
  const current = readCertsDir(dir);
  // Check first: renewing makes the old serial invalid, so a folder that cannot take
  // the new certificate must not be renewed at all.
  assertWritableDir(dir);
  accessSync(join(dir, CERTS_DIR_FILES.cert), constants.W_OK);
  const conn = new GatewayConnection(address, { caPem: current.caPem, keyPem: current.keyPem, certPem: current.certPem });
  try {
    const publicKeyPem = createPublicKey(current.keyPem).export({ type: 'spki', format: 'pem' }).toString();
    const label = current.meta?.label ?? 'device';
    const csrPem = createCsr({ privateKeyPem: current.keyPem, publicKeyPem, label });
    const c = conn.client(DeviceService);
    const res = await unaryCall(c, c.renewCertificate, { csrPem }, { timeoutMs: 10_000 });
    const id = certIdentity(res.certPem);
    const x = new X509Certificate(res.certPem);
    writeCertsDir(dir, {
      keyPem: current.keyPem,
      certPem: res.certPem,
      caPem: res.caPem || current.caPem,
      meta: {
        ...(current.meta ?? { label, role: id.role, scopes: [], trustDomain: id.trustDomain, caFingerprint: '', issuedBy: 'renewal' }),
        deviceId: id.deviceId,
        serial: id.serial,
        notBefore: new Date(x.validFrom).toISOString(),
        notAfter: new Date(x.validTo).toISOString(),
      },
    });
    return readCertsDir(dir);
  } finally {
    conn.close();
  }
}

/**
 * Keeps a long-running component's certificate fresh: every ten minutes, past two
 * thirds of its life, renews it in its folder and switches the connection to it.
 * Returns the function that stops the checks.
 */
export function keepCertificateFresh(opts: { address: string; dir: string; conn: GatewayConnection; log: Logger; everyMs?: number }): () => void {
  const jitter = Math.random() * 0.1;
  const timer = setInterval(() => {
    let certPem: string;
    try {
      certPem = readCertsDir(opts.dir).certPem;
    } catch {
      return;
    }
    if (!shouldRenew(certPem, Date.now(), jitter)) return;
    renewCertsDir(opts.address, opts.dir).then(
      (fresh) => {
        opts.conn.reload({ caPem: fresh.caPem, keyPem: fresh.keyPem, certPem: fresh.certPem });
        opts.log.info({ dir: opts.dir }, 'renewed the certificate');
      },
      (err: Error) => opts.log.warn({ dir: opts.dir, err: err.message }, 'certificate renewal failed; will retry'),
    );
  }, opts.everyMs ?? 10 * 60_000);
  timer.unref();
  return () => clearInterval(timer);
}
