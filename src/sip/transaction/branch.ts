/**
 * Branch ids for the requests a client transaction sends (RFC 3261 §8.1.1.7).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { MAGIC_COOKIE } from '../index.ts';

let counter = 0;

/**
 * A new branch: the magic cookie, 64 random bits and a process-wide counter, so it is unique in
 * this process and, with overwhelming probability, "unique across space and time for all requests
 * sent by the UA" (RFC 3261 §8.1.1.7).
 */
export function newBranch(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${MAGIC_COOKIE}${randomBytes(8).toString('hex')}.${counter.toString(36)}`;
}
