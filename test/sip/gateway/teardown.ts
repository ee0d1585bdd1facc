/** Per-test teardown of gateway tests: cleanups registered during a test, then the gateway stopped. */
import { afterEach } from 'vitest';
import { UdpPeer } from '../proxy/helpers.ts';

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

/** A UDP peer on 127.0.0.1 (port 0), closed by `cleanups` after the test. */
export async function udpPeer(cleanups: Cleanup[]): Promise<UdpPeer> {
  const p = await UdpPeer.open();
  cleanups.push(() => p.close());
  return p;
}
