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
  '*.deviceToken',
  '*.bootstrapToken',
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
  if (settings.destination) return pino(options, settings.destination);
  const pretty = settings.pretty ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
  if (pretty) {
    // pino-pretty as a synchronous stream keeps start-up fast and ordering exact.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const prettyFactory = require('pino-pretty') as (o: object) => DestinationStream;
    return pino(options, prettyFactory({ colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname', sync: true }));
  }
  return pino(options, pino.destination({ dest: 1, sync: false }));
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
