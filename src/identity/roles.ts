import { errors } from '../errors';

/** Roles a certificate can carry in its SPIFFE URI SAN. */
export const ROLES = ['operator', 'node', 'backend', 'bridge'] as const;
export type Role = (typeof ROLES)[number];

/** Operator scopes, named as OpenClaw names them so the bridge maps them one to one. */
export const SCOPES = [
  'operator.read',
  'operator.write',
  'operator.admin',
  'operator.pairing',
  'operator.approvals',
  'operator.questions',
  'operator.talk',
] as const;
export type Scope = (typeof SCOPES)[number];

/** Scopes a role gets when none are asked for. */
export const DEFAULT_SCOPES: Record<Role, Scope[]> = {
  operator: ['operator.read', 'operator.write', 'operator.admin', 'operator.pairing', 'operator.approvals'],
  node: [],
  backend: ['operator.read', 'operator.write'],
  bridge: [],
};

/** Checks a role name; throws INVALID_ARGUMENT naming the allowed roles. */
export function parseRole(value: string): Role {
  if ((ROLES as readonly string[]).includes(value)) return value as Role;
  throw errors.invalid('UNKNOWN_ROLE', `unknown role "${value}" (allowed: ${ROLES.join(', ')})`);
}

/** Checks a list of scope names; throws INVALID_ARGUMENT naming the first unknown one. */
export function parseScopes(values: readonly string[]): Scope[] {
  const out: Scope[] = [];
  for (const raw of values) {
    const v = raw.trim();
    if (!v) continue;
    if (!(SCOPES as readonly string[]).includes(v)) {
      throw errors.invalid('UNKNOWN_SCOPE', `unknown scope "${v}" (allowed: ${SCOPES.join(', ')})`);
    }
    if (!out.includes(v as Scope)) out.push(v as Scope);
  }
  return out;
}

/**
 * Whether granted scopes satisfy a required scope. operator.admin implies every
 * operator scope, and operator.write implies operator.read, as in OpenClaw.
 */
export function scopeSatisfied(granted: readonly string[], required: string): boolean {
  if (granted.includes(required)) return true;
  if (granted.includes('operator.admin') && required.startsWith('operator.')) return true;
  if (required === 'operator.read' && granted.includes('operator.write')) return true;
  return false;
}

/** The scopes of `requested` that `ceiling` allows (used when narrowing or delegating). */
export function intersectScopes(requested: readonly string[], ceiling: readonly string[]): string[] {
  return requested.filter((s) => scopeSatisfied(ceiling, s));
}
