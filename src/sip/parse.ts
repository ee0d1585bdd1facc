/**
 * Parsing one SIP message from bytes (RFC 3261 §7, §18.3, grammar §25). Never throws: the result is
 * `{ ok: true, message }` or `{ ok: false, error }`, where the error says which status a transport
 * should answer with (400, 505), whether a response can be built at all, and carries the raw
 * headers it needs to build one ({@link PartialHeaders}, see `response.ts`).
 *
 * What is checked up front, for every message (the transaction layer needs it, RFC 3261 §17, §8.1.1):
 * - the start line, strictly: single SP separators, no trailing SP (RFC 4475 §3.1.2.9/.10 allow
 *   rejecting), `SIP/2.0` (another `SIP/x.y` → 505 Version Not Supported, RFC 3261 §21.5.6; RFC 4475
 *   §3.1.2.16), a 3-digit status 100–699 (RFC 4475 §3.1.2.19);
 *   a Request-URI that is a valid URI, not in `<>` (RFC 4475 §3.1.2.7), without headers (§19.1.1);
 * - header lines: `token *WSP ":" value`, folding (§7.3.1), no bare CR or LF;
 * - Via (at least one), From, To, Call-ID, CSeq present exactly once and well formed (§8.1.1); CSeq
 *   method equal to the request method (§8.1.1.5, RFC 4475 §3.1.2.17); Max-Forwards, when present,
 *   once and 0–255;
 * - framing (§18.3): one Content-Length at most, a decimal number; a longer Content-Length than the
 *   datagram holds is an error, a shorter one truncates the body (extra octets are ignored, RFC 4475
 *   §3.1.1.8); no Content-Length means the body is the rest of the datagram (§18.3, RFC 2543 UAs).
 *
 * `options.eager` lists further typed headers to validate in requests at parse time (default: the
 * ones a proxy reads on every request: Contact, Route, Record-Route, Path, Require, Proxy-Require,
 * Supported). Responses are checked for Via, From, To, Call-ID and CSeq only. Anything else is
 * parsed on first access.
 *
 * @module
 */
import { fromWire, is, isDigit, isWsp, TOKEN } from './chars.ts';
import { headerKey } from './header-names.ts';
import { readVia } from './header-values.ts';
import { type HeaderField, type SipMessage, SipRequest, SipResponse, type TypedHeader } from './message.ts';
import { splitList, SyntaxFault, trim } from './scanner.ts';
import { readUri } from './sip-uri.ts';

/** The raw header values needed to answer a message that failed to parse (RFC 3261 §8.2.6.2). Wire strings. */
export interface PartialHeaders {
  /** Every Via line's value, in order. */
  readonly via: readonly string[];
  readonly from: string | undefined;
  readonly to: string | undefined;
  readonly callId: string | undefined;
  readonly cseq: string | undefined;
}

/** Why a message was refused, and how a transport may answer it. */
export interface ParseError {
  /** Human-readable reason, ASCII, usable as a reason phrase (`Missing Call-ID`). */
  readonly reason: string;
  /** Status to answer with: 400 Bad Request, 505 Version Not Supported, 513 Message Too Large. */
  readonly status: 400 | 505 | 513;
  /**
   * True when the message is a request other than ACK whose top Via and CSeq could be read, so a
   * response can be sent back (RFC 3261 §8.2.6.2, §18.2.2). False for responses (never answered,
   * §18.1.2: dropped) and for requests without a usable Via.
   */
  readonly canRespond: boolean;
  /** Present when {@link canRespond} is true. */
  readonly partial?: PartialHeaders;
  /** Which header was at fault, when one was (lower-case full name). */
  readonly header?: string;
}

export type ParseResult = { readonly ok: true; readonly message: SipMessage } | { readonly ok: false; readonly error: ParseError };

export interface ParseOptions {
  /** Typed headers validated in requests at parse time in addition to the transaction-critical ones. */
  readonly eager?: readonly TypedHeader[];
}

/** Default `eager`: the headers a proxy reads on its hot path (RFC 3261 §16.3–16.6). */
export const PROXY_EAGER: readonly TypedHeader[] = ['contact', 'route', 'record-route', 'path', 'require', 'proxy-require', 'supported'];

/** Headers every message must have exactly once (§8.1.1; Via at least once). */
const REQUIRED = ['via', 'from', 'to', 'call-id', 'cseq'] as const satisfies readonly TypedHeader[];
const SINGLE = ['from', 'to', 'call-id', 'cseq', 'max-forwards', 'content-length', 'content-type'];

const CRLF2 = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Parses one message from a datagram, a WebSocket message, or one frame cut by the stream framer.
 * The message keeps views into `bytes` (its body and `source`): do not reuse the buffer while the
 * message lives.
 */
export function parseMessage(bytes: Uint8Array, options: ParseOptions = {}): ParseResult {
  try {
    return parseUnchecked(bytes, options);
  } catch (error) {
    // Defence in depth: the grammar code throws SyntaxFault only, but nothing may escape.
    const reason = error instanceof SyntaxFault ? error.message : 'malformed message';
    return fail({ reason, status: 400, canRespond: false });
  }
}

interface Head {
  startLine: string;
  fields: HeaderField[];
  /** First problem in the header lines (the good lines are still in `fields`). */
  fault: string | undefined;
  /** True when the header section was not closed by an empty line. */
  unterminated: boolean;
}

function parseUnchecked(bytes: Uint8Array, options: ParseOptions): ParseResult {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // RFC 3261 §7.5: ignore CRLFs before the start line.
  let start = 0;
  while (start + 1 < buf.length && buf[start] === 0x0d && buf[start + 1] === 0x0a) start += 2;
  let headEnd = buf.indexOf(CRLF2, start);
  let unterminated = false;
  if (headEnd < 0) {
    // No empty line (RFC 3261 §7): refuse, but read the headers first to report the first fault
    // and to salvage what a 400 needs.
    unterminated = true;
    headEnd = buf.length >= 2 && buf[buf.length - 2] === 0x0d && buf[buf.length - 1] === 0x0a ? buf.length - 2 : buf.length;
  }
  const head = splitHead(buf.toString('latin1', start, headEnd));
  head.unterminated = unterminated;
  const bodyStart = Math.min(headEnd + 4, buf.length);

  const line = head.startLine;
  if (line.startsWith('SIP/') || line.startsWith('sip/')) return parseResponse(buf, start, bodyStart, head);
  return parseRequest(buf, start, bodyStart, head, options);
}

/** Splits the header section into the start line and fields (RFC 3261 §7.3), undoing folding. */
function splitHead(text: string): Head {
  const fields: HeaderField[] = [];
  let fault: string | undefined;
  const lines = text.split('\r\n');
  const startLine = lines[0]!;
  if (hasBareCrLf(startLine)) fault = 'Bare CR or LF in start line';
  for (let i = 1; i < lines.length; i++) {
    let wire = lines[i]!;
    // Folding: continuation lines begin with SP or HT (§7.3.1).
    while (i + 1 < lines.length && isWsp(lines[i + 1]!.charCodeAt(0))) wire += '\r\n' + lines[++i];
    const field = readField(wire);
    if (typeof field === 'string') fault ??= field;
    else fields.push(field);
  }
  return { startLine, fields, fault, unterminated: false };
}

function hasBareCrLf(s: string): boolean {
  return s.includes('\r') || s.includes('\n');
}

/** `field-name *WSP ":" SWS value` → a field, or the reason it is malformed. */
function readField(wire: string): HeaderField | string {
  let i = 0;
  while (i < wire.length && is(wire.charCodeAt(i), TOKEN)) i++;
  if (i === 0) return isWsp(wire.charCodeAt(0)) ? 'Folded line without a header' : 'Malformed header line';
  const name = wire.slice(0, i);
  while (i < wire.length && isWsp(wire.charCodeAt(i))) i++;
  if (wire.charCodeAt(i) !== 0x3a) return 'Malformed header line';
  let value = wire.slice(i + 1);
  if (value.includes('\r\n')) value = value.replaceAll('\r\n', ' ');
  if (hasBareCrLf(value)) return 'Bare CR or LF in header';
  return { name, key: headerKey(name), value: trim(value), wire };
}

function parseRequest(buf: Buffer, start: number, bodyStart: number, head: Head, options: ParseOptions): ParseResult {
  const line = head.startLine;
  const sp1 = line.indexOf(' ');
  const method = sp1 < 0 ? line : line.slice(0, sp1);
  const isMethod = method.length > 0 && all(method);
  const refuse = (reason: string, status: 400 | 505 = 400, header?: string): ParseResult =>
    fail({ reason, status, header, ...answerable(isMethod && method !== 'ACK', head.fields) });

  const sp2 = sp1 < 0 ? -1 : line.indexOf(' ', sp1 + 1);
  if (!isMethod || sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0 || hasBareCrLf(line)) return refuse('Malformed Request-Line');
  const uriText = line.slice(sp1 + 1, sp2);
  const version = line.slice(sp2 + 1);
  const versionProblem = checkVersion(version);
  if (versionProblem !== undefined) return refuse(versionProblem.reason, versionProblem.status);
  let uri;
  try {
    uri = readUri(uriText);
  } catch {
    return refuse('Malformed Request-URI');
  }
  if (uri.kind === 'sip' && uri.headers.size > 0) return refuse('Headers in Request-URI');
  if (head.fault !== undefined) return refuse(head.fault);

  const body = cutBody(buf, bodyStart, head.fields);
  if (typeof body === 'string') return refuse(body, 400, 'content-length');
  const message = new SipRequest({
    startLine: line,
    headers: head.fields,
    body,
    source: buf.subarray(start, bodyStart + body.length),
    method,
    uri,
    version,
  });
  const problem = validateHeaders(message, options.eager === undefined ? REQUEST_CHECKS : ['via', 'from', 'to', 'call-id', 'cseq', 'max-forwards', ...options.eager]);
  if (problem !== undefined) return refuse(problem.reason, 400, problem.header);
  if (message.cseq.method !== method) return refuse('CSeq method does not match the request method', 400, 'cseq');
  if (head.unterminated) return refuse('No end of header section');
  return { ok: true, message };
}

function parseResponse(buf: Buffer, start: number, bodyStart: number, head: Head): ParseResult {
  // Responses are never answered (RFC 3261 §18.1.2: a malformed response is discarded).
  const drop = (reason: string, status: 400 | 505 = 400, header?: string): ParseResult =>
    fail({ reason, status, header, canRespond: false });
  const line = head.startLine;
  const sp1 = line.indexOf(' ');
  if (sp1 < 0 || hasBareCrLf(line)) return drop('Malformed Status-Line');
  const version = line.slice(0, sp1);
  const versionProblem = checkVersion(version);
  if (versionProblem !== undefined) return drop(versionProblem.reason, versionProblem.status);
  const code = line.slice(sp1 + 1, sp1 + 4);
  const after = line.charCodeAt(sp1 + 4);
  if (code.length !== 3 || !isDigits(code) || !(Number.isNaN(after) || after === 0x20)) return drop('Malformed Status-Code');
  const status = Number(code);
  if (status < 100) return drop('Malformed Status-Code');
  const reasonWire = line.slice(sp1 + 5);
  for (let i = 0; i < reasonWire.length; i++) {
    const c = reasonWire.charCodeAt(i);
    if (c < 0x20 && c !== 0x09) return drop('Control character in Reason-Phrase');
  }
  if (head.fault !== undefined) return drop(head.fault);
  const body = cutBody(buf, bodyStart, head.fields);
  if (typeof body === 'string') return drop(body, 400, 'content-length');
  const message = new SipResponse({
    startLine: line,
    headers: head.fields,
    body,
    source: buf.subarray(start, bodyStart + body.length),
    status,
    reason: fromWire(reasonWire),
    version,
  });
  const problem = validateHeaders(message, RESPONSE_CHECKS);
  if (problem !== undefined) return drop(problem.reason, 400, problem.header);
  if (head.unterminated) return drop('No end of header section');
  return { ok: true, message };
}

/** `SIP/2.0` (case-insensitive, §7.1) → undefined; `SIP/x.y` → 505; anything else → 400. */
function checkVersion(version: string): { reason: string; status: 400 | 505 } | undefined {
  if (version.length === 7 && version.toUpperCase() === 'SIP/2.0') return undefined;
  const dot = version.indexOf('.');
  const looksLikeVersion =
    version.slice(0, 4).toUpperCase() === 'SIP/' && dot > 4 && isDigits(version.slice(4, dot)) && isDigits(version.slice(dot + 1));
  return looksLikeVersion ? { reason: 'Version Not Supported', status: 505 } : { reason: 'Malformed SIP-Version', status: 400 };
}

/**
 * The body per RFC 3261 §18.3 for a message whose bytes end at `buf.length`: Content-Length octets,
 * or the rest when there is no Content-Length. Returns an error reason instead when framing is bad.
 */
function cutBody(buf: Buffer, bodyStart: number, fields: readonly HeaderField[]): Uint8Array | string {
  let length: number | undefined;
  for (const field of fields) {
    if (field.key !== 'content-length') continue;
    if (length !== undefined) return 'Multiple Content-Length values';
    if (!isDigits(field.value)) return field.value.includes(',') ? 'Multiple Content-Length values' : 'Invalid Content-Length';
    length = field.value.length > 10 ? Infinity : Number(field.value);
  }
  const available = buf.length - bodyStart;
  if (length === undefined) return buf.subarray(bodyStart);
  if (length > available) return 'Content-Length larger than message';
  return buf.subarray(bodyStart, bodyStart + length);
}

/** Typed headers checked on every request: the transaction-critical ones, Max-Forwards and {@link PROXY_EAGER}. */
const REQUEST_CHECKS: readonly TypedHeader[] = ['via', 'from', 'to', 'call-id', 'cseq', 'max-forwards', ...PROXY_EAGER];
/**
 * Typed headers checked on every response: only what the transaction layer and a proxy read (RFC
 * 3261 §17.1.3 matching, §16.7 relaying). A proxy relays the rest as written; a malformed Contact
 * in a response is the UAC's to judge, and is found on first access here.
 */
const RESPONSE_CHECKS: readonly TypedHeader[] = ['via', 'from', 'to', 'call-id', 'cseq'];

function validateHeaders(message: SipMessage, checks: readonly TypedHeader[]): { reason: string; header: string } | undefined {
  const fields = message.headers;
  for (const key of REQUIRED) {
    if (!fields.some((f) => f.key === key)) return { reason: `Missing ${NAMES[key]}`, header: key };
  }
  for (const key of SINGLE) {
    let count = 0;
    for (const f of fields) if (f.key === key) count++;
    if (count > 1) return { reason: `Multiple ${NAMES[key]} values`, header: key };
  }
  const checked = message.check(checks);
  if (!checked.ok) return { reason: `Malformed ${NAMES[checked.header] ?? checked.header}`, header: checked.header };
  if (message.via.length === 0) return { reason: 'Missing Via', header: 'via' };
  return undefined;
}

const NAMES: Readonly<Record<string, string>> = {
  via: 'Via',
  from: 'From',
  to: 'To',
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'max-forwards': 'Max-Forwards',
  'content-length': 'Content-Length',
  'content-type': 'Content-Type',
  contact: 'Contact',
  route: 'Route',
  'record-route': 'Record-Route',
  path: 'Path',
  require: 'Require',
  'proxy-require': 'Proxy-Require',
  supported: 'Supported',
};

/**
 * Whether a refused request can be answered, with the headers to answer it: not an ACK
 * (§17.2.1: never answered), a readable top Via (where the response goes, §18.2.2, and the branch
 * the client matches it by, §17.1.3) and a CSeq to copy (even an out-of-range one, RFC 4475 §3.1.2.4).
 */
function answerable(request: boolean, fields: readonly HeaderField[]): { canRespond: boolean; partial?: PartialHeaders } {
  if (!request) return { canRespond: false };
  const via = fields.filter((f) => f.key === 'via').map((f) => f.value);
  const first = (key: string) => fields.find((f) => f.key === key)?.value;
  const cseq = first('cseq');
  try {
    const top = via[0];
    if (top === undefined || cseq === undefined) return { canRespond: false };
    readVia(splitList(top)[0] ?? '');
  } catch {
    return { canRespond: false };
  }
  return { canRespond: true, partial: { via, from: first('from'), to: first('to'), callId: first('call-id'), cseq } };
}

function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return true;
}

function all(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!is(s.charCodeAt(i), TOKEN)) return false;
  return true;
}

function fail(error: ParseError): ParseResult {
  // Leave `header` out rather than undefined, so errors compare and log cleanly.
  if (error.header !== undefined) return { ok: false, error };
  const { reason, status, canRespond, partial } = error;
  return { ok: false, error: partial === undefined ? { reason, status, canRespond } : { reason, status, canRespond, partial } };
}

/**
 * A {@link ParseError} for a message whose framing failed on a stream (missing or invalid
 * Content-Length, too large), built from its header section `head` (start line and header lines,
 * without the final empty line) so the transport can still answer before closing.
 */
export function framingError(head: Uint8Array, reason: string, status: 400 | 513): ParseError {
  try {
    const buf = Buffer.isBuffer(head) ? head : Buffer.from(head.buffer, head.byteOffset, head.byteLength);
    const parsed = splitHead(buf.toString('latin1'));
    const line = parsed.startLine;
    const sp = line.indexOf(' ');
    const method = sp < 0 ? '' : line.slice(0, sp);
    const request = method.length > 0 && all(method) && method !== 'ACK';
    return { reason, status, ...answerable(request, parsed.fields) };
  } catch {
    return { reason, status, canRespond: false };
  }
}
