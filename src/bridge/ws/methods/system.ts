import os from 'node:os';
import { GatewayService } from '../../../gen/openclaw/gateway/v1/gateway_pb';
import { unaryCall } from '../../../transport/grpc/client/gateway-connection';
import { emptyAnswer, unavailable } from './fixed-answer';
import { ms, type Params } from './params';
import type { LegacyMethod, MethodContext } from './types';

/** `YYYY-MM-DD` of a param, or the given default. */
function dateParam(p: Params, name: string, fallback: string): string {
  const v = p.str(name);
  if (v === undefined) return fallback;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(v))) p.fail(`${name} must be a date YYYY-MM-DD`);
  return v;
}

/**
 * `system.info`: the host this bridge runs on (Node's `os`), with the gateway's uptime.
 * Real gateway 2026.9.6: {machineName, hostname, platform, release, arch, osLabel, port, nodeVersion,
 * pid, processInstanceId, uptimeMs, cpuCount, cpuModel, loadAverage, memoryTotalBytes, memoryFreeBytes,
 * eventLoop, processMemory, disks, diskTotalBytes, diskAvailableBytes, diskPath, defaultAgentUtilityModel}.
 * Disks and event-loop figures are not measured here, so they are absent.
 */
async function systemInfo(ctx: MethodContext): Promise<unknown> {
  const g = ctx.gateway.client(GatewayService);
  const st = await unaryCall(g, g.getStatus, {}, ctx.call);
  const cpus = os.cpus();
  const mem = process.memoryUsage();
  return {
    machineName: os.hostname(),
    hostname: os.hostname(),
    platform: os.platform(),
    release: os.release(),
    arch: os.arch(),
    osLabel: `${os.type()} ${os.release()}`,
    nodeVersion: process.version,
    pid: process.pid,
    uptimeMs: ms(st.uptimeMs),
    version: st.version,
    cpuCount: cpus.length,
    cpuModel: cpus[0]?.model ?? '',
    loadAverage: os.loadavg(),
    memoryTotalBytes: os.totalmem(),
    memoryFreeBytes: os.freemem(),
    processMemory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, heapTotalBytes: mem.heapTotal, externalBytes: mem.external, arrayBuffersBytes: mem.arrayBuffers },
    disks: [],
  };
}

/** system.info, environments.list, update.status (update.run refused), last-heartbeat, channels.status, channels.pairing.list, node.list, usage.status, sessions.usage. */
export const SYSTEM_METHODS: readonly LegacyMethod[] = [
  { method: 'system.info', scope: 'operator.read', handler: systemInfo },
  // Real: {environments:[{id:"gateway", type:"local", label:"Gateway local", status:"available", platform,
  // sessionHost:true, trust:"persistent", capabilities:["agent.run","sessions","tools","workspace"]}]}.
  // Here too the gateway is the one place agents run; they have no tools or workspace.
  emptyAnswer('environments.list', 'operator.read', () => ({
    environments: [{ id: 'gateway', type: 'local', label: 'Gateway', status: 'available', platform: os.platform(), sessionHost: true, trust: 'persistent', capabilities: ['agent.run', 'sessions'] }],
  })),
  // Real: {sentinel:null, updateAvailable:null, effectiveChannel:"stable", schedule:{channel:"stable", autoEnabled:false,
  // install:{kind:"package"}}}. This gateway does not update itself: nothing pending, nothing scheduled.
  emptyAnswer('update.status', 'operator.admin', () => ({ sentinel: null, updateAvailable: null, effectiveChannel: 'stable', schedule: { channel: 'stable', autoEnabled: false, install: { kind: 'package' } } })),
  unavailable('update.run', 'operator.admin', 'Self-update'),
  // Real: null (no heartbeat has run). Agents here have no heartbeat.
  emptyAnswer('last-heartbeat', 'operator.read', () => null),
  // Real: {ts, channelOrder:[], channelLabels:{}, channelDetailLabels:{}, channelSystemImages:{}, channelMeta:[], eventLoop,
  // channels:{}, channelAccounts:{}, channelDefaultAccountId:{}, statusIssues:[]}. No messaging channels here.
  emptyAnswer('channels.status', 'operator.read', (_p, ctx) => ({
    ts: ctx.clock.now(),
    channelOrder: [],
    channelLabels: {},
    channelDetailLabels: {},
    channelSystemImages: {},
    channelMeta: [],
    channels: {},
    channelAccounts: {},
    channelDefaultAccountId: {},
    statusIssues: [],
  })),
  // Real: {accounts:[], requests:[], commandOwnerConfigured:false, limits:{pendingPerAccount:3, ttlMs:3600000}}: no channels,
  // so no channel accounts or pairing requests (device pairing is device.pair.*). The UI reads `limits` unguarded; the
  // queue holds nothing here, so its limits are 0.
  emptyAnswer('channels.pairing.list', 'operator.pairing', () => ({ accounts: [], requests: [], commandOwnerConfigured: false, limits: { pendingPerAccount: 0, ttlMs: 0 } })),
  // Real: {ts, nodes:[]}. Node hosts (remote command runners) do not connect to this gateway's legacy port.
  emptyAnswer('node.list', 'operator.read', (_p, ctx) => ({ ts: ctx.clock.now(), nodes: [] })),
  // Real: {updatedAt, providers:[]} (provider quota windows; the built-in and configured providers report none).
  emptyAnswer('usage.status', 'operator.read', (_p, ctx) => ({ updatedAt: ctx.clock.now(), providers: [] })),
  // Real (no usage recorded): the same totals and aggregates, all zero. Token usage is not recorded here.
  emptyAnswer('sessions.usage', 'operator.read', (p, ctx) => {
    const today = new Date(ctx.clock.now()).toISOString().slice(0, 10);
    const startDate = dateParam(p, 'startDate', today);
    const endDate = dateParam(p, 'endDate', today);
    const zero = { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, totalTokens: 0, totalCost: 0, inputCost: 0, outputCost: 0, cacheReadCost: 0, cacheWriteCost: 0, missingCostEntries: 0 };
    return {
      updatedAt: ctx.clock.now(),
      startDate,
      endDate,
      sessions: [],
      totals: zero,
      aggregates: {
        sessionCount: 0,
        messages: { total: 0, user: 0, assistant: 0, toolCalls: 0, toolResults: 0, errors: 0 },
        tools: { totalCalls: 0, uniqueTools: 0, tools: [] },
        byModel: [],
        byProvider: [],
        byAgent: [],
        byChannel: [],
        byCreator: [],
        costDaily: [],
        dailyLatency: [],
        modelDaily: [],
        daily: [],
      },
      creatorOptions: [],
    };
  }),
];
