/**
 * The SIP proxy core (RFC 3261 §16): transaction-stateful forwarding on top of `src/sip/transaction`
 * and `src/sip/transport`. See {@link SipProxy}.
 *
 * @module
 */
export { createCancel } from './cancel.ts';
export { type FailedTry, type Failover, type FailoverReason, type FailoverTry, replacedFinal } from './failover.ts';
export { type AddressTarget, type LocalAddress, type ProxyObserver, type ProxyTarget, type RoutingDecision, type RoutingPurpose, SipProxy, type SipProxyOptions, loopKey, uriTarget } from './sip-proxy.ts';
