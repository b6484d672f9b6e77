import * as grpc from '@grpc/grpc-js';

/** What the metrics interceptor reports to. */
export interface CallObserver {
  callFinished(method: string, code: string): void;
}

/**
 * Counts every call by method and final status, including calls the auth interceptor
 * refuses (it must run outside it: first in the server's interceptor list).
 */
export function createMetricsInterceptor(observer: CallObserver): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      sendStatus: (status, next) => {
        observer.callFinished(method.path, grpc.status[status.code] ?? String(status.code));
        next(status);
      },
    });
}
