/**
 * Pairing round trip as a device and an operator see it: the device (anonymous TLS,
 * CA only) submits a CSR and watches its request; when the watch reports PENDING the
 * operator (cli identity) approves; the time ends when the certificate arrives on the
 * device's WatchPairing stream. Device keys and CSRs are made beforehand (key
 * generation is the device's business, ~0.1 s each).
 *
 * The gateway rate-limits pairing per client address (20 at once, then 10/min), and
 * the bench comes from 127.0.0.1: each gateway child takes at most 18 pairings and a
 * full run uses several children (same provisioned state, fresh copies).
 * Baseline: three sequential Pings on the operator's connection (the minimum
 * transport cost of submit + watch + approve), sampled between pairings.
 */
import { createCsr, generateRsaKeyPair } from '../../src/identity';
import { DeviceService, PairingService, PairingState, type WatchPairingResponse } from '../../src/gen/openclaw/devices/v1/devices_pb';
import { unaryCall } from '../../src/transport/grpc/client/gateway-connection';
import { stopAll } from '../lib/child';
import { connectTo, identityTls, ping } from '../lib/grpc';
import { startGatewayChild } from '../lib/servers';
import { latencyStats, median, nowMs, round, withTimeout } from '../measure';
import type { Scenario, ScenarioOptions, ScenarioResult } from '../types';

const PER_GATEWAY = 18;
const WARMUP_PER_GATEWAY = 2;

async function run(opts: ScenarioOptions): Promise<ScenarioResult> {
  const gateways = opts.quick ? 1 : 4;
  const perGateway = opts.quick ? 8 : PER_GATEWAY;
  const total = gateways * perGateway;
  const t0 = nowMs();
  const csrs = Array.from({ length: total }, (_, i) => createCsr({ ...generateRsaKeyPair(2048), label: `bench-device-${i}` }));
  const keygenMs = nowMs() - t0;

  const roundTrips: number[] = [];
  const submitMs: number[] = [];
  const approveToCertMs: number[] = [];
  const pings3: number[] = [];
  let next = 0;
  for (let g = 0; g < gateways; g++) {
    const gw = await startGatewayChild();
    const operator = connectTo(gw.info.address, identityTls(gw.info.identities.cli));
    const device = connectTo(gw.info.address, { caPem: gw.info.caPem });
    try {
      const pairing = device.client(PairingService);
      const devices = operator.client(DeviceService);
      const payload = new Uint8Array(32);
      for (let i = 0; i < perGateway; i++) {
        const csrPem = csrs[next++];
        const start = nowMs();
        const sub = await unaryCall(pairing, pairing.submitCsr, { csrPem, label: `bench-device-${next}`, role: 'node', scopes: [], bootstrapToken: '' }, { timeoutMs: 10_000 });
        const submitted = nowMs();
        let approvedAt = 0;
        const cert = await withTimeout(
          new Promise<string>((resolve, reject) => {
            const stream = pairing.watchPairing({ requestId: sub.requestId, requestSecret: sub.requestSecret });
            stream.on('data', (m: WatchPairingResponse) => {
              if (m.state === PairingState.PENDING && approvedAt === 0) {
                approvedAt = nowMs();
                unaryCall(devices, devices.approvePairing, { requestId: sub.requestId, scopes: [] }, { timeoutMs: 10_000 }).catch(reject);
              } else if (m.state === PairingState.APPROVED) {
                resolve(m.certPem);
              } else if (m.state !== PairingState.PENDING) {
                reject(new Error(`pairing ended in state ${PairingState[m.state]}: ${m.reason}`));
              }
            });
            stream.on('error', reject);
          }),
          15_000,
          'pairing round trip',
        );
        const end = nowMs();
        if (!cert.includes('BEGIN CERTIFICATE')) throw new Error('pairing returned no certificate');
        if (i < WARMUP_PER_GATEWAY) continue;
        roundTrips.push(end - start);
        submitMs.push(submitted - start);
        approveToCertMs.push(end - approvedAt);
        const p0 = nowMs();
        for (let k = 0; k < 3; k++) await ping(operator, payload);
        pings3.push(nowMs() - p0);
      }
    } finally {
      operator.close();
      device.close();
      await stopAll([gw]);
    }
  }
  const rt = latencyStats(roundTrips);
  const base = latencyStats(pings3);
  return {
    scenario: 'pairing',
    figures: [
      {
        name: 'pairing round trip (submit CSR -> operator approves -> cert on WatchPairing)',
        unit: 'ms p50',
        value: round(rt.p50, 2),
        p50: round(rt.p50, 2),
        p99: round(rt.p99, 2),
        baseline: { name: '3 sequential Pings', value: round(base.p50, 2) },
        ratio: round(rt.p50 / base.p50, 1),
      },
    ],
    notes: [
      `${rt.n} pairings measured on ${gateways} gateway(s) (first ${WARMUP_PER_GATEWAY} per gateway are warm-up; the gateway's pairing rate limit allows ~20 per client address at once)`,
      `medians: submit ${median(submitMs).toFixed(2)} ms, approve -> certificate on the stream ${median(approveToCertMs).toFixed(2)} ms; RSA-2048 device keys made beforehand (${(keygenMs / 1000).toFixed(1)} s)`,
    ],
  };
}

/** The harness entry. */
export const scenario: Scenario = {
  name: 'pairing',
  description: 'pairing round trip latency: submit CSR -> operator approves -> certificate on WatchPairing',
  run,
};
