/**
 * A fast, non-cryptographic 64-bit string hash (two FNV-1a lanes), for values that only need to be
 * deterministic and well spread: the loop-detection part of a proxy's branch (RFC 3261 §16.6 step 8)
 * and a stateless proxy's ACK branch (§16.11). A SHA-256 per forwarded request cost more than the
 * rest of its hashing work, and nothing here needs resistance to deliberate collisions: a collision
 * can at worst make a sender's own request look looped.
 *
 * @module
 */

/** 16 hex digits. Strings are hashed by UTF-16 code unit. */
export function hash64(s: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x9e3779b9;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  // Final mixing (murmur3 fmix32) so that nearby inputs differ in every digit.
  return hex(fmix(a ^ s.length)) + hex(fmix(b));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
