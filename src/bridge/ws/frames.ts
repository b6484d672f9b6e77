import { firstProblem, s, type Schema } from './closed-schema';
import type { LegacyErrorShape } from './legacy-errors';

/** The protocol version the bridge speaks. */
export const PROTOCOL_VERSION = 4;

/** The lowest protocol a probe client may offer (it is answered with PROTOCOL_VERSION). */
export const MIN_PROBE_PROTOCOL = 3;

/** `client.id` values legacy clients send (spec: "client.id is one of"). */
export const CLIENT_IDS = [
  'webchat-ui',
  'openclaw-control-ui',
  'openclaw-browser-copilot',
  'openclaw-tui',
  'webchat',
  'cli',
  'gateway-client',
  'openclaw-macos',
  'openclaw-linux',
  'openclaw-ios',
  'openclaw-watchos',
  'openclaw-android',
  'node-host',
  'openclaw-worker',
  'test',
  'fingerprint',
  'openclaw-probe',
] as const;

/** `client.mode` values. */
export const CLIENT_MODES = ['webchat', 'cli', 'ui', 'backend', 'node', 'worker', 'probe', 'test'] as const;

/** Roles a legacy client may ask for. */
export const CLIENT_ROLES = ['operator', 'node', 'worker'] as const;

/** A request frame: `{type:"req", id, method, params?}`. */
export interface RequestFrame {
  type: 'req';
  id: string;
  method: string;
  params?: unknown;
}

/** The legacy device block of `connect.params`. */
export interface DeviceBlock {
  id: string;
  publicKey: string;
  signature: string;
  signedAt: number;
  nonce: string;
}

/** `connect.params` after validation. */
export interface ConnectParams {
  minProtocol: number;
  maxProtocol: number;
  client: {
    id: (typeof CLIENT_IDS)[number];
    version: string;
    platform: string;
    mode: (typeof CLIENT_MODES)[number];
    displayName?: string;
    deviceFamily?: string;
    instanceId?: string;
    buildId?: string;
    timeZone?: string;
    modelIdentifier?: string;
  };
  role?: (typeof CLIENT_ROLES)[number];
  scopes?: string[];
  caps?: string[];
  commands?: string[];
  permissions?: Record<string, unknown>;
  auth?: { token?: string; password?: string; deviceToken?: string; bootstrapToken?: string };
  device?: DeviceBlock;
  locale?: string;
  userAgent?: string;
  modelCatalog?: unknown;
}

const REQUEST_FRAME: Schema = s.obj(
  {
    type: s.str({ oneOf: ['req'] }),
    id: s.str({ min: 1, max: 256 }),
    method: s.str({ min: 1, max: 256 }),
    params: s.any(),
  },
  ['type', 'id', 'method'],
);

const secret = s.str({ max: 4096 });

const CONNECT_PARAMS: Schema = s.obj(
  {
    minProtocol: s.int({ min: 0, max: 1000 }),
    maxProtocol: s.int({ min: 0, max: 1000 }),
    client: s.obj(
      {
        id: s.str({ oneOf: CLIENT_IDS }),
        version: s.str({ max: 128 }),
        platform: s.str({ max: 128 }),
        mode: s.str({ oneOf: CLIENT_MODES }),
        displayName: s.str({ max: 256 }),
        deviceFamily: s.str({ max: 128 }),
        instanceId: s.str({ max: 256 }),
        buildId: s.str({ max: 128 }),
        timeZone: s.str({ max: 128 }),
        modelIdentifier: s.str({ max: 128 }),
      },
      ['id', 'version', 'platform', 'mode'],
    ),
    role: s.str({ oneOf: CLIENT_ROLES }),
    scopes: s.arr(s.str({ max: 128 }), 64),
    caps: s.arr(s.str({ max: 128 }), 256),
    commands: s.arr(s.str({ max: 256 }), 1024),
    permissions: s.record(256),
    auth: s.obj({ token: secret, password: secret, deviceToken: secret, bootstrapToken: secret }),
    device: s.obj(
      {
        id: s.str({ min: 1, max: 128 }),
        publicKey: s.str({ min: 1, max: 256 }),
        signature: s.str({ min: 1, max: 512 }),
        signedAt: s.int({ min: 0 }),
        nonce: s.str({ min: 1, max: 256 }),
      },
      ['id', 'publicKey', 'signature', 'signedAt', 'nonce'],
    ),
    locale: s.str({ max: 64 }),
    userAgent: s.str({ max: 512 }),
    modelCatalog: s.any(),
  },
  ['minProtocol', 'maxProtocol', 'client'],
);

/** What parsing a text frame gives: a request, or why it is not one (with its id when it had one). */
export type ParsedFrame = { ok: true; frame: RequestFrame } | { ok: false; id?: string; problem: string; notJson?: true };

/** Parses and validates one text frame as a request frame (closed schema). */
export function parseRequestFrame(text: string): ParsedFrame {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'frame is not valid JSON', notJson: true };
  }
  const problem = firstProblem(REQUEST_FRAME, value);
  if (problem) {
    const id = typeof value === 'object' && value !== null ? (value as { id?: unknown }).id : undefined;
    return { ok: false, id: typeof id === 'string' && id.length > 0 && id.length <= 256 ? id : undefined, problem };
  }
  return { ok: true, frame: value as RequestFrame };
}

/** Validates `connect.params`; returns the problem, or the typed params. */
export function parseConnectParams(params: unknown): { ok: true; params: ConnectParams } | { ok: false; problem: string } {
  const problem = firstProblem(CONNECT_PARAMS, params);
  return problem ? { ok: false, problem } : { ok: true, params: params as ConnectParams };
}

/** Id used in answers to frames that carried no usable id. */
export const NO_ID = 'invalid';

/** A successful response frame. */
export function okFrame(id: string, payload: unknown): string {
  // null is an answer (the real gateway's `last-heartbeat` before any heartbeat); only no payload becomes {}.
  return JSON.stringify({ type: 'res', id, ok: true, payload: payload === undefined ? {} : payload });
}

/** A failed response frame (a failed run's answer also carries a payload). */
export function errorFrame(id: string, error: LegacyErrorShape, payload?: unknown): string {
  return JSON.stringify(payload === undefined ? { type: 'res', id, ok: false, error } : { type: 'res', id, ok: false, payload, error });
}

/** An event frame from a payload object (`seq` omitted for `connect.challenge`). */
export function eventFrame(event: string, payload: unknown, seq?: number): string {
  return JSON.stringify(seq === undefined ? { type: 'event', event, payload } : { type: 'event', event, payload, seq });
}

/** The versions of the gateway state a `presence` or `health` event frame reflects. */
export interface StateVersion {
  presence: number;
  health: number;
}

/** An event frame that carries `stateVersion` (presence and health events). */
export function stateEventFrame(event: string, payload: unknown, seq: number, stateVersion: StateVersion): string {
  return JSON.stringify({ type: 'event', event, payload, seq, stateVersion });
}

/**
 * An event frame around a payload that is already JSON (events from the gateway):
 * the payload string is spliced in as is, never parsed and re-serialized.
 */
export function rawEventFrame(event: string, payloadJson: string, seq: number): string {
  return `{"type":"event","event":${JSON.stringify(event)},"payload":${payloadJson || '{}'},"seq":${seq}}`;
}
