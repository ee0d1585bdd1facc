/** Per-test teardown of gateway tests: cleanups registered during a test, then the gateway stopped. */
import { afterEach } from 'vitest';

export type Cleanup = () => Promise<void> | void;

/**
 * Registers an `afterEach` that runs the returned list's cleanups, last registered first, and then
 * `last` (stopping the test's gateway); the list is emptied for the next test.
 */
export function cleanupsAfterEach(last: () => Promise<void>): Cleanup[] {
  const cleanups: Cleanup[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await last();
  });
  return cleanups;
}
