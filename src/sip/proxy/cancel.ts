/**
 * The CANCEL a proxy sends for a pending client transaction (RFC 3261 §9.1, §16.10).
 *
 * @module
 */
import { type HeaderField, headerField, SipRequest } from '../index.ts';

/**
 * Builds the CANCEL for `request` (the INVITE as the client transaction sent it):
 *
 * > The Request-URI, Call-ID, To, the numeric part of CSeq, and From header fields in the CANCEL
 * > request MUST be identical to those in the request being cancelled, including tags. A CANCEL
 * > constructed by a client MUST have only a single Via header field value matching the top Via
 * > value in the request being cancelled. [...] If the request being cancelled contains a Route
 * > header field, the CANCEL request MUST include that Route header field's values. (RFC 3261 §9.1)
 *
 * Max-Forwards is 70 (§8.1.1.6); the CANCEL has no body.
 */
export function createCancel(request: SipRequest): SipRequest {
  const topVia = request.topVia;
  if (topVia === undefined) throw new TypeError('the request has no Via');
  const headers: HeaderField[] = [{ name: 'Via', key: 'via', value: topVia.raw, wire: `Via: ${topVia.raw}` }];
  headers.push(headerField('Max-Forwards', '70'));
  for (const key of ['route', 'from', 'to', 'call-id']) for (const field of request.headers) if (field.key === key) headers.push(field);
  headers.push(headerField('CSeq', `${request.cseq.seq} CANCEL`));
  headers.push(headerField('Content-Length', '0'));
  const uri = request.uri;
  return new SipRequest({ startLine: `CANCEL ${uri.raw} ${request.version}`, headers, body: new Uint8Array(0), method: 'CANCEL', uri, version: request.version });
}
