/**
 * Branch ids for the requests a client transaction sends (RFC 3261 §8.1.1.7).
 *
 * @module
 */
import { randomFillSync } from 'node:crypto';
import { MAGIC_COOKIE } from '../index.ts';

let counter = 0;

/** Random bytes drawn 8 at a time, refilled in one call per 512 branches (a crypto call per branch cost more than the rest). */
const pool = Buffer.alloc(8 * 512);
let offset = pool.length;

/**
 * A new branch: the magic cookie, 64 random bits and a process-wide counter, so it is unique in
 * this process and, with overwhelming probability, "unique across space and time for all requests
 * sent by the UA" (RFC 3261 §8.1.1.7). The random part keeps branches unguessable from one another.
 */
export function newBranch(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  if (offset === pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const random = pool.toString('hex', offset, offset + 8);
  offset += 8;
  return `${MAGIC_COOKIE}${random}.${counter.toString(36)}`;
}
