/**
 * `call <Service/Method> [json]`: any unary or server-streaming RPC of the gateway, by
 * its descriptor in the generated code. The request is parsed from protobuf JSON;
 * responses are printed as protobuf JSON (unary: one pretty document; streams: one
 * compact object per line). Without a method it lists what can be called.
 */
import { fromJson, type DescMethod, type DescService, type JsonValue } from '@bufbuild/protobuf';
import { errors } from '../errors';
import type { CliContext } from './cli-context';
import type { ServerStreamMethod, UnaryMethod } from '../transport/grpc/client/gateway-connection';
import { protoJson } from './proto-json';
import { wholeNumber } from './args';

/** Every service of the gateway, loaded only for this command. */
async function services(): Promise<DescService[]> {
  const [devices, gateway, events, cron, sessions, config, logs] = await Promise.all([
    import('../gen/openclaw/devices/v1/devices_pb'),
    import('../gen/openclaw/gateway/v1/gateway_pb'),
    import('../gen/openclaw/events/v1/events_pb'),
    import('../gen/openclaw/cron/v1/cron_pb'),
    import('../gen/openclaw/sessions/v1/sessions_pb'),
    import('../gen/openclaw/config/v1/config_pb'),
    import('../gen/openclaw/logs/v1/logs_pb'),
  ]);
  return [
    devices.PairingService,
    devices.DeviceService,
    devices.LegacyAuthService,
    gateway.GatewayService,
    events.EventService,
    cron.CronService,
    sessions.SessionService,
    config.ConfigService,
    logs.LogService,
  ];
}

/**
 * Finds a method by "pkg.Service/Method", "Service/Method" or "Service.Method"; the
 * method may also be given by its lowerCamel local name.
 */
export function findMethod(all: readonly DescService[], spec: string): DescMethod {
  const m = /^\/?(.+)[/.]([A-Za-z_][A-Za-z0-9_]*)$/.exec(spec.trim());
  if (!m) throw errors.invalid('BAD_METHOD', `"${spec}" is not SERVICE/METHOD (e.g. CronService/ListJobs)`);
  const [, serviceName, methodName] = m;
  const svc = all.filter((s) => s.typeName === serviceName || s.name === serviceName);
  if (svc.length === 0) throw errors.notFound('UNKNOWN_SERVICE', `no service "${serviceName}" (known: ${all.map((s) => s.name).join(', ')})`);
  if (svc.length > 1) throw errors.invalid('AMBIGUOUS_SERVICE', `"${serviceName}" names several services; use the full name (${svc.map((s) => s.typeName).join(', ')})`);
  const method = svc[0].methods.find((x) => x.name === methodName || x.localName === methodName);
  if (!method) throw errors.notFound('UNKNOWN_METHOD', `${svc[0].typeName} has no method "${methodName}" (it has: ${svc[0].methods.map((x) => x.name).join(', ')})`);
  return method;
}

/** `call` */
export async function call(ctx: CliContext, spec: string | undefined, json: string | undefined, o: { count?: string }): Promise<void> {
  const all = await services();
  if (!spec) {
    const methods = all.flatMap((s) => s.methods.map((m) => ({ method: `${s.typeName}/${m.name}`, kind: m.methodKind, input: m.input.typeName, output: m.output.typeName })));
    ctx.out.result(
      () => ({ methods }),
      () => methods.map((m) => `${m.method}  (${m.kind.replace('_', ' ')})`).join('\n'),
    );
    return;
  }
  const method = findMethod(all, spec);
  const count = wholeNumber(o.count, '--count');
  let body: JsonValue = {};
  if (json !== undefined) {
    try {
      body = JSON.parse(json) as JsonValue;
    } catch (err) {
      throw errors.invalid('BAD_JSON', `the request is not valid JSON: ${(err as Error).message}`);
    }
  }
  let req;
  try {
    req = fromJson(method.input, body);
  } catch (err) {
    throw errors.invalid('BAD_REQUEST', `the request does not fit ${method.input.typeName}: ${(err as Error).message}`);
  }
  const conn = await ctx.connect();
  if (method.methodKind === 'unary') {
    const res = await conn.unary(method as UnaryMethod<typeof method.input, typeof method.output>, req);
    ctx.out.document(protoJson(method.output, res));
    return;
  }
  if (method.methodKind === 'server_streaming') {
    const stream = conn.serverStream(method as ServerStreamMethod<typeof method.input, typeof method.output>, req);
    const stop = ctx.runtime.onInterrupt?.(() => stream.cancel());
    let n = 0;
    try {
      if (count === 0) return;
      for await (const res of stream) {
        ctx.out.record(protoJson(method.output, res));
        if (count !== undefined && ++n >= count) break;
      }
    } finally {
      stop?.();
      stream.cancel();
    }
    return;
  }
  throw errors.invalid('UNSUPPORTED_METHOD_KIND', `${method.parent.typeName}/${method.name} is ${method.methodKind.replace('_', '-')}; call supports unary and server-streaming methods`);
}
