import { unavailable } from './fixed-answer';
import { Params } from './params';
import { agentParam } from './session-defaults';
import type { LegacyMethod } from './types';

/**
 * Agent memory (recall search, "dreaming", imports of other assistants' memories).
 * Agents here keep no memory beyond their sessions' history: the real gateway's
 * (2026.9.6) answers for a gateway without a memory search runtime, quoted per method.
 */
export const MEMORY_METHODS: readonly LegacyMethod[] = [
  {
    // Real without a memory search manager: {agentId, searchRuntimeRegistered, embedding:{ok:false, error:"memory search unavailable"}}
    // (the Memory page then says no search runtime is registered).
    method: 'doctor.memory.status',
    scope: 'operator.read',
    handler: async (ctx) => {
      const agent = await agentParam(ctx, Params.of(ctx.method, ctx.params));
      return { agentId: agent.agentId, searchRuntimeRegistered: false, embedding: { ok: false, error: 'memory search is not available on this gateway' } };
    },
  },
  {
    // Real: {agentId, workspace, providers:[{providerId:"claude", found:false, summary, items:[]}, ...]}: one entry per assistant it can
    // import from. This gateway imports from none, and agents here have no workspace.
    method: 'migrations.memory.plan',
    scope: 'operator.admin',
    handler: async (ctx) => {
      const agent = await agentParam(ctx, Params.of(ctx.method, ctx.params));
      return { agentId: agent.agentId, workspace: '', providers: [] };
    },
  },
  unavailable('migrations.memory.apply', 'operator.admin', 'Memory import'),
];
