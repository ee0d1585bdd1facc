/**
 * Waiting for something with an optional deadline on a {@link Clock} (stop timeouts of machines and
 * supervisors).
 *
 * @module
 */
import type { Clock } from './clock.ts';

/**
 * Resolves when `done` resolves; rejects with `timeout()` if `timeoutMs` (ms, on `clock`) passes first.
 * Without a finite `timeoutMs`, waits forever.
 */
export function withDeadline(done: Promise<unknown>, clock: Clock, timeoutMs: number | undefined, timeout: () => Error): Promise<void> {
  if (timeoutMs === undefined || timeoutMs === Infinity) return done.then(() => undefined);
  return new Promise<void>((resolve, reject) => {
    const timer = clock.createTimer(() => reject(timeout()));
    timer.arm(clock.now() + timeoutMs);
    void done.then(() => {
      timer.disarm();
      resolve();
    });
  });
}
