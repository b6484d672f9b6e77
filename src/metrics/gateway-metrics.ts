/**
 * The gateway's Prometheus metrics (prom-client, on a registry of its own): what the
 * transport counts as calls happen (calls by method and status, denials by reason),
 * what the domain announces (cron runs by outcome), and gauges read from their sources
 * at scrape time (streams, subscriptions, pairing queue, bridge connections,
 * certificates about to expire), plus the standard process metrics. No label carries a
 * device id or anything secret: labels are method names, status codes and reasons.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

/** Where scrape-time gauges read their values. */
export interface MetricSources {
  /** Open server streams (events, pairing watches, worker run streams, log tails). */
  streams(): number;
  /** Event subscriptions with a stream attached. */
  subscriptions(): number;
  /** Pairing requests waiting for an operator. */
  pairingPending(): number;
  /** Legacy WebSocket connections of the in-process bridge (0 when it does not run here). */
  bridgeConnections(): number;
  /** Expiry times (epoch ms) of the active devices' current certificates. */
  certificateExpiries(): number[];
  now(): number;
}

const DAY_MS = 24 * 3600_000;

/** Counters the gateway feeds, and the registry a scrape reads. */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly calls: Counter<'grpc_method' | 'grpc_code'>;
  private readonly denials: Counter<'reason'>;
  private readonly cronRuns: Counter<'status'>;
  private sources?: MetricSources;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.calls = new Counter({
      name: 'openclaw_grpc_server_handled_total',
      help: 'gRPC calls finished, by method and status code (denied calls included)',
      labelNames: ['grpc_method', 'grpc_code'],
      registers: [this.registry],
    });
    this.denials = new Counter({
      name: 'openclaw_auth_denials_total',
      help: 'Calls refused by authentication or authorization, by reason (each one also an audit line)',
      labelNames: ['reason'],
      registers: [this.registry],
    });
    this.cronRuns = new Counter({
      name: 'openclaw_cron_runs_finished_total',
      help: 'Cron runs reported finished to this gateway, by outcome',
      labelNames: ['status'],
      registers: [this.registry],
    });
    this.addGauge('openclaw_streams_active', 'Open server streams', (s) => s.streams());
    this.addGauge('openclaw_event_subscriptions_active', 'Event subscriptions with a stream attached', (s) => s.subscriptions());
    this.addGauge('openclaw_pairing_requests_pending', 'Pairing requests waiting for an operator', (s) => s.pairingPending());
    this.addGauge('openclaw_bridge_connections_active', 'Legacy WebSocket connections of the bridge in this process', (s) => s.bridgeConnections());
    this.addGauge('openclaw_certificates_expiring_7d', 'Active devices whose certificate expires within 7 days', (s) => {
      const limit = s.now() + 7 * DAY_MS;
      return s.certificateExpiries().filter((t) => t <= limit).length;
    });
  }

  /** Tells the scrape-time gauges where to read (once the gateway's parts exist). */
  bind(sources: MetricSources): void {
    this.sources = sources;
  }

  /** A call finished with this status code (grpc status name, e.g. "OK", "PERMISSION_DENIED"). */
  callFinished(method: string, code: string): void {
    this.calls.inc({ grpc_method: method, grpc_code: code });
  }

  /** A call was refused (authentication or authorization). */
  denied(reason: string): void {
    this.denials.inc({ reason });
  }

  /** A domain event was published: counts cron runs finishing. */
  onEvent(type: string, payload: unknown): void {
    if (type !== 'cron') return;
    const p = payload as { action?: string; status?: string } | null;
    if (p?.action === 'finished' && (p.status === 'ok' || p.status === 'error')) this.cronRuns.inc({ status: p.status });
  }

  /** The text a scrape returns (Prometheus exposition format). */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private addGauge(name: string, help: string, read: (s: MetricSources) => number): void {
    const metrics = this;
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        if (metrics.sources) this.set(read(metrics.sources));
      },
    });
  }
}
