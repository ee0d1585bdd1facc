/**
 * The SIP side of the gateway: every `sip` listener (SIP over UDP and TCP on one port) and every
 * `sip-ws` listener (SIP over WebSocket, RFC 7118) of the config, one flow table shared by them, one
 * transaction layer (RFC 3261 §17) and one transaction-stateful proxy core (§16) spanning them, so a
 * call from a WebSocket client reaches a SIP server over UDP or TCP and back (SPEC §D).
 *
 * Routing of a new request: the first SIP route of the listener it came on whose `match.sip` matches
 * its Request-URI (domain, user prefix, methods), read from the running config at each request (live
 * changes apply at once); then
 * - `registrar: edge`: a REGISTER is answered here ({@link EdgeRegistrar}); any other request for a
 *   registered address-of-record goes to the bound Contact over the flow it registered on;
 * - otherwise the route's upstream, one of its `sip:` targets (round robin by weight) that is healthy
 *   (OPTIONS health checks, {@link SipHealth}) and whose breaker admits it; a REGISTER from a WebSocket
 *   client carries a Path with its flow token (RFC 3327, RFC 5626 §5.1). A new request gets the
 *   upstream's serial failover (`retries`, {@link SipFailover}) when it has two or more targets.
 *
 * The first `sip` listener is the one requests to `sip:` targets leave from; the first `sip-ws`
 * listener's address is the proxy's address towards WebSocket clients. Adding or removing SIP
 * listeners takes a restart (routes and upstreams change live).
 */
import { networkInterfaces } from 'node:os';
import type { Child, Clock, ExitReason, JsonValue } from '../fsm/index.ts';
import type { Config, Listener, Route, Upstream } from '../routes/config.ts';
import { createLoadBalancer, type LoadBalancer } from '../routes/load-balancer.ts';
import type { SipRequest } from '../sip/index.ts';
import { type AddressTarget, type LocalAddress, type ProxyObserver, type ProxyTarget, type RoutingDecision, type RoutingPurpose, SipProxy } from '../sip/proxy/index.ts';
import { EdgeRegistrar } from '../sip/registrar/edge-registrar.ts';
import { TransactionManager } from '../sip/transaction/index.ts';
import { type Destination, type Flow, FlowTable, isFlow, type MessageSender, SipTransportError, SipUdpTcpListener, SipWsListener, type TransportCounters, type TransportEvent, type TransportName, type TransportStatsSnapshot, type TransportUser } from '../sip/transport/index.ts';
import type { Admission, BreakerGate, BreakerState } from '../routes/breaker.machine.ts';
import type { Logger } from './logger.ts';
import { SipBreakers } from './sip-breakers.ts';
import { SipHealth } from './sip-health.ts';
import { OptionsProber } from '../sip/ping/options-prober.ts';
import { SipFailover, SipRetryBudget } from './sip-failover.ts';

export interface SipServiceOptions {
  /** The `sip` and `sip-ws` listeners. */
  readonly listeners: readonly Listener[];
  /** The running config (read per request). */
  readonly config: () => Config;
  readonly log: Logger;
  readonly clock: Clock;
  /** RFC 3261 timer bases (ms), overriding the config's `sip` section; tests scale them down. */
  readonly timers?: { readonly T1: number; readonly T2: number; readonly T4: number };
  /** What the proxy and transports report (metrics). */
  readonly observer?: SipObserver;
}

/** What the SIP service reports, for metrics. */
export interface SipObserver extends ProxyObserver {
  /** A well-formed message received (requests by method, responses by status). */
  readonly onReceived?: (event: TransportEvent) => void;
  /** A SIP target's circuit breaker changed state. */
  readonly onBreakerTransition?: (upstream: string, target: string, from: BreakerState, to: BreakerState) => void;
  /** An OPTIONS health check of a SIP target ended (`target`: its `host:port`). */
  readonly onHealthCheck?: (upstream: string, target: string, ok: boolean) => void;
  /** A SIP target's health: when its checks start (healthy), and at each change. */
  readonly onTargetHealth?: (upstream: string, target: string, healthy: boolean) => void;
  /** A reload ended a SIP target's health checks (its upstream, its `healthCheck` or the target is gone). */
  readonly onTargetHealthRemoved?: (upstream: string, target: string) => void;
  /** A SIP failover was not made because the upstream's retry budget was spent. */
  readonly onRetryBudgetExhausted?: (upstream: string) => void;
}

/** A snapshot for `/status` and `/metrics`. */
export interface SipStatus {
  readonly listeners: readonly { readonly name: string; readonly protocol: 'sip' | 'sip-ws'; readonly port: number | undefined; readonly connections?: number }[];
  readonly transactions: { readonly inviteClient: number; readonly nonInviteClient: number; readonly inviteServer: number; readonly nonInviteServer: number; readonly total: number };
  readonly pendingInvites: number;
  readonly flows: number;
  readonly wsConnections: number;
  readonly registrations: { readonly bindings: number; readonly flows: number };
  /** Per transport (udp, tcp, ws): messages received, sent, malformed, rejected (answered 400/505/513), dropped, keepalives. */
  readonly transport: Readonly<Record<TransportName, TransportCounters>>;
}

/**
 * An accepted TCP connection with no bytes either way for this long is closed (a client keeping a
 * registration open sends RFC 5626 CRLF keepalives well within it; a half-sent message does not hold
 * a connection for ever).
 */
const TCP_IDLE_MS = 300_000;

function zeroCounters(): TransportCounters {
  return { received: 0, sent: 0, malformed: 0, rejected: 0, dropped: 0, keepalives: 0 };
}

/** Does the request-URI host match a route's domain (`pbx.local`, `*.example.com`, `*`)? */
function domainMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return host === pattern;
}

interface Bound {
  readonly listener: Listener;
  readonly udpTcp?: SipUdpTcpListener;
  readonly ws?: SipWsListener;
  port: number | undefined;
}

export class SipService {
  readonly listeners: readonly Listener[];
  readonly #options: SipServiceOptions;
  readonly #log: Logger;
  readonly #balancers = new WeakMap<Upstream, LoadBalancer>();
  readonly #budgets = new WeakMap<Upstream, SipRetryBudget>();
  readonly #flows = new FlowTable();
  readonly #bound: Bound[] = [];
  readonly #registrar: EdgeRegistrar;
  readonly #breakers: SipBreakers;
  /** OPTIONS health checks of SIP targets (once started). */
  #health: SipHealth | undefined;
  #transactions: TransactionManager | undefined;
  #proxy: SipProxy | undefined;
  /** New requests routed, by route name; requests sent and branch failures, by target `host:port`. */
  readonly #routeRequests = new Map<string, number>();
  readonly #targetRequests = new Map<string, number>();
  readonly #targetFailures = new Map<string, number>();
  /** WebSocket flows that sent requests routed by each SIP route, and the routes of each flow (for drain, SPEC D.10). */
  readonly #routeFlows = new Map<string, Set<Flow>>();
  readonly #flowRoutes = new WeakMap<Flow, Set<string>>();

  constructor(options: SipServiceOptions) {
    this.listeners = options.listeners;
    this.#options = options;
    this.#log = options.log.child({ component: 'sip' });
    this.#registrar = new EdgeRegistrar({ clock: options.clock });
    this.#breakers = new SipBreakers({
      clock: options.clock,
      onTransition: (upstream, target, from, to, openMs) => {
        const fields = { decision: 'breaker', upstream, target, from, to, ...(to === 'open' ? { openMs } : {}) };
        if (to === 'open') this.#log.warn(fields, 'SIP target breaker opened');
        else this.#log.info(fields, `SIP target breaker ${to === 'closed' ? 'closed' : 'half-open'}`);
        options.observer?.onBreakerTransition?.(upstream, target, from, to);
      },
    });
  }

  /**
   * Binds every SIP listener, then starts the transactions and the proxy. On a failure what was bound
   * is closed again.
   *
   * @throws {SipTransportError} `TANDEM_ERR_SIP_LISTEN` when an address cannot be bound.
   */
  async start(): Promise<void> {
    const settings = this.#options.config().sip;
    const timers = this.#options.timers ?? { T1: settings.t1Ms, T2: settings.t2Ms, T4: settings.t4Ms };
    const user: TransportUser = {
      onMessage: (event) => {
        this.#options.observer?.onReceived?.(event);
        this.#proxy?.onMessage(event);
      },
      onFlowClose: (flow) => {
        this.#proxy?.onFlowClose(flow);
        this.#registrar.dropFlow(flow);
        for (const name of this.#flowRoutes.get(flow) ?? []) this.#routeFlows.get(name)?.delete(flow);
        this.#flowRoutes.delete(flow);
      },
    };
    try {
      for (const listener of this.listeners) {
        if (listener.protocol === 'sip') {
          const udpTcp = new SipUdpTcpListener({ host: listener.host, port: listener.port, user, flows: this.#flows, logger: this.#log, tcpIdleTimeoutMs: TCP_IDLE_MS });
          this.#bound.push({ listener, udpTcp, port: undefined });
          this.#bound.at(-1)!.port = (await udpTcp.listen()).port;
        } else {
          const ws = new SipWsListener({
            host: listener.host,
            port: listener.port,
            user,
            flows: this.#flows,
            logger: this.#log,
            pingIntervalMs: listener.keepaliveMs,
            ...(listener.allowedOrigins === undefined ? {} : { allowedOrigins: listener.allowedOrigins }),
          });
          this.#bound.push({ listener, ws, port: undefined });
          this.#bound.at(-1)!.port = (await ws.listen()).port;
        }
      }
      this.#transactions = await TransactionManager.start({ clock: this.#options.clock, name: 'sip-transactions', ...timers });
    } catch (error) {
      await this.close();
      throw error;
    }
    const sip = this.#bound.find((b) => b.udpTcp !== undefined);
    const ws = this.#bound.find((b) => b.ws !== undefined);
    const local = (b: Bound): LocalAddress => localAddress(b, this.#bound.filter((o) => o !== b && (o.ws !== undefined) === (b.ws !== undefined)));
    const sender: MessageSender = {
      send: async (message, destination: Destination): Promise<Flow> => {
        if (isFlow(destination)) {
          await destination.send(message);
          return destination;
        }
        if (sip?.udpTcp === undefined) throw new SipTransportError('TANDEM_ERR_SIP_UNROUTABLE', `no sip listener to reach ${destination.transport}:${destination.host}:${destination.port}`);
        return sip.udpTcp.send(message, destination);
      },
      flowNow: (destination) => sip?.udpTcp?.flowNow(destination),
    };
    this.#proxy = new SipProxy({
      transactions: this.#transactions,
      sender,
      routes: (request, flow, purpose) => this.#route(request, flow, purpose),
      localVia: local(sip ?? ws!),
      ...(ws === undefined ? {} : { wsLocal: local(ws) }),
      flows: this.#flows,
      clock: this.#options.clock,
      timerCMs: settings.timerCMs,
      recordRoute: true,
      observer: {
        ...this.#options.observer,
        onFailover: (reason, from, to) => {
          this.#log.info({ decision: 'failover', reason, from: targetName(from), to: targetName(to) }, 'SIP request failed over to another target');
          this.#options.observer?.onFailover?.(reason, from, to);
        },
        onRetiredResponse: (status, action) => {
          this.#log.debug({ decision: 'lateResponse', status, action }, action === 'relayed' ? 'SIP 2xx from a failed-over branch relayed; the pending branch is cancelled' : 'SIP response from a failed-over branch dropped');
          this.#options.observer?.onRetiredResponse?.(status, action);
        },
      },
      onError: (error, context) => this.#log.warn({ err: (error as Error).message, context }, 'SIP proxy error'),
    });
    for (const b of this.#bound) this.#log.info({ listener: b.listener.name, address: `${b.listener.host}:${b.port}` }, b.ws === undefined ? 'SIP listener up (UDP and TCP)' : 'SIP WebSocket listener up');
    this.#health = this.#newHealth(new OptionsProber({ transactions: this.#transactions, sender, clock: this.#options.clock, local: local(sip ?? ws!), newBranch: () => this.#transactions!.newBranch() }));
    await this.#health.apply(this.#options.config().upstreams);
  }

  /** The OPTIONS health checks, logging and reporting what they decide. */
  #newHealth(prober: OptionsProber): SipHealth {
    const observer = this.#options.observer;
    return new SipHealth({
      clock: this.#options.clock,
      proberFor: (target) => prober.forTarget(target),
      onProbe: (upstream, target, ok) => observer?.onHealthCheck?.(upstream, target, ok),
      onHealth: (upstream, target, healthy, detail) => {
        observer?.onTargetHealth?.(upstream, target, healthy);
        if (detail === 'started') return;
        const fields = { decision: 'health', upstream, target, healthy, detail };
        if (healthy) this.#log.info(fields, 'SIP target healthy (OPTIONS): back in the rotation');
        else this.#log.warn(fields, 'SIP target unhealthy (OPTIONS): out of the rotation');
      },
      onRemoved: (upstream, target) => observer?.onTargetHealthRemoved?.(upstream, target),
    });
  }

  /** Bound ports by listener name (after {@link start}). */
  ports(): ReadonlyMap<string, number> {
    return new Map(this.#bound.filter((b) => b.port !== undefined).map((b) => [b.listener.name, b.port!]));
  }

  /** Live SIP transactions. */
  get transactions(): number {
    return this.#transactions?.size ?? 0;
  }

  /** The edge registrar's bindings. */
  get registrar(): EdgeRegistrar {
    return this.#registrar;
  }

  status(): SipStatus {
    const transport = { udp: zeroCounters(), tcp: zeroCounters(), ws: zeroCounters() };
    for (const b of this.#bound) {
      const stats: TransportStatsSnapshot = (b.udpTcp ?? b.ws)!.stats;
      for (const name of ['udp', 'tcp', 'ws'] as const) {
        const into = transport[name];
        for (const key of Object.keys(into) as (keyof TransportCounters)[]) into[key] += stats[name][key];
      }
    }
    const wsConnections = this.#bound.reduce((n, b) => n + (b.ws?.connections ?? 0), 0);
    return {
      listeners: this.#bound.map((b) => ({ name: b.listener.name, protocol: b.ws === undefined ? ('sip' as const) : ('sip-ws' as const), port: b.port, ...(b.ws === undefined ? {} : { connections: b.ws.connections }) })),
      transactions: this.#transactions?.counts() ?? { inviteClient: 0, nonInviteClient: 0, inviteServer: 0, nonInviteServer: 0, total: 0 },
      pendingInvites: this.#proxy?.pendingInvites ?? 0,
      flows: this.#flows.size,
      wsConnections,
      registrations: { bindings: this.#registrar.size, flows: this.#registrar.flows },
      transport,
    };
  }

  /** Closes every listener (WebSocket clients get 1001), then the transactions. */
  async close(): Promise<void> {
    await this.#health?.stop();
    await Promise.all(this.#bound.map((b) => (b.udpTcp ?? b.ws)!.close()));
    await this.#transactions?.stop();
    await this.#breakers.stop();
  }

  /** The listener a flow belongs to: by transport and local port (outbound TCP flows: the first `sip` listener). */
  #listenerOf(flow: Flow): Listener | undefined {
    const ws = flow.transport === 'ws';
    let first: Bound | undefined;
    for (const b of this.#bound) {
      if ((b.ws !== undefined) !== ws) continue;
      if (b.port === flow.local.port) return b.listener;
      first ??= b;
    }
    return first?.listener;
  }

  /** The running config's SIP routes by listener and upstreams by name, indexed once per config version. */
  readonly #indexes = new WeakMap<Config, { readonly routes: ReadonlyMap<string, readonly Route[]>; readonly upstreams: ReadonlyMap<string, Upstream> }>();

  #index(config: Config): { readonly routes: ReadonlyMap<string, readonly Route[]>; readonly upstreams: ReadonlyMap<string, Upstream> } {
    let index = this.#indexes.get(config);
    if (index === undefined) {
      const routes = new Map<string, Route[]>();
      for (const r of config.routes) {
        if (r.match.sip === undefined) continue;
        for (const l of r.listeners) {
          const list = routes.get(l);
          if (list === undefined) routes.set(l, [r]);
          else list.push(r);
        }
      }
      index = { routes, upstreams: new Map(config.upstreams.map((u) => [u.name, u])) };
      this.#indexes.set(config, index);
    }
    return index;
  }

  /** The decision for a new request: see the module documentation. */
  #route(request: SipRequest, flow: Flow, purpose: RoutingPurpose = 'route'): RoutingDecision | undefined {
    const uri = request.uri;
    if (uri.kind !== 'sip') return undefined;
    const listener = this.#listenerOf(flow);
    if (listener === undefined) return undefined;
    const indexed = this.#index(this.#options.config());
    const host = uri.host.toLowerCase();
    const route = indexed.routes.get(listener.name)?.find((r) => matches(r, host, uri.user, request.method));
    if (route === undefined) return undefined;
    const upstream = indexed.upstreams.get(route.upstream);
    if (upstream === undefined) return undefined;
    // Only asked whether a route carries it (its Route or Request-URI names the next hop): yes.
    if (purpose === 'authorize') return { type: 'forward', target: flow };
    bump(this.#routeRequests, route.name);
    if (flow.transport === 'ws') this.#associate(flow, route.name);
    if (route.registrar === 'edge') {
      if (request.method === 'REGISTER') return { type: 'respond', ...this.#registrar.register(request, flow) };
      const binding = this.#registrar.lookup(uri);
      if (binding !== undefined) return { type: 'retarget', target: binding.flow, requestUri: binding.contact };
    }
    // An ACK (stateless, no outcome to report) never takes a breaker's place, nor a failover.
    if (request.method === 'ACK') {
      const taken = this.#take(upstream, undefined, undefined);
      return taken.type === 'taken' ? { type: 'forward', target: taken.target } : taken.type === 'refused' ? taken.answer : undefined;
    }
    const gates = this.#breakers.gates(upstream);
    const taken = this.#take(upstream, gates, undefined);
    if (taken.type !== 'taken') return taken.type === 'refused' ? taken.answer : undefined;
    const budget = this.#budgetOf(upstream);
    budget.request();
    const end = budget.start(false);
    const onOutcome = (ok: boolean): void => {
      end();
      taken.onOutcome(ok);
    };
    // Serial failover (sip-failover.ts): new requests only (in-dialog ones follow their dialog).
    if (request.to.tag !== undefined || upstream.retries.attempts === 0 || upstream.targets.length < 2) return { type: 'forward', target: taken.target, onOutcome };
    const failover = new SipFailover({
      upstream,
      budget,
      first: taken.index,
      take: (exclude) => {
        const next = this.#take(upstream, gates, exclude);
        return next.type === 'taken' ? { index: next.index, next: { target: next.target, onOutcome: next.onOutcome }, release: next.release } : undefined;
      },
      onBudgetExhausted: () => {
        this.#log.info({ decision: 'failover', upstream: upstream.name, outcome: 'budgetExhausted' }, 'SIP failover not made: retry budget spent');
        this.#options.observer?.onRetryBudgetExhausted?.(upstream.name);
      },
    });
    return { type: 'forward', target: taken.target, onOutcome, failover };
  }

  /**
   * Takes a target of `upstream` for one try: the load balancer's next one not in `exclude` whose
   * breaker admits, its breaker place taken (`gates`: the upstream's breakers; none for an ACK).
   * `refused`: no target in the rotation (SPEC D.9: the 503 with the soonest retry to answer); `none`: no such target.
   */
  #take(upstream: Upstream, gates: readonly BreakerGate[] | undefined, exclude: ReadonlySet<number> | undefined): Taken {
    const choice = this.#balancerOf(upstream).pick(exclude === undefined ? undefined : { exclude });
    if (choice < 0) return exclude === undefined ? { type: 'refused', answer: this.#unavailable(upstream, gates) } : { type: 'none' };
    const picked = upstream.targets[choice]!;
    const target = picked.sip;
    if (target === undefined) return { type: 'none' };
    const gate = gates?.[choice];
    const admission: Admission | undefined = gate?.acquire();
    if (gate !== undefined && admission === undefined) return exclude === undefined ? { type: 'refused', answer: refused(gate.retryAfterSeconds()) } : { type: 'none' };
    const authority = picked.authority;
    bump(this.#targetRequests, authority);
    return {
      type: 'taken',
      index: choice,
      target: { transport: target.transport, host: target.host, port: target.port },
      onOutcome: (ok) => {
        if (!ok) bump(this.#targetFailures, authority);
        if (gate !== undefined && admission !== undefined) gate.report(admission, ok);
      },
      release: () => {
        const n = this.#targetRequests.get(authority) ?? 1;
        this.#targetRequests.set(authority, n - 1);
        if (gate !== undefined && admission !== undefined) gate.release(admission);
      },
    };
  }

  /**
   * No target in the rotation (SPEC D.9): 503 with the soonest retry. Every target unhealthy: "no
   * healthy target", Retry-After the time `healthyThreshold` probes take; else the breakers' soonest.
   */
  #unavailable(upstream: Upstream, gates: readonly BreakerGate[] | undefined): RoutingDecision {
    const health = this.#health;
    const healthy = upstream.targets.map((_, i) => health?.healthy(upstream, i) ?? true);
    if (!healthy.includes(true)) {
      const retryAfter = Math.min(health?.retryAfterSeconds(upstream) ?? 1, 60);
      return { type: 'respond', status: 503, reason: 'Service Unavailable (no healthy target)', headers: [['Retry-After', String(retryAfter)]] };
    }
    const retryAfter = Math.min(...(gates ?? []).filter((_, i) => healthy[i]).map((g) => g.retryAfterSeconds()), 60);
    return { type: 'respond', status: 503, reason: 'Service Unavailable (circuit breaker open)', headers: [['Retry-After', String(retryAfter)]] };
  }

  /** The retry budget of a SIP upstream (a new one for each config version of it). */
  #budgetOf(upstream: Upstream): SipRetryBudget {
    let budget = this.#budgets.get(upstream);
    if (budget === undefined) this.#budgets.set(upstream, (budget = new SipRetryBudget(upstream)));
    return budget;
  }

  /** The round-robin (or leastRequest) balancer of an upstream, skipping unhealthy targets and targets whose breaker refuses. */
  #balancerOf(upstream: Upstream): LoadBalancer {
    let balancer = this.#balancers.get(upstream);
    if (balancer === undefined) {
      const breakers = this.#breakers;
      // peek: this upstream object may be a stale one (a failover of a request routed before a reload).
      const state = { available: (i: number) => (this.#health?.healthy(upstream, i) ?? true) && (breakers.peek(upstream)?.[i]?.canAdmit() ?? true), active: () => 0 };
      balancer = createLoadBalancer(upstream.loadBalancer === 'consistentHash' ? 'roundRobin' : upstream.loadBalancer, upstream.targets.map((t) => ({ id: t.authority, weight: t.weight })), state);
      this.#balancers.set(upstream, balancer);
    }
    return balancer;
  }

  /** Breaker states of a SIP upstream's targets (by authority), for `/status`. */
  breakers(upstream: Upstream): ReadonlyMap<string, BreakerGate> {
    return this.#breakers.states(upstream);
  }

  /** Is target `index` of a SIP upstream healthy (true when its upstream has no `healthCheck`), for `/status`. */
  targetHealthy(upstream: Upstream, index: number): boolean {
    return this.#health?.healthy(upstream, index) ?? true;
  }

  /**
   * After a reload: stops the breakers of replaced or removed upstreams; starts, keeps or stops the
   * OPTIONS health checks to match the running config.
   */
  async reconfigured(): Promise<void> {
    const upstreams = this.#options.config().upstreams;
    await Promise.all([this.#breakers.retire(upstreams), this.#health?.apply(upstreams)]);
  }

  #associate(flow: Flow, route: string): void {
    let flows = this.#routeFlows.get(route);
    if (flows === undefined) this.#routeFlows.set(route, (flows = new Set()));
    if (flows.has(flow)) return;
    flows.add(flow);
    let routes = this.#flowRoutes.get(flow);
    if (routes === undefined) this.#flowRoutes.set(flow, (routes = new Set()));
    routes.add(route);
  }

  /**
   * Drains a SIP route the running config no longer has (SPEC D.10): new dialogs are already refused
   * (nothing matches it), transactions and dialogs go on (in-dialog requests follow their Route set);
   * at `route.drain.deadlineMs` the WebSocket flows that used it close with 1001 Going Away, unless a
   * route of the running config has carried their requests too, or `drain.websockets` is `keep`.
   * Resolves after the deadline.
   */
  async drain(route: Route): Promise<void> {
    const flows = this.#routeFlows.get(route.name);
    this.#log.info({ route: route.name, decision: 'drain', websockets: flows?.size ?? 0, deadlineMs: route.drain.deadlineMs }, 'SIP route removed: draining');
    this.#draining.set(route.name, route);
    try {
      await new Promise<void>((resolve) => {
        const timer = this.#options.clock.createTimer(resolve);
        timer.arm(this.#options.clock.now() + route.drain.deadlineMs);
      });
    } finally {
      if (this.#draining.get(route.name) === route) this.#draining.delete(route.name);
    }
    if (this.#options.config().routes.some((r) => r.name === route.name)) return;
    this.#routeFlows.delete(route.name);
    if (flows === undefined || route.drain.websockets === 'keep') return;
    const live = new Set(this.#options.config().routes.map((r) => r.name));
    let closed = 0;
    for (const flow of flows) {
      const routes = this.#flowRoutes.get(flow);
      routes?.delete(route.name);
      if ([...(routes ?? [])].some((name) => live.has(name)) || flow.closed) continue;
      flow.close();
      closed++;
    }
    this.#log.info({ route: route.name, decision: 'drained', closed }, 'SIP route drained');
  }

  /** SIP routes removed by a reload and still draining (until their deadline), by name. */
  readonly #draining = new Map<string, Route>();

  /** The removed SIP routes still draining (for `/status`: `state: draining`). */
  draining(): readonly Route[] {
    return [...this.#draining.values()];
  }

  /** Requests routed by a SIP route (since start). */
  routeRequests(route: string): number {
    return this.#routeRequests.get(route) ?? 0;
  }

  /** Requests sent to a target (`host:port`), and its branches that failed (timeout or transport error). */
  targetCounters(authority: string): { requests: number; failures: number } {
    return { requests: this.#targetRequests.get(authority) ?? 0, failures: this.#targetFailures.get(authority) ?? 0 };
  }
}

/** A target as logged: `udp:host:port`, or the flow's id. */
function targetName(target: ProxyTarget): string {
  return isFlow(target) ? `flow:${target.id}` : `${target.transport}:${target.host}:${target.port}`;
}

/** A target taken for a try, or why none was (see `SipService.#take`). */
type Taken =
  | { readonly type: 'taken'; readonly index: number; readonly target: AddressTarget; readonly onOutcome: (ok: boolean) => void; readonly release: () => void }
  | { readonly type: 'refused'; readonly answer: RoutingDecision }
  | { readonly type: 'none' };

/** Every target's breaker refuses (SPEC D.9): 503 with Retry-After (seconds). */
function refused(retryAfter: number): RoutingDecision {
  return { type: 'respond', status: 503, reason: 'Service Unavailable (circuit breaker open)', headers: [['Retry-After', String(retryAfter)]] };
}

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** Does a SIP route (of the request's listener) match the Request-URI host, user and method? */
function matches(route: Route, host: string, user: string | undefined, method: string): boolean {
  const m = route.match.sip;
  if (m === undefined) return false;
  if (!domainMatches(m.domain, host)) return false;
  if (m.methods.length > 0 && !m.methods.includes(method)) return false;
  return m.userPrefix === undefined || (user ?? '').startsWith(m.userPrefix);
}

/** The host written in our Via and Record-Route: the bound address, or loopback for a wildcard bind. */
function viaHost(host: string): string {
  return isWildcard(host) ? '127.0.0.1' : host;
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/** The addresses a listener is known by: as bound, or every local interface's for a wildcard bind. */
function boundAddresses(b: Bound): { host: string; port: number }[] {
  const port = b.port!;
  if (!isWildcard(b.listener.host)) return [{ host: b.listener.host, port }];
  const v6 = b.listener.host === '::';
  return Object.values(networkInterfaces())
    .flatMap((list) => list ?? [])
    .filter((i) => v6 || i.family === 'IPv4')
    .map((i) => ({ host: i.address, port }));
}

/**
 * One side's own address for the proxy: the listener's `advertise` (port: the listener's) or its bound
 * address, with the bound addresses and the other listeners of the same kind as aliases (so Route values
 * naming any of them are Tandem's own, RFC 3261 §16.4).
 */
function localAddress(b: Bound, others: readonly Bound[]): LocalAddress {
  const port = b.port!;
  const adv = b.listener.advertise;
  const aliases = [...boundAddresses(b), ...others.flatMap((o) => [...boundAddresses(o), ...(o.listener.advertise === undefined ? [] : [{ host: o.listener.advertise.host, port: o.listener.advertise.port ?? o.port! }])])];
  return { host: adv?.host ?? viaHost(b.listener.host), port: adv?.port ?? port, aliases };
}

/** The SIP service as a supervised child. */
export async function sipServiceChild(service: SipService): Promise<Child> {
  await service.start();
  let resolveExit!: (reason: ExitReason) => void;
  const exited = new Promise<ExitReason>((resolve) => (resolveExit = resolve));
  let closing: Promise<void> | undefined;
  return {
    exited,
    stop(reason: ExitReason = 'shutdown') {
      closing ??= service.close().then(
        () => resolveExit(reason),
        (err: unknown) => resolveExit({ error: err }),
      );
      return closing;
    },
    kill() {
      void service.close().finally(() => resolveExit('killed'));
    },
    describe(): JsonValue {
      return { name: 'sip', listeners: service.listeners.map((l) => l.name), transactions: service.transactions };
    },
  };
}
