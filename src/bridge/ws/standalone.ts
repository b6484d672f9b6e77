import { MAX_RENEW_JITTER } from '../../identity/renewal-policy';
import { CertFolderClient, needsNewCertificate } from '../../transport/grpc/client/cert-folder-client';
import type { LocalCalls } from '../../transport/grpc/client/gateway-connection';
import { startBridge, type BridgeOptions, type RunningBridge } from './bridge-server';

/**
 * Starts the bridge as its own process would: one mTLS connection to the gateway at
 * `gatewayAddress` ("HOST:PORT") made from the bridge certificate folder `certsDir`
 * (key.pem, cert.pem, ca.pem of a `bridge`-role identity), renewed when due (also after
 * expiry, within the window) and switched to every new certificate. Closing the bridge
 * also closes that connection.
 */
export async function startStandaloneBridge(
  opts: Omit<BridgeOptions, 'gateway'> & {
    gatewayAddress: string;
    certsDir: string;
    waitForGatewayMs?: number;
    renewCheckMs?: number;
    /** A gateway in this process: calls skip the network (same interceptors, same certificate). */
    localCalls?: LocalCalls;
  },
): Promise<RunningBridge> {
  const log = opts.log;
  const folder = new CertFolderClient({ dir: opts.certsDir, target: opts.gatewayAddress, clock: opts.clock, jitter: Math.random() * MAX_RENEW_JITTER });
  try {
    await folder.ensureFresh((warning) => log.warn(warning));
  } catch (err) {
    // Serve anyway (readiness stays 503 until calls work): the folder is looked at again
    // on every check, so a re-issued certificate is picked up without a restart.
    log.error({ reason: (err as { reason?: string }).reason, err: (err as Error).message }, 'the bridge has no usable certificate');
  }
  const gateway = folder.connection();
  if (opts.localCalls) gateway.useLocalCalls(opts.localCalls);
  try {
    // The bridge serves /readyz 503 until the gateway is up; waiting is optional.
    if (opts.waitForGatewayMs) await gateway.waitReady(opts.waitForGatewayMs);
    const bridge = await startBridge({ ...opts, gateway });
    const stopRenewal = folder.keepFresh({
      everyMs: opts.renewCheckMs,
      onRenewed: () => log.info({ dir: opts.certsDir }, 'the bridge certificate changed; new calls use it'),
      onError: (err) =>
        needsNewCertificate(err)
          ? log.error({ dir: opts.certsDir, err: err.message }, 'the bridge certificate cannot be renewed; waiting for a new one in its folder')
          : log.warn({ dir: opts.certsDir, err: err.message }, 'certificate renewal failed; will retry'),
    });
    return {
      ...bridge,
      close: async (reason) => {
        stopRenewal();
        await bridge.close(reason);
        folder.close();
      },
    };
  } catch (err) {
    folder.close();
    throw err;
  }
}
