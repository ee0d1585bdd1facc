/**
 * The SIP message model (RFC 3261 §7): a request (method, Request-URI) or a response (status,
 * reason), its header fields in order, and the body as bytes.
 *
 * Every header field keeps its exact wire text (`wire`, folding included), so unknown headers and
 * known ones a proxy does not touch serialize byte-for-byte (RFC 3261 §16.6: a proxy forwards what
 * it does not understand unchanged). Typed values (Via, From, To, CSeq, Route, …) are parsed from
 * the fields on first access and cached until an edit touches that header. The parser validates the
 * transaction-critical headers up front (see `parse.ts`); a typed getter for any other malformed
 * header throws {@link SipHeaderError}, and {@link SipMessageBase.check} reports such errors
 * without throwing.
 *
 * Edits for a stateful proxy (RFC 3261 §16.6): {@link SipMessageBase.prependVia},
 * {@link SipMessageBase.removeTopVia}, {@link SipMessageBase.decrementMaxForwards},
 * {@link SipMessageBase.prependRecordRoute}, {@link SipMessageBase.popRoute},
 * {@link SipRequest.setRequestUri}, {@link SipMessageBase.setHeader}, {@link SipMessageBase.setBody}.
 * Only the lines an edit touches are rewritten; serialization copies every other line as received.
 *
 * Strings: names, tokens, URIs and header `value`s are *wire strings* (one char per byte, see
 * `chars.ts`); `get()`, display names, reason phrases and quoted parameter values are decoded from
 * UTF-8. Strings passed to edits are JavaScript strings and are encoded as UTF-8.
 *
 * @module
 */
import { fromWire, toWire, TOKEN, all } from './chars.ts';
import { canonicalName, headerKey } from './header-names.ts';
import {
  type CSeq,
  type MediaType,
  type NameAddr,
  readCallId,
  readContentLength,
  readCSeq,
  readList,
  readMaxForwards,
  readMediaType,
  readNameAddr,
  readNameAddrList,
  readTokenList,
  readVia,
  type Via,
} from './header-values.ts';
import { splitList, SyntaxFault } from './scanner.ts';
import { readUri, type Uri } from './sip-uri.ts';

/** One header field line. */
export interface HeaderField {
  /** Name as written: `v`, `MaX-fOrWaRdS`, `Content-Length`. */
  readonly name: string;
  /** Lower-case full name: `via`, `max-forwards` (compact forms expanded, RFC 3261 §7.3.3). */
  readonly key: string;
  /** Value with folding undone (CRLF+WSP → SP) and outer SP/HT trimmed; a wire string. */
  readonly value: string;
  /** The whole line exactly as received (or as written by an edit), without the final CRLF. */
  readonly wire: string;
}

/** Thrown by a typed getter when that header is missing (where required) or malformed. */
export class SipHeaderError extends Error {
  override readonly name = 'SipHeaderError';
  /** Header key, e.g. `contact`. */
  readonly header: string;
  constructor(header: string, reason: string, cause?: unknown) {
    super(`${canonicalName(header)}: ${reason}`, { cause });
    this.header = header;
  }
}

/** The headers with typed getters; {@link SipMessageBase.check} accepts these keys. */
export const TYPED_HEADERS = [
  'via',
  'max-forwards',
  'from',
  'to',
  'call-id',
  'cseq',
  'contact',
  'route',
  'record-route',
  'path',
  'content-length',
  'content-type',
  'supported',
  'require',
  'proxy-require',
] as const;
export type TypedHeader = (typeof TYPED_HEADERS)[number];

/** Builds a header field from JavaScript strings. Throws TypeError on a non-token name or a CR/LF in the value. */
export function headerField(name: string, value: string): HeaderField {
  if (!all(name, TOKEN)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`);
  if (value.includes('\r') || value.includes('\n')) throw new TypeError('header value may not contain CR or LF');
  const wireValue = toWire(value).trim();
  return { name, key: headerKey(name), value: wireValue, wire: `${name}: ${wireValue}` };
}

interface MessageInit {
  readonly startLine: string;
  readonly headers: HeaderField[];
  readonly body: Uint8Array;
  /** The exact bytes of the message, when it was parsed (serialization returns them while unmodified). */
  readonly source?: Uint8Array | undefined;
}

/** What requests and responses share: headers, body, typed getters and edits. */
export abstract class SipMessageBase {
  #startLine: string;
  #headers: HeaderField[];
  #body: Uint8Array;
  #source: Uint8Array | undefined;
  /**
   * Typed values read so far, one slot per {@link TypedHeader} ({@link SLOT}); {@link UNSET} where not
   * read yet. Made on first use: a slot array is far cheaper than a Map per message.
   */
  #cache: unknown[] | undefined;

  constructor(init: MessageInit) {
    this.#startLine = init.startLine;
    this.#headers = init.headers;
    this.#body = init.body;
    this.#source = init.source;
  }

  /**
   * An independent copy of this message: edits to one never show in the other. Header fields, the
   * body bytes, `source` and the typed values parsed so far are immutable and shared (no re-parse);
   * only the field list and the typed-value cache are copied. The copy keeps viewing the same bytes
   * as this message (`body`, `source`).
   */
  abstract clone(): SipMessage;

  /** For subclasses' `clone()`: `copy` gets this message's typed-value cache. */
  protected shareCacheWith(copy: SipMessageBase): void {
    copy.#cache = this.#cache?.slice();
  }

  /** For subclasses' `clone()`: the constructor argument of an equal message. */
  protected init(): MessageInit {
    return { startLine: this.#startLine, headers: this.#headers, body: this.#body, source: this.#source };
  }

  /** The start line as a wire string, without CRLF. */
  get startLine(): string {
    return this.#startLine;
  }

  /** Header fields in order. */
  get headers(): readonly HeaderField[] {
    return this.#headers;
  }

  /** The body (a view into the parsed bytes until {@link setBody}). */
  get body(): Uint8Array {
    return this.#body;
  }

  /** The exact received bytes of this message while nothing was edited; undefined after an edit. */
  get source(): Uint8Array | undefined {
    return this.#source;
  }

  /** Fields whose name is `name` (any case, compact or full form), in order. */
  fields(name: string): HeaderField[] {
    const key = headerKey(name);
    const out: HeaderField[] = [];
    for (const field of this.#headers) if (field.key === key) out.push(field);
    return out;
  }

  /** True when at least one `name` field is present. */
  has(name: string): boolean {
    const key = headerKey(name);
    return this.#headers.some((f) => f.key === key);
  }

  /** Value of the first `name` field, UTF-8 decoded; undefined when absent. */
  get(name: string): string | undefined {
    const key = headerKey(name);
    const field = this.#headers.find((f) => f.key === key);
    return field === undefined ? undefined : fromWire(field.value);
  }

  /** Values of every `name` field, UTF-8 decoded (one per line; lines are not split at commas). */
  getAll(name: string): string[] {
    return this.fields(name).map((f) => fromWire(f.value));
  }

  // ---- typed getters (RFC 3261 §20) ----

  /** Via values, top first, across all Via lines (§20.42). */
  get via(): readonly Via[] {
    return this.#typed('via', readViaList);
  }

  /** The top Via, which identifies the transaction (§17.2.3); undefined when there is none. */
  get topVia(): Via | undefined {
    return this.via[0];
  }

  /** Max-Forwards (§20.22), 0–255; undefined when absent. */
  get maxForwards(): number | undefined {
    return this.#single('max-forwards', readMaxForwards, false);
  }

  /** From (§20.20). Throws SipHeaderError when missing (parse() guarantees it is present). */
  get from(): NameAddr {
    return this.#single('from', readNameAddr, true);
  }

  /** To (§20.39). Throws SipHeaderError when missing (parse() guarantees it is present). */
  get to(): NameAddr {
    return this.#single('to', readNameAddr, true);
  }

  /** Call-ID (§20.8), as written. */
  get callId(): string {
    return this.#single('call-id', readCallId, true);
  }

  /** CSeq (§20.16). */
  get cseq(): CSeq {
    return this.#single('cseq', readCSeq, true);
  }

  /** Contact values (§20.10), or `'*'` for the REGISTER wildcard (§10.2.2); `[]` when absent. */
  get contact(): readonly NameAddr[] | '*' {
    return this.#typed('contact', readContactList);
  }

  /** Route values in order (§20.34). */
  get route(): readonly NameAddr[] {
    return this.#typed('route', readRouteList);
  }

  /** Record-Route values in order (§20.30). */
  get recordRoute(): readonly NameAddr[] {
    return this.#typed('record-route', readRouteList);
  }

  /** Path values in order (RFC 3327). */
  get path(): readonly NameAddr[] {
    return this.#typed('path', readRouteList);
  }

  /** Content-Length (§20.14); undefined when absent. */
  get contentLength(): number | undefined {
    return this.#single('content-length', readContentLength, false);
  }

  /** Content-Type (§20.15); undefined when absent. */
  get contentType(): MediaType | undefined {
    return this.#single('content-type', readMediaType, false);
  }

  /** Supported option tags (§20.37). */
  get supported(): readonly string[] {
    return this.#typed('supported', readTokenList);
  }

  /** Require option tags (§20.32); a proxy ignores these, a UAS answers 420 for unknown ones (§8.2.2.3). */
  get require(): readonly string[] {
    return this.#typed('require', readTokenList);
  }

  /** Proxy-Require option tags (§20.29); a proxy answers 420 for unknown ones (§16.3 step 5). */
  get proxyRequire(): readonly string[] {
    return this.#typed('proxy-require', readTokenList);
  }

  /**
   * Parses the typed headers `keys` and reports the first that is missing-but-required or
   * malformed, without throwing. After `{ ok: true }` those getters do not throw.
   */
  check(keys: readonly TypedHeader[]): { ok: true } | { ok: false; header: TypedHeader; reason: string } {
    for (const key of keys) {
      try {
        TYPED_GETTERS[key](this);
      } catch (error) {
        if (error instanceof SipHeaderError) return { ok: false, header: key, reason: error.message };
        throw error;
      }
    }
    return { ok: true };
  }

  #typed<T>(key: TypedHeader, read: (values: string[]) => T): T {
    const slot = SLOT[key];
    const cache = (this.#cache ??= newCache());
    const known = cache[slot];
    if (known !== UNSET) return known as T;
    const values: string[] = [];
    const headers = this.#headers;
    for (let i = 0; i < headers.length; i++) if (headers[i]!.key === key) values.push(headers[i]!.value);
    const value = readHeader(key, read, values);
    cache[slot] = value;
    return value;
  }

  /** A header that appears at most once: no list, no closure (read on every message). */
  #single<T, R extends boolean>(key: TypedHeader, read: (value: string) => T, required: R): R extends true ? T : T | undefined {
    const slot = SLOT[key];
    const cache = (this.#cache ??= newCache());
    const known = cache[slot];
    if (known !== UNSET) return known as R extends true ? T : T | undefined;
    const headers = this.#headers;
    let raw: string | undefined;
    for (let i = 0; i < headers.length; i++) {
      if (headers[i]!.key !== key) continue;
      if (raw !== undefined) throw new SipHeaderError(key, 'more than one value');
      raw = headers[i]!.value;
    }
    if (raw === undefined && required) throw new SipHeaderError(key, 'missing');
    const value = raw === undefined ? undefined : readHeader(key, read, raw);
    cache[slot] = value;
    return value as R extends true ? T : T | undefined;
  }

  // ---- edits ----

  /**
   * Inserts a Via value on top (RFC 3261 §16.6 step 8), as a new first Via line.
   * `value` is a Via value such as `SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK…`; throws TypeError if invalid.
   */
  prependVia(value: string): void {
    validate(value, (v) => readVia(toWire(v)), 'Via');
    this.#insertFirst(headerField('Via', value), 0);
  }

  /**
   * Removes the top Via value (RFC 3261 §16.7 step 3: a proxy removes its own Via from a response)
   * and returns it; the rest of a multi-value line is kept as written. Undefined when there is none.
   */
  removeTopVia(): Via | undefined {
    const top = this.topVia;
    if (top === undefined) return undefined;
    this.#shiftFirstValue('via');
    return top;
  }

  /**
   * Decrements Max-Forwards by one and returns the new value (RFC 3261 §16.6 step 3). When the header
   * is absent it is added with 70. Throws RangeError when it is already 0: the proxy must answer
   * 483 Too Many Hops instead of forwarding (§16.3 step 2).
   */
  decrementMaxForwards(): number {
    const current = this.maxForwards;
    if (current === 0) throw new RangeError('Max-Forwards is 0: answer 483 Too Many Hops');
    const next = current === undefined ? 70 : current - 1;
    this.setHeader('Max-Forwards', String(next));
    return next;
  }

  /**
   * Inserts a Record-Route value on top (RFC 3261 §16.6 step 4), e.g. `<sip:proxy.example.com;lr>`;
   * placed before the first Record-Route line, or after the Via lines when there is none.
   */
  prependRecordRoute(value: string): void {
    validate(value, (v) => readNameAddr(toWire(v), true), 'Record-Route');
    let afterVia = 0;
    this.#headers.forEach((f, i) => {
      if (f.key === 'via') afterVia = i + 1;
    });
    this.#insertFirst(headerField('Record-Route', value), afterVia);
  }

  /**
   * Removes the first Route value and returns it (RFC 3261 §16.4: the proxy's own URI in the top
   * Route; §16.12 loose routing). Undefined when there is no Route.
   */
  popRoute(): NameAddr | undefined {
    const first = this.route[0];
    if (first === undefined) return undefined;
    this.#shiftFirstValue('route');
    return first;
  }

  /**
   * Replaces every `name` field by one field with `value`, where the first one was (keeping the name
   * as written there), or appends it when absent.
   */
  setHeader(name: string, value: string): void {
    const key = headerKey(name);
    const index = this.#headers.findIndex((f) => f.key === key);
    if (index < 0) {
      this.addHeader(name, value);
      return;
    }
    const headers: HeaderField[] = [];
    for (const f of this.#headers) {
      if (f.key !== key) headers.push(f);
      else if (headers.length === index) headers.push(headerField(f.name, value));
    }
    this.#headers = headers;
    this.#touch(key);
  }

  /** Appends a `name: value` field after all others. */
  addHeader(name: string, value: string): void {
    const field = headerField(name, value);
    this.#headers = [...this.#headers, field];
    this.#touch(field.key);
  }

  /** Removes every `name` field; returns how many were removed. */
  removeHeader(name: string): number {
    const key = headerKey(name);
    const before = this.#headers.length;
    this.#headers = this.#headers.filter((f) => f.key !== key);
    const removed = before - this.#headers.length;
    if (removed > 0) this.#touch(key);
    return removed;
  }

  /**
   * Replaces the body and sets Content-Length to its length (RFC 3261 §20.14); a string body is
   * encoded as UTF-8. `contentType` sets Content-Type; an empty body removes Content-Type unless given.
   */
  setBody(body: Uint8Array | string, contentType?: string): void {
    this.#body = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    this.#touch();
    this.setHeader('Content-Length', String(this.#body.length));
    if (contentType !== undefined) this.setHeader('Content-Type', contentType);
    else if (this.#body.length === 0) this.removeHeader('Content-Type');
  }

  /** For subclasses: replaces the start line. */
  protected replaceStartLine(line: string): void {
    this.#startLine = line;
    this.#touch();
  }

  #insertFirst(field: HeaderField, fallback: number): void {
    const index = this.#headers.findIndex((f) => f.key === field.key);
    const at = index < 0 ? fallback : index;
    this.#headers = [...this.#headers.slice(0, at), field, ...this.#headers.slice(at)];
    this.#touch(field.key);
  }

  /** Removes the first comma-separated value of the first `key` line, keeping the line's other values. */
  #shiftFirstValue(key: string): void {
    const index = this.#headers.findIndex((f) => f.key === key && splitList(f.value).length > 0);
    const field = this.#headers[index]!;
    const rest = splitList(field.value).slice(1);
    const headers = [...this.#headers];
    if (rest.length === 0) headers.splice(index, 1);
    else {
      const value = rest.join(', ');
      headers[index] = { name: field.name, key, value, wire: `${field.name}: ${value}` };
    }
    this.#headers = headers;
    this.#touch(key);
  }

  #touch(key?: string): void {
    this.#source = undefined;
    const cache = this.#cache;
    if (cache === undefined) return;
    if (key === undefined) cache.fill(UNSET);
    else {
      // Any header name comes here: only the typed ones have a slot (not `constructor` and the like).
      if (Object.hasOwn(SLOT, key)) cache[SLOT[key as TypedHeader]] = UNSET;
    }
  }
}

function validate(value: string, read: (v: string) => unknown, what: string): void {
  try {
    read(value);
  } catch (error) {
    if (error instanceof SyntaxFault) throw new TypeError(`invalid ${what} value: ${error.message}`, { cause: error });
    throw error;
  }
}

/** `read(input)` for header `key`; a grammar fault becomes a {@link SipHeaderError} naming the header. */
function readHeader<I, T>(key: TypedHeader, read: (input: I) => T, input: I): T {
  try {
    return read(input);
  } catch (error) {
    if (error instanceof SyntaxFault) throw new SipHeaderError(key, error.message, error);
    throw error;
  }
}

/** Marks a typed-value slot not read yet (undefined is a value: an absent optional header). */
const UNSET: unique symbol = Symbol('unset');

/** Each typed header's slot in a message's typed-value cache. */
const SLOT: Readonly<Record<TypedHeader, number>> = Object.fromEntries(TYPED_HEADERS.map((key, i) => [key, i])) as Record<TypedHeader, number>;

function newCache(): unknown[] {
  return new Array<unknown>(TYPED_HEADERS.length).fill(UNSET);
}

// The readers of list headers, made once (a closure per getter call would be made on every access).
function readViaList(values: string[]): readonly Via[] {
  return readList(values, readVia);
}
function readRouteList(values: string[]): readonly NameAddr[] {
  return readNameAddrList(values, true);
}
function readContactList(values: string[]): readonly NameAddr[] | '*' {
  return values.length === 1 && values[0] === '*' ? '*' : readNameAddrList(values, false);
}

const TYPED_GETTERS: Readonly<Record<TypedHeader, (m: SipMessageBase) => unknown>> = {
  via: (m) => m.via,
  'max-forwards': (m) => m.maxForwards,
  from: (m) => m.from,
  to: (m) => m.to,
  'call-id': (m) => m.callId,
  cseq: (m) => m.cseq,
  contact: (m) => m.contact,
  route: (m) => m.route,
  'record-route': (m) => m.recordRoute,
  path: (m) => m.path,
  'content-length': (m) => m.contentLength,
  'content-type': (m) => m.contentType,
  supported: (m) => m.supported,
  require: (m) => m.require,
  'proxy-require': (m) => m.proxyRequire,
};

/** A request (RFC 3261 §7.1): `Method SP Request-URI SP SIP-Version`. */
export class SipRequest extends SipMessageBase {
  readonly kind = 'request' as const;
  /** Method as written (case-sensitive, RFC 3261 §7.1): `INVITE`, or an unknown token. */
  readonly method: string;
  /** `SIP/2.0` as written. */
  readonly version: string;
  #uri: Uri;

  constructor(init: MessageInit & { method: string; uri: Uri; version: string }) {
    super(init);
    this.method = init.method;
    this.#uri = init.uri;
    this.version = init.version;
  }

  clone(): SipRequest {
    const copy = new SipRequest({ ...this.init(), method: this.method, uri: this.#uri, version: this.version });
    this.shareCacheWith(copy);
    return copy;
  }

  /** The Request-URI. */
  get uri(): Uri {
    return this.#uri;
  }

  /**
   * Replaces the Request-URI (RFC 3261 §16.6 step 2, §16.12 strict-route fix-up); `uri` must be a
   * valid URI without `<>` (and, for SIP URIs, without headers, §19.1.1). Throws TypeError otherwise.
   */
  setRequestUri(uri: string): void {
    let parsed: Uri;
    try {
      parsed = readUri(toWire(uri));
    } catch (error) {
      if (error instanceof SyntaxFault) throw new TypeError(`invalid Request-URI: ${error.message}`, { cause: error });
      throw error;
    }
    if (parsed.kind === 'sip' && parsed.headers.size > 0) throw new TypeError('a Request-URI may not carry headers');
    this.#uri = parsed;
    this.replaceStartLine(`${this.method} ${parsed.raw} ${this.version}`);
  }
}

/** A response (RFC 3261 §7.2): `SIP-Version SP Status-Code SP Reason-Phrase`. */
export class SipResponse extends SipMessageBase {
  readonly kind = 'response' as const;
  readonly version: string;
  /** 100–699. */
  readonly status: number;
  /** Reason phrase, UTF-8 decoded (may be empty, RFC 4475 §3.1.1.13). */
  readonly reason: string;

  constructor(init: MessageInit & { status: number; reason: string; version: string }) {
    super(init);
    this.status = init.status;
    this.reason = init.reason;
    this.version = init.version;
  }

  clone(): SipResponse {
    const copy = new SipResponse({ ...this.init(), status: this.status, reason: this.reason, version: this.version });
    this.shareCacheWith(copy);
    return copy;
  }
}

export type SipMessage = SipRequest | SipResponse;
