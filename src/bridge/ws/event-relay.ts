import type * as grpc from '@grpc/grpc-js';
import { ErrorCode, errors, type GatewayError } from '../../errors';
import type { Logger } from '../../logging';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { EventService, type ClientInfoSchema, type SubscribeResponse } from '../../gen/openclaw/events/v1/events_pb';
import { callMetadata, type CallOpts, type GatewayConnection } from '../../transport/grpc/client/gateway-connection';
import { fromGrpcError } from '../../transport/grpc/status-mapping';

/** What the relay needs. */
export interface EventRelayDeps {
  gateway: GatewayConnection;
  /** Delegation of the connection's principal (no deadline: the stream is long-lived). */
  call: CallOpts;
  /** How the legacy client describes itself (listed in the gateway's client presence while subscribed). */
  client?: MessageInitShape<typeof ClientInfoSchema>;
  log: Logger;
  /** Receives each gateway event with its payload still serialized. */
  deliver: (type: string, payloadJson: string) => void;
  /** Called once when the gateway refuses the subscription for good (revoked, denied). */
  onRefused: (err: GatewayError) => void;
  /** Reconnect back-off bounds. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

/** How long ending a subscription may take before the stream is just cancelled. */
const UNSUBSCRIBE_TIMEOUT_MS = 5000;

/** Resume failures after which only a fresh subscription helps. */
const START_OVER = new Set(['SUBSCRIPTION_NOT_FOUND', 'RESUME_TOO_OLD', 'RESUME_AHEAD']);

/**
 * One EventService subscription on behalf of a legacy connection. The gateway's
 * per-subscription seq and subscription id let it resume after a broken stream
 * (gateway restart, network) without losing events; payloads are passed on as the
 * JSON strings the gateway serialized, never parsed here.
 */
export class EventRelay {
  private call?: grpc.ClientReadableStream<SubscribeResponse>;
  private subscriptionId = '';
  /** Whether the current call has given its `subscribed` marker. */
  private live = false;
  /** Resolves when the current call ends. */
  private callEnded?: Promise<void>;
  private lastSeq = 0n;
  private stopped = false;
  private retryTimer?: NodeJS.Timeout;
  private delay: number;

  constructor(private readonly deps: EventRelayDeps) {
    this.delay = deps.retryMinMs ?? 250;
  }

  /** Subscribes; resolves once the gateway confirmed the subscription, rejects if it refused. */
  start(): Promise<void> {
    return this.open(false);
  }

  /**
   * Ends the subscription (the connection closed). A legacy client never resumes it, so
   * the gateway is told to drop it at once (Unsubscribe; its stream then ends with OK)
   * rather than keep it resumable; if that fails, the stream is cancelled and the
   * gateway forgets the subscription when it expires.
   */
  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const call = this.call;
    const ended = this.callEnded;
    this.call = undefined;
    if (!call) return;
    if (!this.live || !ended) {
      call.cancel();
      return;
    }
    const id = this.subscriptionId;
    const gateway = this.deps.gateway;
    let timer: NodeJS.Timeout | undefined;
    gateway
      .unary(EventService.method.unsubscribe, { subscriptionId: id }, { ...this.deps.call, timeoutMs: UNSUBSCRIBE_TIMEOUT_MS })
      .then(
        // The gateway ends the stream itself; cancelled only if its end does not come.
        () => Promise.race([ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, UNSUBSCRIBE_TIMEOUT_MS)))]),
        (err: GatewayError) => this.deps.log.debug({ reason: err.reason, subscriptionId: id }, 'ending a legacy client\'s event subscription failed; it expires'),
      )
      .finally(() => {
        clearTimeout(timer);
        call.cancel();
      });
  }

  private open(resume: boolean): Promise<void> {
    const client = this.deps.gateway.client(EventService);
    const call = client.subscribe(
      { types: [], subscriptionId: resume ? this.subscriptionId : '', resumeAfterSeq: resume ? this.lastSeq : 0n, client: this.deps.client },
      callMetadata(this.deps.call),
    );
    this.call = call;
    this.live = false;
    let callOver!: () => void;
    this.callEnded = new Promise<void>((r) => (callOver = r));
    return new Promise<void>((resolve, reject) => {
      let live = false;
      let over = false;
      const finish = (err: GatewayError): void => {
        if (over) return;
        over = true;
        callOver();
        if (this.call === call) this.call = undefined;
        if (!live) reject(err);
        else this.broken(err);
      };
      call.on('data', (msg: SubscribeResponse) => {
        const e = msg.event;
        if (!e) return;
        if (e.type === 'subscribed' && e.seq === 0n) {
          // The gateway's "subscribed" marker: the subscription is live from here on.
          // (Replica-local events such as presence may carry seq 0 too, on a fresh log.)
          if (!resume) this.lastSeq = 0n;
          this.subscriptionId = e.subscriptionId;
          if (this.call === call) this.live = true;
          if (!live) {
            live = true;
            this.delay = this.deps.retryMinMs ?? 250;
            resolve();
          }
          return;
        }
        this.lastSeq = e.seq;
        if (!this.stopped) this.deps.deliver(e.type, e.payloadJson);
      });
      call.on('error', (err: grpc.ServiceError) => finish(fromGrpcError(err)));
      call.on('end', () => finish(errors.unavailable('EVENT_STREAM_ENDED', 'the gateway ended the event stream')));
    });
  }

  private broken(err: GatewayError): void {
    if (this.stopped) return;
    if (err.code === ErrorCode.Unauthenticated || err.code === ErrorCode.PermissionDenied) {
      this.deps.onRefused(err);
      return;
    }
    this.deps.log.debug({ reason: err.reason }, 'bridge event stream broke; resuming');
    this.retry(true);
  }

  private retry(resume: boolean): void {
    if (this.stopped) return;
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, this.deps.retryMaxMs ?? 5000);
    this.retryTimer = setTimeout(() => {
      if (this.stopped) return;
      this.open(resume && this.subscriptionId !== '').catch((err: GatewayError) => {
        if (this.stopped) return;
        if (err.code === ErrorCode.Unauthenticated || err.code === ErrorCode.PermissionDenied) this.deps.onRefused(err);
        else this.retry(!START_OVER.has(err.reason));
      });
    }, wait);
    this.retryTimer.unref();
  }
}
