import type { Clock } from '../clock';
import type { Logger } from '../logging';
import type { StatePaths } from '../identity';
import type { StoreBackend } from '../store/collection';
import type { EventPublisher } from '../services/events/event-publisher';
import { ConfigService } from '../services/config/config-service';
import type { GatewayConfig as RuntimeConfig } from '../services/config/config-schema';
import { AgentCatalog } from '../services/agent/agent-catalog';
import { BuiltinProvider } from '../services/agent/builtin-provider';
import { OpenAiProvider } from '../services/agent/openai-provider';
import type { AgentProvider } from '../services/agent/agent-provider';
import { SessionService, type AgentResolver } from '../services/sessions/session-service';
import { CronService, leaseFromSetting } from '../services/cron/cron-service';

/** The domain services of the gateway (cron, sessions, agents, runtime config). */
export interface DomainServices {
  config: ConfigService;
  agents: () => AgentCatalog;
  sessions: SessionService;
  cron: CronService;
  /** Stops timers and aborts turns in progress (the store is closed by its owner). */
  stop(): Promise<void>;
}

/** Builds the agent catalog from the runtime config; the OpenAI key comes from the environment only. */
export function buildAgentCatalog(cfg: RuntimeConfig, env: NodeJS.ProcessEnv, log: Logger): AgentCatalog {
  const providers: AgentProvider[] = [new BuiltinProvider()];
  const o = cfg.providers.openai;
  if (o) providers.push(new OpenAiProvider({ baseUrl: o.baseUrl, model: o.model, apiKey: env[o.apiKeyEnv], timeoutMs: o.timeoutMs, logger: log }));
  const agents = cfg.agents.list.length > 0 ? cfg.agents.list.map((a) => ({ agentId: a.id, name: a.name, provider: a.provider, model: a.model })) : undefined;
  return new AgentCatalog({ providers, agents, defaultAgentId: cfg.agents.default || undefined });
}

/** What the domain services are built from: state lives in `store` (files or PostgreSQL). */
export interface DomainDeps {
  store: StoreBackend;
  paths: StatePaths;
  clock: Clock;
  events: EventPublisher;
  log: Logger;
  env: NodeJS.ProcessEnv;
}

/** Creates the domain services over the gateway's store. */
export async function createDomainServices(deps: DomainDeps): Promise<DomainServices> {
  // Runtime config.
  const config = await ConfigService.open({ store: deps.store, legacyJson: deps.paths.config, events: deps.events, logger: deps.log });

  let catalog = buildAgentCatalog(config.get().config, deps.env, deps.log);
  config.onChange((next) => {
    try {
      catalog = buildAgentCatalog(next.config, deps.env, deps.log);
    } catch (err) {
      deps.log.error({ err }, 'agent configuration rejected; keeping the previous agents');
    }
  });
  // Sessions resolve agents through the current catalog, so config changes apply to new turns.
  const resolver: AgentResolver = { resolve: (agentId) => catalog.resolve(agentId) };

  // Sessions and transcripts.
  const sessions = await SessionService.open({ store: deps.store, legacyDir: deps.paths.sessionsDir, agents: resolver, clock: deps.clock, events: deps.events, logger: deps.log });

  // Cron jobs and runs, shared by the replicas of one store. OPENCLAW_CRON_LEASE_MS: how
  // long a replica's claimed runs outlive its last heartbeat (default 9 s).
  const cron = await CronService.open({
    store: deps.store,
    legacyJson: deps.paths.cron,
    clock: deps.clock,
    events: deps.events,
    logger: deps.log,
    options: { schedulerEnabled: config.get().config.cron.enabled, lease: leaseFromSetting(deps.env.OPENCLAW_CRON_LEASE_MS) },
  });
  await cron.start();
  config.onChange((next) => cron.setSchedulerEnabled(next.config.cron.enabled));

  return {
    config,
    agents: () => catalog,
    sessions,
    cron,
    stop: async () => {
      await cron.stop();

      await sessions.abortAll();
      sessions.close();
    },
  };
}
