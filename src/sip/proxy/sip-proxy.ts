/**
 * The SIP proxy core (RFC 3261 §16), transaction-stateful, one target per request: the transport
 * user that sits on a listener, validates new requests (§16.3), routes them (§16.4, §16.5), forwards
 * them through a client transaction (§16.6) and relays the responses back through the server
 * transaction (§16.7); ACKs for 2xx and stray responses go statelessly (§16.11); CANCEL is answered
 * hop by hop and passed on to the pending branch (§16.10).
 *
 * ```ts
 * let proxy: SipProxy | undefined;
 * const listener = new SipUdpTcpListener({ port: 5060, user: { onMessage: (e) => proxy?.onMessage(e) } });
 * const { port } = await listener.listen();
 * proxy = new SipProxy({
 *   transactions: await TransactionManager.start(),
 *   sender: listener,
 *   routes: (request) => (request.uri.kind === 'sip' && request.uri.host === 'example.com' ? { transport: 'udp', host: '192.0.2.7', port: 5060 } : undefined),
 *   localVia: { host: '192.0.2.1', port, transport: 'udp' },
 *   recordRoute: true,
 * });
 * ```
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { hash64 } from '../hash.ts';
import { createResponse, type SipMessage, type SipRequest, type SipResponse, type Uri, type Via } from '../index.ts';
import type { ClientTransaction, ClientTransactionUser, ClientTransportFailure, ServerTransaction, ServerTransactionUser, TransactionManager } from '../transaction/index.ts';
import { type BoundTransport, DEFAULT_SIP_PORT, type Flow, type MessageSender, requestTransport, responseDestination, responseTransport } from '../transport/index.ts';
import type { TransportEvent, TransportUser } from '../transport/index.ts';
import { createCancel } from './cancel.ts';

/** Where a request goes next: a transport address the listener can send to. */
export interface ProxyTarget {
  readonly transport: 'udp' | 'tcp';
  readonly host: string;
  readonly port: number;
}

/** The proxy's own address, as written in its Via sent-by and its Record-Route URI. */
export interface LocalAddress {
  readonly host: string;
  readonly port: number;
  /** The transport named in the Record-Route URI (`;transport=`); the Via names the outgoing transport. */
  readonly transport: 'udp' | 'tcp';
}

export interface SipProxyOptions {
  readonly transactions: TransactionManager;
  /** The listener's `send` (a `SipUdpTcpListener`). */
  readonly sender: MessageSender;
  /** Routing of new requests by Request-URI (RFC 3261 §16.5): a target, or undefined for 404. */
  readonly routes: (request: SipRequest) => ProxyTarget | undefined;
  readonly localVia: LocalAddress;
  /** Insert a Record-Route with our URI into dialog-creating requests (§16.6 step 4). */
  readonly recordRoute: boolean;
  /** Option tags this proxy supports in Proxy-Require (§16.3 step 5); default none. */
  readonly supported?: readonly string[];
  /** Retry-After (seconds) of the 503 sent when the next hop is unreachable (SPEC D.9); default 5. */
  readonly retryAfter?: number;
  /** Called for failures that have no one to answer to (a stateless send that failed, a TU throw). */
  readonly onError?: (error: unknown, context: string) => void;
}

/** What a {@link ForwardContext} reports its client transaction's events to (the proxy: one object for all). */
interface ForwardEvents {
  response(context: ForwardContext, response: SipResponse): void;
  timeout(context: ForwardContext): void;
  transportError(context: ForwardContext, failure: ClientTransportFailure): void;
}

/**
 * The response context of one forwarded request (§16.2), with its single branch; it is also the TU
 * of the branch's client transaction (a class, not closures: it lives as long as that transaction).
 */
class ForwardContext implements ClientTransactionUser {
  readonly server: ServerTransaction;
  /**
   * The request as forwarded (our Via on top), for the CANCEL; released once the final response is
   * relayed (the context lives on as long as the server transaction, 64·T1 after the call).
   */
  forwarded: SipRequest | undefined;
  readonly transport: BoundTransport;
  client: ClientTransaction | undefined = undefined;
  provisional = false;
  final = false;
  cancelled = false;
  cancelSent = false;
  readonly #events: ForwardEvents;

  constructor(server: ServerTransaction, forwarded: SipRequest, transport: BoundTransport, events: ForwardEvents) {
    this.server = server;
    this.forwarded = forwarded;
    this.transport = transport;
    this.#events = events;
  }

  onResponse(response: SipResponse): void {
    this.#events.response(this, response);
  }

  onTimeout(): void {
    this.#events.timeout(this);
  }

  onTransportError(failure: ClientTransportFailure): void {
    this.#events.transportError(this, failure);
  }
}

type RouteDecision = { readonly ok: true; readonly target: ProxyTarget } | { readonly ok: false; readonly status: number; readonly reason?: string };

/** The proxy core: see the module documentation. */
export class SipProxy implements TransportUser {
  readonly #transactions: TransactionManager;
  readonly #sender: MessageSender;
  readonly #routes: (request: SipRequest) => ProxyTarget | undefined;
  readonly #local: LocalAddress;
  readonly #localHost: string;
  readonly #recordRoute: boolean;
  readonly #supported: ReadonlySet<string>;
  readonly #retryAfter: number;
  readonly #onError: (error: unknown, context: string) => void;
  /** INVITE response contexts by server transaction, for CANCEL (§16.10). */
  readonly #invites = new Map<ServerTransaction, ForwardContext>();
  /** Forgets the context of a terminated INVITE server transaction (one object for all of them). */
  readonly #inviteEnded = { transactionTerminated: (transaction: unknown): void => void this.#invites.delete(transaction as ServerTransaction) };

  constructor(options: SipProxyOptions) {
    this.#transactions = options.transactions;
    this.#sender = options.sender;
    this.#routes = options.routes;
    this.#local = options.localVia;
    this.#localHost = bare(options.localVia.host).toLowerCase();
    this.#recordRoute = options.recordRoute;
    this.#supported = new Set((options.supported ?? []).map((t) => t.toLowerCase()));
    this.#retryAfter = options.retryAfter ?? 5;
    this.#onError = options.onError ?? (() => {});
  }

  /** Our Record-Route / Route URI: `sip:host:port;transport=…;lr`. */
  get uri(): string {
    return `sip:${this.#local.host}:${this.#local.port};transport=${this.#local.transport};lr`;
  }

  /** Pending INVITE response contexts (for tests and metrics). */
  get pendingInvites(): number {
    return this.#invites.size;
  }

  /** {@link TransportUser}: every message the listener received. Never throws. */
  onMessage(event: TransportEvent): void {
    try {
      if (event.type === 'response') this.#receiveResponse(event.message);
      else this.#receiveRequest(event.message, event.flow);
    } catch (error) {
      this.#onError(error, 'receive');
    }
  }

  // ---- requests ----

  /** The TU of every server transaction (one object: transactions keep it for 64·T1). */
  readonly #serverTu: ServerTransactionUser = {
    onRequest: (req, tx) => this.#guard(() => this.#onRequest(req, tx), 'request'),
    // RFC 6026: an ACK matching an INVITE server transaction in Accepted is the ACK for the 2xx.
    onAck: (ack) => this.#guard(() => this.#forwardAck(ack), 'ack'),
  };

  #receiveRequest(request: SipRequest, flow: Flow): void {
    const disposition = this.#transactions.receiveRequest(request, responseTransport(this.#sender, flow), this.#serverTu);
    if (disposition.type === 'strayAck') this.#forwardAck(request);
  }

  #onRequest(request: SipRequest, server: ServerTransaction): void {
    if (request.method === 'CANCEL') {
      this.#cancel(request, server);
      return;
    }
    // §16.3 request validation (step 4, loop detection, below with the branch hash).
    if (request.uri.kind === 'other') return this.#reject(server, 416);
    if (request.maxForwards === 0) return this.#reject(server, 483);
    const unsupported = request.proxyRequire.filter((tag) => !this.#supported.has(tag.toLowerCase()));
    if (unsupported.length > 0) return this.#reject(server, 420, [['Unsupported', unsupported.join(', ')]]);
    const loopHash = loopKey(request);
    if (request.via.some((via) => this.#isOurVia(via) && via.branch?.endsWith(`.${loopHash}`) === true)) return this.#reject(server, 482);

    const forwarded = copy(request);
    const decision = this.#route(forwarded);
    if (!decision.ok) return this.#reject(server, decision.status, [], decision.reason);
    const { target } = decision;

    // §16.6: Max-Forwards, Record-Route, Via.
    forwarded.decrementMaxForwards();
    if (this.#recordRoute && forwarded.to.tag === undefined && forwarded.method !== 'REGISTER') forwarded.prependRecordRoute(`<${this.uri}>`);
    // §16.6 step 8: the branch ends with a hash of the fields loop detection compares (§16.3 step 4).
    forwarded.prependVia(this.#via(target.transport, `${this.#transactions.newBranch()}.${loopHash}`));

    const transport = requestTransport(this.#sender, target);
    const context = new ForwardContext(server, forwarded, transport, this.#forwardEvents);
    if (request.method === 'INVITE') {
      this.#invites.set(server, context);
      server.onTerminated(this.#inviteEnded);
    }
    this.#transactions.sendRequest(forwarded, transport, context).then(
      (client) => {
        context.client = client;
        if (context.cancelled && context.provisional) this.#sendCancel(context);
      },
      (error: unknown) => {
        this.#onError(error, 'client transaction start');
        if (!context.final) {
          finish(context);
          server.respond(createResponse(server.request, 500, { toTag: tag() }));
        }
      },
    );
  }

  /** The events of every branch's client transaction (one object: see {@link ForwardContext}). */
  readonly #forwardEvents: ForwardEvents = {
    response: (context, response) => this.#guard(() => this.#relay(context, response), 'response'),
    timeout: (context) =>
      this.#guard(() => {
        if (context.final) return;
        finish(context);
        context.server.respond(createResponse(context.server.request, 408, { toTag: tag() }));
      }, 'timeout'),
    transportError: (context, failure) =>
      this.#guard(() => {
        if (context.final || failure.response === undefined) return;
        finish(context);
        this.#onError(failure.error, 'forward');
        context.server.respond(createResponse(context.server.request, 503, { toTag: tag(), headers: [['Retry-After', String(this.#retryAfter)]] }));
      }, 'transport error'),
  };

  /** §16.7: a response from the branch goes upstream, without our Via; 100 Trying is never forwarded. */
  #relay(context: ForwardContext, received: SipResponse): void {
    if (received.status === 100) return;
    const response = copy(received);
    if (!this.#isOurVia(response.topVia)) return;
    response.removeTopVia();
    if (response.topVia === undefined) return;
    if (response.status < 200) {
      context.provisional = true;
      if (context.cancelled && context.client !== undefined) this.#sendCancel(context);
      if (context.final) return;
    } else {
      // Further 2xx (RFC 6026 Accepted) are sent by the server transaction too.
      if (context.final && response.status >= 300) return;
      finish(context);
    }
    context.server.respond(response);
  }

  /** §16.10: answer the CANCEL 200 hop by hop, and cancel the pending branch once it had a provisional. */
  #cancel(cancel: SipRequest, server: ServerTransaction): void {
    const invite = this.#transactions.findCancelTarget(cancel);
    const context = invite === undefined ? undefined : this.#invites.get(invite);
    if (context === undefined) return this.#reject(server, 481);
    server.respond(createResponse(cancel, 200, { toTag: tag() }));
    if (context.final || context.cancelled) return;
    context.cancelled = true;
    if (context.provisional && context.client !== undefined) this.#sendCancel(context);
  }

  #sendCancel(context: ForwardContext): void {
    if (context.cancelSent || context.final || context.forwarded === undefined) return;
    context.cancelSent = true;
    const ignore: ClientTransactionUser = { onResponse: () => {}, onTimeout: () => {}, onTransportError: () => {} };
    this.#transactions.sendRequest(createCancel(context.forwarded), context.transport, ignore).catch((error: unknown) => this.#onError(error, 'cancel'));
  }

  /** The ACK for a 2xx (end to end): forwarded statelessly along the route set (§16.11, §16.12). */
  #forwardAck(ack: SipRequest): void {
    if (ack.maxForwards === 0) return;
    const forwarded = copy(ack);
    const decision = this.#route(forwarded);
    if (!decision.ok) return;
    forwarded.decrementMaxForwards();
    // §16.11: a stateless proxy's branch is the same for retransmissions of the same request.
    const incoming = ack.topVia?.branch ?? `${ack.callId}/${ack.cseq.seq}`;
    const branch = `z9hG4bK${hash64(`${incoming}|ACK|${this.#local.host}:${this.#local.port}`)}`;
    forwarded.prependVia(this.#via(decision.target.transport, branch));
    this.#sender.send(forwarded, decision.target).catch((error: unknown) => this.#onError(error, 'ack'));
  }

  /**
   * Routing (§16.4, §16.5, §16.12). A Request-URI we put in a Record-Route (a strict router before us)
   * is replaced by the last Route; Route values naming us are removed; then the next hop is the top
   * Route, else the Request-URI of a request that was routed to us, else the routing function.
   */
  #route(request: SipRequest): RouteDecision {
    if (this.#isOurs(request.uri) && request.route.length > 0) {
      const routes = request.route;
      request.setRequestUri(routes.at(-1)!.uri.raw);
      request.removeHeader('Route');
      for (const r of routes.slice(0, -1)) request.addHeader('Route', r.raw);
    }
    let routedToUs = false;
    while (request.route.length > 0 && this.#isOurs(request.route[0]!.uri)) {
      request.popRoute();
      routedToUs = true;
    }
    const next = request.route[0];
    if (next !== undefined) {
      const target = uriTarget(next.uri);
      return target === undefined ? { ok: false, status: 404, reason: 'Unroutable Route' } : { ok: true, target };
    }
    if (routedToUs) {
      const target = uriTarget(request.uri);
      return target === undefined ? { ok: false, status: 404, reason: 'Unroutable Request-URI' } : { ok: true, target };
    }
    const target = this.#routes(request);
    return target === undefined ? { ok: false, status: 404 } : { ok: true, target };
  }

  // ---- responses ----

  #receiveResponse(response: SipResponse): void {
    if (this.#transactions.receiveResponse(response).type === 'matched') return;
    // §16.11 / §16.7: a stray response (a 2xx retransmission after the transaction ended) whose top
    // Via is ours goes upstream statelessly; anything else is not ours to forward.
    if (!this.#isOurVia(response.topVia)) return;
    const forwarded = copy(response);
    forwarded.removeTopVia();
    const destination = responseDestination(forwarded);
    if (destination === undefined) return;
    this.#sender.send(forwarded, destination).catch((error: unknown) => this.#onError(error, 'stray response'));
  }

  // ---- helpers ----

  #reject(server: ServerTransaction, status: number, headers: readonly (readonly [string, string])[] = [], reason?: string): void {
    server.respond(createResponse(server.request, status, { toTag: tag(), headers, ...(reason === undefined ? {} : { reason }) }));
  }

  #via(transport: 'udp' | 'tcp', branch: string): string {
    return `SIP/2.0/${transport.toUpperCase()} ${this.#local.host}:${this.#local.port};branch=${branch}`;
  }

  #isOurVia(via: Via | undefined): boolean {
    return via !== undefined && (via.port ?? DEFAULT_SIP_PORT) === this.#local.port && this.#isOurHost(via.host);
  }

  #isOurs(uri: Uri): boolean {
    return uri.kind === 'sip' && (uri.port ?? DEFAULT_SIP_PORT) === this.#local.port && this.#isOurHost(uri.host);
  }

  /** Whether `host` is our host (case-insensitive, IPv6 brackets ignored); our side normalized once. */
  #isOurHost(host: string): boolean {
    const h = bare(host);
    return h === this.#localHost || h.toLowerCase() === this.#localHost;
  }

  #guard(run: () => void, context: string): void {
    try {
      run();
    } catch (error) {
      this.#onError(error, context);
    }
  }
}

/** The target a SIP URI names (RFC 3263 without DNS: host or maddr, port, `transport`); undefined for others. */
export function uriTarget(uri: Uri): ProxyTarget | undefined {
  if (uri.kind !== 'sip' || uri.scheme !== 'sip') return undefined;
  const param = uri.params.get('transport');
  const name = typeof param === 'string' ? param.toLowerCase() : 'udp';
  if (name !== 'udp' && name !== 'tcp') return undefined;
  const maddr = uri.params.get('maddr');
  const host = typeof maddr === 'string' ? maddr : uri.host;
  return { transport: name, host: bare(host), port: uri.port ?? DEFAULT_SIP_PORT };
}

/**
 * The loop-detection hash of a request as received (RFC 3261 §16.6 step 8): "the Request-URI, To tag,
 * From tag, Call-ID header field, CSeq number (but not method), and Proxy-Require and
 * Proxy-Authorization header field values", plus the Route values (§16.3 step 4 compares the request
 * after a spiral, whose Route set differs).
 */
export function loopKey(request: SipRequest): string {
  const fields = [request.uri.raw, request.to.tag ?? '', request.from.tag ?? '', request.callId, String(request.cseq.seq), ...request.getAll('proxy-require'), ...request.getAll('proxy-authorization'), ...request.getAll('route')];
  return hash64(fields.join('\n'));
}

/** A copy to edit (the original stays with its transaction): structural, no serialize and re-parse. */
function copy<M extends SipMessage>(message: M): M {
  return message.clone() as M;
}

/** The final response is settled: the forwarded request is no longer needed (no CANCEL after it). */
function finish(context: ForwardContext): void {
  context.final = true;
  context.forwarded = undefined;
}

function tag(): string {
  return randomBytes(6).toString('hex');
}

function bare(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
