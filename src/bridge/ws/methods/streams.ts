import type * as grpc from '@grpc/grpc-js';
import { fromGrpcError } from '../../../transport/grpc/status-mapping';
import { LegacyError } from '../legacy-errors';

/**
 * Reads a gRPC server stream to its end: `onData` gets each message, the promise
 * settles when the stream ends (or rejects with the GatewayError it failed with).
 * When `signal` aborts (the legacy client went away) the call is cancelled.
 */
export function readStream<T>(call: grpc.ClientReadableStream<T>, signal: AbortSignal, onData: (msg: T) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onAbort = (): void => {
      call.cancel();
      settle(new LegacyError('UNAVAILABLE', 'connection closed'));
    };
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    call.on('data', (msg: T) => {
      if (settled) return;
      try {
        onData(msg);
      } catch (err) {
        call.cancel();
        settle(err);
      }
    });
    call.on('error', (err: grpc.ServiceError) => settle(fromGrpcError(err)));
    call.on('end', () => settle());
  });
}
