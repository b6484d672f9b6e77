import { errors } from '../../errors';
import type { CronPayload } from './cron-types';

const MAX_NAME = 200;
const MAX_TEXT_BYTES = 64 * 1024;
/** Longest session key, agent id or session id kept. */
export const MAX_REF = 200;

/** Checks a job name: INVALID_ARGUMENT `INVALID_JOB` naming the problem. */
export function parseName(raw: unknown): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw errors.invalid('INVALID_JOB', 'name: required');
  const name = raw.trim();
  if (name.length > MAX_NAME) throw errors.invalid('INVALID_JOB', `name: longer than ${MAX_NAME} characters`);
  return name;
}

/** Checks a job's `enabled` flag (absent is fine). */
export function parseEnabled(raw: unknown): boolean | undefined {
  if (raw !== undefined && typeof raw !== 'boolean') throw errors.invalid('INVALID_JOB', 'enabled: must be a boolean');
  return raw;
}

/** Checks a payload and returns a clean copy: INVALID_ARGUMENT `INVALID_PAYLOAD` naming the field. */
export function parsePayload(raw: unknown): CronPayload {
  const bad = (message: string): never => {
    throw errors.invalid('INVALID_PAYLOAD', `payload: ${message}`);
  };
  if (!raw || typeof raw !== 'object') return bad('required');
  const p = raw as Record<string, unknown>;
  const text = (field: string): string => {
    const v = p[field];
    if (typeof v !== 'string' || v.trim() === '') return bad(`${field} is required`);
    if (Buffer.byteLength(v, 'utf8') > MAX_TEXT_BYTES) return bad(`${field} is larger than ${MAX_TEXT_BYTES} bytes`);
    return v;
  };
  const ref = (field: string): string | undefined => {
    const v = p[field];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string' || v.length > MAX_REF) return bad(`${field} must be a string of at most ${MAX_REF} characters`);
    return v;
  };
  if (p.kind === 'agentTurn') {
    const out: CronPayload = { kind: 'agentTurn', message: text('message') };
    const sessionKey = ref('sessionKey');
    const agentId = ref('agentId');
    if (sessionKey) out.sessionKey = sessionKey;
    if (agentId) out.agentId = agentId;
    return out;
  }
  if (p.kind === 'systemEvent') return { kind: 'systemEvent', text: text('text') };
  return bad('kind must be "agentTurn" or "systemEvent"');
}

/** Cuts a string to `max` characters. */
export function truncate(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) : s;
}
