import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../../logging';
import type { Clock } from '../../../clock';
import { ErrorCode, errors, toGatewayError } from '../../../errors';
import { toGrpcStatus } from '../status-mapping';
import { callerOf, type Caller } from './caller';
import type { StreamRegistry } from './stream-registry';
import type { PresenceTracker } from '../../../services/presence/presence-tracker';

/** What every handler module gets. */
export interface HandlerContext {
  log: Logger;
  clock: Clock;
  streams: StreamRegistry;
  presence: PresenceTracker;
}

function logFailure(log: Logger, path: string, err: unknown): void {
  const e = toGatewayError(err);
  if (e.code === ErrorCode.Internal) log.error({ err: e.cause ?? e, method: path, reason: e.reason }, 'call failed');
  else log.debug({ method: path, reason: e.reason, detail: e.message }, 'call refused');
}

/**
 * Wraps an async unary handler: the result becomes the response, a thrown error goes
 * through the one status mapping; the caller comes from the auth interceptor.
 */
export function unary<Req, Res>(ctx: HandlerContext, fn: (req: Req, caller: Caller, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    let caller: Caller;
    try {
      caller = callerOf(call);
    } catch (err) {
      callback(toGrpcStatus(err));
      return;
    }
    Promise.resolve()
      .then(() => fn(call.request, caller, call))
      .then(
        (res) => callback(null, res),
        (err: unknown) => {
          logFailure(ctx.log, call.getPath(), err);
          callback(toGrpcStatus(err));
        },
      );
  };
}

/** A server stream as handlers see it: write, end, and whether the client went away. */
export interface StreamSink<Res> {
  write(msg: Res): boolean;
  end(): void;
  /** Resolves when the client cancels or the stream is cut (revocation). */
  readonly closed: Promise<string>;
  readonly isClosed: boolean;
}

/**
 * Wraps a server-streaming handler: registers the stream under the caller's device
 * (and the bridge's) so revocation cuts it, counts it in presence, and maps errors.
 * `fn` returns when it is done writing, or keeps writing until `sink.closed`.
 */
export function serverStream<Req, Res>(
  ctx: HandlerContext,
  fn: (req: Req, caller: Caller, sink: StreamSink<Res>, call: grpc.ServerWritableStream<Req, Res>) => void | Promise<void>,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    let caller: Caller;
    try {
      caller = callerOf(call);
    } catch (err) {
      call.emit('error', toGrpcStatus(err));
      return;
    }
    let closed = false;
    let resolveClosed!: (why: string) => void;
    const closedPromise = new Promise<string>((r) => (resolveClosed = r));
    const cleanup: (() => void)[] = [];
    const finish = (why: string) => {
      if (closed) return;
      closed = true;
      for (const c of cleanup) c();
      resolveClosed(why);
    };
    if (caller.kind === 'device') {
      const ids = caller.via ? [caller.deviceId, caller.via] : [caller.deviceId];
      cleanup.push(
        ctx.streams.track(ids, {
          openedAt: ctx.clock.now(),
          cancel: (reason, code) => {
            if (closed) return;
            finish(reason);
            call.emit('error', toGrpcStatus(errors.unauthenticated(code, reason, { deviceId: caller.deviceId })));
          },
        }),
      );
      cleanup.push(ctx.presence.openStream({ deviceId: caller.deviceId, label: caller.label, role: caller.role, transport: caller.via ? 'ws-bridge' : 'grpc' }));
    }
    call.on('cancelled', () => finish('cancelled'));
    call.on('close', () => finish('closed'));
    const sink: StreamSink<Res> = {
      write: (msg) => (closed ? false : call.write(msg)),
      end: () => {
        if (closed) return;
        finish('ended');
        call.end();
      },
      closed: closedPromise,
      get isClosed() {
        return closed;
      },
    };
    Promise.resolve()
      .then(() => fn(call.request, caller, sink, call))
      .catch((err: unknown) => {
        logFailure(ctx.log, call.getPath(), err);
        if (!closed) {
          finish('error');
          call.emit('error', toGrpcStatus(err));
        }
      });
  };
}
