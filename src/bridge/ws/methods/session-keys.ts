import { SessionService, type Session } from '../../../gen/openclaw/sessions/v1/sessions_pb';
import { unaryCall } from '../../../transport/grpc/client/gateway-connection';
import { ms } from './params';
import type { MethodContext } from './types';

/** The session legacy clients talk to when they name none. */
export const DEFAULT_SESSION_KEY = 'main';

/**
 * Legacy clients address sessions by a key such as `main`; the gateway by session id.
 * A key matches a session id, else the most recently active session labelled with it.
 */
export async function findSession(ctx: MethodContext, key: string): Promise<Session | undefined> {
  const c = ctx.gateway.client(SessionService);
  const res = await unaryCall(c, c.listSessions, {}, ctx.call);
  return res.sessions.find((s) => s.sessionId === key) ?? res.sessions.find((s) => s.label === key);
}

/** Finds the session for a key, creating one labelled with the key when none exists (legacy keys exist implicitly). */
export async function ensureSession(ctx: MethodContext, key: string, agentId?: string): Promise<Session> {
  const found = await findSession(ctx, key);
  if (found) return found;
  const c = ctx.gateway.client(SessionService);
  const res = await unaryCall(c, c.createSession, { label: key, agentId: agentId ?? '' }, ctx.call);
  return res.session!;
}

/** A session in the legacy `sessions.list` row shape. */
export function sessionRow(s: Session): Record<string, unknown> {
  return {
    key: s.sessionId,
    sessionId: s.sessionId,
    kind: 'direct',
    label: s.label,
    displayName: s.label || s.sessionId,
    agentId: s.agentId,
    createdAt: ms(s.createdAtMs),
    updatedAt: ms(s.updatedAtMs),
    messageCount: s.messageCount,
    busy: s.busy,
  };
}
