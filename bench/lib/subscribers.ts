/**
 * Event subscribers for the fan-out scenario: N EventService.Subscribe streams, each on
 * its own mTLS connection (own subchannel), as N devices would hold them. Responses are
 * taken as raw bytes (no decoding) so the load generator stays cheap; only while
 * latency is sampled is each delivery decoded to read its publish time.
 */
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { SubscribeRequestSchema, SubscribeResponseSchema } from '../../src/gen/openclaw/events/v1/events_pb';
import type { ClientTls } from '../../src/transport/grpc/client/gateway-connection';
import { wallMs, withTimeout } from '../measure';
import { OWN_CONNECTION } from './grpc';

const SUBSCRIBE_PATH = '/openclaw.events.v1.EventService/Subscribe';

/** N open subscriptions and what they received. */
export class SubscriberPool {
  /** Deliveries received by all subscribers (the `subscribed` greeting not counted). */
  delivered = 0;
  /** Wall time of the latest delivery (ms, performance.now()). */
  lastDeliveryAt = 0;
  /** While sampling latency: each delivery's receive time (wall clock) and bytes, decoded afterwards. */
  private samples: { at: number; b: Buffer }[] | null = null;
  private readonly clients: grpc.Client[] = [];
  private readonly calls: grpc.ClientReadableStream<Buffer>[] = [];
  private waiter?: { target: number; resolve: () => void };
  private failure?: Error;
  private closing = false;

  get size(): number {
    return this.calls.length;
  }

  /** Opens `n` subscriptions (`concurrency` handshakes at a time); resolves when every one got its greeting. */
  static async open(address: string, tls: ClientTls | ClientTls[], n: number, opts: { concurrency?: number; types?: string[] } = {}): Promise<SubscriberPool> {
    const pool = new SubscriberPool();
    // Several identities: subscription i uses identity i mod k (a device may hold only so many subscriptions).
    const all = (Array.isArray(tls) ? tls : [tls]).map((t) => grpc.credentials.createSsl(Buffer.from(t.caPem), t.keyPem ? Buffer.from(t.keyPem) : null, t.certPem ? Buffer.from(t.certPem) : null));
    const request = Buffer.from(toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { types: opts.types ?? ['bench'] })));
    const concurrency = opts.concurrency ?? 32;
    let opened = 0;
    const openOne = (i: number) =>
      new Promise<void>((resolve, reject) => {
        // channelz bookkeeping of 1,000 client channels costs the load generator, not the server.
        const client = new grpc.Client(address, all[i % all.length], { ...OWN_CONNECTION, 'grpc.enable_channelz': 0 });
        pool.clients.push(client);
        const call = client.makeServerStreamRequest<Buffer, Buffer>(SUBSCRIBE_PATH, (b) => b, (b) => b, request, new grpc.Metadata(), {});
        pool.calls.push(call);
        let greeted = false;
        call.on('data', (b: Buffer) => {
          if (!greeted) {
            greeted = true;
            resolve();
            return;
          }
          pool.onDelivery(b);
        });
        call.on('error', (err: grpc.ServiceError) => {
          if (pool.closing && err.code === grpc.status.CANCELLED) return;
          const e = new Error(`subscription failed: ${err.message}`);
          if (!greeted) reject(e);
          else pool.fail(e);
        });
      });
    const workers = Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (opened < n) {
        await openOne(opened++);
      }
    });
    await withTimeout(Promise.all(workers), 30_000 + n * 50, `opening ${n} subscriptions`).catch((err: unknown) => {
      pool.close();
      throw err;
    });
    return pool;
  }

  private onDelivery(b: Buffer): void {
    this.delivered++;
    this.lastDeliveryAt = performance.now();
    if (this.samples) this.samples.push({ at: wallMs(), b });
    if (this.waiter && this.delivered >= this.waiter.target) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve();
    }
  }

  private fail(err: Error): void {
    this.failure ??= err;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve();
    }
  }

  /** Starts keeping deliveries for latency (decoding waits for `takeLatencies`, off the measured path). */
  sampleLatency(): void {
    this.samples = [];
  }

  /** Stops sampling; publish-to-receive time (ms) of every delivery since `sampleLatency()`. */
  takeLatencies(): number[] {
    const s = this.samples ?? [];
    this.samples = null;
    return s.map(({ at, b }) => at - (JSON.parse(fromBinary(SubscribeResponseSchema, b).event?.payloadJson ?? '{"t":0}') as { t: number }).t);
  }

  /** Resolves when `delivered` reaches `target` (rejects after `timeoutMs` or when a stream failed). */
  async waitFor(target: number, timeoutMs: number): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.delivered < target) {
      await withTimeout(new Promise<void>((resolve) => (this.waiter = { target, resolve })), timeoutMs, `waiting for ${target} deliveries (have ${this.delivered})`).finally(() => {
        this.waiter = undefined;
      });
    }
    if (this.failure) throw this.failure;
  }

  /** Cancels every subscription and closes every connection. */
  close(): void {
    this.closing = true;
    for (const c of this.calls) c.cancel();
    for (const c of this.clients) c.close();
  }
}
