/**
 * End-to-end checks of the protobuf-es <-> grpc-js adapter on a real
 * (insecure, loopback) grpc-js server: typed unary and server-streaming
 * calls, error propagation, server reflection (v1 + v1alpha) and health.
 */
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, type DescFile } from '@bufbuild/protobuf';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { FileDescriptorProtoSchema, type FileDescriptorProto } from '@bufbuild/protobuf/wkt';
import { service as healthServiceDefinition } from 'grpc-health-check';

import { file_openclaw_config_v1_config } from '../../src/gen/openclaw/config/v1/config_pb';
import { file_openclaw_cron_v1_cron } from '../../src/gen/openclaw/cron/v1/cron_pb';
import {
  file_openclaw_devices_v1_devices,
  PairingService,
  PairingState,
  WatchPairingResponseSchema,
  type SubmitCsrResponse,
  type WatchPairingResponse,
} from '../../src/gen/openclaw/devices/v1/devices_pb';
import { file_openclaw_events_v1_events } from '../../src/gen/openclaw/events/v1/events_pb';
import { file_openclaw_gateway_v1_gateway, GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { file_openclaw_logs_v1_logs } from '../../src/gen/openclaw/logs/v1/logs_pb';
import { file_openclaw_sessions_v1_sessions, SessionService } from '../../src/gen/openclaw/sessions/v1/sessions_pb';
import { createHealth, HEALTH_SERVICE_NAME, type Health } from '../../src/transport/grpc/server/health';
import { addReflection } from '../../src/transport/grpc/server/reflection';
import {
  addTypedService,
  createServiceDefinition,
  makeServiceClientConstructor,
  type ServiceClient,
  type ServiceImpl,
  type UnaryClientMethod,
} from '../../src/transport/grpc/service-definition';

const ALL_FILES: DescFile[] = [
  file_openclaw_devices_v1_devices,
  file_openclaw_gateway_v1_gateway,
  file_openclaw_events_v1_events,
  file_openclaw_cron_v1_cron,
  file_openclaw_sessions_v1_sessions,
  file_openclaw_config_v1_config,
  file_openclaw_logs_v1_logs,
];

const OUR_SERVICES = ALL_FILES.flatMap((file) => file.services.map((service) => service.typeName)).sort();

const CA_PEM = '-----BEGIN CERTIFICATE-----\nTEST\n-----END CERTIFICATE-----\n';

/** A small PairingService implementation exercising unary, streaming and error paths. */
const pairingImpl: ServiceImpl<typeof PairingService> = {
  submitCsr(call, callback) {
    const req = call.request;
    if (!req.csrPem.startsWith('-----BEGIN CERTIFICATE REQUEST-----')) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: 'csr_pem is not a PEM CSR' });
      return;
    }
    // Plain init objects are accepted as responses.
    callback(null, {
      requestId: `req-${req.label}`,
      deviceId: 'dev-1',
      verificationCode: req.scopes.join('+'),
      state: PairingState.PENDING,
      expiresAtMs: 1_700_000_000_123n,
    });
  },
  beginExpiredRenewal(_call, callback) {
    callback({ code: grpc.status.UNIMPLEMENTED, details: 'not used in this test' });
  },
  renewExpiredCertificate(_call, callback) {
    callback({ code: grpc.status.UNIMPLEMENTED, details: 'not used in this test' });
  },
  watchPairing(call) {
    call.write({ state: PairingState.PENDING, deviceId: call.request.requestId });
    // Fully constructed messages work as well.
    call.write(
      create(WatchPairingResponseSchema, {
        state: PairingState.APPROVED,
        deviceId: call.request.requestId,
        certPem: 'CERT',
        caPem: CA_PEM,
        scopes: ['operator.read', 'operator.write'],
      }),
    );
    call.end();
  },
  getCaBundle(_call, callback) {
    callback(null, { caPem: CA_PEM, fingerprintSha256: 'ab'.repeat(32), trustDomain: 'openclaw.test' });
  },
};

/** Promise wrapper for a callback-style unary call. */
function unary<T>(invoke: (callback: grpc.requestCallback<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    invoke((err, value) => (err ? reject(err) : resolve(value as T)));
  });
}

/** Collects all messages of a server stream. */
function collect<T>(stream: grpc.ClientReadableStream<T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const items: T[] = [];
    stream.on('data', (item: T) => items.push(item));
    stream.on('error', reject);
    stream.on('end', () => resolve(items));
  });
}

// --- minimal grpc.reflection.v1(alpha) wire codec (both versions share field numbers) ---

/** Encodes a ServerReflectionRequest with the given oneof field (7 = list_services, 4 = file_containing_symbol). */
function encodeReflectionRequest(field: 4 | 7, value: string): Buffer {
  const bytes = new BinaryWriter().tag(field, WireType.LengthDelimited).string(value).finish();
  return Buffer.from(bytes);
}

interface ReflectionReply {
  services: string[];
  files: FileDescriptorProto[];
  error?: { code: number; message: string };
}

/** Decodes the parts of a ServerReflectionResponse this test looks at. */
function decodeReflectionResponse(buf: Buffer): ReflectionReply {
  const reply: ReflectionReply = { services: [], files: [] };
  const reader = new BinaryReader(buf);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 6) {
      // list_services_response { repeated ServiceResponse service = 1 { string name = 1 } }
      const list = new BinaryReader(reader.bytes());
      while (list.pos < list.len) {
        const [f, wt] = list.tag();
        if (f !== 1) {
          list.skip(wt);
          continue;
        }
        const svc = new BinaryReader(list.bytes());
        while (svc.pos < svc.len) {
          const [sf, swt] = svc.tag();
          if (sf === 1) reply.services.push(svc.string());
          else svc.skip(swt);
        }
      }
    } else if (field === 4) {
      // file_descriptor_response { repeated bytes file_descriptor_proto = 1 }
      const fdr = new BinaryReader(reader.bytes());
      while (fdr.pos < fdr.len) {
        const [f, wt] = fdr.tag();
        if (f === 1) reply.files.push(fromBinary(FileDescriptorProtoSchema, fdr.bytes()));
        else fdr.skip(wt);
      }
    } else if (field === 7) {
      // error_response { int32 error_code = 1; string error_message = 2 }
      const err = new BinaryReader(reader.bytes());
      const e = { code: 0, message: '' };
      while (err.pos < err.len) {
        const [f, wt] = err.tag();
        if (f === 1) e.code = err.int32();
        else if (f === 2) e.message = err.string();
        else err.skip(wt);
      }
      reply.error = e;
    } else {
      reader.skip(wireType);
    }
  }
  return reply;
}

/** Sends one reflection request over a fresh ServerReflectionInfo stream and returns the reply. */
function reflect(client: grpc.Client, version: 'v1' | 'v1alpha', field: 4 | 7, value: string): Promise<ReflectionReply> {
  return new Promise((resolve, reject) => {
    const call = client.makeBidiStreamRequest<Buffer, ReflectionReply>(
      `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`,
      (b) => b,
      decodeReflectionResponse,
    );
    let reply: ReflectionReply | undefined;
    call.on('data', (r: ReflectionReply) => {
      reply = r;
      call.end();
    });
    call.on('error', reject);
    call.on('end', () => (reply ? resolve(reply) : reject(new Error('no reflection response'))));
    call.write(encodeReflectionRequest(field, value));
  });
}

describe('grpc-js adapter for protobuf-es services', () => {
  let server: grpc.Server;
  let address: string;
  let health: Health;
  let pairing: ServiceClient<typeof PairingService>;
  let raw: grpc.Client;
  let healthClient: grpc.Client & { check: UnaryClientMethod<{ service: string }, { status: string }> };

  beforeAll(async () => {
    server = new grpc.Server();
    addTypedService(server, PairingService, pairingImpl);
    health = createHealth({ services: [PairingService.typeName] });
    health.addToServer(server);
    addReflection(server, ALL_FILES, { extraFileDescriptorProtos: health.fileDescriptorProtos });

    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    address = `127.0.0.1:${port}`;

    const PairingClient = makeServiceClientConstructor(PairingService);
    pairing = new PairingClient(address, grpc.credentials.createInsecure());
    raw = new grpc.Client(address, grpc.credentials.createInsecure());
    const HealthClient = grpc.makeGenericClientConstructor(
      healthServiceDefinition as unknown as grpc.ServiceDefinition,
      HEALTH_SERVICE_NAME,
    );
    healthClient = new HealthClient(address, grpc.credentials.createInsecure()) as unknown as typeof healthClient;
  });

  afterAll(async () => {
    pairing?.close();
    raw?.close();
    healthClient?.close();
    if (server) {
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    }
  });

  it('maps method descriptors to grpc-js method definitions', () => {
    const def = createServiceDefinition(SessionService);
    expect(Object.keys(def).sort()).toEqual(SessionService.methods.map((m) => m.localName).sort());
    expect(def.sendMessage.path).toBe('/openclaw.sessions.v1.SessionService/SendMessage');
    expect(def.sendMessage.requestStream).toBe(false);
    expect(def.sendMessage.responseStream).toBe(true);
    expect(def.createSession.path).toBe('/openclaw.sessions.v1.SessionService/CreateSession');
    expect(def.createSession.responseStream).toBe(false);

    const gw = createServiceDefinition(GatewayService);
    const bytes = gw.ping.requestSerialize({ payload: new Uint8Array([1, 2, 3]) });
    expect(Buffer.isBuffer(bytes)).toBe(true);
    const decoded = gw.ping.requestDeserialize(bytes);
    expect(decoded.$typeName).toBe('openclaw.gateway.v1.PingRequest');
    expect([...decoded.payload]).toEqual([1, 2, 3]);
  });

  it('round-trips a unary call with typed request and response', async () => {
    const res = await unary<SubmitCsrResponse>((cb) =>
      pairing.submitCsr(
        {
          csrPem: '-----BEGIN CERTIFICATE REQUEST-----\nX\n-----END CERTIFICATE REQUEST-----\n',
          label: 'laptop',
          role: 'operator',
          scopes: ['operator.read', 'operator.admin'],
        },
        cb,
      ),
    );
    expect(res.$typeName).toBe('openclaw.devices.v1.SubmitCsrResponse');
    expect(res.requestId).toBe('req-laptop');
    expect(res.deviceId).toBe('dev-1');
    expect(res.verificationCode).toBe('operator.read+operator.admin');
    expect(res.state).toBe(PairingState.PENDING);
    expect(res.expiresAtMs).toBe(1_700_000_000_123n);
    expect(res.certPem).toBe('');

    const ca = await unary<{ caPem: string; trustDomain: string }>((cb) => pairing.getCaBundle({}, cb));
    expect(ca.caPem).toBe(CA_PEM);
    expect(ca.trustDomain).toBe('openclaw.test');
  });

  it('propagates handler errors as grpc status', async () => {
    await expect(unary((cb) => pairing.submitCsr({ csrPem: 'nope' }, cb))).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'csr_pem is not a PEM CSR',
    });
  });

  it('streams server-streaming responses', async () => {
    const updates: WatchPairingResponse[] = await collect(pairing.watchPairing({ requestId: 'req-42' }));
    expect(updates.map((u) => u.state)).toEqual([PairingState.PENDING, PairingState.APPROVED]);
    expect(updates[0].deviceId).toBe('req-42');
    expect(updates[1].certPem).toBe('CERT');
    expect(updates[1].caPem).toBe(CA_PEM);
    expect(updates[1].scopes).toEqual(['operator.read', 'operator.write']);
  });

  it('lists our services via reflection v1 and v1alpha', async () => {
    for (const version of ['v1', 'v1alpha'] as const) {
      const reply = await reflect(raw, version, 7, '*');
      expect(reply.error).toBeUndefined();
      expect(reply.services.sort()).toEqual([...OUR_SERVICES, HEALTH_SERVICE_NAME].sort());
    }
    expect(OUR_SERVICES).toEqual(
      expect.arrayContaining([
        'openclaw.devices.v1.PairingService',
        'openclaw.devices.v1.DeviceService',
        'openclaw.devices.v1.LegacyAuthService',
        'openclaw.gateway.v1.GatewayService',
        'openclaw.events.v1.EventService',
        'openclaw.cron.v1.CronService',
        'openclaw.sessions.v1.SessionService',
        'openclaw.config.v1.ConfigService',
        'openclaw.logs.v1.LogService',
      ]),
    );
  });

  it('serves file descriptors by symbol via reflection', async () => {
    const reply = await reflect(raw, 'v1', 4, 'openclaw.cron.v1.CronService');
    expect(reply.error).toBeUndefined();
    const file = reply.files.find((f) => f.name === 'openclaw/cron/v1/cron.proto');
    expect(file).toBeDefined();
    expect(file!.package).toBe('openclaw.cron.v1');
    const cron = file!.service.find((s) => s.name === 'CronService');
    expect(cron?.method.map((m) => m.name)).toContain('WatchDueRuns');
    // proto3 `optional` survives the round trip through @grpc/reflection.
    const update = file!.messageType.find((m) => m.name === 'UpdateJobRequest');
    expect(update?.field.find((f) => f.name === 'name')?.proto3Optional).toBe(true);

    const missing = await reflect(raw, 'v1alpha', 4, 'openclaw.nope.v1.Nope');
    expect(missing.error?.code).toBe(grpc.status.NOT_FOUND);
  });

  it('answers health checks', async () => {
    const check = (service: string) =>
      unary<{ status: string }>((cb) => healthClient.check({ service }, cb));
    await expect(check('')).resolves.toEqual({ status: 'SERVING' });
    await expect(check(PairingService.typeName)).resolves.toEqual({ status: 'SERVING' });

    health.setStatus(PairingService.typeName, 'NOT_SERVING');
    await expect(check(PairingService.typeName)).resolves.toEqual({ status: 'NOT_SERVING' });
    expect(health.getStatus(PairingService.typeName)).toBe('NOT_SERVING');

    await expect(check('openclaw.unknown.v1.Unknown')).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });
});
