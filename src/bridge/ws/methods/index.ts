import { errors } from '../../../errors';
import { CHAT_METHODS } from './chat';
import { CONFIG_METHODS } from './config';
import { CRON_METHODS } from './cron';
import { DEVICE_METHODS } from './devices';
import { HEALTH_METHODS } from './health';
import { LOG_METHODS } from './logs';
import { MODEL_METHODS } from './models';
import { APPROVAL_METHODS } from './approvals';
import { SYSTEM_METHODS } from './system';
import { UI_SURFACE_METHODS } from './ui-surfaces';
import { SESSION_METHODS } from './sessions';
import { SKILL_METHODS } from './skills';
import { MEMORY_METHODS } from './memory';
import { UI_FEATURE_METHODS } from './ui-features';
import type { LegacyMethod } from './types';

export type { LegacyMethod, MethodContext } from './types';

/** The method families, in the order hello-ok lists them. */
export const LEGACY_METHOD_FAMILIES: readonly (readonly LegacyMethod[])[] = [
  HEALTH_METHODS,
  SYSTEM_METHODS,
  CONFIG_METHODS,
  CRON_METHODS,
  SESSION_METHODS,
  CHAT_METHODS,
  MODEL_METHODS,
  LOG_METHODS,
  DEVICE_METHODS,
  APPROVAL_METHODS,
  UI_SURFACE_METHODS,
  SKILL_METHODS,
  MEMORY_METHODS,
  UI_FEATURE_METHODS,
];

/**
 * Every legacy method the bridge serves, by name, with the scope each needs. It is the
 * whole list: hello-ok's `features.methods` is read from it (advertisedMethods), and any
 * other name is `unknown method` (or `missing scope: operator.admin` for non-admins).
 */
export function legacyMethodTable(families: readonly (readonly LegacyMethod[])[] = LEGACY_METHOD_FAMILIES): ReadonlyMap<string, LegacyMethod> {
  const table = new Map<string, LegacyMethod>();
  for (const family of families) {
    for (const m of family) {
      if (table.has(m.method)) throw errors.internal('DUPLICATE_METHOD', `legacy method ${m.method} is defined twice`);
      table.set(m.method, m);
    }
  }
  return table;
}

/** The names hello-ok lists in `features.methods`: every method of the table but the refusals of absent features. */
export function advertisedMethods(table: ReadonlyMap<string, LegacyMethod>): string[] {
  const names: string[] = [];
  for (const [name, m] of table) if (m.advertise !== false) names.push(name);
  return names;
}
