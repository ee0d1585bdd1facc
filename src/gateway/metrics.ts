/**
 * Tandem's Prometheus metrics: one {@link Metrics} object per gateway, owning its own prom-client
 * `Registry` (never the global one), with Node's default process metrics (prefixed `tandem_`) and the
 * instruments of the data plane, upstreams, breakers, health checks and routes.
 *
 * Every series is a plain cell (`{ value }`, or bucket counts for the histogram) held in a
 * {@link Family}; prom-client only formats them at scrape time, through the registry's metric interface
 * (`get()` → `{ name, help, type, values }`). The hot path ({@link Metrics.request}, {@link Metrics.attempt})
 * finds its cells through nested Maps keyed by the label values, so a request costs a few Map lookups and
 * an addition: no label object, no label hashing, no validation. (Caching prom-client's `labels(...)`
 * children does not get there: each `inc()` on a child still hashes and validates its labels.)
 *
 * Series of removed routes and targets are dropped with {@link Metrics.forget}.
 */
import { collectDefaultMetrics, type Metric, Registry } from 'prom-client';
import type { SipStatusDocument } from './admin/sources.ts';
import type { SipObserver } from './sip-service.ts';

/** `tandem_http_request_duration_seconds` buckets (seconds). */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** How one attempt to reach an upstream target ended. */
export type AttemptOutcome = 'ok' | 'http5xx' | 'connectFailure' | 'reset' | 'timeout';
export type BreakerState = 'closed' | 'open' | 'halfOpen';
export type HealthCheckResult = 'success' | 'failure';

const BREAKER_STATES: readonly BreakerState[] = ['closed', 'open', 'halfOpen'];

/** Labels that {@link Metrics.forget} matches on. */
export interface SeriesMatch {
  readonly listener?: string;
  readonly route?: string;
  readonly upstream?: string;
  readonly target?: string;
}

export interface MetricsOptions {
  /** Node's process metrics (`tandem_process_*`, `tandem_nodejs_*`). Default true. */
  readonly defaultMetrics?: boolean;
}

type Labels = Record<string, string>;

interface ValueCell {
  readonly labels: Labels;
  value: number;
}

interface HistogramCell {
  readonly labels: Labels;
  /** Per-bucket counts (not cumulative); index `buckets.length` is the `+Inf` overflow. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/** One sample as prom-client's registry formats it. */
interface Sample {
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly metricName?: string;
}

/**
 * A metric family: its name, help, type, label names and series. Registered in a prom-client `Registry`
 * as a metric object (`get()`, `reset()`), so prom-client renders it like its own instruments.
 */
class Family<C extends ValueCell | HistogramCell> {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly labelNames: readonly string[];
  readonly aggregator = 'sum';
  readonly #series = new Map<string, C>();
  readonly #create: (labels: Labels) => C;
  readonly #samples: (cell: C, out: Sample[]) => void;

  constructor(
    name: string,
    help: string,
    type: 'counter' | 'gauge' | 'histogram',
    labelNames: readonly string[],
    create: (labels: Labels) => C,
    samples: (cell: C, out: Sample[]) => void,
  ) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.labelNames = labelNames;
    this.#create = create;
    this.#samples = samples;
  }

  /** The cell of these label values (in `labelNames` order), created at zero. */
  cell(values: readonly string[]): C {
    const key = values.join('\u0000');
    let cell = this.#series.get(key);
    if (cell === undefined) {
      const labels: Labels = {};
      for (let i = 0; i < this.labelNames.length; i++) labels[this.labelNames[i]!] = values[i] ?? '';
      cell = this.#create(labels);
      this.#series.set(key, cell);
    }
    return cell;
  }

  /** Removes the series whose labels equal every given one; a family lacking one of the labels keeps all. */
  forget(match: SeriesMatch): number {
    const entries = Object.entries(match).filter((e): e is [string, string] => e[1] !== undefined);
    if (entries.length === 0 || !entries.every(([name]) => this.labelNames.includes(name))) return 0;
    let removed = 0;
    for (const [key, cell] of this.#series) {
      if (entries.every(([name, value]) => cell.labels[name] === value)) {
        this.#series.delete(key);
        removed++;
      }
    }
    return removed;
  }

  /** prom-client's metric interface: what the registry renders. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    const values: Sample[] = [];
    for (const cell of this.#series.values()) this.#samples(cell, values);
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** prom-client's `registry.resetMetrics()`. */
  reset(): void {
    this.#series.clear();
  }
}

function valueFamily(name: string, help: string, type: 'counter' | 'gauge', labelNames: readonly string[]): Family<ValueCell> {
  return new Family<ValueCell>(
    name,
    help,
    type,
    labelNames,
    (labels) => ({ labels, value: 0 }),
    (cell, out) => out.push({ value: cell.value, labels: cell.labels }),
  );
}

function histogramFamily(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Family<HistogramCell> {
  return new Family<HistogramCell>(
    name,
    help,
    'histogram',
    labelNames,
    (labels) => ({ labels, counts: new Float64Array(buckets.length + 1), sum: 0, count: 0 }),
    (cell, out) => {
      let cumulative = 0;
      for (let i = 0; i < buckets.length; i++) {
        cumulative += cell.counts[i]!;
        out.push({ value: cumulative, labels: { le: buckets[i]!, ...cell.labels }, metricName: `${name}_bucket` });
      }
      out.push({ value: cell.count, labels: { le: '+Inf', ...cell.labels }, metricName: `${name}_bucket` });
      out.push({ value: cell.sum, labels: cell.labels, metricName: `${name}_sum` });
      out.push({ value: cell.count, labels: cell.labels, metricName: `${name}_count` });
    },
  );
}

/** SIP methods of the IANA registry; any other (a client may send any token) is counted as `other`. */
const SIP_METHODS = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'PRACK', 'SUBSCRIBE', 'NOTIFY', 'PUBLISH', 'INFO', 'REFER', 'MESSAGE', 'UPDATE']);

function methodLabel(method: string): string {
  return SIP_METHODS.has(method) ? method : 'other';
}

/** Nested maps from label values to a cell: the hot path's lookup, with no key string to build. */
type Tree<C> = Map<string | number, Tree<C> | C>;

function branch<C>(tree: Tree<C>, key: string | number): Tree<C> {
  let next = tree.get(key) as Tree<C> | undefined;
  if (next === undefined) {
    next = new Map();
    tree.set(key, next);
  }
  return next;
}

/**
 * The gateway's metrics. Every method is synchronous and cheap; {@link render} produces the Prometheus text
 * exposition for `GET /metrics`.
 */
export class Metrics {
  /** This gateway's registry (not prom-client's global one). */
  readonly registry = new Registry();

  readonly #requests = valueFamily('tandem_http_requests_total', 'HTTP requests answered, by listener, route, upstream and status.', 'counter', ['listener', 'route', 'upstream', 'status']);
  readonly #duration = histogramFamily('tandem_http_request_duration_seconds', 'Time from request received to response finished, by route (seconds).', ['route'], DURATION_BUCKETS);
  readonly #attempts = valueFamily('tandem_upstream_attempts_total', 'Attempts to reach an upstream target, by outcome (ok, http5xx, connectFailure, reset, timeout).', 'counter', ['upstream', 'target', 'outcome']);
  readonly #retries = valueFamily('tandem_upstream_retries_total', 'Retries of requests to an upstream, by route.', 'counter', ['route', 'upstream']);
  readonly #budgetExhausted = valueFamily('tandem_retry_budget_exhausted_total', 'Retries not made because the upstream retry budget was spent.', 'counter', ['upstream']);
  readonly #breakerState = valueFamily('tandem_breaker_state', 'Circuit breaker state of a route and target: 1 for the current state, 0 for the others.', 'gauge', ['route', 'target', 'state']);
  readonly #breakerTransitions = valueFamily('tandem_breaker_transitions_total', 'Circuit breaker state changes.', 'counter', ['route', 'target', 'from', 'to']);
  readonly #ejections = valueFamily('tandem_outlier_ejections_total', 'Ejections of a target by passive outlier detection.', 'counter', ['upstream', 'target']);
  readonly #ejected = valueFamily('tandem_target_ejected', '1 while the target is ejected by outlier detection.', 'gauge', ['upstream', 'target']);
  readonly #healthy = valueFamily('tandem_target_healthy', '1 while active health checks find the target healthy.', 'gauge', ['upstream', 'target']);
  readonly #healthChecks = valueFamily('tandem_health_checks_total', 'Active health checks, by result (success, failure).', 'counter', ['upstream', 'target', 'result']);
  readonly #quarantined = valueFamily('tandem_route_quarantined', '1 while the route is quarantined after a crash loop.', 'gauge', ['route']);
  readonly #routeRestarts = valueFamily('tandem_route_restarts_total', 'Restarts of the route machine by its supervisor.', 'counter', ['route']);
  readonly #websockets = valueFamily('tandem_websocket_sessions', 'Open WebSocket sessions, by route.', 'gauge', ['route']);
  readonly #reloads = valueFamily('tandem_config_reloads_total', 'Config changes applied or rejected, by source (admin, file, signal) and result (success, failure).', 'counter', ['source', 'result']);
  readonly #lastReload = valueFamily('tandem_config_last_reload_success_timestamp_seconds', 'When the last config change was applied (Unix time, seconds).', 'gauge', []);

  readonly #sipRequests = valueFamily('tandem_sip_requests_received_total', 'SIP requests received (well-formed), by method.', 'counter', ['method']);
  readonly #sipResponses = valueFamily('tandem_sip_responses_received_total', 'SIP responses received (well-formed), by status code.', 'counter', ['code']);
  readonly #sipLocal = valueFamily('tandem_sip_local_responses_total', 'SIP responses generated by Tandem (404, 408, 430, 483, 503, an edge registrar 200…), by request method and status code.', 'counter', ['method', 'code']);
  readonly #sipRetransmissions = valueFamily('tandem_sip_retransmissions_total', 'SIP retransmissions: sent by Tandem’s transactions (requests on Timers A/E, final responses), or received and absorbed (requests).', 'counter', ['direction', 'kind']);
  readonly #sipFailovers = valueFamily('tandem_sip_failovers_total', 'SIP requests sent to another target of their upstream after a failed try (serial failover), by reason: connectFailure (transport error before any response), reset (transport error after a provisional), timeout (Timer B of an INVITE, or Timer C before a provisional), status (a final response listed in retries.on).', 'counter', ['reason']);
  readonly #sipTimerC = valueFamily('tandem_sip_timer_c_total', 'Proxied INVITE branches ended by Timer C (RFC 3261 §16.8).', 'counter', []);
  readonly #sipTransactions = valueFamily('tandem_sip_transactions', 'Live SIP transactions, by kind (inviteClient, nonInviteClient, inviteServer, nonInviteServer).', 'gauge', ['kind']);
  readonly #sipWs = valueFamily('tandem_sip_websocket_connections', 'Open SIP WebSocket connections (RFC 7118).', 'gauge', []);
  readonly #sipFlows = valueFamily('tandem_sip_flows', 'Open SIP flows: UDP peers, TCP and WebSocket connections (RFC 5626).', 'gauge', []);
  readonly #sipRegistered = valueFamily('tandem_sip_registered_flows', 'Flows with at least one edge registrar binding.', 'gauge', []);
  readonly #sipBindings = valueFamily('tandem_sip_registrations', 'Edge registrar bindings (Contacts bound to an address-of-record).', 'gauge', []);
  readonly #sipTransport = valueFamily('tandem_sip_transport_messages_total', 'SIP messages by transport (udp, tcp, ws) and outcome (received, sent, malformed, rejected, dropped, keepalives).', 'counter', ['transport', 'outcome']);
  #sipStatus: (() => SipStatusDocument | undefined) | undefined;

  readonly #families: readonly (Family<ValueCell> | Family<HistogramCell>)[] = [
    this.#sipRequests,
    this.#sipResponses,
    this.#sipLocal,
    this.#sipRetransmissions,
    this.#sipTimerC,
    this.#sipFailovers,
    this.#sipTransactions,
    this.#sipWs,
    this.#sipFlows,
    this.#sipRegistered,
    this.#sipBindings,
    this.#sipTransport,
    this.#requests,
    this.#duration,
    this.#attempts,
    this.#retries,
    this.#budgetExhausted,
    this.#breakerState,
    this.#breakerTransitions,
    this.#ejections,
    this.#ejected,
    this.#healthy,
    this.#healthChecks,
    this.#quarantined,
    this.#routeRestarts,
    this.#websockets,
    this.#reloads,
    this.#lastReload,
  ];

  // Hot-path caches over the families above (which stay the source of truth; forget() clears these).
  #requestTree: Tree<ValueCell> = new Map();
  #durationCells = new Map<string, HistogramCell>();
  #attemptTree: Tree<ValueCell> = new Map();

  constructor(options: MetricsOptions = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'tandem_' });
    // The families implement the registry's metric interface (name, help, type, get, reset).
    for (const family of this.#families) this.registry.registerMetric(family as unknown as Metric);
  }

  /** One answered HTTP request: `tandem_http_requests_total` and `tandem_http_request_duration_seconds`. */
  request(listener: string, route: string, upstream: string, status: number, durationSeconds: number): void {
    const byStatus = branch(branch(branch(this.#requestTree, listener), route), upstream);
    let cell = byStatus.get(status) as ValueCell | undefined;
    if (cell === undefined) {
      cell = this.#requests.cell([listener, route, upstream, String(status)]);
      byStatus.set(status, cell);
    }
    cell.value++;

    if (!(durationSeconds >= 0 && durationSeconds !== Infinity)) return; // NaN, negative, Infinity: not a duration
    let histogram = this.#durationCells.get(route);
    if (histogram === undefined) {
      histogram = this.#duration.cell([route]);
      this.#durationCells.set(route, histogram);
    }
    let i = 0;
    while (i < DURATION_BUCKETS.length && durationSeconds > DURATION_BUCKETS[i]!) i++;
    histogram.counts[i]!++;
    histogram.sum += durationSeconds;
    histogram.count++;
  }

  /** One attempt to reach a target: `tandem_upstream_attempts_total`. */
  attempt(upstream: string, target: string, outcome: AttemptOutcome): void {
    const byOutcome = branch(branch(this.#attemptTree, upstream), target);
    let cell = byOutcome.get(outcome) as ValueCell | undefined;
    if (cell === undefined) {
      cell = this.#attempts.cell([upstream, target, outcome]);
      byOutcome.set(outcome, cell);
    }
    cell.value++;
  }

  /** `tandem_upstream_retries_total` */
  retry(route: string, upstream: string): void {
    this.#retries.cell([route, upstream]).value++;
  }

  /** `tandem_retry_budget_exhausted_total` */
  retryBudgetExhausted(upstream: string): void {
    this.#budgetExhausted.cell([upstream]).value++;
  }

  /** `tandem_breaker_state`: 1 for `state`, 0 for the other two. */
  breakerState(route: string, target: string, state: BreakerState): void {
    for (const s of BREAKER_STATES) this.#breakerState.cell([route, target, s]).value = s === state ? 1 : 0;
  }

  /** `tandem_breaker_transitions_total`; also sets `tandem_breaker_state` to `to`. */
  breakerTransition(route: string, target: string, from: BreakerState, to: BreakerState): void {
    this.#breakerTransitions.cell([route, target, from, to]).value++;
    this.breakerState(route, target, to);
  }

  /** `tandem_outlier_ejections_total` (count the ejection; {@link ejected} sets the gauge). */
  ejection(upstream: string, target: string): void {
    this.#ejections.cell([upstream, target]).value++;
  }

  /** `tandem_target_ejected` */
  ejected(upstream: string, target: string, ejected: boolean): void {
    this.#ejected.cell([upstream, target]).value = ejected ? 1 : 0;
  }

  /** `tandem_target_healthy` */
  healthy(upstream: string, target: string, healthy: boolean): void {
    this.#healthy.cell([upstream, target]).value = healthy ? 1 : 0;
  }

  /** `tandem_health_checks_total` */
  healthCheck(upstream: string, target: string, result: HealthCheckResult): void {
    this.#healthChecks.cell([upstream, target, result]).value++;
  }

  /** `tandem_route_quarantined` */
  quarantined(route: string, quarantined: boolean): void {
    this.#quarantined.cell([route]).value = quarantined ? 1 : 0;
  }

  /** `tandem_route_restarts_total` */
  routeRestart(route: string): void {
    this.#routeRestarts.cell([route]).value++;
  }

  /** `tandem_websocket_sessions`: +1 when a session opens, -1 when it closes. */
  websocketSessions(route: string, delta: number): void {
    this.#websockets.cell([route]).value += delta;
  }

  /** `tandem_config_reloads_total`; a success also sets `tandem_config_last_reload_success_timestamp_seconds`. */
  configReload(source: string, result: 'success' | 'failure'): void {
    this.#reloads.cell([source, result]).value++;
    if (result === 'success') this.#lastReload.cell([]).value = Date.now() / 1000;
  }

  /**
   * Removes every series whose labels equal all the given ones, in each instrument that has all those
   * labels: `forget({ route })` after a route is removed, `forget({ upstream, target })` after a target is.
   * An empty match removes nothing. Returns how many series were removed.
   */
  forget(match: SeriesMatch): number {
    let removed = 0;
    for (const family of this.#families) removed += family.forget(match);
    if (removed > 0) {
      this.#requestTree = new Map();
      this.#durationCells = new Map();
      this.#attemptTree = new Map();
    }
    return removed;
  }

  /**
   * The counters the SIP service feeds: requests and responses received, responses generated here,
   * retransmissions, Timer C.
   */
  sipObserver(): SipObserver {
    const requests = new Map<string, ValueCell>();
    const responses = new Map<number, ValueCell>();
    return {
      onReceived: (event) => {
        if (event.type === 'request') {
          const method = methodLabel(event.message.method);
          let cell = requests.get(method);
          if (cell === undefined) requests.set(method, (cell = this.#sipRequests.cell([method])));
          cell.value++;
        } else {
          const code = event.message.status;
          let cell = responses.get(code);
          if (cell === undefined) responses.set(code, (cell = this.#sipResponses.cell([String(code)])));
          cell.value++;
        }
      },
      onLocalResponse: (status, method) => void this.#sipLocal.cell([methodLabel(method), String(status)]).value++,
      onRetransmission: (direction, kind) => void this.#sipRetransmissions.cell([direction, kind]).value++,
      onTimerC: () => void this.#sipTimerC.cell([]).value++,
      onFailover: (reason) => void this.#sipFailovers.cell([reason]).value++,
      onRetryBudgetExhausted: (upstream) => this.retryBudgetExhausted(upstream),
      onBreakerTransition: (upstream, target, from, to) => {
        // SIP breakers belong to an upstream's targets: the `route` label carries the upstream's name.
        this.breakerTransition(upstream, target, from, to);
        this.breakerState(upstream, target, to);
      },
      onHealthCheck: (upstream, target, ok) => this.healthCheck(upstream, target, ok ? 'success' : 'failure'),
      onTargetHealth: (upstream, target, healthy) => this.healthy(upstream, target, healthy),
      onTargetHealthRemoved: (upstream, target) => void this.forget({ upstream, target }),
    };
  }

  /** The source of the SIP gauges, read at each scrape. */
  sipStatus(source: () => SipStatusDocument | undefined): void {
    this.#sipStatus = source;
  }

  #refreshSip(): void {
    const status = this.#sipStatus?.();
    if (status === undefined) return;
    for (const kind of ['inviteClient', 'nonInviteClient', 'inviteServer', 'nonInviteServer'] as const) this.#sipTransactions.cell([kind]).value = status.transactions[kind];
    this.#sipWs.cell([]).value = status.wsConnections;
    this.#sipFlows.cell([]).value = status.flows;
    this.#sipRegistered.cell([]).value = status.registrations.flows;
    this.#sipBindings.cell([]).value = status.registrations.bindings;
    for (const transport of ['udp', 'tcp', 'ws'] as const) {
      for (const [outcome, value] of Object.entries(status.transport[transport])) this.#sipTransport.cell([transport, outcome]).value = value;
    }
  }

  /** The Prometheus text exposition of every metric, and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    this.#refreshSip();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
