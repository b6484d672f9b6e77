/**
 * The built-in bridge's unary calls and event streams go to the gateway's handlers in
 * process (no loopback TLS hop). They must be decided exactly as the same calls over mTLS:
 * the same answers, the same refusals (gRPC code, reason, message, details), the same
 * audit lines and the same metrics; a revocation cuts an in-process stream as it cuts one
 * over the network. A certificate TLS would not accept (another CA, expired) is declined, so
 * the call goes over the network and gets a remote caller's outcome; so is every call
 * once the server stops.
 */
import { Metadata, status as grpcStatus } from '@grpc/grpc-js';
import { CronService } from '../../src/gen/openclaw/cron/v1/cron_pb';
import { EventService, type SubscribeResponse } from '../../src/gen/openclaw/events/v1/events_pb';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { GatewayError } from '../../src/errors';
import { readCertsDir } from '../../src/identity';
import { callMetadata, GatewayConnection, unaryCall, type CallOpts, type LocalCalls } from '../../src/transport/grpc/client/gateway-connection';
import { startTestGateway, type TestGateway } from '../helpers/gateway';
import { DAY_MS, foreignIdentity, grpcCodeOf, provision, provisionAt, StreamReader } from '../helpers/grpc-kit';

let t: TestGateway;
/** How many calls the in-process endpoint took (so a test knows which path a call went). */
let taken = 0;
let counting: LocalCalls;
const open: GatewayConnection[] = [];

beforeAll(async () => {
  t = await startTestGateway({ metricsAddr: '127.0.0.1:0' });
  counting = {
    tryUnary: (...args) => {
      const took = t.gw.localCalls.tryUnary(...args);
      if (took) taken++;
      return took;
    },
    tryServerStream: (...args) => {
      const handle = t.gw.localCalls.tryServerStream!(...args);
      if (handle) taken++;
      return handle;
    },
  };
});

afterAll(async () => {
  for (const c of open) c.close();
  await t?.close();
});

/** A connection from TLS material, over the network or with the gateway's in-process endpoint. */
function connect(tls: { caPem: string; keyPem: string; certPem: string }, local: boolean): GatewayConnection {
  const c = new GatewayConnection(t.address, tls, { 'grpc.use_local_subchannel_pool': 1 });
  if (local) c.useLocalCalls(counting);
  open.push(c);
  return c;
}

function identity(name: 'bridge' | 'cli') {
  const c = readCertsDir(t.gw.identities[name]);
  return { caPem: c.caPem, keyPem: c.keyPem, certPem: c.certPem };
}

type Outcome = { ok: true; value: Record<string, unknown> } | { ok: false; code: unknown; reason: string; message: string; details: Record<string, unknown> };

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: (await p) as Record<string, unknown> };
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    return { ok: false, code: err.details.grpcCode, reason: err.reason, message: err.message, details: err.details };
  }
}

async function metricsText(): Promise<string> {
  const r = await fetch(t.gw.metricsUrl!);
  return r.text();
}

/** The calls and denials counters, as "name{labels} value" lines. */
function counters(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(openclaw_grpc_server_handled_total|openclaw_auth_denials_total)(\{.*\}) (\S+)$/.exec(line);
    if (m) out.set(m[1] + m[2], Number(m[3]));
  }
  return out;
}

function delta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const d: Record<string, number> = {};
  for (const [k, v] of after) if (v !== (before.get(k) ?? 0)) d[k] = v - (before.get(k) ?? 0);
  return d;
}

/** Audit lines written since `from`, without what differs by nature (time, process, peer address). */
function auditsSince(from: number): Record<string, unknown>[] {
  return t.logs.lines
    .slice(from)
    .filter((l) => l.audit === true)
    .map(({ time: _time, pid: _pid, hostname: _host, peer: _peer, ...rest }) => rest);
}

/** Runs `call` over the network, then in process, and returns what each gave, with its audit lines and metrics. */
async function bothWays(who: 'bridge' | 'cli', call: (c: GatewayConnection) => Promise<unknown>) {
  // A caller's first allowed call is audited once per process, whichever path it takes
  // (tested below): made before, so that neither measured call is the first.
  await outcome(call(connect(identity(who), false)));
  const result: Record<'network' | 'inProcess', { outcome: Outcome; audits: Record<string, unknown>[]; metrics: Record<string, number>; inProcess: boolean }> = {} as never;
  for (const [mode, local] of [
    ['network', false],
    ['inProcess', true],
  ] as const) {
    const c = connect(identity(who), local);
    const logFrom = t.logs.lines.length;
    const before = counters(await metricsText());
    const takenBefore = taken;
    const o = await outcome(call(c));
    const after = counters(await metricsText());
    result[mode] = { outcome: o, audits: auditsSince(logFrom), metrics: delta(before, after), inProcess: taken > takenBefore };
  }
  return result;
}

const asToken = (scopes?: string[]): CallOpts => ({ principal: 'token', scopes });

const status = (opts: CallOpts) => (c: GatewayConnection) => {
  const g = c.client(GatewayService);
  return unaryCall(g, g.getStatus, {}, opts);
};

test.each([
  { name: 'the bridge for the token principal with operator.read: the status', who: 'bridge' as const, call: status(asToken(['operator.read'])) },
  { name: 'the bridge naming no principal: PRINCIPAL_REQUIRED', who: 'bridge' as const, call: status({}) },
  { name: 'the bridge for the token principal without scopes: MISSING_SCOPE', who: 'bridge' as const, call: status(asToken([])) },
  { name: 'the bridge for a principal that is no approved legacy device: PRINCIPAL_UNKNOWN', who: 'bridge' as const, call: status({ principal: 'no-such-device' }) },
  { name: 'an operator certificate naming a principal: DELEGATION_NOT_ALLOWED', who: 'cli' as const, call: status(asToken(['operator.read'])) },
  { name: 'an operator certificate for itself: the status', who: 'cli' as const, call: status({}) },
  {
    name: 'the token principal adding a cron job (needs operator.admin): MISSING_SCOPE',
    who: 'bridge' as const,
    call: (c: GatewayConnection) => {
      const cron = c.client(CronService);
      return unaryCall(cron, cron.addJob, { name: 'x', enabled: true, schedule: { kind: { case: 'everyMs', value: 60_000n } } }, asToken(['operator.read']));
    },
  },
  {
    name: 'a handler refusing (unknown job): NOT_FOUND with its reason and details',
    who: 'bridge' as const,
    call: (c: GatewayConnection) => {
      const cron = c.client(CronService);
      return unaryCall(cron, cron.getJob, { jobId: 'no-such-job' }, asToken(['operator.read']));
    },
  },
  {
    name: 'a request over the server limit (4 MiB): RESOURCE_EXHAUSTED',
    who: 'cli' as const,
    // grpc-js refuses it below the interceptors: not counted, either way.
    uncounted: true,
    call: (c: GatewayConnection) => {
      const cron = c.client(CronService);
      return unaryCall(cron, cron.addJob, { name: 'n'.repeat(5 * 1024 * 1024), enabled: true, schedule: { kind: { case: 'everyMs', value: 60_000n } } });
    },
  },
] as { name: string; who: 'bridge' | 'cli'; call: (c: GatewayConnection) => Promise<unknown>; uncounted?: boolean }[])('$name: the same in process as over mTLS', async ({ who, call, uncounted }) => {
  const r = await bothWays(who, call);
  expect(r.network.inProcess).toBe(false);
  expect(r.inProcess.inProcess).toBe(true);
  const comparable = (o: Outcome) => (o.ok ? { ok: true, version: o.value.version, trustDomain: o.value.trustDomain, ca: o.value.caFingerprintSha256, devicesActive: o.value.devicesActive } : o);
  expect(comparable(r.inProcess.outcome)).toEqual(comparable(r.network.outcome));
  expect(r.inProcess.audits).toEqual(r.network.audits);
  expect(r.inProcess.metrics).toEqual(r.network.metrics);
  // The metrics saw the call at all (one finished call each way).
  expect(Object.keys(r.network.metrics).some((k) => k.startsWith('openclaw_grpc_server_handled_total'))).toBe(!uncounted);
});

test('denials are audited in process as over mTLS, with the bridge named', async () => {
  const r = await bothWays('bridge', status(asToken([])));
  expect(r.inProcess.audits).toEqual([expect.objectContaining({ event: 'call.deny', reason: 'MISSING_SCOPE', deviceId: 'token', allowed: false, method: '/openclaw.gateway.v1.GatewayService/GetStatus' })]);
  expect(r.inProcess.metrics).toEqual({
    'openclaw_grpc_server_handled_total{grpc_method="/openclaw.gateway.v1.GatewayService/GetStatus",grpc_code="PERMISSION_DENIED"}': 1,
    'openclaw_auth_denials_total{reason="MISSING_SCOPE"}': 1,
  });
});

test("a device's first allowed call in process is audited as over mTLS, once", async () => {
  const fresh = await provision(t, { role: 'operator', label: 'first-call' });
  const tls = { caPem: fresh.caPem, keyPem: fresh.keyPem, certPem: fresh.certPem };
  const from = t.logs.lines.length;
  const before = taken;
  expect((await outcome(status({})(connect(tls, true)))).ok).toBe(true);
  expect((await outcome(status({})(connect(tls, false)))).ok).toBe(true);
  expect(taken).toBe(before + 1);
  expect(auditsSince(from).filter((a) => a.event === 'call.allow')).toEqual([
    expect.objectContaining({ deviceId: fresh.deviceId, role: 'operator', allowed: true, first: true, method: '/openclaw.gateway.v1.GatewayService/GetStatus' }),
  ]);
});

test('a certificate of another CA is declined in process; over the network it is refused as untrusted', async () => {
  const foreign = foreignIdentity();
  const before = taken;
  const c = connect({ caPem: identity('bridge').caPem, keyPem: foreign.keyPem, certPem: foreign.certPem }, true);
  const o = await outcome(status({})(c));
  expect(taken).toBe(before);
  expect(o).toMatchObject({ ok: false });
  expect(['CERT_UNTRUSTED', 'NO_CLIENT_CERT', 'TLS_HANDSHAKE_FAILED', 'GATEWAY_UNREACHABLE']).toContain((o as { reason: string }).reason);
});

test('a certificate without its private key never reaches the in-process endpoint: no connection is made from such a pair', () => {
  // A certificate is public; TLS makes its holder prove the key. A connection checks the pair when it is made.
  const cli = identity('cli');
  expect(() => connect({ caPem: cli.caPem, keyPem: identity('bridge').keyPem, certPem: cli.certPem }, true)).toThrow(/key values mismatch/);
});

test('an expired certificate of this CA is declined in process (TLS would refuse it too)', async () => {
  const expired = await provisionAt(t, Date.now() - 3 * DAY_MS, { role: 'operator', label: 'expired', lifetimeMs: DAY_MS });
  const before = taken;
  const c = connect({ caPem: expired.caPem, keyPem: expired.keyPem, certPem: expired.certPem }, true);
  const network = connect({ caPem: expired.caPem, keyPem: expired.keyPem, certPem: expired.certPem }, false);
  const o = await outcome(status({})(c));
  expect(taken).toBe(before);
  expect(o).toEqual(await outcome(status({})(network)));
  expect(o.ok).toBe(false);
});

test('an in-process unary call can be cancelled, as over the network: the caller gets CANCELLED once', async () => {
  const cert = identity('cli').certPem;
  const got: (number | undefined)[] = [];
  const handle = t.gw.localCalls.tryUnary('/openclaw.gateway.v1.GatewayService/GetStatus', cert, Buffer.alloc(0), new Metadata(), Infinity, (err) => got.push(err?.code));
  expect(handle).not.toBe(false);
  (handle as { cancel(): void }).cancel();
  (handle as { cancel(): void }).cancel();
  expect(got).toEqual([grpcStatus.CANCELLED]);
  // The handler's own answer, when it comes, does not reach the caller after the cancel: a
  // second call made after this one has answered, so the first one's handler has too.
  const after: (number | undefined)[] = [];
  await new Promise<void>((resolve) => t.gw.localCalls.tryUnary('/openclaw.gateway.v1.GatewayService/GetStatus', cert, Buffer.alloc(0), new Metadata(), Infinity, (err) => (after.push(err?.code), resolve())));
  expect(after).toEqual([undefined]);
  expect(got).toEqual([grpcStatus.CANCELLED]);
});

test('the in-process endpoint serves the unary methods and server streams of the gateway\'s own services, and nothing once the server stops', async () => {
  const other = await startTestGateway();
  const cert = readCertsDir(other.gw.identities.bridge).certPem;
  const noop = () => undefined;
  try {
    expect(other.gw.localCalls.tryUnary('/openclaw.events.v1.EventService/Subscribe', cert, Buffer.alloc(0), new Metadata(), Infinity, noop)).toBe(false);
    expect(other.gw.localCalls.tryUnary('/no.such.Service/Method', cert, Buffer.alloc(0), new Metadata(), Infinity, noop)).toBe(false);
    expect(other.gw.localCalls.tryUnary('/openclaw.gateway.v1.GatewayService/GetStatus', undefined, Buffer.alloc(0), new Metadata(), Infinity, noop)).toBe(false);
  } finally {
    await other.close();
  }
  const answered = jest.fn();
  expect(other.gw.localCalls.tryUnary('/openclaw.gateway.v1.GatewayService/GetStatus', cert, Buffer.alloc(0), new Metadata(), Infinity, answered)).toBe(false);
  expect(answered).not.toHaveBeenCalled();
});

test('a call made by method descriptor (what the bridge uses to end a subscription) goes in process as well, with the same answer and refusal', async () => {
  const byDescriptor = (c: GatewayConnection) => c.unary(GatewayService.method.getStatus, {});
  const network = await outcome(byDescriptor(connect(identity('cli'), false)));
  const before = taken;
  const inProcess = await outcome(byDescriptor(connect(identity('cli'), true)));
  expect(taken - before).toBe(1);
  expect(network).toMatchObject({ ok: true });
  expect(inProcess).toMatchObject({ ok: true });
  expect(inProcess.ok && Object.keys(inProcess.value).sort()).toEqual(network.ok && Object.keys(network.value).sort());
  // A refusal by descriptor: the same code and reason whichever path it took.
  const refuse = (c: GatewayConnection) => c.unary(EventService.method.unsubscribe, { subscriptionId: 'no-such-subscription' });
  const refusedOver = await outcome(refuse(connect(identity('cli'), false)));
  const refusedIn = await outcome(refuse(connect(identity('cli'), true)));
  expect(refusedIn).toEqual(refusedOver);
  expect(refusedIn).toMatchObject({ ok: false, reason: 'SUBSCRIPTION_NOT_FOUND' });
});

test('a call whose deadline has already passed gets the same refusal in process as over the network, and never reaches the handler', async () => {
  const late = (c: GatewayConnection) => c.unary(GatewayService.method.getStatus, {}, { timeoutMs: -1 });
  const over = await outcome(late(connect(identity('cli'), false)));
  const from = t.logs.lines.length;
  const before = counters(await metricsText());
  const inProc = await outcome(late(connect(identity('cli'), true)));
  expect(inProc).toEqual(over);
  expect(inProc).toMatchObject({ ok: false, reason: 'GATEWAY_TIMEOUT' });
  // Nothing ran on the server's side: no audit line, no call counted.
  expect(auditsSince(from)).toEqual([]);
  expect(delta(before, counters(await metricsText()))).toEqual({});
  // A stream opened past its deadline ends the same way, without a message.
  const stream = new StreamReader(connect(identity('cli'), true).client(EventService).subscribe({ types: ['cron'], subscriptionId: '', resumeAfterSeq: 0n }, { deadline: Date.now() - 1 }));
  const end = await stream.ended;
  expect(grpcCodeOf(end.error)).toBe(grpcStatus.DEADLINE_EXCEEDED);
  expect(stream.pending).toEqual([]);
});

function subscribe(c: GatewayConnection, opts: CallOpts): StreamReader<SubscribeResponse> {
  const events = c.client(EventService);
  return new StreamReader(events.subscribe({ types: ['cron'], subscriptionId: '', resumeAfterSeq: 0n }, callMetadata(opts)));
}

/** The first message of a stream, or how it ended: what a subscriber is told first. */
async function firstOf(reader: StreamReader<SubscribeResponse>): Promise<Outcome> {
  try {
    const m = await reader.next();
    return { ok: true, value: { type: m.event?.type, seq: m.event?.seq, hasId: (m.event?.subscriptionId ?? '') !== '' } };
  } catch {
    const end = await reader.ended;
    const e = end.error!;
    return { ok: false, code: e.details.grpcCode, reason: e.reason, message: e.message, details: e.details };
  }
}

test.each([
  { name: 'the bridge subscribing for the token principal with operator.read: "subscribed", then the events', opts: asToken(['operator.read']) },
  { name: 'the bridge subscribing without naming a principal: PRINCIPAL_REQUIRED', opts: {} as CallOpts },
  { name: 'the bridge subscribing for the token principal without scopes: MISSING_SCOPE', opts: asToken([]) },
])('event stream, $name: the same in process as over mTLS', async ({ opts }) => {
  const r = await bothWays('bridge', async (c) => {
    const reader = subscribe(c, opts);
    const first = await firstOf(reader);
    let event: Record<string, unknown> | undefined;
    if (first.ok) {
      t.gw.hub.publish('cron', { action: 'parity', n: 1 });
      const m = await reader.next();
      event = { type: m.event?.type, payloadJson: m.event?.payloadJson };
      reader.call.cancel();
      await reader.ended;
    }
    // A refusal comes back as the stream's error, as from any call.
    if (!first.ok) throw (await reader.ended).error;
    return { first: first.value, event };
  });
  expect(r.network.inProcess).toBe(false);
  expect(r.inProcess.inProcess).toBe(true);
  expect(r.inProcess.outcome).toEqual(r.network.outcome);
  expect(r.inProcess.audits).toEqual(r.network.audits);
  expect(r.inProcess.metrics).toEqual(r.network.metrics);
});

test('revoking a device ends its in-process stream as it ends one over mTLS', async () => {
  const ends: Record<string, unknown> = {};
  for (const local of [false, true]) {
    const fresh = await provision(t, { role: 'operator', label: `revoked-${local}` });
    const reader = subscribe(connect({ caPem: fresh.caPem, keyPem: fresh.keyPem, certPem: fresh.certPem }, local), {});
    expect((await firstOf(reader)).ok).toBe(true);
    await t.gw.registry.revoke(fresh.deviceId, 'test');
    const end = await reader.ended;
    ends[local ? 'inProcess' : 'network'] = { code: end.error?.details.grpcCode, reason: end.error?.reason };
  }
  expect(ends.inProcess).toEqual(ends.network);
  expect(ends.inProcess).toEqual({ code: 16, reason: 'DEVICE_REVOKED' });
});
