import { SessionService, type Agent, type ListAgentsResponse } from '../../../gen/openclaw/sessions/v1/sessions_pb';
import { unaryCall } from '../../../transport/grpc/client/gateway-connection';
import { quoted, type Params } from './params';
import type { MethodContext } from './types';

/**
 * How this gateway runs agents, in the legacy `agentRuntime` shape: turns run in the
 * gateway itself (no cloud or device placement).
 */
export const AGENT_RUNTIME = Object.freeze({ id: 'gateway', cloudPlacementSupported: false, devicePlacementSupported: false, source: 'implicit' });

/**
 * The thinking level of every turn: this gateway's providers take none, so the lists of
 * levels are empty wherever they appear and the default is `off`.
 */
export const THINKING_DEFAULT = 'off';

/**
 * Where a model choice applies: an agent's model is part of its configuration
 * (`agents` in the gateway config); sessions have no model of their own.
 */
export const MODEL_SELECTION_TARGET = 'agent';

/** The default agent's id in a ListAgents answer (the first agent when none is marked, `main` when there is none). */
export function defaultAgentIdOf(res: ListAgentsResponse): string {
  return res.defaultAgentId || res.agents[0]?.agentId || 'main';
}

/** The agents and the default one, as the gateway lists them. */
export async function loadAgents(ctx: MethodContext): Promise<{ res: ListAgentsResponse; defaultAgent?: Agent; defaultId: string }> {
  const c = ctx.gateway.client(SessionService);
  const res = await unaryCall(c, c.listAgents, {}, ctx.call);
  const defaultId = defaultAgentIdOf(res);
  return { res, defaultAgent: res.agents.find((a) => a.agentId === defaultId), defaultId };
}

/**
 * The `defaults` block of `sessions.list` (and, without the thinking fields, of
 * `chat.history`): the default agent's model. The legacy UI reads
 * `defaults.modelSelectionTarget` unguarded, so the block is always there.
 * `contextTokens` is null: the gateway does not know its models' context windows.
 */
export function sessionDefaults(agent: Agent | undefined, withThinking = true): Record<string, unknown> {
  return {
    modelProvider: agent?.provider || null,
    model: agent?.model || null,
    contextTokens: null,
    agentRuntime: { ...AGENT_RUNTIME },
    ...(withThinking ? { thinkingLevels: [], thinkingOptions: [], thinkingDefault: THINKING_DEFAULT } : {}),
    modelSelectionTarget: MODEL_SELECTION_TARGET,
  };
}

/** The agent a request names in `agentId` (the default agent when absent); an unknown id is the legacy invalid-params error. */
export async function agentParam(ctx: MethodContext, p: Params): Promise<Agent> {
  const { res, defaultId } = await loadAgents(ctx);
  const agentId = p.str('agentId') ?? defaultId;
  return res.agents.find((a) => a.agentId === agentId) ?? p.fail(`unknown agent id ${quoted(agentId)}`);
}
