import { errors } from '../../errors';
import type { AgentProvider } from './agent-provider';
import { BUILTIN_MODEL } from './builtin-provider';

/** An agent sessions can talk to: a named provider + model pair. */
export interface AgentDefinition {
  agentId: string;
  name: string;
  /** Id of the provider serving it (`builtin`, `openai`, ...). */
  provider: string;
  model: string;
}

/** A model offered by a provider. */
export interface ModelInfo {
  modelId: string;
  provider: string;
}

/** The agent used when none is configured: the offline built-in echo model. */
export const DEFAULT_AGENT: AgentDefinition = Object.freeze({
  agentId: 'main',
  name: 'Main',
  provider: 'builtin',
  model: BUILTIN_MODEL,
});

/** What the catalog is built from. */
export interface AgentCatalogDeps {
  /** Every provider agents may reference, by their `id`. */
  providers: AgentProvider[];
  /** Agents; default `[DEFAULT_AGENT]`. */
  agents?: AgentDefinition[];
  /** Agent used when a caller names none; default `main` if listed, else the first agent. */
  defaultAgentId?: string;
}

/**
 * The agents and providers of the gateway. Built once from config and checked up
 * front, so a session never discovers at send time that its agent points nowhere.
 */
export class AgentCatalog {
  /** The agent used when a caller names none. */
  readonly defaultAgentId: string;
  private readonly agents = new Map<string, AgentDefinition>();
  private readonly providers = new Map<string, AgentProvider>();

  constructor(deps: AgentCatalogDeps) {
    for (const p of deps.providers) {
      if (this.providers.has(p.id)) throw errors.invalid('DUPLICATE_PROVIDER', `provider "${p.id}" is given twice`);
      this.providers.set(p.id, p);
    }
    const agents = deps.agents ?? [DEFAULT_AGENT];
    if (agents.length === 0) throw errors.invalid('NO_AGENTS', 'at least one agent is required');
    for (const a of agents) {
      if (!a.agentId) throw errors.invalid('INVALID_AGENT', 'an agent has an empty id');
      if (this.agents.has(a.agentId)) throw errors.invalid('DUPLICATE_AGENT', `agent "${a.agentId}" is given twice`);
      if (!this.providers.has(a.provider)) {
        throw errors.invalid('UNKNOWN_PROVIDER', `agent "${a.agentId}" uses provider "${a.provider}", which is not configured`);
      }
      this.agents.set(a.agentId, { ...a });
    }
    this.defaultAgentId = deps.defaultAgentId ?? (this.agents.has(DEFAULT_AGENT.agentId) ? DEFAULT_AGENT.agentId : agents[0].agentId);
    if (!this.agents.has(this.defaultAgentId)) {
      throw errors.invalid('UNKNOWN_AGENT', `default agent "${this.defaultAgentId}" is not in the agent list`);
    }
  }

  /** All agents, in configured order. */
  list(): AgentDefinition[] {
    return [...this.agents.values()].map((a) => ({ ...a }));
  }

  /** One agent; an empty id means the default agent. INVALID_ARGUMENT `UNKNOWN_AGENT` if absent. */
  get(agentId?: string): AgentDefinition {
    const id = agentId || this.defaultAgentId;
    const agent = this.agents.get(id);
    if (!agent) {
      throw errors.invalid('UNKNOWN_AGENT', `unknown agent "${id}" (known: ${[...this.agents.keys()].join(', ')})`);
    }
    return { ...agent };
  }

  /** The agent and the provider that serves it. */
  resolve(agentId?: string): { agent: AgentDefinition; provider: AgentProvider } {
    const agent = this.get(agentId);
    // The constructor checked every agent's provider, so this lookup cannot miss.
    return { agent, provider: this.providers.get(agent.provider) as AgentProvider };
  }

  /** Every model of every provider plus those agents name, deduplicated. */
  models(): ModelInfo[] {
    const out: ModelInfo[] = [];
    const seen = new Set<string>();
    const add = (provider: string, modelId: string): void => {
      const key = `${provider}\u0000${modelId}`;
      if (seen.has(key)) return;
      seen.add(key);
      out.push({ modelId, provider });
    };
    for (const p of this.providers.values()) for (const m of p.models()) add(p.id, m);
    // An OpenAI-compatible server serves more models than the one it is configured with.
    for (const a of this.agents.values()) add(a.provider, a.model);
    return out;
  }
}
