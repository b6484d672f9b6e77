import { errors } from '../../../errors';
import { CHAT_METHODS } from './chat';
import { CONFIG_METHODS } from './config';
import { CRON_METHODS } from './cron';
import { DEVICE_METHODS } from './devices';
import { HEALTH_METHODS } from './health';
import { LOG_METHODS } from './logs';
import { SESSION_METHODS } from './sessions';
import type { LegacyMethod } from './types';

export type { LegacyMethod, MethodContext } from './types';

/**
 * Every legacy method the bridge serves, by name. It is the whole list: hello-ok's
 * `features.methods` is read from it, and any other name is `unknown method`.
 */
export function legacyMethodTable(families: readonly (readonly LegacyMethod[])[] = [HEALTH_METHODS, CONFIG_METHODS, CRON_METHODS, SESSION_METHODS, CHAT_METHODS, LOG_METHODS, DEVICE_METHODS]): ReadonlyMap<string, LegacyMethod> {
  const table = new Map<string, LegacyMethod>();
  for (const family of families) {
    for (const m of family) {
      if (table.has(m.method)) throw errors.internal('DUPLICATE_METHOD', `legacy method ${m.method} is defined twice`);
      table.set(m.method, m);
    }
  }
  return table;
}
