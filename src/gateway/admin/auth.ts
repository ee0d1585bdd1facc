/**
 * Admin API access: the bearer token check and the loopback rule (without a token, the admin API only
 * listens on a loopback address).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** True for `localhost`, 127.0.0.0/8, `::1` (any spelling, brackets allowed) and IPv4-mapped 127.x. */
export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === 'localhost.') return true;
  const family = isIP(h);
  if (family === 4) return LOOPBACK.check(h, 'ipv4');
  if (family === 6) return LOOPBACK.check(h, 'ipv6');
  return false;
}

/**
 * Checks `Authorization: Bearer <token>` values against one token in constant time: both sides are
 * hashed to 32 bytes first, so `timingSafeEqual` compares equal lengths and neither the token's length nor
 * the position of the first difference shows in the timing.
 */
export class BearerToken {
  readonly #digest: Buffer;
  /**
   * A short, non-secret id of the token for the audit log: the first 8 hex digits of its SHA-256. It tells
   * tokens apart without revealing them.
   */
  readonly id: string;

  constructor(token: string) {
    this.#digest = sha256(token);
    this.id = this.#digest.toString('hex').slice(0, 8);
  }

  /** True when `header` is `Bearer <token>` (scheme case-insensitive, RFC 9110 §11.1). */
  matches(header: string | undefined): boolean {
    if (header === undefined) return false;
    const match = /^bearer +(\S+) *$/i.exec(header);
    const given = sha256(match?.[1] ?? '');
    // Always compare, so a malformed header takes as long as a wrong token.
    return timingSafeEqual(given, this.#digest) && match !== null;
  }
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
