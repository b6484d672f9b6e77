import pino, { type Logger, type LoggerOptions, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/** Paths whose values never reach a log line: key material, tokens, passwords. */
export const REDACT_PATHS = [
  'key',
  'privateKey',
  'keyPem',
  'password',
  'token',
  'secret',
  'apiKey',
  'authorization',
  '*.key',
  '*.privateKey',
  '*.keyPem',
  '*.password',
  '*.token',
  '*.secret',
  '*.apiKey',
  '*.authorization',
  'deviceToken',
  'bootstrapToken',
  'requestSecret',
  'legacyToken',
  '*.deviceToken',
  '*.bootstrapToken',
  '*.requestSecret',
  '*.legacyToken',
  '*.*.token',
  '*.*.deviceToken',
  '*.*.password',
  'auth.*',
  '*.auth.*',
  'headers.authorization',
];

export interface LoggerSettings {
  level?: string;
  /** Pretty output; default: when stdout is a TTY. */
  pretty?: boolean;
  /** Where JSON lines go (tests pass a stream to read them). */
  destination?: DestinationStream;
  name?: string;
  /** More destinations that get every line as JSON (e.g. the in-memory tail buffer). */
  extraStreams?: DestinationStream[];
}

/** The one logger factory: JSON lines by default, pretty on a TTY, secrets redacted. */
export function createLogger(settings: LoggerSettings = {}): Logger {
  const options: LoggerOptions = {
    level: settings.level ?? 'info',
    name: settings.name,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  let main: DestinationStream;
  if (settings.destination) main = settings.destination;
  else if (settings.pretty ?? (process.stdout.isTTY === true && !process.env.NO_COLOR)) {
    // pino-pretty as a synchronous stream keeps start-up fast and ordering exact.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const prettyFactory = require('pino-pretty') as (o: object) => DestinationStream;
    main = prettyFactory({ colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname', sync: true });
  } else main = pino.destination({ dest: 1, sync: false });
  const extra = settings.extraStreams ?? [];
  if (extra.length === 0) return pino(options, main);
  // Every stream takes every line the logger writes: the logger's level (which may change
  // while it runs, see `logging.level`) is the one filter.
  return pino(options, pino.multistream([{ stream: main, level: 'trace' }, ...extra.map((stream) => ({ stream, level: 'trace' as const }))]));
}

/**
 * A long-lived child logger (a component's) whose level follows its parent's when that
 * changes at runtime (a pino child keeps the level it was created with otherwise).
 * Short-lived children (one per request or turn) need not follow: they take the level
 * of the moment.
 */
export function componentLogger(parent: Logger, bindings: Record<string, unknown>): Logger {
  const child = parent.child(bindings);
  parent.on('level-change', (level, _value, _previous, _previousValue, instance) => {
    if (instance === parent) child.level = level;
  });
  return child;
}

/** A logger that writes nothing (for short-lived tools and tests that do not read logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Writes one audit line. Every security decision (issue, approve, reject, revoke,
 * renew, allowed or denied call) goes through here so they share one shape.
 */
export function audit(
  log: Logger,
  event: string,
  fields: { deviceId?: string; method?: string; reason?: string; allowed?: boolean; [k: string]: unknown },
): void {
  log.info({ audit: true, event, ...fields }, `audit ${event}`);
}
