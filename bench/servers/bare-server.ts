/**
 * Bench child: the baseline. A bare grpc-js server with the gateway's TLS setup (the
 * same ReloadableCertificates provider credentials over the same state dir's server
 * certificate and CA: client certificates requested, not required), the same server
 * channel options, the same protobuf-es adapter, but no interceptor, no registry, no
 * presence and no handler framework:
 *  - GatewayService.Ping answers with the payload and the time;
 *  - EventService.Subscribe keeps the call and writes every published event to it.
 *
 * With `fanout: "shared-bytes"` each event's common fields are encoded once per event
 * and only the per-subscription fields (seq, subscription id) per subscriber: the
 * serialize-once variant, measured to size the gain of doing that in the gateway.
 *
 * argv[2]: {"stateDir": string, "fanout"?: "object" | "shared-bytes"}
 */
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { create, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { statePaths } from '../../src/identity/state-layout';
import { loadTlsMaterial, ReloadableCertificates } from '../../src/transport/grpc/server/reloadable-certificates';
import { createServiceDefinition } from '../../src/transport/grpc/service-definition';
import { GatewayService, type PingRequest } from '../../src/gen/openclaw/gateway/v1/gateway_pb';
import { EventSchema, EventService, type SubscribeRequest } from '../../src/gen/openclaw/events/v1/events_pb';
import { wallMs } from '../measure';
import { childArgs, failed, ready, serve } from './ipc';

interface Args {
  stateDir: string;
  fanout?: 'object' | 'shared-bytes';
}

interface Subscriber {
  call: grpc.ServerWritableStream<SubscribeRequest, unknown>;
  id: string;
  seq: number;
}

/** Encodes SubscribeResponse{event: Event{seq, subscription_id, ...shared}} around pre-encoded shared fields (3..5). */
function encodeWithShared(seq: number, subscriptionId: string, shared: Uint8Array): Buffer {
  const head = new BinaryWriter().tag(1, WireType.Varint).uint64(seq).tag(2, WireType.LengthDelimited).string(subscriptionId).finish();
  const out = new BinaryWriter()
    .tag(1, WireType.LengthDelimited)
    .uint32(head.length + shared.length)
    .raw(head)
    .raw(shared)
    .finish();
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

async function main(): Promise<void> {
  const args = childArgs<Args>();
  const mode = args.fanout ?? 'object';
  const paths = statePaths(args.stateDir);
  const tls = new ReloadableCertificates(loadTlsMaterial({ serverCert: paths.serverCert, serverKey: paths.serverKey, caCert: paths.caCert }));
  // Same channel options as GrpcGatewayServer, no interceptors.
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024, 'grpc.keepalive_time_ms': 60_000, 'grpc.keepalive_permit_without_calls': 1 });

  server.addService(createServiceDefinition(GatewayService) as grpc.ServiceDefinition, {
    ping: (call: grpc.ServerUnaryCall<PingRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { payload: call.request.payload, serverTimeMs: BigInt(Date.now()) }),
  });

  const subscribers = new Set<Subscriber>();
  const eventsDef = { ...createServiceDefinition(EventService) } as Record<string, grpc.MethodDefinition<unknown, unknown>>;
  if (mode === 'shared-bytes') {
    const orig = eventsDef.subscribe.responseSerialize;
    eventsDef.subscribe = { ...eventsDef.subscribe, responseSerialize: (v: unknown) => (Buffer.isBuffer(v) ? v : orig(v)) };
  }
  server.addService(eventsDef as grpc.ServiceDefinition, {
    subscribe: (call: grpc.ServerWritableStream<SubscribeRequest, unknown>) => {
      const sub: Subscriber = { call, id: randomBytes(9).toString('base64url'), seq: 0 };
      subscribers.add(sub);
      const drop = () => subscribers.delete(sub);
      call.on('cancelled', drop);
      call.on('close', drop);
      call.on('error', drop);
      call.write({ event: { seq: 0n, subscriptionId: sub.id, type: 'subscribed', tsMs: BigInt(Date.now()), payloadJson: '{}' } });
    },
  });

  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', tls.serverCredentials(), (err, p) => (err ? reject(err) : resolve(p))));

  serve(
    {
      publish: (p) => {
        const count = Number(p.count ?? 1);
        const type = String(p.type ?? 'bench');
        const pad = 'x'.repeat(Number(p.padBytes ?? 0));
        for (let i = 0; i < count; i++) {
          const ts = Date.now();
          const payloadJson = JSON.stringify({ t: wallMs(), i, pad });
          if (mode === 'shared-bytes') {
            const shared = toBinary(EventSchema, create(EventSchema, { type, tsMs: BigInt(ts), payloadJson }));
            for (const s of subscribers) s.call.write(encodeWithShared(++s.seq, s.id, shared));
          } else {
            for (const s of subscribers) s.call.write({ event: { seq: BigInt(++s.seq), subscriptionId: s.id, type, tsMs: BigInt(ts), payloadJson } });
          }
        }
        return { published: count };
      },
      attached: () => subscribers.size,
    },
    () =>
      new Promise<void>((resolve) => {
        for (const s of subscribers) s.call.end();
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000).unref();
      }),
  );
  ready({ port, address: `127.0.0.1:${port}`, mode });
}

main().catch(failed);
