import * as grpc from '@grpc/grpc-js';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errors } from '../../../errors';

type CaListener = (u: { caCertificate: Buffer } | null) => void;
type IdListener = (u: { certificate: Buffer; privateKey: Buffer } | null) => void;

/** The server's TLS material. */
export interface TlsMaterial {
  certPem: string;
  keyPem: string;
  caPem: string;
}

/** Reads the server's certificate, key and CA bundle and checks that key and certificate match. */
export function loadTlsMaterial(paths: { serverCert: string; serverKey: string; caCert: string }): TlsMaterial {
  const m = { certPem: readFileSync(paths.serverCert, 'utf8'), keyPem: readFileSync(paths.serverKey, 'utf8'), caPem: readFileSync(paths.caCert, 'utf8') };
  if (!new X509Certificate(m.certPem).checkPrivateKey(createPrivateKey(m.keyPem))) {
    throw errors.precondition('TLS_KEY_MISMATCH', `server key ${paths.serverKey} does not match ${paths.serverCert}`);
  }
  return m;
}

/**
 * A grpc-js certificate provider we push new material into. The server applies an
 * update to new handshakes without a restart; key and certificate always change
 * together (a file watcher could pair a new key with an old certificate).
 */
export class ReloadableCertificates implements grpc.experimental.CertificateProvider {
  private current: TlsMaterial;
  private readonly caListeners = new Set<CaListener>();
  private readonly idListeners = new Set<IdListener>();

  constructor(initial: TlsMaterial) {
    this.current = initial;
  }

  /** The CA bundle client certificates are verified against now. */
  get caPem(): string {
    return this.current.caPem;
  }

  /** Replaces the material; listeners (the server) apply it to new connections. */
  update(next: TlsMaterial): boolean {
    if (next.certPem === this.current.certPem && next.keyPem === this.current.keyPem && next.caPem === this.current.caPem) return false;
    this.current = next;
    for (const l of this.caListeners) l({ caCertificate: Buffer.from(next.caPem) });
    for (const l of this.idListeners) l({ certificate: Buffer.from(next.certPem), privateKey: Buffer.from(next.keyPem) });
    return true;
  }

  addCaCertificateListener(l: CaListener): void {
    this.caListeners.add(l);
    // grpc-js registers its watcher only after adding listeners: a synchronous first
    // update would be lost, so it is delivered on the next tick.
    process.nextTick(() => this.caListeners.has(l) && l({ caCertificate: Buffer.from(this.current.caPem) }));
  }
  removeCaCertificateListener(l: CaListener): void {
    this.caListeners.delete(l);
  }
  addIdentityCertificateListener(l: IdListener): void {
    this.idListeners.add(l);
    process.nextTick(() => this.idListeners.has(l) && l({ certificate: Buffer.from(this.current.certPem), privateKey: Buffer.from(this.current.keyPem) }));
  }
  removeIdentityCertificateListener(l: IdListener): void {
    this.idListeners.delete(l);
  }

  /**
   * Server credentials that request a client certificate but do not require one
   * (pairing must work without), verified against the CA bundle. grpc-js's exported
   * parameter names are swapped relative to what they do: the working order is
   * (identity, ca, require).
   */
  serverCredentials(): grpc.ServerCredentials {
    return grpc.experimental.createCertificateProviderServerCredentials(this, this, false);
  }
}
