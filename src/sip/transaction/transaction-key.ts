/**
 * Transaction keys: how a message is matched to its transaction (RFC 3261 §17.1.3, §17.2.3).
 *
 * @module
 */
import { isRfc3261Branch, type SipRequest, type SipResponse, type Via } from '../index.ts';

/**
 * The key of a client transaction.
 *
 * > 1. If the response has the same value of the branch parameter in the top Via header field as
 * > the branch parameter in the top Via header field of the request that created the transaction.
 * > 2. If the method parameter in the CSeq header field matches the method of the request that
 * > created the transaction. The method is needed since a CANCEL request constitutes a different
 * > transaction, but shares the same value of the branch parameter. (RFC 3261 §17.1.3)
 */
export function clientKey(branch: string, method: string): string {
  return `${branch}\u0000${method}`;
}

/** The client transaction key a response matches, or undefined when its top Via has no branch. */
export function responseKey(response: SipResponse): string | undefined {
  const branch = response.topVia?.branch;
  return branch === undefined ? undefined : clientKey(branch, response.cseq.method);
}

/** sent-by of a Via (host, lower-cased, and port as written). */
function sentBy(via: Via): string {
  return `${via.host.toLowerCase()}:${via.port ?? ''}`;
}

/**
 * The key of the server transaction `request` belongs to, or undefined without a top Via.
 *
 * With an RFC 3261 branch (magic cookie `z9hG4bK`):
 * > 1. the branch parameter in the request is equal to the one in the top Via header field of the
 * > request that created the transaction, and 2. the sent-by value in the top Via of the request is
 * > equal to the one in the request that created the transaction, and 3. the method of the request
 * > matches the one that created the transaction, except for ACK, where the method of the request
 * > that created the transaction is INVITE. (RFC 3261 §17.2.3)
 *
 * Otherwise (an RFC 2543 element), the RFC 2543 rules: "the INVITE request matches a transaction if
 * the Request-URI, To tag, From tag, Call-ID, CSeq, and top Via header field match those of the
 * INVITE request which created the transaction" — and likewise for other methods. ACKs are matched
 * by {@link ack2543Key}. `method` overrides the request's method (CANCEL → INVITE, RFC 3261 §9.2).
 */
export function serverKey(request: SipRequest, method: string = request.method === 'ACK' ? 'INVITE' : request.method): string | undefined {
  const via = request.topVia;
  if (via === undefined) return undefined;
  if (isRfc3261Branch(via.branch)) return `${via.branch}\u0000${sentBy(via)}\u0000${method}`;
  const cseq = request.cseq;
  return ['2543', request.uri.raw, request.to.tag ?? '', request.from.tag ?? '', request.callId, String(cseq.seq), method, via.raw].join('\u0000');
}

/**
 * RFC 2543 ACK matching, part one: "The ACK request matches a transaction if the Request-URI, From
 * tag, Call-ID, CSeq number (not the method), and top Via header field match those of the INVITE
 * request which created the transaction, and the To tag of the ACK matches the To tag of the
 * response sent by the server transaction." (RFC 3261 §17.2.3) The To tag is checked apart.
 * Undefined when the request has an RFC 3261 branch (or no Via).
 */
export function ack2543Key(request: SipRequest): string | undefined {
  const via = request.topVia;
  if (via === undefined || isRfc3261Branch(via.branch)) return undefined;
  return ['2543-ack', request.uri.raw, request.from.tag ?? '', request.callId, String(request.cseq.seq), via.raw].join('\u0000');
}
