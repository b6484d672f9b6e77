/**
 * Bench child: the real gateway (startGateway, exactly as `openclaw-gateway start`
 * wires it, without the bridge) on 127.0.0.1 port 0, plus one bench-only IPC command
 * `publish` that calls the gateway's own EventHub, so fan-out load enters where real
 * events (cron, sessions, pairing) enter.
 *
 * startGateway does not hand out its EventHub, so this entry replaces the exported
 * EventHub class (before startGateway runs) with a subclass that only records the
 * instance; behaviour is unchanged. If RunningGateway ever exposes `hub`, that is used.
 *
 * argv[2]: {"stateDir": string, "worker"?: boolean, "logLevel"?: string}
 */
import { Writable } from 'node:stream';
import { resolveGatewayConfig } from '../../src/config/gateway-config';
import { createLogger } from '../../src/logging';
import type { EventHub } from '../../src/services/events/event-hub';
import { wallMs } from '../measure';
import { childArgs, failed, ready, serve } from './ipc';

interface Args {
  stateDir: string;
  worker?: boolean;
  logLevel?: string;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
const hubModule = require('../../src/services/events/event-hub') as { EventHub: typeof EventHub };
let capturedHub: EventHub | undefined;
const OriginalHub = hubModule.EventHub;
hubModule.EventHub = class RecordedEventHub extends OriginalHub {
  constructor(...args: ConstructorParameters<typeof EventHub>) {
    super(...args);
    capturedHub = this;
  }
};

/** A log destination that drops lines (pino still formats them: the real cost stays). */
class Discard extends Writable {
  override _write(_c: Buffer, _e: BufferEncoding, cb: () => void): void {
    cb();
  }
}

async function main(): Promise<void> {
  const args = childArgs<Args>();
  // Loaded after the EventHub swap above, so gateway-app picks up the recording class.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startGateway } = require('../../src/gateway/gateway-app') as typeof import('../../src/gateway/gateway-app');
  const config = resolveGatewayConfig({ stateDir: args.stateDir, grpcHost: '127.0.0.1', grpcPort: 0, bridge: false, worker: args.worker ?? false, logLevel: args.logLevel ?? 'info' }, {});
  const log = createLogger({ level: config.logLevel, destination: new Discard() });
  const gw = await startGateway(config, { log });
  const hub = (gw as unknown as { hub?: EventHub }).hub ?? capturedHub;

  serve(
    {
      /** Publishes `count` events of type `type` now (synchronously), each stamped with the wall clock. */
      publish: (p) => {
        if (!hub) throw new Error('the gateway EventHub was not captured');
        const count = Number(p.count ?? 1);
        const type = String(p.type ?? 'bench');
        const pad = 'x'.repeat(Number(p.padBytes ?? 0));
        for (let i = 0; i < count; i++) hub.publish(type, { t: wallMs(), i, pad });
        return { published: count };
      },
      attached: () => hub?.attached ?? -1,
    },
    () => gw.stop(),
  );
  ready({
    port: gw.grpcPort,
    address: `127.0.0.1:${gw.grpcPort}`,
    stateDir: gw.paths.root,
    identities: gw.identities,
    caPem: gw.registry.ca.certPem,
    trustDomain: gw.trustDomain,
    hubCaptured: Boolean(hub),
  });
}

main().catch(failed);
