/**
 * The transaction user (TU, RFC 3261 §17): the layer above the transactions (a UA core or the proxy
 * core) that transactions report to.
 *
 * @module
 */
import type { SipRequest, SipResponse } from '../index.ts';
import type { ClientTransaction } from './client-transaction.ts';
import type { ServerTransaction } from './server-transaction.ts';

/** A transport failure reported to a client TU. */
export interface ClientTransportFailure {
  readonly error: unknown;
  /**
   * A 503 (Service Unavailable) made from the request, when no final response had been passed up yet:
   * "the client transaction SHOULD inform the TU of transport failures ... treated as if a 503 had
   * been received" (RFC 3261 §17.1.4, §8.1.3.1). Undefined when a final response was already passed up
   * (a failure to send the ACK in Completed).
   */
  readonly response: SipResponse | undefined;
}

/** What a client transaction reports to its TU. */
export interface ClientTransactionUser {
  /**
   * A response passed up: provisional and final responses; in the Accepted state (RFC 6026) every
   * further 2xx (retransmissions, and 2xx from other branches of a forked INVITE). Retransmissions of a
   * non-2xx final response are absorbed and never passed up.
   */
  onResponse(response: SipResponse, transaction: ClientTransaction): void;
  /**
   * Timer B (INVITE) or Timer F (non-INVITE) fired with no final response: `response` is a 408
   * (Request Timeout) made from the request (RFC 3261 §17.1.1.2, §17.1.2.2, §8.1.3.1).
   */
  onTimeout(response: SipResponse, transaction: ClientTransaction): void;
  /** The transport failed to send the request (or the ACK). */
  onTransportError(failure: ClientTransportFailure, transaction: ClientTransaction): void;
}

/** What a server transaction reports to its TU; the TU answers through `transaction.respond()`. */
export interface ServerTransactionUser {
  /** The request, passed up exactly once; its retransmissions are absorbed by the transaction. */
  onRequest(request: SipRequest, transaction: ServerTransaction): void;
  /**
   * An ACK matched an INVITE server transaction in the Accepted state (RFC 6026 §8.7: ACKs for the 2xx
   * are passed to the TU). ACKs for a non-2xx final response are absorbed by the transaction.
   */
  onAck?(ack: SipRequest, transaction: ServerTransaction): void;
  /** Timer H fired: no ACK for a non-2xx final response to an INVITE (RFC 3261 §17.2.1). */
  onTimeout?(transaction: ServerTransaction): void;
  /** The transport failed to send a response (RFC 3261 §17.2.4). */
  onTransportError?(error: unknown, transaction: ServerTransaction): void;
}
