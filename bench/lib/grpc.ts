/** gRPC client helpers for scenarios: identities, connections, one call as a promise. */
import type * as grpc from '@grpc/grpc-js';
import { readCertsDir } from '../../src/identity';
import { GatewayConnection, type ClientTls } from '../../src/transport/grpc/client/gateway-connection';
import { GatewayService } from '../../src/gen/openclaw/gateway/v1/gateway_pb';

/** Channel options of every bench connection: its own connection, never a pooled one. */
export const OWN_CONNECTION: grpc.ChannelOptions = { 'grpc.use_local_subchannel_pool': 1 };

/** TLS material of a certificate folder (key.pem, cert.pem, ca.pem). */
export function identityTls(dir: string): ClientTls {
  const c = readCertsDir(dir);
  return { caPem: c.caPem, keyPem: c.keyPem, certPem: c.certPem };
}

/** A new connection with its own subchannel. */
export function connectTo(address: string, tls: ClientTls): GatewayConnection {
  return new GatewayConnection(address, tls, OWN_CONNECTION);
}

/** One GatewayService.Ping on `conn`, resolved when the answer arrived. */
export function ping(conn: GatewayConnection, payload: Uint8Array): Promise<void> {
  const g = conn.client(GatewayService);
  return new Promise<void>((resolve, reject) => {
    g.ping({ payload }, (err) => (err ? reject(err) : resolve()));
  });
}
