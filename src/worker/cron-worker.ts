import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { CronService, type WatchDueRunsResponse } from '../gen/openclaw/cron/v1/cron_pb';
import { SessionService } from '../gen/openclaw/sessions/v1/sessions_pb';
import type { Logger } from '../logging';
import { readCertsDir } from '../identity';
import { GatewayConnection, unaryCall } from '../transport/grpc/client/gateway-connection';
import { fromGrpcError } from '../transport/grpc/status-mapping';
import { renewCertsDir, shouldRenew } from '../transport/grpc/cert-renewal';

/** Settings of a worker. */
export interface WorkerOptions {
  /** Gateway gRPC address (host:port). */
  gateway: string;
  /** Certificate folder with a `backend` identity (key.pem, cert.pem, ca.pem). */
  certsDir: string;
  log: Logger;
  workerId?: string;
  /** Longest wait between reconnect attempts. */
  maxBackoffMs?: number;
}

/** A running worker. */
export interface RunningWorker {
  readonly workerId: string;
  /** Number of runs completed (ok or error) since start. */
  readonly completed: number;
  stop(): Promise<void>;
}

/**
 * The cron runner: a backend that holds its own certificate and talks to the gateway
 * only through its gRPC API, exactly like any other client. It takes due runs from
 * the gateway's stream, executes agent turns through SessionService, and reports the
 * outcome. It reconnects with backoff when the gateway restarts and renews its own
 * certificate before it expires.
 */
export function startWorker(opts: WorkerOptions): RunningWorker {
  const workerId = opts.workerId ?? `worker-${randomBytes(4).toString('hex')}`;
  const log = opts.log.child({ component: 'worker', workerId });
  const maxBackoff = opts.maxBackoffMs ?? 5000;
  let conn: GatewayConnection | undefined;
  let stream: grpc.ClientReadableStream<WatchDueRunsResponse> | undefined;
  let stopped = false;
  let completed = 0;
  let backoff = 200;
  let retryTimer: NodeJS.Timeout | undefined;
  const jitter = Math.random() * 0.1;

  const connect = async (): Promise<void> => {
    if (stopped) return;
    try {
      let certs = readCertsDir(opts.certsDir);
      if (shouldRenew(certs.certPem, Date.now(), jitter)) {
        try {
          certs = await renewCertsDir(opts.gateway, opts.certsDir);
          log.info('renewed the worker certificate');
        } catch (err) {
          log.warn({ err: fromGrpcError(err as Error).message }, 'certificate renewal failed; will retry');
        }
      }
      conn?.close();
      conn = new GatewayConnection(opts.gateway, { caPem: certs.caPem, keyPem: certs.keyPem, certPem: certs.certPem });
      const cron = conn.client(CronService);
      const s = cron.watchDueRuns({ workerId });
      stream = s;
      s.on('data', (msg: WatchDueRunsResponse) => {
        backoff = 200;
        void execute(msg);
      });
      s.on('error', (err: grpc.ServiceError) => {
        if (stopped) return;
        if (err.code === 1 /* cancelled by us to renew */) {
          scheduleReconnect();
          return;
        }
        const e = fromGrpcError(err);
        log.warn({ reason: e.reason, err: e.message }, 'lost the gateway; reconnecting');
        scheduleReconnect();
      });
      s.on('end', () => {
        if (!stopped) scheduleReconnect();
      });
      s.on('metadata', () => {
        backoff = 200;
        log.info({ gateway: opts.gateway }, 'worker connected');
      });
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'worker cannot connect yet');
      scheduleReconnect();
    }
  };

  const scheduleReconnect = () => {
    if (stopped || retryTimer) return;
    const wait = Math.min(maxBackoff, backoff) * (0.8 + Math.random() * 0.4);
    backoff = Math.min(maxBackoff, backoff * 2);
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, wait);
  };

  const execute = async (msg: WatchDueRunsResponse): Promise<void> => {
    const run = msg.run!;
    const job = msg.job;
    const c = conn!;
    const cron = c.client(CronService);
    const report = (status: 'ok' | 'error', fields: { error?: string; sessionId?: string; output?: string }) =>
      unaryCall(cron, cron.completeRun, { runId: run.runId, status, error: fields.error ?? '', sessionId: fields.sessionId ?? '', output: fields.output ?? '' }, { timeoutMs: 10_000 }).then(
        () => {
          completed++;
        },
        (err: Error) => log.error({ runId: run.runId, err: err.message }, 'could not report a run; the gateway will hand it out again'),
      );
    try {
      const payload = job?.payload?.kind;
      if (payload?.case === 'agentTurn') {
        const { sessionId, output } = await agentTurn(c, job!.name, payload.value.message, payload.value.sessionKey, payload.value.agentId);
        await report('ok', { sessionId, output });
      } else if (payload?.case === 'systemEvent') {
        await report('ok', { output: payload.value.text });
      } else {
        await report('error', { error: 'job has no payload' });
      }
    } catch (err) {
      const e = fromGrpcError(err as Error);
      log.warn({ runId: run.runId, jobId: run.jobId, reason: e.reason, err: e.message }, 'cron run failed');
      await report('error', { error: e.message });
    }
  };

  void connect();
  // Renew before expiry while connected (checked against the wall clock, since timers
  // do not run while a machine sleeps): the reconnect picks up the new certificate.
  const renewTimer = setInterval(() => {
    try {
      if (shouldRenew(readCertsDir(opts.certsDir).certPem, Date.now(), jitter)) stream?.cancel();
    } catch {
      /* folder unreadable: the next connect reports it */
    }
  }, 10 * 60_000);
  renewTimer.unref();

  return {
    workerId,
    get completed() {
      return completed;
    },
    stop: async () => {
      stopped = true;
      clearInterval(renewTimer);
      if (retryTimer) clearTimeout(retryTimer);
      stream?.cancel();
      conn?.close();
    },
  };
}

/** Runs one agent turn through the gateway: target (or new) session, streamed reply collected. */
async function agentTurn(conn: GatewayConnection, jobName: string, message: string, sessionKey: string, agentId: string): Promise<{ sessionId: string; output: string }> {
  const sessions = conn.client(SessionService);
  let sessionId = sessionKey;
  if (!sessionId) {
    const created = await unaryCall(sessions, sessions.createSession, { label: `cron: ${jobName}`, agentId }, { timeoutMs: 10_000 });
    sessionId = created.session!.sessionId;
  }
  const output = await new Promise<string>((resolve, reject) => {
    let text = '';
    let failure = '';
    const s = sessions.sendMessage({ sessionId, text: message, idempotencyKey: '' }, { deadline: Date.now() + 120_000 });
    s.on('data', (m: { output?: { stream: string; phase: string; delta: string; text: string; error: string } }) => {
      const o = m.output;
      if (!o) return;
      if (o.stream === 'assistant') text += o.delta;
      if (o.phase === 'end' && o.text) text = o.text;
      if (o.phase === 'error' || o.stream === 'error') failure = o.error || 'agent error';
    });
    s.on('error', (err: grpc.ServiceError) => reject(err));
    s.on('end', () => (failure ? reject(new Error(failure)) : resolve(text)));
  });
  // The seed report's second failure was a cron job listing sessions: do it with our own identity.
  const listed = await unaryCall(sessions, sessions.listSessions, {}, { timeoutMs: 10_000 });
  if (!listed.sessions.some((x) => x.sessionId === sessionId)) throw new Error(`session ${sessionId} is not listed by the gateway`);
  return { sessionId, output };
}
