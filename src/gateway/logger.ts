/**
 * Tandem's logger: pino, JSON lines with an epoch-ms `time`. Output is buffered (4 KiB) and written
 * asynchronously, flushed at least every {@link FLUSH_INTERVAL_MS} and on stop, so the access log costs
 * one write per few dozen requests under load. Authorization and Cookie headers, and the admin token, are
 * redacted wherever they appear in a log object.
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

/** Longest time a buffered log line waits before it is written (ms). */
export const FLUSH_INTERVAL_MS = 250;

/**
 * A buffered asynchronous destination: a file path or descriptor (default stdout). Call
 * `flushSync()` before exit.
 */
export function logDestination(dest: string | number = 1): pino.DestinationStream & { flush(): void; flushSync(): void } {
  const stream = pino.destination({ dest, sync: false, minLength: 4096 });
  const timer = setInterval(() => {
    try {
      stream.flush();
    } catch {
      // Not ready yet (opening) or already closed: the next tick or the final flushSync writes it.
    }
  }, FLUSH_INTERVAL_MS);
  timer.unref();
  return stream;
}

/**
 * Creates the root logger. `destination` defaults to {@link logDestination} on stdout (call `flush()`
 * before exit).
 */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: undefined,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? logDestination(1),
  );
}
