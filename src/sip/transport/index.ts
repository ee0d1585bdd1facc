/**
 * Tandem's SIP transport layer (RFC 3261 §18, RFC 3581, RFC 7118, RFC 5626 flows): the `sip` listener
 * (UDP and TCP on one port) and the `sip-ws` listener (SIP over WebSocket), flows and flow tokens,
 * `received`/`rport` stamping and response routing.
 *
 * ```ts
 * const flows = new FlowTable();
 * const user: TransportUser = { onMessage: (e) => core.receive(e) };
 * const sip = new SipUdpTcpListener({ host: '0.0.0.0', port: 5060, user, flows });
 * const ws = new SipWsListener({ host: '0.0.0.0', port: 8080, user, flows, pingIntervalMs: 25_000 });
 * await Promise.all([sip.listen(), ws.listen()]);
 * // a response: back where the request came from (RFC 3261 §18.2.2)
 * const to = responseDestination(response, requestFlow);
 * // a request upstream
 * await sip.send(request, { transport: 'udp', host: '192.0.2.7', port: 5060 });
 * ```
 *
 * @module
 */
export { type Destination, DEFAULT_SIP_PORT, type Flow, type FlowAddress, type FlowInfo, isFlow, type TransportAddress, type TransportName } from './flow.ts';
export { FlowTable, type FlowTableOptions } from './flow-table.ts';
export { SIP_TRANSPORT_ERROR_CODES, SipTransportError, type SipTransportErrorCode } from './errors.ts';
export { SipUdpTcpListener, type SipUdpTcpListenerOptions } from './sip-udp-tcp-listener.ts';
export { SIP_SUBPROTOCOL, SipWsListener, type SipWsListenerOptions } from './sip-ws-listener.ts';
export { isInvalidHost, responseDestination, viaTransport } from './response-destination.ts';
export { normalizeAddress, rewriteViaParams, sameAddress, stampReceived } from './via-received.ts';
export { type TransportCounters, type TransportStatsSnapshot } from './transport-stats.ts';
export type { TransportEvent, TransportUser } from './transport-user.ts';
export { type BoundTransport, type MessageSender, requestTransport, responseTransport } from './bound-transport.ts';
