/**
 * A flow (RFC 5626 §3.1): the path between Tandem and one peer over which SIP messages travel and
 * along which answers and later requests go back. One flow per TCP connection and per WebSocket
 * connection; for UDP, one per remote address and port on a listener's socket.
 *
 * Flows are how the layers above reach a peer without resolving anything: responses go back on the
 * flow the request came on (RFC 3261 §18.2.2), and a WebSocket client, whose Via and Contact hosts are
 * `*.invalid` (RFC 7118 §5), can only be reached again through its flow, found later by its
 * {@link Flow.token} (carried in Path or Record-Route, RFC 5626 §5.1).
 *
 * @module
 */
import type { SipMessage } from '../index.ts';

/** The transports a flow runs over: plain UDP, TCP and WS (no TLS or WSS). */
export type TransportName = 'udp' | 'tcp' | 'ws';

/** An IP address (never a name) and port of one end of a flow. */
export interface FlowAddress {
  readonly address: string;
  readonly port: number;
}

/** What a flow is, without its behaviour: safe to log. */
export interface FlowInfo {
  /** Unique in the process: `tcp-12`. */
  readonly id: string;
  readonly transport: TransportName;
  /** True for TCP and WS (RFC 3261 §17: timers A, E, G off; D, I, J, K 0). */
  readonly reliable: boolean;
  readonly local: FlowAddress;
  readonly remote: FlowAddress;
}

/** One flow. */
export interface Flow extends FlowInfo {
  /**
   * Opaque flow token (RFC 5626 §5.2: an HMAC of the flow id with a per-process key, base64url),
   * for a Path or Record-Route URI; `FlowTable.byToken` finds the flow again while it is open.
   */
  readonly token: string;
  /** True once closed (by us, by the peer, or by an error); sending then fails with `TANDEM_ERR_SIP_FLOW_CLOSED`. */
  readonly closed: boolean;
  /**
   * Sends one message (serialized when a message object is given). Resolves when handed to the
   * socket; rejects with a `SipTransportError` (`TANDEM_ERR_SIP_FLOW_CLOSED`, `TANDEM_ERR_SIP_SEND`).
   */
  send(data: Uint8Array | SipMessage): Promise<void>;
  /** Closes the flow (a WebSocket with 1001 Going Away; a UDP flow is only forgotten). Idempotent. */
  close(): void;
}

/** A destination given as an address: for requests to upstream targets (RFC 3261 §18.1.1). */
export interface TransportAddress {
  readonly transport: TransportName;
  /** IP address or host name (resolved with the system resolver; never a `.invalid` name). */
  readonly host: string;
  readonly port: number;
}

/** Where to send: an existing flow, or an address. */
export type Destination = Flow | TransportAddress;

/** True when `destination` is a flow rather than an address. */
export function isFlow(destination: Destination): destination is Flow {
  return typeof (destination as Flow).send === 'function';
}

/** Default ports (RFC 3261 §19.1.2; RFC 7118 uses the HTTP ports, but a Via without port means 5060 for SIP). */
export const DEFAULT_SIP_PORT = 5060;
