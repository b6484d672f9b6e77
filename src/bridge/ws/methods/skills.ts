import { emptyAnswer, unavailable } from './fixed-answer';
import { Params } from './params';
import { agentParam } from './session-defaults';
import type { LegacyMethod } from './types';

const SKILLS = 'Skills';

/**
 * Skills (packaged instructions and tools an agent can load). Agents here have no
 * skills and no workspace to keep them in, there is no skill registry to search and no
 * skill workshop: the lists are empty in the real gateway's (2026.9.6) shapes, quoted
 * per method, and every call that would install or change a skill is refused.
 */
export const SKILL_METHODS: readonly LegacyMethod[] = [
  {
    // Real: {workspaceDir, managedSkillsDir, agentId, skills:[{name, description, source, bundled, eligible, requirements, missing, install, ...}]}.
    method: 'skills.status',
    scope: 'operator.read',
    handler: async (ctx) => {
      const agent = await agentParam(ctx, Params.of(ctx.method, ctx.params));
      return { workspaceDir: '', managedSkillsDir: '', agentId: agent.agentId, skills: [] };
    },
  },
  // Real: {entries:[], profileId:"gateway-owner", multipleProfiles:false, defaultTarget:"workspace", canManageWorkspace:true,
  // defaultSelectionLimit:64}. No user profiles here (profileId null) and no workspace to manage.
  emptyAnswer('skills.library.list', 'operator.read', () => ({ entries: [], profileId: null, multipleProfiles: false, defaultTarget: 'workspace', canManageWorkspace: false, defaultSelectionLimit: 64 })),
  // Real: {results:[...registry matches]} (UNAVAILABLE when the registry cannot be reached). No skill registry here.
  emptyAnswer('skills.search', 'operator.read', () => ({ results: [] })),
  {
    // Real: {schema:"openclaw.skill-workshop.proposals-manifest.v1", updatedAt:"1970-01-01T00:00:00.000Z", proposals:[], installedSkills:[]}.
    method: 'skills.proposals.list',
    scope: 'operator.read',
    handler: async (ctx) => {
      await agentParam(ctx, Params.of(ctx.method, ctx.params));
      return { schema: 'openclaw.skill-workshop.proposals-manifest.v1', updatedAt: new Date(0).toISOString(), proposals: [], installedSkills: [] };
    },
  },
  unavailable('skills.install', 'operator.admin', SKILLS),
  unavailable('skills.update', 'operator.admin', SKILLS),
  unavailable('skills.library.save', 'operator.write', SKILLS),
  unavailable('skills.library.mutate', 'operator.write', SKILLS),
  unavailable('skills.library.activate', 'operator.write', SKILLS),
  unavailable('skills.library.import', 'operator.write', SKILLS),
  unavailable('skills.library.upload', 'operator.write', SKILLS),
  unavailable('skills.proposals.create', 'operator.admin', SKILLS),
  unavailable('skills.proposals.apply', 'operator.admin', SKILLS),
];
