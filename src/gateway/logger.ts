/**
 * Tandem's logger: pino, JSON lines, asynchronous writes to stdout. Authorization and Cookie headers, and
 * the admin token, are redacted wherever they appear in a log object.
 */
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../routes/log-level.ts';

export type { Logger } from 'pino';

/** Paths pino redacts (`[redacted]`). */
export const REDACTED_PATHS = [
  'headers.authorization',
  'headers.cookie',
  'headers["proxy-authorization"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'admin.token',
  'token',
];

/**
 * Creates the root logger. `destination` defaults to an asynchronous stdout stream (call `flush()` before
 * exit).
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
