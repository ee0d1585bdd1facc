/**
 * Building responses to requests (RFC 3261 §8.2.6): copy Via (all values, in order), From, To,
 * Call-ID and CSeq; add a To tag when the request had none and the caller gives one; Content-Length 0
 * unless a body is given. {@link createResponse} works on a parsed request; {@link errorResponseBytes}
 * answers a request that failed to parse, from the raw headers the parser salvaged.
 *
 * @module
 */
import { fromWire, toWire } from './chars.ts';
import { readNameAddr } from './header-values.ts';
import { type HeaderField, headerField, type SipRequest, SipResponse } from './message.ts';
import type { PartialHeaders } from './parse.ts';
import { SyntaxFault } from './scanner.ts';

/** Default reason phrases (RFC 3261 §21, RFC 5626 §11 for 430, RFC 3329/4412 left out). */
export const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: 'Trying',
  180: 'Ringing',
  181: 'Call Is Being Forwarded',
  182: 'Queued',
  183: 'Session Progress',
  200: 'OK',
  202: 'Accepted',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Moved Temporarily',
  305: 'Use Proxy',
  380: 'Alternative Service',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  410: 'Gone',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  420: 'Bad Extension',
  421: 'Extension Required',
  423: 'Interval Too Brief',
  430: 'Flow Failed',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  484: 'Address Incomplete',
  485: 'Ambiguous',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  491: 'Request Pending',
  493: 'Undecipherable',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  505: 'Version Not Supported',
  513: 'Message Too Large',
  600: 'Busy Everywhere',
  603: 'Decline',
  604: 'Does Not Exist Anywhere',
  606: 'Not Acceptable',
};

export interface ResponseOptions {
  /** Reason phrase; defaults to {@link REASON_PHRASES} or `Unknown`. CR, LF and controls are dropped. */
  readonly reason?: string;
  /** Tag added to To when the request's To has none (RFC 3261 §8.2.6.2). Not added to a 100 (§8.2.6.1 allows it). */
  readonly toTag?: string;
  /** Extra header fields, appended in order (e.g. `['Unsupported', 'foo']` for a 420, §8.2.2.3). */
  readonly headers?: readonly (readonly [name: string, value: string])[];
  /** Body; sets Content-Length (and Content-Type when given). */
  readonly body?: Uint8Array | string;
  readonly contentType?: string;
}

/**
 * A response to `request` (RFC 3261 §8.2.6.2): Via, From, Call-ID, CSeq copied as received; To copied,
 * with `toTag` when it has no tag; for 100 Trying a Timestamp is copied too (§8.2.6.1).
 * Throws RangeError for a status outside 100–699.
 */
export function createResponse(request: SipRequest, status: number, options: ResponseOptions = {}): SipResponse {
  checkStatus(status);
  const reason = reasonPhrase(status, options.reason);
  const headers: HeaderField[] = [];
  for (const field of request.headers) {
    switch (field.key) {
      case 'via':
      case 'from':
      case 'call-id':
      case 'cseq':
        headers.push(field);
        break;
      case 'to':
        headers.push(options.toTag !== undefined && status > 100 && request.to.tag === undefined ? headerField('To', `${fromWire(field.value)};tag=${options.toTag}`) : field);
        break;
      case 'timestamp':
        if (status === 100) headers.push(field);
        break;
    }
  }
  for (const [name, value] of options.headers ?? []) headers.push(headerField(name, value));
  const response = new SipResponse({
    startLine: `SIP/2.0 ${status} ${toWire(reason)}`,
    headers,
    body: new Uint8Array(0),
    status,
    reason,
    version: 'SIP/2.0',
  });
  response.setBody(options.body ?? new Uint8Array(0), options.contentType);
  return response;
}

/**
 * The bytes of a response to a request that failed to parse (a {@link PartialHeaders} from a
 * `ParseError` with `canRespond`), e.g. `400 Malformed Via` (RFC 3261 §8.2.6.2, §21.4.1). Headers are
 * copied as received; `toTag` is added only when To parses and has no tag.
 */
export function errorResponseBytes(partial: PartialHeaders, status: number, reason?: string, toTag?: string): Uint8Array {
  checkStatus(status);
  const lines = [`SIP/2.0 ${status} ${toWire(reasonPhrase(status, reason))}`];
  for (const via of partial.via) lines.push(`Via: ${via}`);
  if (partial.from !== undefined) lines.push(`From: ${partial.from}`);
  if (partial.to !== undefined) lines.push(`To: ${partial.to}${toTag !== undefined && lacksTag(partial.to) ? `;tag=${toWire(toTag)}` : ''}`);
  if (partial.callId !== undefined) lines.push(`Call-ID: ${partial.callId}`);
  if (partial.cseq !== undefined) lines.push(`CSeq: ${partial.cseq}`);
  lines.push('Content-Length: 0', '', '');
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

function lacksTag(to: string): boolean {
  try {
    return readNameAddr(to).tag === undefined;
  } catch (error) {
    if (error instanceof SyntaxFault) return false;
    throw error;
  }
}

function checkStatus(status: number): void {
  if (!Number.isInteger(status) || status < 100 || status > 699) throw new RangeError(`invalid SIP status ${status}`);
}

function reasonPhrase(status: number, reason: string | undefined): string {
  const text = reason ?? REASON_PHRASES[status] ?? 'Unknown';
  let out = '';
  for (const ch of text) if (ch.charCodeAt(0) >= 0x20 || ch === '\t') out += ch;
  return out;
}
