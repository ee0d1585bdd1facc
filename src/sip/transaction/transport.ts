/**
 * The narrow transport a transaction sends through (RFC 3261 §18 as seen from §17): one per
 * transaction, already bound to the flow or destination its messages go to.
 *
 * @module
 */
import type { SipRequest, SipResponse } from '../index.ts';

/**
 * What a transaction needs of the transport layer.
 *
 * `reliable` decides the timers (RFC 3261 §17.1.1.2 and following): no retransmissions on a reliable
 * transport (TCP, TLS, WS, WSS, SCTP), and Timers D, I, J, K are 0 there.
 *
 * `send` hands one message to the transport. A failure is reported to the transaction as a
 * transport error (RFC 3261 §17.1.4, §17.2.4) either by throwing synchronously, or by returning a
 * promise that rejects (an asynchronous socket error), or later through
 * `transaction.transportError(error)` (a flow that closed).
 */
export interface TransactionTransport {
  readonly reliable: boolean;
  send(message: SipRequest | SipResponse): void | Promise<void>;
}
