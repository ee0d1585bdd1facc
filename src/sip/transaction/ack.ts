/**
 * The ACK an INVITE client transaction sends for a non-2xx final response (RFC 3261 §17.1.1.3).
 *
 * @module
 */
import { type HeaderField, headerField, SipRequest, type SipResponse } from '../index.ts';

/**
 * Builds the ACK for `response` (300–699) to `invite`, the request the client transaction sent.
 *
 * > The ACK request constructed by the client transaction MUST contain values for the Call-ID,
 * > From, and Request-URI that are equal to the values of those header fields in the request passed
 * > to the transport by the client transaction (call this the "original request"). The To header
 * > field in the ACK MUST equal the To header field in the response being acknowledged [...]. The
 * > ACK MUST contain a single Via header field, and this MUST be equal to the top Via header field of
 * > the original request. The CSeq header field in the ACK MUST contain the same value for the
 * > sequence number as was present in the original request, but the method parameter MUST be equal
 * > to "ACK". If the INVITE request whose response is being acknowledged had Route header fields,
 * > those header fields MUST appear in the ACK. (RFC 3261 §17.1.1.3)
 *
 * Fields are copied as written (wire text); Max-Forwards is the original's (70 if absent, §8.1.1.6).
 */
export function createAck(invite: SipRequest, response: SipResponse): SipRequest {
  const topVia = invite.topVia;
  if (topVia === undefined) throw new TypeError('the INVITE has no Via');
  const headers: HeaderField[] = [{ name: 'Via', key: 'via', value: topVia.raw, wire: `Via: ${topVia.raw}` }];
  const copy = (from: SipRequest | SipResponse, key: string): void => {
    for (const field of from.headers) if (field.key === key) headers.push(field);
  };
  if (invite.has('max-forwards')) copy(invite, 'max-forwards');
  else headers.push(headerField('Max-Forwards', '70'));
  copy(invite, 'route');
  copy(invite, 'from');
  copy(response, 'to');
  copy(invite, 'call-id');
  headers.push(headerField('CSeq', `${invite.cseq.seq} ACK`));
  headers.push(headerField('Content-Length', '0'));
  const uri = invite.uri;
  return new SipRequest({ startLine: `ACK ${uri.raw} ${invite.version}`, headers, body: new Uint8Array(0), method: 'ACK', uri, version: invite.version });
}
