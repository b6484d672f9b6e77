/** Starting the usual pair of bench servers: the real gateway and the bare grpc-js baseline. */
import { ChildServer } from './child';
import { provisionedStateDir } from './fixture';

/** What the gateway child reports when ready. */
export interface GatewayInfo {
  port: number;
  address: string;
  stateDir: string;
  identities: Record<'cli' | 'worker' | 'bridge', string>;
  caPem: string;
  trustDomain: string;
  hubCaptured: boolean;
}

/** What the bare server child reports when ready. */
export interface BareInfo {
  port: number;
  address: string;
  mode: string;
}

/** Starts a gateway child on a private copy of the provisioned state. */
export async function startGatewayChild(opts: { worker?: boolean } = {}): Promise<ChildServer<GatewayInfo>> {
  const stateDir = await provisionedStateDir();
  return ChildServer.start<GatewayInfo>('gateway-server', { stateDir, worker: opts.worker ?? false }, { name: 'gateway' });
}

/** Starts a bare grpc-js server child on the TLS material of `stateDir`. */
export function startBareChild(stateDir: string, fanout: 'object' | 'shared-bytes' = 'object'): Promise<ChildServer<BareInfo>> {
  return ChildServer.start<BareInfo>('bare-server', { stateDir, fanout }, { name: fanout === 'object' ? 'bare grpc-js' : 'bare grpc-js (shared bytes)' });
}
