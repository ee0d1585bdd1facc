/**
 * One received message, from any transport: parse it, answer or drop it when malformed, stamp
 * `received`/`rport` on requests, hand it to the transport user.
 *
 * RFC 3261 §18.2.1 (server transport) and §18.1.2 (client transport); §8.2.6.2 and §21.4.1 for the
 * answer to a malformed request (400 with a reason phrase saying what is wrong, 505 for another SIP
 * version, 513 when too large). A response or an ACK that fails to parse, or a request whose Via or
 * CSeq is unusable, is dropped (there is nothing to answer or no way to send it). Nothing that arrives
 * may throw out of here.
 *
 * @module
 */
import type { Logger } from 'pino';
import { errorResponseBytes, type ParseError, parseMessage, type ParseOptions } from '../index.ts';
import type { Flow, TransportName } from './flow.ts';
import type { TransportCounters } from './transport-stats.ts';
import type { TransportUser } from './transport-user.ts';
import { stampReceived } from './via-received.ts';

export interface InboundContext {
  readonly user: TransportUser;
  readonly logger: Logger;
  readonly parseOptions: ParseOptions | undefined;
  counters(transport: TransportName): TransportCounters;
}

/** A flow, or how to get it: UDP makes its flow only for input worth one (not for dropped garbage). */
export type FlowSource = Flow | { readonly transport: TransportName; get(): Flow };

function flowOf(source: FlowSource): Flow {
  return 'get' in source ? source.get() : source;
}

/**
 * Handles one message's bytes (a datagram, a WebSocket message, or a frame cut by the stream framer).
 * Returns what became of it.
 */
export function receiveMessage(context: InboundContext, bytes: Uint8Array, source: FlowSource): 'delivered' | 'rejected' | 'dropped' {
  const result = parseMessage(bytes, context.parseOptions);
  if (!result.ok) {
    const answerable = result.error.canRespond && result.error.partial !== undefined;
    void refuse(context, result.error, source);
    return answerable ? 'rejected' : 'dropped';
  }
  context.counters(source.transport).received++;
  const flow = flowOf(source);
  const message = result.message;
  try {
    if (message.kind === 'request') {
      stampReceived(message, flow.remote);
      context.user.onMessage({ type: 'request', message, flow });
    } else {
      context.user.onMessage({ type: 'response', message, flow });
    }
  } catch (error) {
    context.logger.error({ err: error, flow: flow.id }, 'SIP transport user threw; message dropped');
  }
  return 'delivered';
}

/** Tells the transport user a flow closed; a throw is logged, never propagated. */
export function flowClosed(context: InboundContext, flow: Flow): void {
  try {
    context.user.onFlowClose?.(flow);
  } catch (error) {
    context.logger.error({ err: error, flow: flow.id }, 'SIP transport user threw on flow close');
  }
}

/**
 * Counts a malformed message and answers it when it can be answered (RFC 3261 §8.2.6.2); resolves
 * when the answer was written (or dropped). Never rejects.
 */
export async function refuse(context: InboundContext, error: ParseError, source: FlowSource): Promise<void> {
  const counters = context.counters(source.transport);
  counters.malformed++;
  if (!error.canRespond || error.partial === undefined) {
    counters.dropped++;
    context.logger.debug({ transport: source.transport, reason: error.reason }, 'malformed SIP message dropped');
    return;
  }
  counters.rejected++;
  const flow = flowOf(source);
  context.logger.debug({ flow: flow.id, status: error.status, reason: error.reason }, 'malformed SIP request refused');
  try {
    await flow.send(errorResponseBytes(error.partial, error.status, error.reason));
  } catch (sendError) {
    context.logger.debug({ err: sendError, flow: flow.id }, 'could not answer a malformed SIP request');
  }
}
