/**
 * Typed values of the header fields a proxy reads (RFC 3261 §20, grammar §25.1): Via, name-addr
 * headers (From, To, Contact, Route, Record-Route, Path), CSeq, Call-ID, Max-Forwards,
 * Content-Length, Content-Type and option-tag lists. Each reader takes one unfolded value (or one
 * element of a comma-separated list, see {@link splitList}) as a wire string and throws
 * {@link SyntaxFault} when it does not match the grammar. LWS is allowed wherever the grammar's
 * separators (`SEMI`, `EQUAL`, `SLASH`, `COLON`, `LAQUOT`, `RAQUOT`) allow it.
 *
 * @module
 */
import { detach, fromWire, HOSTNAME, is, lower, TOKEN, WORD } from './chars.ts';
import { fault, Scanner, splitList, trim } from './scanner.ts';
import { hostKindOf, type HostKind, type Params, readPort, readUri, type Uri } from './sip-uri.ts';

/** One Via value (RFC 3261 §20.42; `rport` from RFC 3581). */
export interface Via {
  /** `SIP` */
  readonly protocol: string;
  /** `2.0` */
  readonly version: string;
  /** Upper-cased transport: `UDP`, `TCP`, `TLS`, `SCTP`, `WS`, `WSS`, or any other token. */
  readonly transport: string;
  /** sent-by host as written; IPv6 references keep their brackets. */
  readonly host: string;
  readonly hostKind: HostKind;
  readonly port: number | undefined;
  /** via-params, names lower-cased. */
  readonly params: Params;
  readonly branch: string | undefined;
  readonly received: string | undefined;
  /** `rport=N` → N; bare `rport` (asking for it, RFC 3581 §3) → null; absent → undefined. */
  readonly rport: number | null | undefined;
  readonly maddr: string | undefined;
  readonly ttl: number | undefined;
  /** This value exactly as written (one list element). */
  readonly raw: string;
}

/** `name-addr` or `addr-spec` with header parameters (From, To, Contact, Route, Record-Route, Path). */
export interface NameAddr {
  /** Display name, unquoted and UTF-8 decoded; undefined when absent. */
  readonly displayName: string | undefined;
  readonly uri: Uri;
  /** True when the URI was enclosed in `<...>`. */
  readonly bracketed: boolean;
  /** Header parameters after the address (`;tag=…;expires=…;q=…`), names lower-cased. */
  readonly params: Params;
  /** `tag` parameter (From/To, RFC 3261 §19.3). */
  readonly tag: string | undefined;
  readonly raw: string;
}

/** CSeq (RFC 3261 §20.16): sequence number (32-bit unsigned) and method. */
export interface CSeq {
  readonly seq: number;
  readonly method: string;
}

/** Content-Type (RFC 3261 §20.15): lower-cased type/subtype, parameters. */
export interface MediaType {
  readonly type: string;
  readonly subtype: string;
  readonly params: Params;
}

/** RFC 3261 §8.1.1.7: a branch that begins with this cookie was made by an RFC 3261 element. */
export const MAGIC_COOKIE = 'z9hG4bK';

/**
 * True when `branch` carries the RFC 3261 magic cookie *and* something after it: the bare cookie
 * (RFC 4475 §3.2.1, badbranch) does not identify a transaction.
 */
export function isRfc3261Branch(branch: string | undefined): boolean {
  return branch !== undefined && branch.length > MAGIC_COOKIE.length && branch.startsWith(MAGIC_COOKIE);
}

/**
 * `generic-param` list: `*( SEMI token [ EQUAL ( token / host / quoted-string ) ] )`. Names are
 * lower-cased; a duplicate keeps the first value. `received` also accepts an unbracketed IPv6 address.
 */
export function readParams(sc: Scanner): Map<string, string | null> {
  const params = new Map<string, string | null>();
  while (sc.sep(0x3b)) {
    const name = lower(sc.token('parameter name'));
    let value: string | null = null;
    if (sc.sep(0x3d)) value = readParamValue(sc, name === 'received');
    if (!params.has(name)) params.set(name, value);
  }
  return params;
}

function readParamValue(sc: Scanner, allowColon: boolean): string {
  const c = sc.peek();
  if (c === 0x22) return fromWire(sc.quoted());
  if (c === 0x5b) {
    const close = sc.text.indexOf(']', sc.pos);
    if (close < 0 || close >= sc.end) fault('unterminated IPv6 reference');
    const v = sc.text.slice(sc.pos, close + 1);
    hostKindOf(v);
    sc.pos = close + 1;
    return v;
  }
  const start = sc.pos;
  while (sc.pos < sc.end) {
    const ch = sc.text.charCodeAt(sc.pos);
    if (!(is(ch, TOKEN) || (allowColon && ch === 0x3a))) break;
    sc.pos++;
  }
  if (sc.pos === start) fault('expected parameter value');
  return sc.text.slice(start, sc.pos);
}

/**
 * Recently read values by their wire text. The values of one call repeat across its messages (From
 * in all seven of a proxied call, the caller's Via in every response, the proxy's own Record-Route
 * in every call), and the values are never modified once read: a hit shares the value instead of
 * reading it again. Bounded: emptied when full, and only texts up to {@link MEMO_TEXT_CHARS} long are
 * kept, read from a detached copy (so neither the key nor the value's strings keep the message they
 * were cut from alive). Only values that read without a fault are kept.
 */
class ValueMemo<T> {
  readonly #values = new Map<string, T>();
  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  get(raw: string, read: (raw: string) => T): T {
    if (raw.length > MEMO_TEXT_CHARS) return read(raw);
    const known = this.#values.get(raw);
    if (known !== undefined) return known;
    const text = detach(raw);
    const value = read(text);
    if (this.#values.size >= this.#limit) this.#values.clear();
    this.#values.set(text, value);
    return value;
  }
}

const MEMO_ENTRIES = 1024;
/** Longer values (rare: a Via or an address with long parameters) are read each time. */
const MEMO_TEXT_CHARS = 256;
const viaMemo = new ValueMemo<Via>(MEMO_ENTRIES);
const nameAddrMemo = new ValueMemo<NameAddr>(MEMO_ENTRIES);
const bracketedNameAddrMemo = new ValueMemo<NameAddr>(MEMO_ENTRIES);

/** One Via value: `sent-protocol LWS sent-by *( SEMI via-params )` (RFC 3261 §25.1). */
export function readVia(raw: string): Via {
  return viaMemo.get(raw, readViaText);
}

function readViaText(raw: string): Via {
  const sc = new Scanner(raw);
  sc.sws();
  const protocol = sc.token('protocol name');
  sc.expectSep(0x2f, '/ in Via sent-protocol');
  const version = sc.token('protocol version');
  sc.expectSep(0x2f, '/ in Via sent-protocol');
  const transport = sc.token('transport').toUpperCase();
  if (!sc.sws()) fault('expected LWS before Via sent-by');
  let host: string;
  if (sc.peek() === 0x5b) {
    const close = sc.text.indexOf(']', sc.pos);
    if (close < 0) fault('unterminated IPv6 reference');
    host = sc.text.slice(sc.pos, close + 1);
    sc.pos = close + 1;
  } else host = sc.run(HOSTNAME, 'Via host');
  const hostKind = hostKindOf(host);
  let port: number | undefined;
  if (sc.sep(0x3a)) port = readPort(sc.digits('port'));
  const params = readParams(sc);
  sc.finish('Via');
  const rportValue = params.get('rport');
  let rport: number | null | undefined;
  if (rportValue === null) rport = null;
  else if (rportValue !== undefined) rport = readPort(rportValue);
  const ttlValue = params.get('ttl');
  let ttl: number | undefined;
  if (ttlValue !== undefined) {
    if (ttlValue === null || !/^\d{1,3}$/.test(ttlValue) || Number(ttlValue) > 255) fault('bad Via ttl');
    ttl = Number(ttlValue);
  }
  return {
    protocol,
    version,
    transport,
    host,
    hostKind,
    port,
    params,
    branch: params.get('branch') ?? undefined,
    received: params.get('received') ?? undefined,
    rport,
    maddr: params.get('maddr') ?? undefined,
    ttl,
    raw: trim(raw),
  };
}

/**
 * `( name-addr / addr-spec ) *( SEMI generic-param )` (RFC 3261 §20.10, §25.1).
 * - `name-addr = [ display-name ] LAQUOT addr-spec RAQUOT`; the display name is a quoted string or
 *   tokens separated by LWS (`caller<sip:…>` with no LWS is accepted, RFC 4475 §3.1.1.6). No LWS is
 *   allowed inside `<...>` (RFC 4475 §3.1.2.14).
 * - In the `addr-spec` form, parameters after the URI are header parameters, and the URI may not
 *   contain `,`, `?` or `;` (RFC 3261 §20.10; RFC 4475 §3.1.2.13).
 * `bracketsRequired` is set for Route, Record-Route and Path, whose grammar only has name-addr.
 */
export function readNameAddr(raw: string, bracketsRequired = false): NameAddr {
  return bracketsRequired ? bracketedNameAddrMemo.get(raw, readBracketedNameAddr) : nameAddrMemo.get(raw, readAnyNameAddr);
}

function readBracketedNameAddr(raw: string): NameAddr {
  return readNameAddrText(raw, true);
}

function readAnyNameAddr(raw: string): NameAddr {
  return readNameAddrText(raw, false);
}

function readNameAddrText(raw: string, bracketsRequired: boolean): NameAddr {
  const sc = new Scanner(raw);
  sc.sws();
  let displayName: string | undefined;
  let uriText: string;
  let bracketed = true;
  if (sc.peek() === 0x22) {
    displayName = fromWire(sc.quoted());
    sc.sws();
    if (sc.peek() !== 0x3c) fault('expected < after display name');
  } else if (sc.peek() !== 0x3c) {
    const start = sc.pos;
    let i = start;
    while (i < sc.end && (is(sc.text.charCodeAt(i), TOKEN) || sc.text.charCodeAt(i) === 0x20 || sc.text.charCodeAt(i) === 0x09)) i++;
    if (i < sc.end && sc.text.charCodeAt(i) === 0x3c) {
      displayName = trim(sc.text, start, i);
      sc.pos = i;
    }
  }
  if (sc.peek() === 0x3c) {
    const close = sc.text.indexOf('>', sc.pos);
    if (close < 0) fault('unterminated <');
    uriText = sc.text.slice(sc.pos + 1, close);
    sc.pos = close + 1;
    for (let i = 0; i < uriText.length; i++) {
      const c = uriText.charCodeAt(i);
      if (c <= 0x20 || c === 0x22 || c === 0x3c || c > 0x7e) fault('LWS or bad character inside <...>');
    }
  } else {
    if (bracketsRequired) fault('expected <');
    bracketed = false;
    const start = sc.pos;
    while (sc.pos < sc.end) {
      const c = sc.text.charCodeAt(sc.pos);
      if (c === 0x3b || c === 0x20 || c === 0x09) break;
      if (c === 0x3f || c === 0x2c || c === 0x3c || c === 0x3e || c === 0x22 || c < 0x20 || c > 0x7e) {
        fault('URI with , ? or ; must be enclosed in <>');
      }
      sc.pos++;
    }
    uriText = sc.text.slice(start, sc.pos);
  }
  const uri = readUri(uriText);
  const params = readParams(sc);
  sc.finish('address');
  return { displayName, uri, bracketed, params, tag: params.get('tag') ?? undefined, raw: trim(raw) };
}

/** Comma-separated name-addr list (Contact, Route, Record-Route, Path): each line holds at least one value (`1#`). */
export function readNameAddrList(values: readonly string[], bracketsRequired: boolean): readonly NameAddr[] {
  return readList(values, (element) => readNameAddr(element, bracketsRequired));
}

const NO_VALUES: readonly never[] = Object.freeze([]);

/** Values of a `1#element` header over all its lines: an empty line is a fault (RFC 3261 §7.3.1, §25.1). */
export function readList<T>(values: readonly string[], read: (element: string) => T): readonly T[] {
  // An absent header (the usual case for most list headers): one shared, frozen empty list.
  if (values.length === 0) return NO_VALUES;
  const only = values.length === 1 ? values[0]! : undefined;
  // One line with one element (no comma, no quoted string, every < closed): what splitList would
  // return, without its array.
  if (only !== undefined && only.indexOf(',') < 0 && only.indexOf('"') < 0 && only.lastIndexOf('<') <= only.lastIndexOf('>')) {
    const element = trim(only);
    if (element.length === 0) fault('empty value');
    return [read(element)];
  }
  const out: T[] = [];
  for (const value of values) {
    const elements = splitList(value);
    if (elements.length === 0) fault('empty value');
    for (const element of elements) out.push(read(element));
  }
  return out;
}

/** `CSeq = 1*DIGIT LWS Method`, the number a 32-bit unsigned integer (RFC 3261 §8.1.1.5). */
export function readCSeq(raw: string): CSeq {
  const sc = new Scanner(raw);
  sc.sws();
  const seq = readUint(sc.digits('CSeq number'), 0xffffffff, 'CSeq number');
  if (!sc.sws()) fault('expected LWS in CSeq');
  const method = sc.token('CSeq method');
  sc.finish('CSeq');
  return { seq, method };
}

/** `Max-Forwards = 1*DIGIT`, 0–255 (RFC 3261 §20.22; RFC 4475 §3.1.2.4). */
export function readMaxForwards(raw: string): number {
  return readUint(trimDigits(raw, 'Max-Forwards'), 255, 'Max-Forwards');
}

/** `Content-Length = 1*DIGIT` (RFC 3261 §20.14); a negative or non-numeric value is invalid. */
export function readContentLength(raw: string): number {
  return readUint(trimDigits(raw, 'Content-Length'), 0xffffffff, 'Content-Length');
}

function trimDigits(raw: string, what: string): string {
  const sc = new Scanner(raw);
  sc.sws();
  const digits = sc.digits(what);
  sc.finish(what);
  return digits;
}

/** Decimal digits (leading zeros allowed, RFC 4475 §3.1.1.1) to a number not above `max`. */
function readUint(digits: string, max: number, what: string): number {
  let i = 0;
  while (i < digits.length - 1 && digits.charCodeAt(i) === 0x30) i++;
  if (digits.length - i > 10) fault(`${what} out of range`);
  const n = Number(digits.slice(i));
  if (n > max) fault(`${what} out of range`);
  return n;
}

/** `Call-ID = word [ "@" word ]` (RFC 3261 §20.8). Returned as written (compare case-sensitively). */
export function readCallId(raw: string): string {
  const value = trim(raw);
  const at = value.indexOf('@');
  const ok =
    at < 0 ? isWord(value) : isWord(value.slice(0, at)) && isWord(value.slice(at + 1));
  if (!ok) fault('bad Call-ID');
  return value;
}

function isWord(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!is(s.charCodeAt(i), WORD)) return false;
  return true;
}

/** `option-tag *(COMMA option-tag)` (Supported, Require, Proxy-Require, Unsupported; RFC 3261 §20). */
export function readTokenList(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const value of values) {
    for (const element of splitList(value)) {
      const sc = new Scanner(element);
      out.push(sc.token('option-tag'));
      sc.finish('option-tag list');
    }
  }
  return out;
}

/** `m-type SLASH m-subtype *( SEMI m-parameter )` (RFC 3261 §20.15). */
export function readMediaType(raw: string): MediaType {
  const sc = new Scanner(raw);
  sc.sws();
  const type = lower(sc.token('media type'));
  sc.expectSep(0x2f, '/ in media type');
  const subtype = lower(sc.token('media subtype'));
  const params = readParams(sc);
  sc.finish('Content-Type');
  return { type, subtype, params };
}
