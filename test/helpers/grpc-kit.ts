/**
 * Helpers for the gRPC integration tests (test/grpc): connections that are always
 * closed, typed assertions on refusals (gRPC code + the server's reason), a reader
 * for server streams that waits on messages instead of sleeping, and ways to make
 * keys, CSRs and certificates (ours, foreign, expired, not yet valid, legacy Ed25519).
 */
import * as grpc from '@grpc/grpc-js';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { GatewayError } from '../../src/errors';
import { CertificateAuthority, createCsr, DeviceRegistry, generateRsaKeyPair, type KeyPairPem, type KeyType } from '../../src/identity';
import { ManualClock } from '../../src/clock';
import { silentLogger } from '../../src/logging';
import { GatewayConnection, type ClientTls } from '../../src/transport/grpc/client/gateway-connection';
import { fromGrpcError, REASON_KEY } from '../../src/transport/grpc/status-mapping';
import type { TestGateway } from './gateway';

export const DAY_MS = 24 * 3600_000;

/** Connections opened by a test file; `closeAll()` in afterAll closes every one. */
export class Connections {
  private readonly open: { close(): void }[] = [];

  /** A GatewayConnection with its own subchannel (never shares a TLS session with another test connection). */
  connect(address: string, tls: ClientTls): GatewayConnection {
    const c = new GatewayConnection(address, tls, { 'grpc.use_local_subchannel_pool': 1 });
    this.open.push(c);
    return c;
  }

  /** A raw grpc-js client (for paths that have no typed client: unknown methods, health, reflection). */
  raw(address: string, tls: ClientTls): grpc.Client {
    const creds = grpc.credentials.createSsl(Buffer.from(tls.caPem), tls.keyPem ? Buffer.from(tls.keyPem) : null, tls.certPem ? Buffer.from(tls.certPem) : null);
    const c = new grpc.Client(address, creds, { 'grpc.use_local_subchannel_pool': 1 });
    this.open.push(c);
    return c;
  }

  closeAll(): void {
    for (const c of this.open.splice(0)) c.close();
  }
}

/** The gRPC status code a GatewayError came back with (set by fromGrpcError). */
export function grpcCodeOf(err: unknown): number | undefined {
  return err instanceof GatewayError ? (err.details.grpcCode as number | undefined) : undefined;
}

/**
 * Awaits a call that must fail and checks the gRPC status code and the server's
 * machine-readable reason. Returns the error for further checks.
 */
export async function expectRefused(call: Promise<unknown>, code: grpc.status, reason: string): Promise<GatewayError> {
  let outcome: unknown;
  try {
    outcome = await call;
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    expect({ code: grpc.status[grpcCodeOf(err) ?? -1], reason: err.reason }).toEqual({ code: grpc.status[code], reason });
    return err;
  }
  throw new Error(`expected the call to fail with ${grpc.status[code]}/${reason}, but it succeeded: ${JSON.stringify(outcome, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
}

/** How a server stream ended. */
export interface StreamEnd {
  /** Set when the stream ended with a non-OK status. */
  error?: GatewayError;
  /** When the end was observed (Date.now()). */
  at: number;
}

/**
 * Reads a server stream message by message. `next()` resolves with the next message
 * (or rejects if the stream ends first or nothing comes within the guard timeout);
 * `ended` resolves when the stream finishes, with the error if it failed.
 */
export class StreamReader<T> {
  readonly ended: Promise<StreamEnd>;
  private readonly queue: T[] = [];
  private waiter?: { resolve: (m: T) => void; reject: (e: Error) => void };
  private end?: StreamEnd;

  constructor(readonly call: grpc.ClientReadableStream<T>) {
    let resolveEnd!: (e: StreamEnd) => void;
    this.ended = new Promise<StreamEnd>((r) => (resolveEnd = r));
    const finish = (e: StreamEnd) => {
      if (this.end) return;
      this.end = e;
      resolveEnd(e);
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w.reject(new Error(`stream ended before the next message${e.error ? `: ${e.error.reason} ${e.error.message}` : ''}`));
      }
    };
    call.on('data', (m: T) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w.resolve(m);
      } else this.queue.push(m);
    });
    call.on('error', (err: grpc.ServiceError) => finish({ error: fromGrpcError(err), at: Date.now() }));
    call.on('end', () => finish({ at: Date.now() }));
  }

  /** The next message; rejects if the stream ends first or none arrives within `guardMs`. */
  next(guardMs = 5000): Promise<T> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.end) return Promise.reject(new Error('stream already ended'));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no stream message within ${guardMs} ms`));
      }, guardMs);
      this.waiter = {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /** Messages received but not read yet. */
  get pending(): readonly T[] {
    return this.queue;
  }

  /** Resolves with the stream's end, or rejects if it has not ended within `guardMs`. */
  endWithin(guardMs: number): Promise<StreamEnd> {
    let timer: NodeJS.Timeout | undefined;
    const guard = new Promise<never>((_r, reject) => {
      timer = setTimeout(() => reject(new Error(`stream did not end within ${guardMs} ms`)), guardMs);
    });
    return Promise.race([this.ended, guard]).finally(() => clearTimeout(timer));
  }

  /** Cancels the call from the client side and waits until grpc-js reports the end. */
  async cancel(): Promise<StreamEnd> {
    this.call.cancel();
    return this.ended;
  }
}

/** A fresh RSA-2048 key pair and helpers to make CSRs for it. */
export interface TestKey extends KeyPairPem {
  csr(label?: string): string;
}

/** Generates an RSA key (native, ~100 ms) and returns it with a CSR factory. */
export function newKey(bits = 2048): TestKey {
  const k = generateRsaKeyPair(bits);
  return { ...k, csr: (label = 'test-device') => createCsr({ privateKeyPem: k.privateKeyPem, publicKeyPem: k.publicKeyPem, label }) };
}

/** An identity a test holds: key, certificate, CA and device id. */
export interface TestIdentity {
  keyPem: string;
  certPem: string;
  caPem: string;
  deviceId: string;
}

/**
 * Registers a device as if an earlier run (or certs-tools, another process) had
 * issued it at time `at`: a second registry over the gateway's device file and CA,
 * with its own clock. Used for certificates that are expired or not yet valid by the
 * real clock, which the TLS layer checks.
 */
export async function provisionAt(t: TestGateway, at: number, input: { role: string; label: string; scopes?: string[]; lifetimeMs?: number; keyType?: KeyType }): Promise<TestIdentity> {
  const registry = new DeviceRegistry({ store: t.gw.devices, ca: t.gw.registry.ca, clock: new ManualClock(at), log: silentLogger(), policy: t.gw.registry.policy });
  const issued = await registry.provision(input);
  return { keyPem: issued.keyPem, certPem: issued.certPem, caPem: issued.caPem, deviceId: issued.device.id };
}

/** Provisions a device through the gateway's own registry (as certs-tools would). */
export async function provision(t: TestGateway, input: { role: string; label: string; scopes?: string[] }): Promise<TestIdentity> {
  const issued = await t.gw.registry.provision(input);
  return { keyPem: issued.keyPem, certPem: issued.certPem, caPem: issued.caPem, deviceId: issued.device.id };
}

/** A client certificate from a CA the gateway has never seen (same SPIFFE shape; by default another trust domain). */
export function foreignIdentity(opts: { role?: 'operator' | 'node'; trustDomain?: string } = {}): { keyPem: string; certPem: string; caPem: string } {
  const now = Date.now();
  const td = opts.trustDomain ?? 'foreign.example';
  const role = opts.role ?? 'operator';
  const made = CertificateAuthority.create(td, now, 'OpenClaw Gateway CA');
  const ca = new CertificateAuthority(made.certPem, made.keyPem, td);
  const key = generateRsaKeyPair(2048);
  const issued = ca.issueClient({ publicKeyPem: key.publicKeyPem, role, label: 'intruder', now, lifetimeMs: DAY_MS });
  return { keyPem: key.privateKeyPem, certPem: issued.certPem, caPem: made.certPem };
}

/** A legacy (OpenClaw v4) device key: raw Ed25519 public key (base64url) and its id (sha256 hex of the raw key). */
export function legacyDeviceKey(): { deviceId: string; publicKey: string } {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ type: 'spki', format: 'der' }).subarray(-32);
  return { deviceId: createHash('sha256').update(raw).digest('hex'), publicKey: raw.toString('base64url') };
}

/** The serial (lowercase hex, no leading zeros) of the certificate a fresh TLS handshake with the server shows. */
export function serverCertSerial(host: string, port: number, caPem: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host, port, ca: caPem, ALPNProtocols: ['h2'] });
    socket.once('secureConnect', () => {
      const serial = socket.getPeerCertificate().serialNumber.toLowerCase().replace(/^0+/, '');
      socket.end();
      socket.destroy();
      resolve(serial);
    });
    socket.once('error', reject);
  });
}

/** Public key PEM of a private key PEM. */
export function publicKeyOf(privateKeyPem: string): string {
  return createPublicKey(privateKeyPem).export({ type: 'spki', format: 'pem' }).toString();
}

const identity = (b: Buffer) => b;

/** A unary call on a raw client with raw bytes in and out; rejects with a GatewayError. */
export function rawUnary(client: grpc.Client, path: string, body: Buffer = Buffer.alloc(0), md = new grpc.Metadata()): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest<Buffer, Buffer>(path, identity, identity, body, md, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(fromGrpcError(err)) : resolve(res!)));
  });
}

/** A server-streaming call on a raw client: resolves with the messages, rejects with a GatewayError. */
export function rawServerStream(client: grpc.Client, path: string, body: Buffer = Buffer.alloc(0)): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const call = client.makeServerStreamRequest<Buffer, Buffer>(path, identity, identity, body, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
    call.on('data', (m: Buffer) => out.push(m));
    call.on('error', (err: grpc.ServiceError) => reject(fromGrpcError(err)));
    call.on('end', () => resolve(out));
  });
}

/** The reason trailer of a raw grpc-js error. */
export function reasonOf(err: grpc.ServiceError): string | undefined {
  const v = err.metadata?.get(REASON_KEY)[0];
  return typeof v === 'string' ? v : undefined;
}

/** Lists services through gRPC server reflection (v1 or v1alpha), with a minimal hand-rolled wire codec. */
export function reflectionListServices(client: grpc.Client, version: 'v1' | 'v1alpha' = 'v1'): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest<Buffer, Buffer>(`/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`, identity, identity, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
    const names: string[] = [];
    call.on('data', (buf: Buffer) => {
      // ServerReflectionResponse.list_services_response = 6 { repeated ServiceResponse service = 1 { string name = 1 } }
      const r = new BinaryReader(buf);
      while (r.pos < r.len) {
        const [field, wt] = r.tag();
        if (field !== 6) {
          r.skip(wt);
          continue;
        }
        const list = new BinaryReader(r.bytes());
        while (list.pos < list.len) {
          const [f, w] = list.tag();
          if (f !== 1) {
            list.skip(w);
            continue;
          }
          const svc = new BinaryReader(list.bytes());
          while (svc.pos < svc.len) {
            const [sf, sw] = svc.tag();
            if (sf === 1) names.push(svc.string());
            else svc.skip(sw);
          }
        }
      }
      call.end();
    });
    call.on('error', (err: grpc.ServiceError) => reject(fromGrpcError(err)));
    call.on('end', () => resolve(names));
    // ServerReflectionRequest.list_services = 7 (string)
    call.write(Buffer.from(new BinaryWriter().tag(7, WireType.LengthDelimited).string('*').finish()));
  });
}

/** The DER bytes of the first PEM block, base64 (compares PEMs regardless of line endings and wrapping). */
export function pemBody(pem: string): string {
  const m = /-----BEGIN [A-Z ]+-----([\s\S]*?)-----END [A-Z ]+-----/.exec(pem);
  return m ? m[1].replace(/\s+/g, '') : '';
}

/** A certificate serial as the registry compares it: lowercase hex without leading zeros. */
export function normSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+/, '');
}
