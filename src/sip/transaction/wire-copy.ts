/**
 * A message a transaction keeps only to send it again (its last response, the ACK for a non-2xx):
 * the wire bytes in a buffer of their own, parsed again for each re-send. A parsed message (header
 * objects, parsed-value caches, views into a larger input buffer) costs several times its wire size,
 * and transactions outlive their call by 64·T1 (Timers J, L, M).
 *
 * @module
 */
import { parseMessage, serialize, type SipRequest, type SipResponse } from '../index.ts';

export class WireCopy<T extends SipRequest | SipResponse> {
  /** The response status (undefined for a request). */
  readonly status: number | undefined;
  /**
   * The bytes as a Latin-1 string (one char per byte, lossless): a single flat heap object, where a
   * byte array costs an ArrayBuffer, its view and an external backing store the GC must track.
   */
  readonly #text: string;

  constructor(message: T) {
    this.status = message.kind === 'response' ? message.status : undefined;
    // A copy (not a view): serialize() may return a view into the message's input buffer or Node's pool.
    const bytes = serialize(message);
    this.#text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  }

  /** An equal message, parsed from the kept bytes. */
  get message(): T {
    // Its own buffer (not Node's pool slab): the message is a view of it, and may be kept a while.
    const bytes = Buffer.allocUnsafeSlow(this.#text.length);
    bytes.write(this.#text, 'latin1');
    const result = parseMessage(bytes);
    if (!result.ok) throw new Error(`cannot re-parse a kept SIP message: ${result.error.reason}`);
    return result.message as T;
  }
}
