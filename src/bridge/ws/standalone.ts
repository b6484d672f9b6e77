import { readCertsDir } from '../../identity';
import { GatewayConnection } from '../../transport/grpc/client/gateway-connection';
import { keepCertificateFresh } from '../../transport/grpc/cert-renewal';
import { startBridge, type BridgeOptions, type RunningBridge } from './bridge-server';

/**
 * Starts the bridge as its own process would: one mTLS connection to the gateway at
 * `gatewayAddress` ("HOST:PORT") with the bridge certificate folder `certsDir`
 * (key.pem, cert.pem, ca.pem of a `bridge`-role identity). Closing the bridge also
 * closes that connection.
 */
export async function startStandaloneBridge(opts: Omit<BridgeOptions, 'gateway'> & { gatewayAddress: string; certsDir: string; waitForGatewayMs?: number }): Promise<RunningBridge> {
  const certs = readCertsDir(opts.certsDir);
  const gateway = new GatewayConnection(opts.gatewayAddress, { caPem: certs.caPem, keyPem: certs.keyPem, certPem: certs.certPem });
  try {
    // The bridge serves /readyz 503 until the gateway is up; waiting is optional.
    if (opts.waitForGatewayMs) await gateway.waitReady(opts.waitForGatewayMs);
    const bridge = await startBridge({ ...opts, gateway });
    const stopRenewal = keepCertificateFresh({ address: opts.gatewayAddress, dir: opts.certsDir, conn: gateway, log: opts.log });
    return {
      ...bridge,
      close: async (reason) => {
        stopRenewal();
        await bridge.close(reason);
        gateway.close();
      },
    };
  } catch (err) {
    gateway.close();
    throw err;
  }
}
