import { SessionService } from '../../../gen/openclaw/sessions/v1/sessions_pb';
import { unaryCall } from '../../../transport/grpc/client/gateway-connection';
import { Params, quoted } from './params';
import { AGENT_RUNTIME, loadAgents, THINKING_DEFAULT } from './session-defaults';
import type { LegacyMethod, MethodContext } from './types';

/** The provider whose models run inside the gateway itself (no network, no key). */
const BUILTIN_PROVIDER = 'builtin';

/** The gateway's models in the legacy catalog shape (`id`, `name`, `provider`, and the published-catalog fields). */
export async function modelRows(ctx: MethodContext): Promise<Record<string, unknown>[]> {
  const c = ctx.gateway.client(SessionService);
  const res = await unaryCall(c, c.listModels, {}, ctx.call);
  // The published-catalog row (hello-ok's capability): the gateway lists the models it can use
  // (available); they take text; the builtin provider runs inside the gateway (local); no
  // context window is known for them.
  return res.models.map((m) => ({ id: m.modelId, name: m.modelId, provider: m.provider, input: ['text'], contextWindow: null, local: m.provider === BUILTIN_PROVIDER, available: true, tags: [] }));
}

/** The name the legacy UI shows for an agent without one (the real gateway's default). */
const DEFAULT_AGENT_NAME = 'Assistant';

/** agents.list, agent.identity.get, models.list, models.authStatus, openclaw.setup.detect. */
export const MODEL_METHODS: readonly LegacyMethod[] = [
  {
    method: 'agents.list',
    scope: 'operator.read',
    // Real gateway 2026.9.6: {defaultId, ownership, selectionRequired, mainKey, scope, agents:[{id, workspace,
    // agentRuntime, thinkingLevels, thinkingOptions, thinkingDefault, model:{primary}, defaultPermissionMode}]}.
    // Agents here have no workspace on disk and no ownership model, so those fields are absent.
    handler: async (ctx) => {
      const { res, defaultId } = await loadAgents(ctx);
      return {
        defaultId,
        selectionRequired: false,
        mainKey: 'main',
        scope: 'per-sender',
        agents: res.agents.map((a) => ({
          id: a.agentId,
          name: a.name,
          identity: { name: a.name },
          agentRuntime: { ...AGENT_RUNTIME },
          thinkingLevels: [],
          thinkingOptions: [],
          thinkingDefault: THINKING_DEFAULT,
          model: { primary: `${a.provider}/${a.model}` },
        })),
      };
    },
  },
  {
    method: 'agent.identity.get',
    scope: 'operator.read',
    // Real gateway 2026.9.6: {agentId, name, nameSource:"default", avatar:"A"} for an unnamed agent.
    handler: async (ctx) => {
      const p = Params.of(ctx.method, ctx.params);
      const { res, defaultId } = await loadAgents(ctx);
      const agentId = p.str('agentId') ?? defaultId;
      const agent = res.agents.find((a) => a.agentId === agentId);
      if (!agent) return p.fail(`unknown agent id ${quoted(agentId)}`);
      const name = agent.name || DEFAULT_AGENT_NAME;
      return { agentId, name, nameSource: agent.name ? 'config' : 'default', avatar: name.slice(0, 1).toUpperCase() };
    },
  },
  {
    method: 'models.list',
    scope: 'operator.read',
    // Real gateway 2026.9.6: {models, accountSelection:{kind:"automatic", label}} (`view`, `agentId`, `sessionKey` params).
    handler: async (ctx) => {
      Params.of(ctx.method, ctx.params);
      return { models: await modelRows(ctx) };
    },
  },
  {
    method: 'models.authStatus',
    scope: 'operator.read',
    // Real gateway 2026.9.6: {ts, providers:[], providerCapabilities:[{provider, apiKeySupported, quickApiKeySetup, loginOptions?}]}.
    // Providers here are set up in the gateway's configuration, not signed in to from a client: none offers a login.
    handler: async (ctx) => {
      Params.of(ctx.method, ctx.params);
      return { ts: ctx.clock.now(), providers: [], providerCapabilities: [] };
    },
  },
  {
    method: 'openclaw.setup.detect',
    scope: 'operator.admin',
    // Real gateway 2026.9.6: the model-provider setup catalog {manualProviders, authOptions, prepareOptions,
    // nativeSessionCatalogs, nativeSessionCatalogPreferenceRequired, workspace, setupComplete, candidates,
    // unavailableCandidates, recommendedInstalls}. Nothing here is set up from a client: empty lists,
    // and setup is complete once the gateway has a model.
    handler: async (ctx) => {
      Params.of(ctx.method, ctx.params);
      const models = await modelRows(ctx);
      return {
        manualProviders: [],
        authOptions: [],
        prepareOptions: [],
        nativeSessionCatalogs: [],
        nativeSessionCatalogPreferenceRequired: false,
        setupComplete: models.length > 0,
        candidates: [],
        unavailableCandidates: [],
        recommendedInstalls: [],
      };
    },
  },
];
