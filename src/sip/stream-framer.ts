/**
 * Message framing on stream transports (TCP, TLS; RFC 3261 §18.3): bytes arrive in arbitrary
 * chunks, a message may be split anywhere and several may share one chunk. The framer finds the end
 * of the header section (the first empty line), reads Content-Length, which is mandatory on streams,
 * and cuts the body with it.
 *
 * Between messages it reports RFC 5626 §3.5.1 keepalives: a double CRLF is a `ping` (answer it with a
 * single CRLF), a single CRLF is a `pong`. A lone CRLF at the end of the available bytes could be the
 * first half of a ping: with `role: 'server'` (the side that receives pings, the default) the framer
 * waits for the next byte; with `role: 'client'` (which only receives pongs) it reports the pong at once.
 *
 * Errors are fatal for the connection (framing is lost): a missing or invalid Content-Length, several
 * Content-Lengths (RFC 4475 §3.3.9), or a message larger than `maxMessageBytes` (513). The error
 * carries what the transport needs to answer before it closes. After an error the framer ignores input.
 *
 * Message bytes are views into the caller's chunks or the framer's buffers, handed over: the framer
 * never writes them again. Pending bytes grow by doubling, so input split into tiny chunks costs O(n).
 *
 * @module
 */
import { isWsp } from './chars.ts';
import { headerKey } from './header-names.ts';
import { framingError, type ParseError } from './parse.ts';

export interface StreamFramerOptions {
  /** Largest message, header section and body together (default 65536). */
  readonly maxMessageBytes?: number;
  /** Keepalive role (RFC 5626 §3.5.1); see the module notes. Default `server`. */
  readonly role?: 'server' | 'client';
}

export type FramerEvent =
  | { readonly type: 'message'; readonly bytes: Uint8Array }
  /** CRLFCRLF received: answer with CRLF (RFC 5626 §3.5.1). */
  | { readonly type: 'ping' }
  /** CRLF received: the peer answered our ping. */
  | { readonly type: 'pong' }
  /** Framing is lost: answer when `error.canRespond`, then close the connection. */
  | { readonly type: 'error'; readonly error: ParseError };

export const DEFAULT_MAX_MESSAGE_BYTES = 65_536;
const EMPTY = Buffer.alloc(0);
const CRLF2 = Buffer.from('\r\n\r\n', 'latin1');

export class StreamFramer {
  readonly #max: number;
  readonly #role: 'server' | 'client';
  /** Pending bytes are `#store[0, #length)`; the store grows by doubling, so a peer sending one byte per segment costs O(n), not O(n²). */
  #store: Buffer = EMPTY;
  #length = 0;
  /** Set when #store is memory we must not write into (the caller's chunk, or a view after bytes were handed out). */
  #borrowed: Buffer | undefined;
  /** Where to resume looking for CRLFCRLF in the pending bytes. */
  #scanFrom = 0;
  /** Total length of the message at the front of the pending bytes once its header is known. */
  #expected = -1;
  #failed = false;

  constructor(options: StreamFramerOptions = {}) {
    this.#max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.#role = options.role ?? 'server';
  }

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.#length;
  }

  /** True after a framing error. */
  get failed(): boolean {
    return this.#failed;
  }

  /** Feeds one chunk; returns the events it completes, in order. */
  push(chunk: Uint8Array): FramerEvent[] {
    if (this.#failed || chunk.length === 0) return [];
    this.#append(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    const events: FramerEvent[] = [];
    while (this.#length > 0 && !this.#failed) {
      const event = this.#next();
      if (event === undefined) break;
      events.push(event);
    }
    return events;
  }

  #append(bytes: Buffer): void {
    if (this.#length === 0) {
      // Nothing pending: work on the caller's chunk directly; it is never written into (see #borrowed).
      this.#store = bytes;
      this.#borrowed = bytes;
      this.#length = bytes.length;
      return;
    }
    const needed = this.#length + bytes.length;
    if (needed > this.#store.length || this.#store === this.#borrowed) {
      const store = Buffer.allocUnsafe(Math.max(needed, this.#store.length * 2, 4096));
      this.#store.copy(store, 0, 0, this.#length);
      this.#store = store;
    }
    bytes.copy(this.#store, this.#length);
    this.#length = needed;
    this.#borrowed = undefined;
  }

  #next(): FramerEvent | undefined {
    const buf = this.#store.subarray(0, this.#length);
    if (this.#expected < 0 && buf[0] === 0x0d) {
      if (buf.length < 2) return undefined;
      if (buf[1] === 0x0a) {
        if (buf.length >= 4 && buf[2] === 0x0d && buf[3] === 0x0a) return this.#consume(4, { type: 'ping' });
        if (buf.length >= 3 && buf[2] !== 0x0d) return this.#consume(2, { type: 'pong' });
        if (buf.length === 2 && this.#role === 'client') return this.#consume(2, { type: 'pong' });
        if (buf.length === 3 && this.#role === 'client') return this.#consume(2, { type: 'pong' });
        return undefined;
      }
    }
    if (this.#expected < 0) {
      const end = buf.indexOf(CRLF2, Math.max(0, this.#scanFrom - 3));
      if (end < 0) {
        this.#scanFrom = buf.length;
        return buf.length > this.#max ? this.#fail(framingError(buf, 'Message Too Large', 513)) : undefined;
      }
      const headLength = end + 4;
      const length = contentLength(buf.toString('latin1', 0, end));
      if (typeof length === 'string') return this.#fail(framingError(buf.subarray(0, end), length, 400));
      if (headLength + length > this.#max) return this.#fail(framingError(buf.subarray(0, end), 'Message Too Large', 513));
      this.#expected = headLength + length;
    }
    if (buf.length < this.#expected) return undefined;
    const bytes = buf.subarray(0, this.#expected);
    return this.#consume(this.#expected, { type: 'message', bytes });
  }

  #consume(length: number, event: FramerEvent): FramerEvent {
    // Bytes already handed out stay untouched: the rest moves on as a view, and the next append
    // copies it into a fresh store.
    const rest = this.#length - length;
    this.#store = rest === 0 ? EMPTY : this.#store.subarray(length, this.#length);
    this.#borrowed = this.#store;
    this.#length = rest;
    this.#scanFrom = 0;
    this.#expected = -1;
    return event;
  }

  #fail(error: ParseError): FramerEvent {
    this.#failed = true;
    this.#store = EMPTY;
    this.#length = 0;
    return { type: 'error', error };
  }
}

/** Content-Length of a header section (RFC 3261 §18.3: required on streams), or why it is unusable. */
function contentLength(head: string): number | string {
  let value: string | undefined;
  let lineStart = head.indexOf('\r\n');
  while (lineStart >= 0) {
    const from = lineStart + 2;
    const next = head.indexOf('\r\n', from);
    const line = head.slice(from, next < 0 ? head.length : next);
    lineStart = next;
    const colon = line.indexOf(':');
    if (colon <= 0 || isWsp(line.charCodeAt(0))) continue;
    if (headerKey(line.slice(0, colon).trimEnd()) !== 'content-length') continue;
    if (value !== undefined) return 'Multiple Content-Length values';
    // A folded Content-Length value continues on the next lines.
    let v = line.slice(colon + 1);
    let n = next;
    while (n >= 0 && isWsp(head.charCodeAt(n + 2))) {
      const m = head.indexOf('\r\n', n + 2);
      v += ' ' + head.slice(n + 2, m < 0 ? head.length : m);
      n = m;
    }
    value = v.trim();
  }
  if (value === undefined) return 'Missing Content-Length';
  if (value.length === 0 || value.length > 10 || !/^[0-9]+$/.test(value)) return 'Invalid Content-Length';
  return Number(value);
}
