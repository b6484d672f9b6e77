/**
 * mTLS connect + first call: a fresh channel (own subchannel, `grpc.use_local_subchannel_pool`)
 * per sample, TCP + TLS 1.3 handshake with the cli client certificate + HTTP/2 set-up +
 * one Ping, then close. The real gateway against a bare grpc-js server with the same
 * TLS (same certificate-provider credentials, client certificates optional) and a
 * trivial Ping, no interceptor. Servers run in child processes; samples alternate
 * between them so machine noise hits both alike.
 */
import { randomBytes } from 'node:crypto';
import { systemClock } from '../../src/clock';
import { DeviceRegistry, KEY_TYPES, loadCa, statePaths, type KeyType } from '../../src/identity';
import { silentLogger } from '../../src/logging';
import { openDevices } from '../../src/store/device-store';
import { openStore } from '../../src/store/open-store';
import type { ClientTls } from '../../src/transport/grpc/client/gateway-connection';
import { stopAll } from '../lib/child';
import { connectTo, identityTls, ping } from '../lib/grpc';
import { startBareChild, startGatewayChild } from '../lib/servers';
import { latencyStats, nowMs, round } from '../measure';
import type { Figure, Scenario, ScenarioOptions, ScenarioResult } from '../types';

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const samples = opts.quick ? 30 : 300;
  const warmup = opts.quick ? 5 : 30;
  const gw = await startGatewayChild();
  const bare = await startBareChild(gw.info.stateDir).catch(async (err: unknown) => {
    await gw.stop();
    throw err;
  });
  try {
    const tls = identityTls(gw.info.identities.cli);
    const payload = randomBytes(32);
    const onceWith = async (address: string, with_: ClientTls): Promise<number> => {
      const t0 = nowMs();
      const conn = connectTo(address, with_);
      try {
        await ping(conn, payload);
        return nowMs() - t0;
      } finally {
        conn.close();
      }
    };
    const once = (address: string): Promise<number> => onceWith(address, tls);
    for (let i = 0; i < warmup; i++) {
      await once(gw.info.address);
      await once(bare.info.address);
    }
    const g: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < samples; i++) {
      if (i % 2 === 0) {
        g.push(await once(gw.info.address));
        b.push(await once(bare.info.address));
      } else {
        b.push(await once(bare.info.address));
        g.push(await once(gw.info.address));
      }
    }
    // Per device key type: the same connect + first Ping against the gateway, the key types
    // interleaved so that noise hits them alike (the server key and the CA stay RSA-2048).
    const perType = await keyTypeSamples(gw.info.stateDir, gw.info.address, opts.quick ? 20 : 150, (address, tls) => onceWith(address, tls));
    const gs = latencyStats(g);
    const bs = latencyStats(b);
    const figures: Figure[] = [
      {
        name: 'mTLS connect + first Ping, gateway',
        unit: 'ms p50',
        value: round(gs.p50, 3),
        p50: round(gs.p50, 3),
        p99: round(gs.p99, 3),
        baseline: { name: 'bare grpc-js, same TLS', value: round(bs.p50, 3) },
        ratio: round(gs.p50 / bs.p50, 2),
      },
      { name: 'mTLS connect + first Ping, bare grpc-js', unit: 'ms p50', value: round(bs.p50, 3), p50: round(bs.p50, 3), p99: round(bs.p99, 3) },
    ];
    const rsa = latencyStats(perType.get('rsa')!);
    for (const type of KEY_TYPES) {
      const st = latencyStats(perType.get(type)!);
      figures.push({
        name: `mTLS connect + first Ping, ${type} client key`,
        unit: 'ms p50',
        value: round(st.p50, 3),
        p50: round(st.p50, 3),
        p99: round(st.p99, 3),
        ...(type === 'rsa' ? {} : { baseline: { name: 'RSA-2048 client key, same run', value: round(rsa.p50, 3) }, ratio: round(st.p50 / rsa.p50, 2) }),
      });
    }
    return {
      scenario: 'connect',
      figures,
      notes: [
        `${samples} fresh channels per server (after ${warmup} warm-up each), alternating; RSA-2048 server key, the local CLI identity's client key (P-256); ratio > 1 means the gateway is slower`,
        'per key type: one registered device each, connections interleaved across the four types; the server key and CA are RSA-2048',
      ],
    };
  } finally {
    await stopAll([gw, bare]);
  }
}

/**
 * Registers one device per key type in the gateway's state (as certs-tools would, from
 * another process) and times a fresh mTLS connection + first Ping with each, in turn.
 */
async function keyTypeSamples(stateDir: string, address: string, samples: number, once: (address: string, tls: ClientTls) => Promise<number>): Promise<Map<KeyType, number[]>> {
  const paths = statePaths(stateDir);
  const ca = loadCa(paths);
  if (!ca) throw new Error(`no CA in ${stateDir}`);
  const store = await openStore({ stateDir, log: silentLogger() });
  const registry = new DeviceRegistry({ store: await openDevices(store, paths.devices), ca, clock: systemClock, log: silentLogger() });
  const tlsOf = new Map<KeyType, ClientTls>();
  for (const type of KEY_TYPES) {
    const issued = await registry.provision({ role: 'operator', label: `bench-${type}`, keyType: type });
    tlsOf.set(type, { caPem: issued.caPem, keyPem: issued.keyPem, certPem: issued.certPem });
  }
  await store.close();
  const out = new Map<KeyType, number[]>(KEY_TYPES.map((t) => [t, []]));
  for (let i = 0; i < samples + 5; i++) {
    const order = i % 2 === 0 ? KEY_TYPES : [...KEY_TYPES].reverse();
    for (const type of order) {
      const ms = await once(address, tlsOf.get(type)!);
      if (i >= 5) out.get(type)!.push(ms);
    }
  }
  return out;
}

/** The harness entry. */
export const scenario: Scenario = {
  name: 'connect',
  description: 'fresh mTLS channel + first Ping: gateway vs bare grpc-js with the same TLS',
  run,
};
