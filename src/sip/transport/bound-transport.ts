/**
 * Transports bound to one destination, in the shape the transaction layer takes
 * (`{ reliable, send(message) }`, see `src/sip/transaction/transport.ts`): one per transaction.
 *
 * - {@link responseTransport}: for a server transaction. Each response goes where RFC 3261 §18.2.2
 *   says, computed from its own top Via and the flow the request came on (so a TCP response still
 *   reaches the client when the connection closed and the Via allows a new one, §18.2.2; a WebSocket
 *   client whose connection is gone cannot be reached: the send rejects, RFC 7118 §5).
 * - {@link requestTransport}: for a client transaction. The request and its retransmissions, the ACK
 *   for a non-2xx and a CANCEL all go to the same destination (RFC 3261 §17.1.1.3, §9.1); after the
 *   first send the flow used is kept, so they share one connection.
 *
 * @module
 */
import type { SipMessage } from '../index.ts';
import { SipTransportError } from './errors.ts';
import { type Destination, type Flow, isFlow, type TransportAddress } from './flow.ts';
import { responseDestination } from './response-destination.ts';

/**
 * Something that sends to a destination: a `SipUdpTcpListener` or a `SipWsListener`. The bound
 * transports ask `send` only when they know no flow for the destination yet; sends to a known flow
 * (including one `flowNow` finds) go to the flow itself.
 */
export interface MessageSender {
  send(message: SipMessage | Uint8Array, destination: Destination): Promise<Flow>;
  /**
   * The flow that reaches `destination` when it is known without waiting (UDP to an IP address, an
   * open connection); undefined otherwise. Lets the common send skip the asynchronous path.
   */
  flowNow?(destination: TransportAddress): Flow | undefined;
}

/** A transport bound to one peer. */
export interface BoundTransport {
  readonly reliable: boolean;
  send(message: SipMessage): Promise<void>;
}

/** The transport a server transaction answers through (RFC 3261 §18.2.2). */
export function responseTransport(sender: MessageSender, requestFlow: Flow): BoundTransport {
  return new ResponseTransport(sender, requestFlow);
}

/** The transport a client transaction sends through: one destination, then the flow it resolved to. */
export function requestTransport(sender: MessageSender, destination: Destination): BoundTransport & { readonly flow: Flow | undefined } {
  return new RequestTransport(sender, destination);
}

// Classes rather than object literals with closures: a transaction keeps its transport for as long as it
// lives (32 s after the call for most), and a closure and its context per method cost more than fields.

class ResponseTransport implements BoundTransport {
  readonly reliable: boolean;
  readonly #sender: MessageSender;
  readonly #requestFlow: Flow;

  constructor(sender: MessageSender, requestFlow: Flow) {
    this.reliable = requestFlow.reliable;
    this.#sender = sender;
    this.#requestFlow = requestFlow;
  }

  send(message: SipMessage): Promise<void> {
    const requestFlow = this.#requestFlow;
    const destination = message.kind === 'response' ? responseDestination(message, requestFlow) : requestFlow;
    if (destination === undefined) return Promise.reject(new SipTransportError('TANDEM_ERR_SIP_UNROUTABLE', `no way back to the sender of ${requestFlow.id} (RFC 3261 §18.2.2)`));
    const flow = isFlow(destination) ? destination : this.#sender.flowNow?.(destination);
    if (flow !== undefined) return flow.send(message);
    return this.#sender.send(message, destination).then(ignore);
  }
}

class RequestTransport implements BoundTransport {
  readonly reliable: boolean;
  readonly #sender: MessageSender;
  readonly #destination: Destination;
  #flow: Flow | undefined;

  constructor(sender: MessageSender, destination: Destination) {
    this.#sender = sender;
    this.#destination = destination;
    this.#flow = isFlow(destination) ? destination : undefined;
    this.reliable = isFlow(destination) ? destination.reliable : destination.transport !== 'udp';
  }

  get flow(): Flow | undefined {
    return this.#flow;
  }

  send(message: SipMessage): Promise<void> {
    const flow = this.#flow;
    if (flow !== undefined && !flow.closed) return flow.send(message);
    const destination = this.#destination;
    const now = isFlow(destination) ? undefined : this.#sender.flowNow?.(destination);
    if (now !== undefined) {
      this.#flow = now;
      return now.send(message);
    }
    return this.#sender.send(message, destination).then((used) => {
      this.#flow = used;
    });
  }
}

function ignore(): void {}
