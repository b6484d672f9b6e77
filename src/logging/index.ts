export { createLogger, componentLogger, silentLogger, audit, REDACT_PATHS } from './logger';
export type { Logger, LoggerSettings } from './logger';
