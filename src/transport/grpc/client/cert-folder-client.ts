/**
 * The one client for a certificate folder (key.pem, cert.pem, ca.pem, identity.json),
 * used by the CLI, the worker and the bridge alike. It reads the folder, decides with
 * the injected clock whether the certificate is due (one threshold: identity's
 * renewal policy), renews it under the folder's lock (over mTLS while it is valid, by
 * a signed challenge once it has expired, within the gateway's window), writes the
 * result back atomically and hands out a connection that follows every renewal. When
 * renewal is impossible it says exactly what to do instead.
 */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { errors, GatewayError } from '../../../errors';
import { systemClock, type Clock } from '../../../clock';
import { CERTS_DIR_FILES, readCertsDir, type CertsDir, type IdentityMeta } from '../../../identity/certs-dir';
import { certValidity, renewalDue, type Validity } from '../../../identity/renewal-policy';
import { deviceIdFromCertificate, normalizeSerial } from '../../../identity/device-id';
import { renewalProofMessage, signProof } from '../../../identity/possession-proof';
import { writeFileAtomicSync } from '../../../store/atomic-file';
import { GatewayConnection, targetOf, type ConnectionTarget } from './gateway-connection';

/** What a renewal produced. */
export interface Renewal {
  deviceId: string;
  serial: string;
  notBefore: number;
  notAfter: number;
  /** Whether the old certificate had expired (renewed through the challenge path). */
  afterExpiry: boolean;
  certs: CertsDir;
}

/** What `renew` did. */
export type RenewOutcome =
  /** Renewed and written. */
  | { kind: 'renewed'; renewal: Renewal }
  /** Not due when read under the lock (nothing to do, or another process just renewed it). */
  | { kind: 'not-due'; certs: CertsDir };

/** Settings of a certificate-folder client. */
export interface CertFolderClientOptions {
  /** The certificate folder. */
  dir: string;
  /** The gateway ("host:port" or a target with the origin of the address, for messages). */
  target: string | ConnectionTarget;
  /** Wall clock used for every renewal decision. */
  clock?: Clock;
  /** Fraction (0..0.1) by which renewal starts early, so a fleet does not renew at once. */
  jitter?: number;
  /** Deadline of each renewal call. */
  timeoutMs?: number;
  /** How long to wait for another process that holds the folder's renewal lock. */
  lockWaitMs?: number;
  /** Extra grpc-js channel options (e.g. the user agent). */
  channelOptions?: grpc.ChannelOptions;
}

/** The folder's renewal lock (a directory; the name differs from the plain lock file of earlier releases). */
const LOCK_NAME = '.renew-lock';

/** Quotes a word for a POSIX shell when it needs it, so a printed command runs as printed. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_\/.:@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The user-facing command that gets a folder a new certificate when renewal cannot. */
export function replacementCommand(dir: string, meta: IdentityMeta | undefined, gateway: string): string {
  const role = meta?.role ?? 'operator';
  const label = shellQuote(meta?.label ?? 'device');
  const out = shellQuote(dir);
  if (meta?.issuedBy === 'gateway-first-start') return `restart the gateway (it re-issues its local identities in ${dir})`;
  // Who made the folder decides; the role only when the folder does not say.
  const paired = meta?.issuedBy === 'openclaw-cli pair';
  const provisioned = meta?.issuedBy === 'certs-tools' || (!paired && (role === 'backend' || role === 'bridge'));
  if (provisioned) return `issue a new one on the gateway host: certs-tools issue --role ${role} --name ${label} --out ${out}`;
  const pin = meta?.caFingerprint ? ` --ca-fingerprint SHA256:${meta.caFingerprint}` : ' --ca-fingerprint <SHA256 of the gateway CA>';
  const asRole = role === 'operator' ? '' : ` --role ${role}`;
  return `pair again: openclaw-cli pair --gateway ${shellQuote(gateway)}${pin} --name ${label}${asRole} --out ${out} --force`;
}

/** Reasons of a refused renewal after which only a new certificate helps, and what each means in words. */
const FINAL_REFUSALS: Readonly<Record<string, string>> = {
  RENEW_WINDOW_PASSED: '',
  DEVICE_REVOKED: 'the device was revoked',
  DEVICE_UNKNOWN: 'the gateway does not know this device',
  CERT_SUPERSEDED: 'the gateway has a newer certificate for this device than the one in the folder',
  CERT_UNTRUSTED: 'the certificate was not issued by this gateway',
  CERT_WRONG_TRUST_DOMAIN: 'the certificate belongs to another gateway',
  CERT_ROLE_MISMATCH: 'the certificate\'s role does not match the registered one',
};

/** Whether an error from `ensureFresh`/`renew` means the folder needs a new certificate (retrying will not help). */
export function needsNewCertificate(err: unknown): boolean {
  return err instanceof GatewayError && (err.reason === 'CERT_EXPIRED_BEYOND_WINDOW' || err.reason in FINAL_REFUSALS);
}

/** A certificate folder and the one connection made from it. */
export class CertFolderClient {
  readonly dir: string;
  readonly target: ConnectionTarget;
  private readonly clock: Clock;
  private readonly jitter: number;
  private conn?: GatewayConnection;
  /** The certificate the connection was made with, to notice a folder replaced on disk. */
  private connCertPem?: string;
  /**
   * A certificate the gateway refused for good, with the error: not asked about again
   * until the folder holds another certificate (no call to the gateway every minute).
   */
  private refusedFor?: { certPem: string; error: GatewayError };

  constructor(private readonly opts: CertFolderClientOptions) {
    this.dir = opts.dir;
    this.target = typeof opts.target === 'string' ? targetOf(opts.target) : opts.target;
    this.clock = opts.clock ?? systemClock;
    this.jitter = opts.jitter ?? 0;
  }

  /** Reads the folder (NOT_FOUND naming the missing file; INVALID when cert.pem is not a certificate). */
  read(): CertsDir {
    const certs = readCertsDir(this.dir);
    try {
      certValidity(certs.certPem);
    } catch {
      throw errors.invalid('CERTS_INVALID', `${join(this.dir, CERTS_DIR_FILES.cert)} is not a PEM certificate`);
    }
    return certs;
  }

  /** Whether the folder's certificate is due for renewal now (or given `certs`). */
  due(certs: CertsDir = this.read()): boolean {
    return renewalDue(certValidity(certs.certPem), this.clock.now(), this.jitter);
  }

  /**
   * Makes sure the folder holds a usable certificate: renews it when due. A failed
   * renewal of a certificate that is still valid is only reported through `onWarning`
   * (the certificate keeps working); one that has expired throws, saying what to do.
   */
  async ensureFresh(onWarning?: (message: string) => void): Promise<CertsDir> {
    const certs = this.read();
    if (!this.due(certs)) return certs;
    const { notAfter } = certValidity(certs.certPem);
    try {
      const out = await this.renew({ onlyIfDue: true });
      return out.kind === 'renewed' ? out.renewal.certs : out.certs;
    } catch (err) {
      if (notAfter <= this.clock.now() || needsNewCertificate(err)) throw err;
      onWarning?.(`could not renew the certificate in ${this.dir} (it expires ${new Date(notAfter).toISOString()}): ${(err as Error).message}`);
      return certs;
    }
  }

  /**
   * The connection made from the folder (one per client). After a renewal, or when the
   * folder was replaced on disk, the connection switches to the new certificate.
   */
  connection(): GatewayConnection {
    const certs = this.read();
    const tls = { caPem: certs.caPem, keyPem: certs.keyPem, certPem: certs.certPem };
    if (!this.conn) {
      this.conn = new GatewayConnection(this.target, tls, this.opts.channelOptions);
    } else if (this.connCertPem !== certs.certPem) {
      this.conn.reload(tls);
    }
    this.connCertPem = certs.certPem;
    return this.conn;
  }

  /**
   * Renews the certificate now, with the same key, under the folder's lock. The folder is
   * read again once the lock is held, so a process that loaded it before another one
   * renewed it does not renew a superseded certificate (`onlyIfDue` then finds it fresh).
   */
  async renew(opts: { onlyIfDue: boolean }): Promise<RenewOutcome> {
    const known = this.refusedFor;
    if (known && this.read().certPem === known.certPem) throw known.error;
    const lock = await this.lock();
    try {
      const current = this.read();
      if (opts.onlyIfDue && !this.due(current)) {
        if (this.conn) this.connection();
        return { kind: 'not-due', certs: current };
      }
      let renewal: Renewal;
      try {
        renewal = await this.renewUnlocked(current, lock.check);
      } catch (err) {
        if (needsNewCertificate(err)) this.refusedFor = { certPem: current.certPem, error: err as GatewayError };
        throw err;
      }
      if (this.conn) this.connection();
      return { kind: 'renewed', renewal };
    } finally {
      await lock.release();
    }
  }

  /**
   * Keeps the certificate fresh for a long-running process: checks the wall clock every
   * `everyMs` (timers do not run while a machine sleeps, so each check compares dates),
   * renews when due and switches the connection. Returns the function that stops it.
   */
  keepFresh(hooks: { everyMs?: number; onRenewed?: (certs: CertsDir) => void; onError?: (err: Error) => void }): () => void {
    let running = false;
    // The same failure every minute is said once (until something changes).
    let lastError: string | undefined;
    const report = (err: Error) => {
      if (err.message === lastError) return;
      lastError = err.message;
      hooks.onError?.(err);
    };
    let inUse: string | undefined;
    try {
      inUse = this.read().certPem;
    } catch {
      inUse = undefined;
    }
    const tick = async () => {
      if (running) return;
      running = true;
      try {
        const certs = await this.ensureFresh((m) => report(new Error(m)));
        if (this.conn) this.connection();
        // Renewed here, or the folder was replaced on disk (e.g. re-issued by certs-tools).
        if (certs.certPem !== inUse) {
          inUse = certs.certPem;
          lastError = undefined;
          hooks.onRenewed?.(certs);
        }
      } catch (err) {
        report(err as Error);
      } finally {
        running = false;
      }
    };
    const timer = setInterval(() => void tick(), hooks.everyMs ?? 60_000);
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Closes the connection. */
  close(): void {
    this.conn?.close();
    this.conn = undefined;
  }

  private async renewUnlocked(current: CertsDir, stillLocked: () => void): Promise<Renewal> {
    try {
      accessSync(join(this.dir, CERTS_DIR_FILES.cert), constants.W_OK);
    } catch {
      throw this.cannotRenew(current, 'CERTS_READ_ONLY', `${join(this.dir, CERTS_DIR_FILES.cert)} is read-only here, so the certificate cannot be renewed in place`);
    }
    const timeoutMs = this.opts.timeoutMs ?? 10_000;
    const expiredHere = certValidity(current.certPem).notAfter <= this.clock.now();
    let afterExpiry = expiredHere;
    let issued: { certPem: string; caPem: string } | undefined;
    if (!expiredHere) {
      try {
        issued = await this.renewOverMtls(current, timeoutMs);
      } catch (err) {
        // The gateway's clock says it has expired although ours does not: take the expired path.
        if (!(err instanceof GatewayError && err.reason === 'CERT_EXPIRED')) throw this.refused(current, err);
        afterExpiry = true;
      }
    }
    if (!issued) {
      try {
        issued = await this.renewExpired(current, timeoutMs);
      } catch (err) {
        // Our clock is ahead of the gateway's: for it the certificate is still valid, so mTLS works.
        if (!(err instanceof GatewayError && err.reason === 'RENEW_NOT_EXPIRED' && expiredHere)) throw err;
        issued = await this.renewOverMtls(current, timeoutMs).catch((e: unknown) => {
          throw this.refused(current, e);
        });
        afterExpiry = false;
      }
    }
    if (!issued.certPem) throw errors.internal('RENEW_EMPTY', 'the gateway returned no certificate');
    stillLocked();
    return this.write(current, issued.certPem, issued.caPem, afterExpiry);
  }

  /** Renewal over mTLS with the folder's certificate: a CSR of the same key (the TLS handshake proves possession). */
  private async renewOverMtls(current: CertsDir, timeoutMs: number): Promise<{ certPem: string; caPem: string }> {
    const conn = new GatewayConnection(this.target, { caPem: current.caPem, keyPem: current.keyPem, certPem: current.certPem }, this.opts.channelOptions);
    try {
      // Loaded here: CSR encoding pulls node-forge and the device protos, which only a renewal needs.
      const { createCsr } = await import('../../../identity/csr');
      const { DeviceService } = await import('../../../gen/openclaw/devices/v1/devices_pb');
      const publicKeyPem = createPublicKey(current.keyPem).export({ type: 'spki', format: 'pem' }).toString();
      const csrPem = createCsr({ privateKeyPem: current.keyPem, publicKeyPem, label: current.meta?.label ?? 'device' });
      return await conn.unary(DeviceService.method.renewCertificate, { csrPem }, { timeoutMs });
    } finally {
      conn.close();
    }
  }

  /** The expired path: a fresh challenge from the gateway, signed with the folder's key. */
  private async renewExpired(current: CertsDir, timeoutMs: number): Promise<{ certPem: string; caPem: string }> {
    const { PairingService } = await import('../../../gen/openclaw/devices/v1/devices_pb');
    const conn = new GatewayConnection(this.target, { caPem: current.caPem }, this.opts.channelOptions);
    try {
      const challenge = await conn.unary(PairingService.method.beginExpiredRenewal, { certPem: current.certPem }, { timeoutMs });
      const x = new X509Certificate(current.certPem);
      const message = renewalProofMessage({ deviceId: deviceIdFromCertificate(x), serial: x.serialNumber, challengeId: challenge.challengeId, nonce: challenge.nonce });
      const signature = signProof(current.keyPem, message);
      return await conn.unary(PairingService.method.renewExpiredCertificate, { certPem: current.certPem, challengeId: challenge.challengeId, signature }, { timeoutMs });
    } catch (err) {
      throw this.refused(current, err);
    } finally {
      conn.close();
    }
  }

  /** Turns a refusal after which only a new certificate helps into an error that says how to get one. */
  private refused(current: CertsDir, err: unknown): Error {
    if (!(err instanceof GatewayError) || !(err.reason in FINAL_REFUSALS)) return err as Error;
    // The server's own words end in advice for its other callers; ours replaces it.
    if (err.reason === 'RENEW_WINDOW_PASSED') return this.cannotRenew(current, 'CERT_EXPIRED_BEYOND_WINDOW', err.message);
    return this.cannotRenew(current, err.reason, `${FINAL_REFUSALS[err.reason]} (${err.reason})`);
  }

  private cannotRenew(current: CertsDir, reason: string, why: string): GatewayError {
    const message = `cannot renew the certificate in ${this.dir}: ${why}. To get a new one, ${replacementCommand(this.dir, current.meta, this.target.address)}`;
    return reason === 'CERTS_READ_ONLY' ? errors.precondition(reason, message, { dir: this.dir }) : errors.unauthenticated(reason, message, { dir: this.dir });
  }

  /**
   * Writes the new certificate (and CA bundle, if it changed) and updates identity.json,
   * each file atomically, the CA first. The certificate must be for the folder's key and
   * signed by the CA the folder trusts (or the one sent with it, if that one is what
   * signed the gateway we verified): nothing else ever replaces a working certificate.
   */
  private write(current: CertsDir, certPem: string, caPem: string, afterExpiry: boolean): Renewal {
    let x: X509Certificate;
    try {
      x = new X509Certificate(certPem);
    } catch {
      throw errors.internal('RENEW_BAD_CERT', 'the gateway returned something that is not a certificate');
    }
    if (!x.checkPrivateKey(createPrivateKey(current.keyPem))) throw errors.internal('RENEW_WRONG_KEY', 'the gateway returned a certificate for another key; keeping the current one');
    const ca = caPem || current.caPem;
    if (!x.verify(new X509Certificate(ca).publicKey)) throw errors.internal('RENEW_UNTRUSTED', 'the renewed certificate is not signed by the gateway CA; keeping the current one');
    const serial = normalizeSerial(x.serialNumber);
    const v: Validity = certValidity(certPem);
    const deviceId = deviceIdFromCertificate(x);
    if (ca.trim() !== current.caPem.trim()) writeFileAtomicSync(join(this.dir, CERTS_DIR_FILES.ca), ca, 0o644);
    writeFileAtomicSync(join(this.dir, CERTS_DIR_FILES.cert), certPem, 0o644);
    let meta = current.meta;
    if (meta) {
      meta = { ...meta, deviceId, serial, notBefore: new Date(v.notBefore).toISOString(), notAfter: new Date(v.notAfter).toISOString() };
      writeFileAtomicSync(join(this.dir, CERTS_DIR_FILES.meta), JSON.stringify(meta, null, 2) + '\n', 0o644);
    }
    this.refusedFor = undefined;
    return { deviceId, serial, notBefore: v.notBefore, notAfter: v.notAfter, afterExpiry, certs: { ...current, certPem, caPem: ca, meta } };
  }

  /**
   * Takes the folder's renewal lock (a lock directory, shared by every process on this
   * host), waiting without blocking the event loop. A holder that died is taken over.
   */
  private async lock(): Promise<{ release: () => Promise<void>; check: () => void }> {
    const { default: lockfile } = await import('proper-lockfile');
    const waitMs = this.opts.lockWaitMs ?? 15_000;
    const deadline = Date.now() + waitMs;
    // A lock can be lost while held (the machine slept past its staleness, someone removed
    // it): proper-lockfile then calls onCompromised, whose default throws from a timer and
    // kills the process. Here it is noted, and the renewal does not write.
    let compromised: Error | undefined;
    const check = () => {
      if (compromised) throw errors.unavailable('RENEW_LOCK_LOST', `lost the renewal lock of ${this.dir} while renewing (${compromised.message}); try again`);
    };
    for (let step = 20; ; step = Math.min(step * 2, 250)) {
      try {
        const release = await lockfile.lock(this.dir, {
          lockfilePath: join(this.dir, LOCK_NAME),
          realpath: false,
          stale: 20_000,
          update: 5_000,
          onCompromised: (err) => {
            compromised = err;
          },
        });
        return { release: () => release().catch(() => undefined), check };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EACCES' || code === 'EROFS' || code === 'EPERM') {
          throw errors.precondition('CERTS_READ_ONLY', `cannot renew the certificate in ${this.dir}: the folder is read-only here; renew it where it is writable, or mount it writable`);
        }
        if (code === 'ENOENT' && !existsSync(this.dir)) throw errors.notFound('CERTS_NOT_FOUND', `no certificate folder ${this.dir}`);
        if (code !== 'ELOCKED') {
          throw errors.unavailable('RENEW_LOCK_FAILED', `cannot take the renewal lock ${join(this.dir, LOCK_NAME)}: ${code ?? (err as Error).message}`);
        }
        if (Date.now() >= deadline) throw errors.unavailable('RENEW_IN_PROGRESS', `another process is renewing the certificate in ${this.dir}; try again in a minute`);
        await new Promise((resolve) => setTimeout(resolve, step));
      }
    }
  }
}
