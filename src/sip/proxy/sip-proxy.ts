/**
 * The SIP proxy core (RFC 3261 §16), transaction-stateful, one branch at a time per request: the
 * transport user that sits on a listener, validates new requests (§16.3), routes them (§16.4, §16.5),
 * forwards them through a client transaction (§16.6) and relays the responses back through the server
 * transaction (§16.7; a 503 goes upstream as a 500, step 6); ACKs for 2xx and stray responses go
 * statelessly (§16.11); CANCEL is answered hop by hop and passed on to the pending branch (§16.10).
 * A failed branch of a new request may be followed by one to another target (serial failover, when
 * the routing function gave a {@link Failover}: see `failover.ts` and `#failOver`); the failed one is
 * retired, and a late response on it is not taken for a stray one (`#retiredResponse`).
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
import type { Clock, ClockTimer } from '../../fsm/index.ts';
import { hash64 } from '../hash.ts';
import { createResponse, serialize, type SipMessage, type SipRequest, type SipResponse, type Uri, type Via } from '../index.ts';
import type { ClientTransaction, ClientTransactionUser, ClientTransportFailure, ServerTransaction, ServerTransactionUser, TransactionManager } from '../transaction/index.ts';
import { type BoundTransport, DEFAULT_SIP_PORT, type Flow, type FlowTable, isFlow, type MessageSender, requestTransport, responseDestination, responseTransport, type TransportName } from '../transport/index.ts';
import type { TransportEvent, TransportUser } from '../transport/index.ts';
import { createCancel } from './cancel.ts';
import { createAck } from '../transaction/ack.ts';
import { type FailedTry, type Failover, type FailoverReason, replacedFinal } from './failover.ts';
import { RetiredBranches } from './retired-branches.ts';

/** A transport address the `sip` listener can send to (UDP, or TCP over an existing or new connection). */
export interface AddressTarget {
  readonly transport: 'udp' | 'tcp';
  readonly host: string;
  readonly port: number;
}

/** Where a request goes next: an address, or an open flow (a WebSocket client, a registered client). */
export type ProxyTarget = AddressTarget | Flow;

/**
 * What the routing function decides for a new request: a target; a target with a new Request-URI
 * (the location service's Contact, RFC 3261 §16.5); an answer given here (an edge registrar's 200);
 * or undefined for 404.
 */
export type RoutingDecision =
  | ProxyTarget
  | {
      readonly type: 'forward';
      readonly target: ProxyTarget;
      /** A new Request-URI (the location service's Contact, §16.5). */
      readonly requestUri?: string;
      /**
       * Called once with the branch's outcome: false for a timeout (Timer B/F/C), a transport error, a
       * 503 or a status the {@link Failover} covers; true for any other final response (for a circuit
       * breaker).
       */
      readonly onOutcome?: (ok: boolean) => void;
      /**
       * Serial failover to other targets when this one fails (see `failover.ts`); used only for a new
       * request (no To tag, not an ACK) to an address target.
       */
      readonly failover?: Failover;
    }
  | { readonly type: 'retarget'; readonly target: ProxyTarget; readonly requestUri: string }
  | { readonly type: 'respond'; readonly status: number; readonly reason?: string; readonly headers?: readonly (readonly [string, string])[] };

/**
 * Why the routing function is asked: `route` a new request (it picks a target and may take a breaker
 * slot), or only `authorize` one whose next hop a Route or Request-URI already names (is any route
 * willing to carry it? no pick, no slot).
 */
export type RoutingPurpose = 'route' | 'authorize';

/** The proxy's own address on one side, as written in its Via sent-by and Record-Route URIs. */
export interface LocalAddress {
  readonly host: string;
  readonly port: number;
  /** Kept for callers of earlier versions; the Record-Route URI names the transport of each side. */
  readonly transport?: 'udp' | 'tcp';
  /**
   * Other addresses that also name this proxy in a Route, Request-URI or Via (RFC 3261 §16.4: "a value
   * the proxy placed in a Record-Route"): the bound address when another one is advertised, the local
   * interfaces of a wildcard bind, further listeners of the same kind.
   */
  readonly aliases?: readonly { readonly host: string; readonly port: number }[];
}

export interface SipProxyOptions {
  readonly transactions: TransactionManager;
  /**
   * Sends to an address (the `sip` listener) or a flow. Once a transaction's destination is a known
   * flow (a response on the request's flow, a client transaction's later sends, whatever `flowNow`
   * finds) the send goes to that flow directly, not through `send`.
   */
  readonly sender: MessageSender;
  /**
   * Routing of new requests by Request-URI (RFC 3261 §16.5), given the flow the request came on: a
   * target, a retarget, an answer, or undefined for 404. REGISTER reaches it too (an edge registrar
   * answers it; otherwise it is forwarded with a Path, RFC 3327).
   */
  readonly routes: (request: SipRequest, flow: Flow, purpose?: RoutingPurpose) => RoutingDecision | undefined;
  /** The `sip` (UDP and TCP) listener's address: Via and Record-Route on that side. */
  readonly localVia: LocalAddress;
  /** The `sip-ws` listener's address, when there is one: Via and Record-Route towards WebSocket flows. */
  readonly wsLocal?: LocalAddress;
  /**
   * The flow table of the listeners: flow tokens in Record-Route and Path URIs (RFC 5626 §5.2) are
   * looked up here; a token whose flow closed gets 430 Flow Failed (§5.3). Without it, no tokens.
   */
  readonly flows?: FlowTable;
  /** Clock of Timer C (default: none, Timer C off). */
  readonly clock?: Clock;
  /**
   * Timer C (RFC 3261 §16.6 step 11, §16.8): how long a forwarded INVITE may stay without a final
   * response, reset by each provisional (ms; default 180000, RFC: "greater than 3 minutes"). When it
   * fires the branch is cancelled (after a provisional) or treated as a 408 (before one).
   */
  readonly timerCMs?: number;
  /** Notified of what the proxy does (for metrics). */
  readonly observer?: ProxyObserver;
  /** Insert a Record-Route with our URI into dialog-creating requests (§16.6 step 4). */
  readonly recordRoute: boolean;
  /** Option tags this proxy supports in Proxy-Require (§16.3 step 5); default none. */
  readonly supported?: readonly string[];
  /** Retry-After (seconds) of the 503 sent when the next hop is unreachable (SPEC D.9); default 5. */
  readonly retryAfter?: number;
  /** Called for failures that have no one to answer to (a stateless send that failed, a TU throw). */
  readonly onError?: (error: unknown, context: string) => void;
}

/** What the proxy reports, for metrics. */
export interface ProxyObserver {
  /** A response generated here (not relayed): 404, 408, 430, 483, 503… */
  readonly onLocalResponse?: (status: number, method: string) => void;
  /** Timer C fired on a branch. */
  readonly onTimerC?: () => void;
  /** A branch to `target` failed: no final response in time (Timer B/F/C) or a transport error. */
  readonly onBranchFailure?: (target: ProxyTarget, reason: 'timeout' | 'transport') => void;
  /** A failed try of a request was followed by a new branch to `to` (serial failover). */
  readonly onFailover?: (reason: FailoverReason, from: ProxyTarget, to: ProxyTarget) => void;
  /**
   * A response came on a branch a failover retired, while its request's server transaction lived:
   * a 2xx `relayed` upstream (the pending branch cancelled, RFC 3261 §16.7 steps 5 and 10), anything
   * else `dropped`.
   */
  readonly onRetiredResponse?: (status: number, action: 'relayed' | 'dropped') => void;
  /**
   * A message sent again: a request by its client transaction (Timers A, E), or a final response by
   * its server transaction (Timer G, or answering a retransmitted request); or (`received`) a
   * retransmitted request absorbed by its server transaction.
   */
  readonly onRetransmission?: (direction: 'sent' | 'received', kind: 'request' | 'response') => void;
}

/** What a {@link ForwardContext} reports its client transaction's events to (the proxy: one object for all). */
interface ForwardEvents {
  response(context: ForwardContext, response: SipResponse): void;
  timeout(context: ForwardContext): void;
  transportError(context: ForwardContext, failure: ClientTransportFailure): void;
}

interface ForwardInit {
  readonly server: ServerTransaction;
  readonly target: ProxyTarget;
  readonly arrival: Flow;
  readonly forwarded: SipRequest;
  /** The branch id of our Via on `forwarded`. */
  readonly branch: string;
  readonly transport: BoundTransport & { readonly flow: Flow | undefined };
  readonly onOutcome: ((ok: boolean) => void) | undefined;
  readonly retryOverUdp: AddressTarget | undefined;
  readonly failover: Failover | undefined;
}

/**
 * The response context of one forwarded request (§16.2), with its single branch; it is also the TU
 * of the branch's client transaction (a class, not closures: it lives as long as that transaction).
 */
class ForwardContext implements ClientTransactionUser {
  readonly server: ServerTransaction;
  readonly target: ProxyTarget;
  /** The flow the request came on. */
  readonly arrival: Flow;
  /** The UDP target of a request sent over TCP for its size (§18.1.1), for the retry over UDP. */
  retryOverUdp: AddressTarget | undefined;
  /**
   * The request as forwarded (our Via on top), for the CANCEL; released once the final response is
   * relayed (the context lives on as long as the server transaction, 64·T1 after the call).
   */
  forwarded: SipRequest | undefined;
  readonly transport: BoundTransport & { readonly flow: Flow | undefined };
  client: ClientTransaction | undefined = undefined;
  provisional = false;
  /** A provisional other than 100 went to the caller: the call is in progress, no failover. */
  relayedProvisional = false;
  final = false;
  /** The caller CANCELled or its connection closed: no further try (serial failover stops). */
  abandoned = false;
  cancelled = false;
  cancelSent = false;
  /** Timer C of an INVITE branch (§16.6 step 11), then the 64·T1 wait for the 487 after its CANCEL (§9.1). */
  timerC: ClockTimer | undefined = undefined;
  /** The routing function's outcome callback (a breaker, counters), called once. */
  onOutcome: ((ok: boolean) => void) | undefined;
  /** Flows this context is listed under in the proxy's by-flow index. */
  flows: Flow[] | undefined = undefined;
  /** The request's serial failover, kept across its tries. */
  readonly failover: Failover | undefined;
  /** The branch id of our Via (the client transaction's id, §17.1.3). */
  readonly branch: string;
  /** A failover replaced this branch: its late responses are handled by `SipProxy.#retiredResponse`. */
  retired = false;
  /** The branch that replaced this one (the next try), when one was made. */
  successor: ForwardContext | undefined = undefined;
  /**
   * A retired branch's 2xx went upstream while this one was pending (§16.7 step 10): it is cancelled,
   * nothing more of it goes upstream and it never fails over; its outcome is still reported.
   */
  superseded = false;
  readonly #events: ForwardEvents;

  constructor(init: ForwardInit, events: ForwardEvents) {
    this.server = init.server;
    this.target = init.target;
    this.arrival = init.arrival;
    this.forwarded = init.forwarded;
    this.transport = init.transport;
    this.onOutcome = init.onOutcome;
    this.retryOverUdp = init.retryOverUdp;
    this.failover = init.failover;
    this.branch = init.branch;
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

type RouteDecision =
  | { readonly ok: true; readonly target: ProxyTarget; readonly requestUri?: string; readonly onOutcome?: (ok: boolean) => void; readonly failover?: Failover }
  | { readonly ok: false; readonly status: number; readonly reason?: string; readonly headers?: readonly (readonly [string, string])[] };

/** The proxy core: see the module documentation. */
export class SipProxy implements TransportUser {
  readonly #transactions: TransactionManager;
  readonly #sender: MessageSender;
  readonly #routes: (request: SipRequest, flow: Flow, purpose?: RoutingPurpose) => RoutingDecision | undefined;
  readonly #local: LocalAddress;
  readonly #wsLocal: LocalAddress | undefined;
  /** Addresses that name this proxy in Route, Request-URI and Via (see {@link LocalAddress.aliases}). */
  readonly #ours: ReadonlySet<string>;
  readonly #flows: FlowTable | undefined;
  readonly #clock: Clock | undefined;
  readonly #timerCMs: number;
  readonly #observer: ProxyObserver;
  readonly #recordRoute: boolean;
  readonly #supported: ReadonlySet<string>;
  readonly #retryAfter: number;
  readonly #onError: (error: unknown, context: string) => void;
  /** INVITE response contexts by server transaction, for CANCEL (§16.10). */
  readonly #invites = new Map<ServerTransaction, ForwardContext>();
  /** Pending contexts by the connection-oriented flow their branch goes to or their caller is on. */
  readonly #byFlow = new Map<Flow, Set<ForwardContext>>();
  /** Branches retired by a failover, until their server transaction ends (see {@link RetiredBranches}). */
  readonly #retired = new RetiredBranches<ServerTransaction, ForwardContext>();
  /** Forgets a terminated server transaction's retired branches (one object for all). */
  readonly #retiredEnded = {
    transactionTerminated: (transaction: unknown): void => this.#retired.forget(transaction as ServerTransaction),
  };

  constructor(options: SipProxyOptions) {
    this.#transactions = options.transactions;
    this.#sender = options.sender;
    this.#routes = options.routes;
    this.#local = options.localVia;
    this.#wsLocal = options.wsLocal;
    this.#ours = ourAddresses([options.localVia, options.wsLocal]);
    this.#flows = options.flows;
    this.#clock = options.clock;
    this.#timerCMs = options.timerCMs ?? 180_000;
    this.#observer = options.observer ?? {};
    this.#recordRoute = options.recordRoute;
    this.#supported = new Set((options.supported ?? []).map((t) => t.toLowerCase()));
    this.#retryAfter = options.retryAfter ?? 5;
    this.#onError = options.onError ?? (() => {});
  }

  /** Our Record-Route / Route URI on the `sip` side: `sip:host:port;transport=udp;lr`. */
  get uri(): string {
    return this.#sideUri('udp', undefined);
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
    onRequest: (req, tx) => {
      try {
        this.#onRequest(req, tx);
      } catch (error) {
        // Never leave a server transaction unanswered (a final after the first is dropped by it).
        this.#onError(error, 'request');
        this.#guard(() => this.#respondLocal(tx, 500), 'request');
      }
    },
    // RFC 6026: an ACK matching an INVITE server transaction in Accepted is the ACK for the 2xx.
    onAck: (ack) => this.#guard(() => this.#forwardAck(ack), 'ack'),
  };

  /** The flow each new request came on, for the TU callback (which gets the request only). */
  readonly #arrival = new WeakMap<SipRequest, Flow>();

  #receiveRequest(request: SipRequest, flow: Flow): void {
    this.#arrival.set(request, flow);
    const disposition = this.#transactions.receiveRequest(request, this.#counted(responseTransport(this.#sender, flow), 'response', request.method), this.#serverTu);
    if (disposition.type === 'strayAck') this.#forwardAck(request, flow);
    else if (disposition.type === 'retransmission') this.#observer.onRetransmission?.('received', 'request');
  }

  #onRequest(request: SipRequest, server: ServerTransaction): void {
    if (request.method === 'CANCEL') {
      this.#cancel(request, server);
      return;
    }
    const flow = this.#arrival.get(request);
    if (flow === undefined) return this.#reject(server, 500, [], 'Server Internal Error (no flow)');
    // §16.3 request validation, in its order: URI scheme, Max-Forwards, loop detection, Proxy-Require.
    if (request.uri.kind === 'other') return this.#reject(server, 416);
    if (request.maxForwards === 0) return this.#reject(server, 483);
    const loopHash = loopKey(request);
    if (request.via.some((via) => this.#isOurVia(via) && via.branch?.endsWith(`.${loopHash}`) === true)) return this.#reject(server, 482);
    const unsupported = request.proxyRequire.filter((tag) => !this.#supported.has(tag.toLowerCase()));
    if (unsupported.length > 0) return this.#reject(server, 420, [['Unsupported', unsupported.join(', ')]]);
    this.#forward(request, server, flow, loopHash, true);
  }

  /**
   * Routes and forwards a validated request (§16.4–§16.6) through a new client transaction.
   * `mtuSwitch`: a large request may go to a UDP target over TCP (§18.1.1); false on the retry over
   * UDP after that TCP attempt failed ("the element SHOULD retry the request, using UDP").
   * `retry`: the decision of a serial failover's next try, used instead of asking the routing function
   * (the request is routed again otherwise: our Route values removed, and so on); `release` gives back
   * what that try took when routing refuses it now (else its `onOutcome(false)` is reported).
   * Returns the new branch's context, or undefined when the request was answered here.
   */
  #forward(request: SipRequest, server: ServerTransaction, flow: Flow, loopHash: string, mtuSwitch: boolean, retry?: RoutingDecision, release?: () => void): ForwardContext | undefined {
    const forwarded = copy(request);
    const decision = this.#route(forwarded, flow, retry);
    if (!decision.ok) {
      // A try decided before (a failover's, the retry over UDP) that is not made: its breaker place
      // and budget slot must not leak.
      if (release !== undefined) release();
      else if (retry !== undefined && 'type' in retry && retry.type === 'forward') retry.onOutcome?.(false);
      this.#reject(server, decision.status, decision.headers ?? [], decision.reason);
      return undefined;
    }
    // RFC 3327 §5.2: a proxy SHOULD NOT add a Path unless the UA indicated support (Supported: path);
    // "if the UA has not indicated support for the extension and the proxy requires support for it in
    // the registration, the proxy SHOULD reject the request with a 421 response indicating a
    // requirement for the path extension". A WebSocket client is reachable only through its Path.
    if (request.method === 'REGISTER' && flow.transport === 'ws' && this.#flows !== undefined && !request.supported.some((t) => t.toLowerCase() === 'path')) {
      decision.onOutcome?.(true);
      this.#reject(server, 421, [['Require', 'path']]);
      return undefined;
    }
    if (decision.requestUri !== undefined) forwarded.setRequestUri(decision.requestUri);
    const target = mtuSwitch ? congestionControlled(decision.target, request) : decision.target;
    const outgoing = transportOf(target);

    // §16.6: Max-Forwards, Record-Route, Via.
    forwarded.decrementMaxForwards();
    if (this.#recordRoute && forwarded.to.tag === undefined && forwarded.method !== 'REGISTER') {
      // SPEC D.5: crossing transports, or reaching a client over its connection, one Record-Route per
      // side; the one facing the next hop on top. A connection's side carries its flow token (RFC 5626
      // §5.1), so in-dialog requests find it again (the same connection on both sides too).
      const inbound = this.#sideUri(flow.transport, flow);
      const outbound = this.#sideUri(outgoing, isFlow(target) ? target : undefined);
      if (inbound !== outbound || hasToken(flow)) forwarded.prependRecordRoute(`<${inbound}>`);
      forwarded.prependRecordRoute(`<${outbound}>`);
    }
    // RFC 3327 / RFC 5626 §5.1: a REGISTER from a WebSocket client is forwarded with a Path whose URI
    // names this proxy and the client's flow, so requests for the client come back through it; `ob`
    // when the client registers a flow of its own (a Contact with reg-id, RFC 5626 §5.1).
    if (forwarded.method === 'REGISTER' && flow.transport === 'ws' && this.#flows !== undefined) {
      const contacts = forwarded.contact;
      const outbound = contacts !== '*' && contacts.some((c) => c.params.has('reg-id'));
      prependHeader(forwarded, 'Path', `<${this.#sideUri(outgoing, flow).replace(/;lr$/, outbound ? ';lr;ob' : ';lr')}>`);
    }
    // §16.6 step 8: the branch ends with a hash of the fields loop detection compares (§16.3 step 4).
    const branch = `${this.#transactions.newBranch()}.${loopHash}`;
    forwarded.prependVia(this.#via(outgoing, branch));

    const transport = this.#counted(requestTransport(this.#sender, target), 'request', forwarded.method);
    const context = new ForwardContext(
      { server, target, arrival: flow, forwarded, branch, transport, onOutcome: decision.onOutcome, retryOverUdp: target !== decision.target && !isFlow(decision.target) ? decision.target : undefined, failover: decision.failover },
      this.#forwardEvents,
    );
    if (request.method === 'INVITE') {
      // A later try of the same request (failover, retry over UDP) replaces its context; watched once.
      const watched = this.#invites.has(server);
      this.#invites.set(server, context);
      // Set first: on a transaction already ended, the listener runs at once and removes the entry.
      if (!watched) server.onTerminated(this.#serverEnded);
      this.#startTimerC(context);
    }
    this.#track(context);
    this.#transactions.sendRequest(forwarded, transport, context).then(
      (client) =>
        this.#guard(() => {
          context.client = client;
          if (context.cancelled && context.provisional) this.#sendCancel(context);
        }, 'client transaction'),
      (error: unknown) => {
        this.#onError(error, 'client transaction start');
        if (!context.final) {
          finish(context);
          if (!context.superseded) this.#guard(() => this.#respondLocal(server, 500), 'client transaction start');
        }
      },
    );
    return context;
  }

  /**
   * Contexts whose branch goes to, or whose caller sits on, a connection-oriented flow, for
   * {@link onFlowClose}; INVITE contexts by server transaction for CANCEL. Both let go when the server
   * transaction ends.
   */
  #track(context: ForwardContext): void {
    const flows: Flow[] = [];
    if (isFlow(context.target) && context.target.reliable) flows.push(context.target);
    if (context.arrival.transport === 'ws') flows.push(context.arrival);
    for (const f of flows) {
      let set = this.#byFlow.get(f);
      if (set === undefined) this.#byFlow.set(f, (set = new Set()));
      set.add(context);
    }
    if (flows.length === 0) return;
    context.flows = flows;
    const earlier = this.#tracked.get(context.server);
    this.#tracked.set(context.server, context);
    // A later try of the same request: the earlier context is let go (its server transaction is watched).
    if (earlier !== undefined) return this.#untrack(earlier);
    // An INVITE's server transaction is watched already (see #forward).
    if (context.server.method !== 'INVITE') context.server.onTerminated(this.#serverEnded);
  }

  /** Removes a context from the by-flow index. */
  #untrack(context: ForwardContext): void {
    for (const f of context.flows ?? []) {
      const set = this.#byFlow.get(f);
      set?.delete(context);
      if (set?.size === 0) this.#byFlow.delete(f);
    }
    context.flows = undefined;
  }

  /** Contexts listed by flow, by server transaction (to unlist them when it ends). */
  readonly #tracked = new Map<ServerTransaction, ForwardContext>();

  /** Forgets what a terminated server transaction's context was listed under (one object for all). */
  readonly #serverEnded = {
    transactionTerminated: (transaction: unknown): void => {
      const server = transaction as ServerTransaction;
      if (this.#invites.has(server)) this.#invites.delete(server);
      const context = this.#tracked.get(server);
      if (context === undefined) return;
      this.#tracked.delete(server);
      this.#untrack(context);
    },
  };

  /**
   * A flow closed (TransportUser.onFlowClose): a branch pending towards it ends at once with 430 Flow
   * Failed (RFC 5626 §5.3) and its client transaction is terminated (§17.1.4); a pending INVITE from a
   * caller on it is cancelled downstream (nobody is left to answer to).
   */
  onFlowClose(flow: Flow): void {
    const contexts = this.#byFlow.get(flow);
    if (contexts === undefined) return;
    this.#byFlow.delete(flow);
    for (const context of contexts) {
      this.#guard(() => {
        if (context.final) return;
        if (context.target === flow) {
          finish(context);
          this.#observer.onBranchFailure?.(context.target, 'transport');
          context.client?.transportError(new Error(`flow ${flow.id} closed`));
          this.#respondLocal(context.server, 430);
        } else if (context.server.method === 'INVITE' && !context.cancelled) {
          context.abandoned = true;
          context.cancelled = true;
          if (context.provisional && context.client !== undefined) this.#sendCancel(context);
        }
      }, 'flow close');
    }
  }

  /**
   * Timer C (§16.6 step 11, §16.8): "If timer C should fire, the proxy MUST either reset the timer
   * with any value it chooses, or terminate the client transaction. If the client transaction has
   * received a provisional response, the proxy MUST generate a CANCEL request matching that
   * transaction. If the client transaction has not received a provisional response, the proxy MUST
   * behave as if the transaction received a 408 (Request Timeout) response." After the CANCEL, the
   * branch gets 64·T1 for its 487 (§9.1), then the caller gets 408. When the 408 fails over instead
   * (only ever before a provisional: after one the branch is CANCELled), the client transaction is
   * terminated (it stops retransmitting the INVITE); the branch is retired, and its late responses are
   * handled by {@link #retiredResponse} (a late provisional still gets the CANCEL).
   */
  #startTimerC(context: ForwardContext): void {
    if (this.#clock === undefined) return;
    const clock = this.#clock;
    let cancelled = false;
    context.timerC = clock.createTimer(() =>
      this.#guard(() => {
        if (context.final) return;
        if (!cancelled && context.provisional) {
          cancelled = true;
          this.#observer.onTimerC?.();
          context.cancelled = true;
          this.#sendCancel(context);
          context.timerC?.arm(clock.now() + 64 * this.#transactions.config.T1);
          return;
        }
        if (!cancelled) this.#observer.onTimerC?.();
        // §16.7 step 10 in spirit: the branch stays pending; a provisional arriving later gets the CANCEL.
        const forwarded = context.forwarded;
        context.cancelled = true;
        finish(context);
        if (!cancelled) context.forwarded = forwarded;
        else context.client?.transportError(new Error('Timer C: no final response after CANCEL'));
        this.#observer.onBranchFailure?.(context.target, 'timeout');
        // A retired branch's 2xx went upstream meanwhile: nothing more to answer.
        if (context.superseded) return;
        // Before any provisional the branch failed like a Timer B; after our CANCEL it is no failover.
        if (!cancelled && this.#failOver(context, { reason: 'timeout' })) {
          // §16.8: "terminate the client transaction" (it has had no provisional to CANCEL).
          if (context.retired) context.client?.transportError(new Error('Timer C: failed over to another target'));
          return;
        }
        this.#respondLocal(context.server, 408);
      }, 'timer C'),
    );
    context.timerC.arm(clock.now() + this.#timerCMs);
  }

  /** The events of every branch's client transaction (one object: see {@link ForwardContext}). */
  readonly #forwardEvents: ForwardEvents = {
    response: (context, response) => this.#guard(() => this.#relay(context, response), 'response'),
    timeout: (context) =>
      this.#guard(() => {
        const { server } = context;
        if (context.final) return;
        finish(context);
        this.#observer.onBranchFailure?.(context.target, 'timeout');
        // Timer B fails over; a non-INVITE's Timer F does not: the caller's own Timer F (the same
        // 64·T1, §17.1.2.2) has fired too, so a second try would come too late and could deliver the
        // request twice.
        if (server.method === 'INVITE' ? this.#failOver(context, { reason: 'timeout' }) : context.superseded) return;
        this.#respondLocal(server, 408);
      }, 'timeout'),
    transportError: (context, failure) =>
      this.#guard(() => {
        const { server } = context;
        if (context.final || failure.response === undefined) return;
        // §18.1.1: "If an element sends a request over TCP because of these message size constraints,
        // and that request would have otherwise been sent over UDP, if the attempt to establish the
        // connection generates either an ICMP Protocol Not Supported, or results in a TCP reset, the
        // element SHOULD retry the request, using UDP."
        if (context.retryOverUdp !== undefined && !context.provisional && !context.superseded && server.state !== 'terminated') {
          // This branch is replaced by one over UDP to the same target, which keeps the try's outcome
          // callback (the target is not blamed for our TCP attempt) and the request's failover.
          const retry: RoutingDecision = { type: 'forward', target: context.retryOverUdp, ...(context.onOutcome === undefined ? {} : { onOutcome: context.onOutcome }), ...(context.failover === undefined ? {} : { failover: context.failover }) };
          context.retryOverUdp = undefined;
          context.onOutcome = undefined;
          finish(context);
          // The TCP attempt may have reached the target after all (a reset after the send): a 2xx it
          // answers on another connection is a retired branch's, and supersedes the UDP try.
          context.retired = true;
          if (this.#retired.retire(server, context.branch, context)) server.onTerminated(this.#retiredEnded);
          // The chain of tries stays linked (a retired branch's 2xx cancels the pending one).
          context.successor = this.#forward(server.request, server, context.arrival, loopKey(server.request), false, retry);
          return;
        }
        finish(context);
        this.#onError(failure.error, 'forward');
        this.#observer.onBranchFailure?.(context.target, 'transport');
        // A connection to a client that closed: 430 Flow Failed (RFC 5626 §5.3); any other failure: 503.
        const flow = context.transport.flow;
        if (flow !== undefined && flow.closed && isFlow(context.target)) return this.#respondLocal(server, 430);
        // After a provisional (a 100 included) the target got the request: a reset, not a connect failure.
        if (this.#failOver(context, { reason: context.provisional ? 'reset' : 'connectFailure' })) return;
        this.#respondLocal(server, 503, [['Retry-After', String(this.#retryAfter)]]);
      }, 'transport error'),
  };

  /** §16.7: a response from the branch goes upstream, without our Via; 100 Trying is never forwarded. */
  #relay(context: ForwardContext, received: SipResponse): void {
    if (context.retired) return this.#retiredResponse(context, received);
    if (received.status === 100) {
      // A provisional all the same (§9.1: a CANCEL may follow it), but hop by hop: not relayed.
      context.provisional = true;
      if (context.cancelled && context.client !== undefined) this.#sendCancel(context);
      return;
    }
    const response = copy(received);
    const ours = this.#isOurVia(response.topVia);
    if (ours) response.removeTopVia();
    if (!ours || response.topVia === undefined) {
      // Not a response we can pass on; a final one still ends the branch (502, §16.7 step 6 spirit).
      if (received.status >= 200 && !context.final) {
        finish(context);
        if (!context.superseded) this.#respondLocal(context.server, 502, [], 'Bad Gateway (response without our Via)');
      }
      return;
    }
    if (response.status < 200) {
      context.provisional = true;
      if (!context.final) context.relayedProvisional = true;
      // §16.7 step 2: a provisional resets Timer C (not once the branch is being cancelled).
      if (context.timerC !== undefined && !context.cancelSent && this.#clock !== undefined) context.timerC.arm(this.#clock.now() + this.#timerCMs);
      if (context.cancelled && context.client !== undefined) this.#sendCancel(context);
      if (context.final || context.superseded) return;
    } else {
      // Further 2xx (RFC 6026 Accepted) are sent by the server transaction too.
      if (context.final && response.status >= 300) return;
      if (response.status >= 300) {
        const failed: FailedTry = { reason: 'status', status: response.status };
        finish(context, response.status !== 503 && context.failover?.covers(failed) !== true);
        if (this.#failOver(context, failed)) return;
        // §16.7 step 6: a 503 of the next hop goes upstream as a 500 generated here.
        const replaced = replacedFinal(response.status);
        if (replaced !== undefined) return this.#respondLocal(context.server, replaced.status, [], replaced.reason);
      } else {
        finish(context, true);
      }
    }
    context.server.respond(response);
  }

  /**
   * Serial failover (see `failover.ts`), after a try failed and its outcome was reported (`finish`):
   * when the request has a {@link Failover}, the branch relayed nothing but a 100 Trying upstream and
   * was not CANCELled by us (Timer C), a new branch goes to the next target — a new client
   * transaction with a new Via branch id, from the request as received. When the caller CANCELled
   * (or its connection closed) meanwhile, no new branch: a failure that would have failed over is
   * answered 487 Request Terminated. Returns true when the caller is answered (a retired branch's 2xx
   * went upstream meanwhile: nothing more to say) or a new try started; the failed branch is then
   * retired (see {@link #retiredResponse}).
   */
  #failOver(context: ForwardContext, failed: FailedTry): boolean {
    const { failover, server } = context;
    if (context.superseded) return true;
    // The caller's transaction ended (its connection went, a response could not be sent): nobody to try for.
    if (server.state === 'terminated') return failover !== undefined;
    if (failover === undefined || context.relayedProvisional || context.cancelSent) return false;
    if (context.abandoned) {
      if (!failover.covers(failed) || server.method !== 'INVITE') return false;
      this.#respondLocal(server, 487);
      return true;
    }
    const next = failover.next(failed);
    if (next === undefined) return false;
    // Retired before the next try starts: a response on it from now on is a late one. An INVITE's
    // late provisional gets a CANCEL (§9.1), its late non-2xx final an ACK (see #retiredResponse).
    context.retired = true;
    if (server.method === 'INVITE') context.cancelled = true;
    if (this.#retired.retire(server, context.branch, context)) server.onTerminated(this.#retiredEnded);
    const decision: RoutingDecision = { type: 'forward', target: next.target, failover, ...(next.onOutcome === undefined ? {} : { onOutcome: next.onOutcome }) };
    context.successor = this.#forward(server.request, server, context.arrival, loopKey(server.request), true, decision, next.release);
    if (context.successor !== undefined) this.#observer.onFailover?.(failed.reason, context.target, next.target);
    return true;
  }

  /**
   * A response on a branch a failover retired (its try failed: Timer B or C, a transport error, a final
   * response the failover covers), while its server transaction lives. RFC 3261 §16.7 step 5: "2xx
   * responses are always forwarded" — through the server transaction like any 2xx (in RFC 6026's
   * Accepted state its retransmissions and further 2xx go too), or statelessly as a stray response
   * when the caller already has a non-2xx final (the transaction would drop it) — and step 10: "If a
   * final response has been sent, the proxy MUST CANCEL all pending branches": the pending try is
   * cancelled and never fails over. A provisional or a non-2xx final is dropped: the caller hears of
   * one try only, the pending one (a provisional on a branch Timer C gave up on gets its CANCEL, §9.1).
   * A response to another method on the branch (our CANCEL's) is dropped too.
   */
  #retiredResponse(retired: ForwardContext, received: SipResponse): void {
    const { server } = retired;
    const sameMethod = received.cseq.method === server.method;
    const ok = received.status >= 200 && received.status < 300 && sameMethod;
    if (!ok) {
      if (sameMethod && server.method === 'INVITE' && retired.cancelled) {
        // §9.1: a late provisional gets the CANCEL; §17.1.1.3: a late non-2xx final its ACK, which the
        // INVITE client transaction (ended by Timer B, a transport error or Timer C) can no longer send.
        if (received.status < 200) this.#sendCancel(retired, true);
        else if (received.status >= 300) this.#ackRetired(retired, received);
      }
      this.#observer.onRetiredResponse?.(received.status, 'dropped');
      return;
    }
    const response = copy(received);
    if (!this.#isOurVia(response.topVia)) return;
    response.removeTopVia();
    const destination = responseDestination(response);
    if (destination === undefined) return;
    let pending = retired.successor;
    while (pending?.successor !== undefined) pending = pending.successor;
    // Counted once per late 2xx (not per retransmission of it): when it supersedes the pending try.
    if (pending !== undefined && !pending.final && !pending.superseded) this.#observer.onRetiredResponse?.(received.status, 'relayed');
    if (pending !== undefined && !pending.final) this.#supersede(pending);
    // Whether the caller has a non-2xx final: known at once from the TU's side (the machine's state lags).
    const answered = (server.finalStatus ?? 0) >= 300 || server.state === 'terminated';
    if (!answered) return server.respond(response);
    this.#sender.send(response, destination).catch((error: unknown) => this.#onError(error, 'late response'));
  }

  /** §16.7 step 10: another branch's 2xx went upstream; the pending one is CANCELled (an INVITE's, §9.1) and superseded. */
  #supersede(pending: ForwardContext): void {
    pending.superseded = true;
    pending.abandoned = true;
    if (pending.server.method !== 'INVITE' || pending.cancelled) return;
    pending.cancelled = true;
    // As after Timer C's CANCEL: the branch gets 64·T1 for its 487 (§9.1), not what is left of Timer C.
    if (pending.timerC !== undefined && this.#clock !== undefined) pending.timerC.arm(this.#clock.now() + 64 * this.#transactions.config.T1);
    // Without a provisional yet, the CANCEL waits for one (§9.1); the final response, if it comes first, ends the branch.
    if (pending.provisional && pending.client !== undefined) this.#sendCancel(pending);
  }

  /** §16.10: answer the CANCEL 200 hop by hop, and cancel the pending branch once it had a provisional. */
  #cancel(cancel: SipRequest, server: ServerTransaction): void {
    const invite = this.#transactions.findCancelTarget(cancel);
    const context = invite === undefined ? undefined : this.#invites.get(invite);
    if (context === undefined) return this.#reject(server, 481);
    server.respond(createResponse(cancel, 200, { toTag: tag() }));
    context.abandoned = true;
    if (context.final || context.cancelled) return;
    context.cancelled = true;
    if (context.provisional && context.client !== undefined) this.#sendCancel(context);
  }

  /**
   * CANCELs the branch (§9.1) once. After a real final response `forwarded` is gone; after a local one
   * (Timer C) it is kept for this. `retired`: a branch a failover gave up on (its late provisional),
   * cancelled from its client transaction's request.
   */
  #sendCancel(context: ForwardContext, retired = false): void {
    const forwarded = context.forwarded ?? (retired ? context.client?.request : undefined);
    if (context.cancelSent || forwarded === undefined) return;
    context.cancelSent = true;
    const cancel = createCancel(forwarded);
    if (context.final) context.forwarded = undefined;
    const ignore: ClientTransactionUser = { onResponse: () => {}, onTimeout: () => {}, onTransportError: () => {} };
    this.#transactions.sendRequest(cancel, context.transport, ignore).catch((error: unknown) => this.#onError(error, 'cancel'));
  }

  /**
   * The ACK for a late non-2xx final on a retired INVITE branch whose client transaction has ended
   * (§17.1.1.3, built as that transaction would): without it the target re-sends the response until its
   * Timer H. A branch whose transaction still lives ACKs by itself.
   */
  #ackRetired(retired: ForwardContext, response: SipResponse): void {
    const client = retired.client;
    if (client === undefined || client.state !== 'terminated') return;
    retired.transport.send(createAck(client.request, response)).catch((error: unknown) => this.#onError(error, 'late response ACK'));
  }

  /** The ACK for a 2xx (end to end): forwarded statelessly along the route set (§16.11, §16.12). */
  #forwardAck(ack: SipRequest, flow?: Flow): void {
    if (ack.maxForwards === 0) return;
    const from = flow ?? this.#arrival.get(ack);
    if (from === undefined) return;
    const forwarded = copy(ack);
    const decision = this.#route(forwarded, from);
    if (!decision.ok) return;
    if (decision.requestUri !== undefined) forwarded.setRequestUri(decision.requestUri);
    forwarded.decrementMaxForwards();
    // §16.11: a stateless proxy's branch is the same for retransmissions of the same request.
    const incoming = ack.topVia?.branch ?? `${ack.callId}/${ack.cseq.seq}`;
    const branch = `z9hG4bK${hash64(`${incoming}|ACK|${this.#local.host}:${this.#local.port}`)}`;
    forwarded.prependVia(this.#via(transportOf(decision.target), branch));
    this.#sender.send(forwarded, decision.target).catch((error: unknown) => this.#onError(error, 'ack'));
  }

  /**
   * Routing (§16.4, §16.5, §16.12). A Request-URI we put in a Record-Route (a strict router before us)
   * is replaced by the last Route; Route values naming us are removed; a flow token in the last one
   * removed (our Record-Route or Path URI facing a client, RFC 5626 §5.3) sends the request over that
   * flow, or gets 430 when it closed; then the next hop is the top Route, else the Request-URI of a
   * request that was routed to us, else the routing function.
   *
   * A new request (no To tag) must match a route of the routing function even when a Route or its
   * Request-URI names the next hop: Tandem is not an open relay for preloaded Routes.
   *
   * `retry`: a serial failover's next try, taken instead of the routing function's decision (it is
   * only made for requests that reached that step before). A {@link Failover} is kept only for a
   * new request (no To tag, not an ACK) going to an address target.
   */
  #route(request: SipRequest, flow: Flow, retry?: RoutingDecision): RouteDecision {
    let routes = request.route;
    if (this.#isOurs(request.uri) && routes.length > 0) {
      request.setRequestUri(routes.at(-1)!.uri.raw);
      routes = routes.slice(0, -1);
      request.removeHeader('Route');
      for (const r of routes) request.addHeader('Route', r.raw);
    }
    // Our own values on top: removed in one step (one parse of the Route values, however many).
    let ours = 0;
    while (ours < routes.length && this.#isOurs(routes[ours]!.uri)) ours++;
    const routedToUs = ours > 0;
    const last = routedToUs ? routes[ours - 1]!.uri : undefined;
    if (routedToUs) {
      request.removeHeader('Route');
      for (const r of routes.slice(ours)) request.addHeader('Route', r.raw);
      routes = routes.slice(ours);
    }
    const initial = request.to.tag === undefined;
    const token = last !== undefined && last.kind === 'sip' && last.user !== undefined && TOKEN_SHAPE.test(last.user) ? last.user : undefined;
    let hairpin: Flow | undefined;
    if (token !== undefined && this.#flows !== undefined) {
      const target = this.#flows.byToken(token);
      if (target === undefined) return { ok: false, status: 430 };
      // The caller's own connection names itself only when a client reaches itself (the same flow on
      // both sides): used when nothing else routes the request.
      if (target !== flow) return { ok: true, target };
      hairpin = target;
    }
    const next = routes[0];
    if (next !== undefined) {
      const target = uriTarget(next.uri);
      if (target === undefined) return hairpin !== undefined ? { ok: true, target: hairpin } : { ok: false, status: 404, reason: 'Unroutable Route' };
      if (!initial || request.method === 'ACK') return { ok: true, target };
      // A new request going where its Route says must still be allowed by a route.
      const allowed = this.#routes(request, flow, 'authorize');
      if (allowed === undefined) return { ok: false, status: 404 };
      if ('type' in allowed && allowed.type === 'respond') return { ok: false, status: allowed.status, ...(allowed.reason === undefined ? {} : { reason: allowed.reason }), ...(allowed.headers === undefined ? {} : { headers: allowed.headers }) };
      return { ok: true, target };
    }
    if (!initial && routedToUs) {
      // In a dialog, loose-routed to us (§16.12): the Request-URI is the remote target.
      const target = uriTarget(request.uri);
      if (target !== undefined) return { ok: true, target };
      return hairpin !== undefined ? { ok: true, target: hairpin } : { ok: false, status: 404, reason: 'Unroutable Request-URI' };
    }
    // §16.5: a Request-URI in a domain we are responsible for (a SIP route's) gets the routing
    // function's target; an in-dialog request for another domain goes to its Request-URI.
    const decision = retry ?? this.#routes(request, flow);
    if (decision === undefined) {
      const target = initial ? undefined : uriTarget(request.uri);
      return target === undefined ? { ok: false, status: 404 } : { ok: true, target };
    }
    if (!('type' in decision)) return { ok: true, target: decision };
    if (decision.type === 'retarget') return { ok: true, target: decision.target, requestUri: decision.requestUri };
    if (decision.type === 'forward') {
      const failover = decision.failover !== undefined && initial && request.method !== 'ACK' && !isFlow(decision.target) ? decision.failover : undefined;
      return { ok: true, target: decision.target, ...(decision.requestUri === undefined ? {} : { requestUri: decision.requestUri }), ...(decision.onOutcome === undefined ? {} : { onOutcome: decision.onOutcome }), ...(failover === undefined ? {} : { failover }) };
    }
    return { ok: false, status: decision.status, ...(decision.reason === undefined ? {} : { reason: decision.reason }), ...(decision.headers === undefined ? {} : { headers: decision.headers }) };
  }

  // ---- responses ----

  #receiveResponse(response: SipResponse): void {
    if (this.#transactions.receiveResponse(response).type === 'matched') return;
    // A late response on a branch a failover retired (its client transaction ended): see #retiredResponse.
    const retired = this.#retired.find(response.topVia?.branch);
    if (retired !== undefined) return this.#guard(() => this.#retiredResponse(retired.context, response), 'late response');
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
    this.#respondLocal(server, status, headers, reason);
  }

  /** A response generated here (§16.7 step 6, §8.2): with a To tag, counted. */
  #respondLocal(server: ServerTransaction, status: number, headers: readonly (readonly [string, string])[] = [], reason?: string): void {
    this.#observer.onLocalResponse?.(status, server.method);
    server.respond(createResponse(server.request, status, { toTag: tag(), headers, ...(reason === undefined ? {} : { reason }) }));
  }

  /**
   * Counts what a transaction sends again (for metrics): the request after its first send, or a final
   * response after the first final. Without an observer, the transport itself.
   */
  #counted(transport: BoundTransport & { readonly flow?: Flow | undefined }, kind: 'request' | 'response', method: string): BoundTransport & { readonly flow: Flow | undefined } {
    const observe = this.#observer.onRetransmission;
    return observe === undefined ? (transport as BoundTransport & { readonly flow: Flow | undefined }) : new CountingTransport(transport, kind, method, observe);
  }

  /** Our address on the side of `transport`: the `sip-ws` listener's for WebSocket, else the `sip` listener's. */
  #localFor(transport: TransportName): LocalAddress {
    return transport === 'ws' && this.#wsLocal !== undefined ? this.#wsLocal : this.#local;
  }

  /** Our URI on one side (`sip:[token@]host:port;transport=…;lr`), with the flow token of a WebSocket flow there. */
  #sideUri(transport: TransportName, flow: Flow | undefined): string {
    const local = this.#localFor(transport);
    const user = flow !== undefined && hasToken(flow) && this.#flows !== undefined ? `${flow.token}@` : '';
    return `sip:${user}${hostPart(local.host)}:${local.port};transport=${transport};lr`;
  }

  #via(transport: TransportName, branch: string): string {
    const local = this.#localFor(transport);
    return `SIP/2.0/${transport.toUpperCase()} ${hostPart(local.host)}:${local.port};branch=${branch}`;
  }

  #isOurVia(via: Via | undefined): boolean {
    return via !== undefined && this.#isOurAddress(via.host, via.port);
  }

  #isOurs(uri: Uri): boolean {
    return uri.kind === 'sip' && this.#isOurAddress(uri.host, uri.port);
  }

  #isOurAddress(host: string, port: number | undefined): boolean {
    return this.#ours.has(addressKey(host, port ?? DEFAULT_SIP_PORT));
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

/** The final response is settled: the forwarded request is no longer needed (no CANCEL after it), nor Timer C. */
function finish(context: ForwardContext, ok = false): void {
  const report = context.onOutcome;
  context.onOutcome = undefined;
  report?.(ok);
  context.final = true;
  context.forwarded = undefined;
  context.timerC?.disarm();
  context.timerC = undefined;
}

/** A transport that reports what its transaction sends again (see `SipProxy.#counted`). */
class CountingTransport implements BoundTransport {
  readonly #inner: BoundTransport & { readonly flow?: Flow | undefined };
  readonly #kind: 'request' | 'response';
  readonly #method: string;
  readonly #observe: ((direction: 'sent' | 'received', kind: 'request' | 'response') => void) | undefined;
  #sent = 0;

  constructor(inner: BoundTransport & { readonly flow?: Flow | undefined }, kind: 'request' | 'response', method: string, observe: ((direction: 'sent' | 'received', kind: 'request' | 'response') => void) | undefined) {
    this.#inner = inner;
    this.#kind = kind;
    this.#method = method;
    this.#observe = observe;
  }

  get reliable(): boolean {
    return this.#inner.reliable;
  }

  /** The flow a request transport resolved to (undefined for a response transport). */
  get flow(): Flow | undefined {
    return this.#inner.flow;
  }

  send(message: SipMessage): Promise<void> {
    const counts = this.#kind === 'request' ? message.kind === 'request' && message.method === this.#method : message.kind === 'response' && message.status >= 200;
    if (counts && this.#sent++ > 0) this.#observe?.('sent', this.#kind);
    return this.#inner.send(message);
  }
}

/**
 * RFC 3261 §18.1.1: "If a request is within 200 bytes of the path MTU, or if it is larger than 1300
 * bytes and the path MTU is unknown, the request MUST be sent using an RFC 2914 congestion controlled
 * transport protocol, such as TCP." The path MTU is unknown here: a request that will be over 1300
 * bytes once forwarded (its size as received, plus room for our Via and Record-Route values) goes to a
 * UDP target over TCP instead, same host and port.
 */
const MTU_LIMIT_BYTES = 1300;
const OUR_HEADERS_BYTES = 250;
function congestionControlled(target: ProxyTarget, request: SipRequest): ProxyTarget {
  if (isFlow(target) || target.transport !== 'udp') return target;
  const size = request.source?.byteLength ?? serialize(request).byteLength;
  return size + OUR_HEADERS_BYTES > MTU_LIMIT_BYTES ? { transport: 'tcp', host: target.host, port: target.port } : target;
}

/** A flow named by its token in our Record-Route URIs: a connection (WebSocket or TCP) a peer holds open. */
function hasToken(flow: Flow): boolean {
  return flow.transport === 'ws' || flow.transport === 'tcp';
}

/** What a flow token looks like (FlowTable: 22 base64url characters); other user parts are not tokens. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{22}$/;

/** The transport a target is reached over. */
function transportOf(target: ProxyTarget): TransportName {
  return target.transport;
}

/** Inserts a header field before the first of its name (or appends it). */
function prependHeader(message: SipMessage, name: string, value: string): void {
  const existing = message.getAll(name);
  message.removeHeader(name);
  message.addHeader(name, value);
  for (const v of existing) message.addHeader(name, v);
}

function hostPart(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function tag(): string {
  return randomBytes(6).toString('hex');
}

function bare(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** `host|port` with the host lower-case and without IPv6 brackets: the key of {@link ourAddresses}. */
function addressKey(host: string, port: number): string {
  return `${bare(host).toLowerCase()}|${port}`;
}

/** Every address that names this proxy (each side's own and its aliases), as {@link addressKey}s. */
function ourAddresses(sides: readonly (LocalAddress | undefined)[]): ReadonlySet<string> {
  const keys = new Set<string>();
  for (const side of sides) {
    if (side === undefined) continue;
    keys.add(addressKey(side.host, side.port));
    for (const a of side.aliases ?? []) keys.add(addressKey(a.host, a.port));
  }
  return keys;
}
