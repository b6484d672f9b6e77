import { SessionService, type Agent, type Session } from '../../../gen/openclaw/sessions/v1/sessions_pb';
import { unaryCall } from '../../../transport/grpc/client/gateway-connection';
import { legacyErrors } from '../legacy-errors';
import { ms } from './params';
import { AGENT_RUNTIME } from './session-defaults';
import type { MethodContext } from './types';

/** The session legacy clients talk to when they name none. */
export const DEFAULT_SESSION_KEY = 'main';

/** `agent:<agent id>:<rest>`, the canonical form of a legacy session key. */
const AGENT_KEY = /^agent:([^:]+):(.+)$/i;

/** The agent a key names (`agent:<id>:...`), or undefined for a bare key such as `main`. */
export function agentOfKey(key: string): string | undefined {
  const m = AGENT_KEY.exec(key.trim());
  return m && !m[2].startsWith(':') ? m[1].trim().toLowerCase() : undefined;
}

/**
 * The canonical form of a legacy session key, as the legacy gateway answers with it:
 * `main` (or nothing) is the agent's main session `agent:<agent>:main`, a bare key `k`
 * is `agent:<agent>:k`, and `agent:<id>:<rest>` stays (its agent id in lower case).
 */
export function canonicalSessionKey(key: string, agentId: string): string {
  const raw = key.trim();
  const named = AGENT_KEY.exec(raw);
  if (named && !named[2].startsWith(':')) return `agent:${named[1].trim().toLowerCase()}:${named[2]}`;
  if (raw === '' || raw.toLowerCase() === DEFAULT_SESSION_KEY) return `agent:${agentId}:${DEFAULT_SESSION_KEY}`;
  return `agent:${agentId}:${raw}`;
}

/** What a legacy key resolved to: the session (if there is one) and the key to answer with. */
export interface KeyedSession {
  session?: Session;
  /** The session's key (its id for sessions made without a key); the canonical key when there is no session yet. */
  key: string;
  agentId: string;
}

/**
 * Resolves a legacy session key. A key matches a session id, else the session holding
 * its canonical key (so `main` and `agent:main:main` are one session), else a session
 * labelled with the key as given (sessions made before keys, or through the CLI).
 * `agentId` is the request's agent; it must agree with an `agent:<id>:` key.
 */
export async function resolveSessionKey(ctx: MethodContext, key: string, agentId?: string): Promise<KeyedSession> {
  const named = agentOfKey(key);
  if (named && agentId && named !== agentId) throw legacyErrors.invalidRequest(`session key ${key} belongs to agent ${named}, not ${agentId}`);
  const c = ctx.gateway.client(SessionService);
  const [list, agents] = await Promise.all([
    unaryCall(c, c.listSessions, {}, ctx.call),
    named || agentId ? undefined : unaryCall(c, c.listAgents, {}, ctx.call),
  ]);
  const agent = named ?? agentId ?? (agents?.defaultAgentId || 'main');
  const canonical = canonicalSessionKey(key, agent);
  const raw = key.trim();
  const session = list.sessions.find((s) => s.sessionId === raw) ?? list.sessions.find((s) => s.key === canonical) ?? list.sessions.find((s) => !s.key && s.label === raw);
  return session ? { session, key: keyOf(session), agentId: session.agentId } : { key: canonical, agentId: agent };
}

/** The session a legacy key names, if any. */
export async function findSession(ctx: MethodContext, key: string): Promise<Session | undefined> {
  return (await resolveSessionKey(ctx, key)).session;
}

/** The session a legacy key names, created (holding the canonical key) when none does: legacy keys exist implicitly. */
export async function ensureSession(ctx: MethodContext, key: string, agentId?: string): Promise<{ session: Session; key: string }> {
  const found = await resolveSessionKey(ctx, key, agentId);
  if (found.session) return { session: found.session, key: found.key };
  const c = ctx.gateway.client(SessionService);
  // The gateway returns the session that holds the key if another request created it meanwhile.
  const res = await unaryCall(c, c.createSession, { key: found.key, label: found.key, agentId: found.agentId }, ctx.call);
  return { session: res.session!, key: keyOf(res.session!) };
}

/** The key legacy clients know a session by: its key, or its id when it was made without one. */
export function keyOf(s: Session): string {
  return s.key || s.sessionId;
}

/**
 * A session in the legacy row shape (`sessions.list` rows, `sessions.describe`'s
 * `session`): the fields the legacy UI reads (key, kind, classification, isMain,
 * agentId, createdAt/updatedAt, archived/pinned/unread, model, hasActiveRun/status) plus
 * ours (label, messageCount, busy). `agent` is the session's agent, for its model.
 */
export function sessionRow(s: Session, agent?: Agent): Record<string, unknown> {
  const key = keyOf(s);
  const isMain = s.key !== '' && s.key === canonicalSessionKey(DEFAULT_SESSION_KEY, s.agentId);
  return {
    key,
    sessionId: s.sessionId,
    kind: 'direct',
    classification: isMain ? 'main' : 'direct',
    chatType: 'direct',
    label: s.label,
    displayName: s.label || s.sessionId,
    agentId: s.agentId,
    isMain,
    isBackground: false,
    createdAt: ms(s.createdAtMs),
    updatedAt: ms(s.updatedAtMs),
    archived: false,
    pinned: false,
    unread: false,
    messageCount: s.messageCount,
    busy: s.busy,
    // What the UI's status column reads: a turn running ("Live"), or none ("Idle").
    hasActiveRun: s.busy,
    ...(s.busy ? { status: 'running' } : {}),
    ...(agent ? { modelProvider: agent.provider, model: agent.model, agentRuntime: { ...AGENT_RUNTIME } } : {}),
    modelSelectionLocked: true,
  };
}
