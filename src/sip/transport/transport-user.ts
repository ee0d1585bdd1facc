/**
 * What the transport layer hands up: one event per well-formed message received, with the flow it
 * came on (RFC 3261 §18.2.1: requests go to the server transaction layer or the core, §18.1.2:
 * responses to the client transaction layer). The transaction layer (or the proxy core) implements
 * {@link TransportUser}; malformed input never reaches it.
 *
 * @module
 */
import type { SipRequest, SipResponse } from '../index.ts';
import type { Flow } from './flow.ts';

export type TransportEvent =
  /** A request; its top Via already carries `received`/`rport` (RFC 3261 §18.2.1, RFC 3581 §4). */
  | { readonly type: 'request'; readonly message: SipRequest; readonly flow: Flow }
  /** A response, as received (RFC 3261 §18.1.2). */
  | { readonly type: 'response'; readonly message: SipResponse; readonly flow: Flow };

/** The narrow interface the transport layer calls. Must not throw (a throw is logged and the message dropped). */
export interface TransportUser {
  onMessage(event: TransportEvent): void;
  /**
   * A flow closed (by the peer, an error, idle expiry or close()): transactions bound to it get a
   * transport error (RFC 3261 §17.1.4, §17.2.4), registrations through it a 430 (RFC 5626 §5.3).
   */
  onFlowClose?(flow: Flow): void;
}
