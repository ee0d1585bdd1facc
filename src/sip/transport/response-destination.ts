/**
 * Where a response goes (RFC 3261 §18.2.2, RFC 3581 §4, RFC 7118 §5).
 *
 * RFC 3261 §18.2.2, in order:
 * - "If the "sent-protocol" is a reliable transport protocol such as TCP or SCTP, or TLS over those,
 *   the response MUST be sent using the existing connection to the source of the original request
 *   that created the transaction, if that connection is still open. [...] If the connection is no
 *   longer open, the server SHOULD open a connection to the IP address in the "received" parameter, if
 *   present, using the port in the "sent-by" value, or the default port for that transport, if no port
 *   is specified."
 * - "Otherwise, if the Via header field value contains a "maddr" parameter, the response MUST be
 *   forwarded to the address listed there, using the port indicated in "sent-by", or port 5060 if none
 *   is present."
 * - "Otherwise (for unreliable unicast transports), if the top Via has a "received" parameter, the
 *   response MUST be sent to the address in the "received" parameter, using the port indicated in the
 *   "sent-by" value, or using port 5060 if none is specified explicitly."
 * - "Otherwise, if it is not receiver-tagged, the response MUST be sent to the address indicated by the
 *   "sent-by" value, using the procedures in Section 5 of [4]."
 *
 * RFC 3581 §4: with `rport=N` the response goes to the `received` address and port N, "from the same
 * address and port that the corresponding request was received on" (our UDP flow does both).
 *
 * RFC 7118 §5: a WebSocket peer is reachable only over its connection; its `*.invalid` sent-by is
 * never resolved. When that connection is gone there is no destination.
 *
 * @module
 */
import type { SipResponse, Via } from '../index.ts';
import { DEFAULT_SIP_PORT, type Destination, type Flow, type TransportName } from './flow.ts';
import { normalizeAddress, unbracket } from './via-received.ts';

/** The transport named by a Via `sent-protocol` transport token, when we implement it. */
export function viaTransport(via: Via): TransportName | undefined {
  switch (via.transport) {
    case 'UDP':
      return 'udp';
    case 'TCP':
      return 'tcp';
    case 'WS':
      return 'ws';
    default:
      return undefined;
  }
}

/** Via sent-protocol transports that run over a connection (RFC 3261 §18.2.2, RFC 4168, RFC 7118 §5). */
const RELIABLE_SENT_PROTOCOLS: ReadonlySet<string> = new Set(['TCP', 'TLS', 'SCTP', 'TLS-SCTP', 'WS', 'WSS']);

/** True for a host of the reserved `.invalid` TLD (RFC 6761 §6.4), which is never resolved. */
export function isInvalidHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'invalid' || h.endsWith('.invalid') || h.endsWith('.invalid.');
}

/**
 * The destination of `response` (a response whose top Via is the one of the request's sender: the
 * proxy has removed its own already). `requestFlow` is the flow the request came on, when known.
 * Undefined when there is none: no Via, a transport we do not implement (TLS, SCTP) and no open
 * connection the request came on, a WebSocket (or a `.invalid` host) whose flow is gone.
 */
export function responseDestination(response: SipResponse, requestFlow?: Flow): Destination | undefined {
  const via = response.topVia;
  if (via === undefined) return undefined;
  const open = requestFlow !== undefined && !requestFlow.closed ? requestFlow : undefined;
  // "TCP or SCTP, or TLS over those" (and WS/WSS): the open connection, even when we could not open
  // one of that kind ourselves (a TLS Via on a request that came over a TCP connection, RFC 4475 §3.3.5).
  if (RELIABLE_SENT_PROTOCOLS.has(via.transport) && open !== undefined && open.reliable) return open;
  const transport = viaTransport(via);
  if (transport === undefined) return undefined;

  // A WebSocket peer is reachable only over its connection.
  if (transport === 'ws') return undefined;
  if (transport === 'tcp') {
    const host = via.received ?? via.host;
    if (isInvalidHost(host)) return undefined;
    return { transport, host: unbracket(host), port: via.port ?? DEFAULT_SIP_PORT };
  }

  if (via.maddr !== undefined) return { transport, host: unbracket(via.maddr), port: via.port ?? DEFAULT_SIP_PORT };
  const host = via.received ?? via.host;
  if (isInvalidHost(host)) return undefined;
  const port = typeof via.rport === 'number' && via.received !== undefined ? via.rport : (via.port ?? DEFAULT_SIP_PORT);
  // RFC 3581 §4: the same socket the request came on. Our UDP flow for that address is that socket.
  if (open !== undefined && open.transport === 'udp' && normalizeAddress(host) === open.remote.address && port === open.remote.port) return open;
  return { transport, host: unbracket(host), port };
}
