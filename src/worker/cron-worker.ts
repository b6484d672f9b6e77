import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { CronService, type WatchDueRunsResponse } from '../gen/openclaw/cron/v1/cron_pb';
import { SessionService } from '../gen/openclaw/sessions/v1/sessions_pb';
import { componentLogger, type Logger } from '../logging';
import { MAX_RENEW_JITTER } from '../identity/renewal-policy';
import { unaryCall, type GatewayConnection } from '../transport/grpc/client/gateway-connection';
import { CertFolderClient, needsNewCertificate } from '../transport/grpc/client/cert-folder-client';
import { fromGrpcError } from '../transport/grpc/status-mapping';
import type { Clock } from '../clock';

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
  /** Wall clock for renewal decisions. */
  clock?: Clock;
  /** How often the certificate folder is checked (renewal, or a folder replaced on disk); default 60 s. */
  renewCheckMs?: number;
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
  const log = componentLogger(opts.log, { component: 'worker', workerId });
  const maxBackoff = opts.maxBackoffMs ?? 5000;
  const folder = new CertFolderClient({ dir: opts.certsDir, target: opts.gateway, clock: opts.clock, jitter: Math.random() * MAX_RENEW_JITTER });
  let conn: GatewayConnection | undefined;
  let stream: grpc.ClientReadableStream<WatchDueRunsResponse> | undefined;
  let stopped = false;
  let completed = 0;
  let backoff = 200;
  let retryTimer: NodeJS.Timeout | undefined;
  /** The last "no usable certificate" said, so that waiting for a new one is not logged every minute. */
  let lastCertError: string | undefined;

  const connect = async (): Promise<void> => {
    if (stopped) return;
    try {
      const before = folder.read().certPem;
      const certs = await folder.ensureFresh((warning) => log.warn(warning));
      if (certs.certPem !== before) log.info('renewed the worker certificate');
      conn = folder.connection();
      lastCertError = undefined;
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
      if (needsNewCertificate(err) || (err as { reason?: string }).reason === 'CERTS_READ_ONLY') {
        // Retrying the same folder will not help; say what will, and look again later
        // (an operator may re-issue the folder while we wait).
        if ((err as Error).message !== lastCertError) log.error({ reason: (err as { reason?: string }).reason, err: (err as Error).message }, 'worker has no usable certificate');
        lastCertError = (err as Error).message;
        scheduleReconnect(opts.renewCheckMs ?? 60_000);
        return;
      }
      log.warn({ err: (err as Error).message }, 'worker cannot connect yet');
      scheduleReconnect();
    }
  };

  const scheduleReconnect = (fixedMs?: number) => {
    if (stopped || retryTimer) return;
    const wait = fixedMs ?? Math.min(maxBackoff, backoff) * (0.8 + Math.random() * 0.4);
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
  // Renew before expiry while connected (each check compares dates, since timers do not
  // run while a machine sleeps); the stream is then reopened with the new certificate.
  const stopRenewal = folder.keepFresh({
    everyMs: opts.renewCheckMs,
    onRenewed: () => {
      log.info('the worker certificate changed; reconnecting with it');
      stream?.cancel();
    },
    onError: (err) =>
      needsNewCertificate(err) ? log.error({ err: err.message }, 'the worker certificate cannot be renewed; waiting for a new one in its folder') : log.warn({ err: err.message }, 'certificate renewal failed; will retry'),
  });

  return {
    workerId,
    get completed() {
      return completed;
    },
    stop: async () => {
      stopped = true;
      stopRenewal();
      if (retryTimer) clearTimeout(retryTimer);
      stream?.cancel();
      folder.close();
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
