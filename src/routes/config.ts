/**
 * The route model: a validated config with every default filled in. Produced only by
 * {@link validateConfig} (config-validate.ts); everything downstream (route table, upstreams, listeners)
 * reads these shapes and never the raw file.
 */
import type { LogLevel } from './log-level.ts';

export type ListenerProtocol = 'http' | 'sip' | 'sip-ws';

export interface Listener {
  readonly name: string;
  readonly protocol: ListenerProtocol;
  /** As written, `host:port`. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** `sip-ws`: WebSocket ping interval (ms; 0: none). */
  readonly keepaliveMs: number;
  /** `sip-ws`: accepted Origin values, lower-case; undefined: any. */
  readonly allowedOrigins: readonly string[] | undefined;
  /**
   * `sip`, `sip-ws`: the address written in Via sent-by and Record-Route instead of the bound one
   * (RFC 3261 §18.2.1, §16.6 step 4: an address peers can reach); port undefined: the listener's port.
   */
  readonly advertise?: { readonly host: string; readonly port: number | undefined };
}

export interface Target {
  /** As written, e.g. `http://127.0.0.1:9001` or `sip:127.0.0.1:5070;transport=udp`. */
  readonly url: string;
  /** For `sip:` targets: how to reach the SIP server. */
  readonly sip?: { readonly transport: 'udp' | 'tcp'; readonly host: string; readonly port: number };
  /** `http://host:port` (a `ws://` target is reached as `http://` and upgraded). */
  readonly origin: string;
  /** `host:port`, the target's identity in logs and metrics. */
  readonly authority: string;
  readonly weight: number;
}

export type LoadBalancerKind = 'roundRobin' | 'leastRequest' | 'consistentHash';

export type HashOn =
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string }
  | { readonly kind: 'clientIp' };

/** `timeout`: the attempt's response head did not come within `perTryTimeoutMs` (idempotent requests only). */
export type RetryCondition = 'connectFailure' | 'reset' | 'timeout' | number;

export interface Upstream {
  readonly name: string;
  readonly targets: readonly Target[];
  readonly loadBalancer: LoadBalancerKind;
  readonly hashOn: HashOn;
  readonly pool: { readonly connections: number; readonly keepAliveMs: number; readonly pipelining: number };
  readonly timeouts: { readonly connectMs: number; readonly requestMs: number; readonly idleMs: number };
  readonly retries: Retries;
  /** Per route × target error-ratio breaker; absent: no breaker. */
  readonly circuitBreaker: CircuitBreaker | undefined;
  /**
   * Active health checks (HTTP targets: GET `path`; SIP targets: SIP OPTIONS, `path` unused); absent:
   * targets are taken as healthy.
   */
  readonly healthCheck: HealthCheck | undefined;
  /** Passive outlier detection (ejection); absent: off. */
  readonly outlierDetection: OutlierDetection | undefined;
}

export interface Retries {
  /** Retries after the first try. */
  readonly attempts: number;
  readonly on: readonly RetryCondition[];
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  /** Retries in flight ≤ max(minRetryConcurrency, budgetPercent % of requests in flight). */
  readonly budgetPercent: number;
  readonly minRetryConcurrency: number;
  readonly perTryTimeoutMs: number | undefined;
  readonly maxRetryAfterMs: number;
}

export interface CircuitBreaker {
  readonly errorThresholdPercentage: number;
  readonly volumeThreshold: number;
  readonly rollingWindowMs: number;
  readonly resetTimeoutMs: number;
  readonly maxResetTimeoutMs: number;
  readonly halfOpenRequests: number;
  readonly slowCallMs: number | undefined;
}

/** Active health checks of an upstream's targets (`src/routes/target.machine.ts`). */
export interface HealthCheck {
  /** HTTP targets: the path probed with GET (default `/healthz`); not used for SIP targets (OPTIONS). */
  readonly path: string;
  /** Time from one probe's result to the next probe (ms). */
  readonly intervalMs: number;
  /** A probe with no answer within this (ms) fails. */
  readonly timeoutMs: number;
  /** Failures in a row that make a target unhealthy (out of the rotation). */
  readonly unhealthyThreshold: number;
  /** Successes in a row that make an unhealthy target healthy again. */
  readonly healthyThreshold: number;
}

export interface OutlierDetection {
  readonly consecutive5xx: number;
  readonly consecutiveGatewayFailures: number;
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  readonly maxEjectionPercent: number;
}

export type HeaderMatcher =
  | { readonly kind: 'exact'; readonly name: string; readonly value: string }
  | { readonly kind: 'prefix'; readonly name: string; readonly value: string }
  | { readonly kind: 'regex'; readonly name: string; readonly regex: RegExp }
  | { readonly kind: 'present'; readonly name: string; readonly present: boolean };

export type PathMatch =
  | { readonly kind: 'exact'; readonly path: string }
  | { readonly kind: 'prefix'; readonly prefix: string };

/** A SIP route's match: the request-URI host (exact or `*.domain`), optional methods and user prefix. */
export interface SipMatch {
  readonly domain: string;
  readonly methods: readonly string[];
  readonly userPrefix: string | undefined;
}

export interface RouteMatch {
  /** Set for SIP routes (on `sip` listeners); HTTP routes leave it undefined. */
  readonly sip?: SipMatch;
  readonly path: PathMatch;
  /** Lower-case host patterns: `example.com`, `*.example.com`; empty means any host. */
  readonly hosts: readonly string[];
  /** Upper-case methods; empty means any method. */
  readonly methods: readonly string[];
  readonly headers: readonly HeaderMatcher[];
}

export interface Route {
  readonly name: string;
  readonly listeners: readonly string[];
  readonly match: RouteMatch;
  readonly upstream: string;
  readonly stripPrefix: boolean;
  /** SIP routes: forward REGISTER with a Path (`upstream`), or answer it here (`edge`). */
  readonly registrar: 'upstream' | 'edge';
  readonly websocket: boolean;
  readonly preserveHost: boolean;
  readonly hostRewrite: string | undefined;
  /** Largest request body for this route (bytes). */
  readonly bodyBytes: number;
  /** When removed or replaced by a reload: how long in-flight requests may finish, and what happens to WebSockets then. */
  readonly drain: { readonly deadlineMs: number; readonly websockets: 'keep' | 'close' };
  /** Position in the config file: the last tie-breaker of precedence. */
  readonly order: number;
}

export interface SipSettings {
  readonly t1Ms: number;
  readonly t2Ms: number;
  readonly t4Ms: number;
  readonly timerCMs: number;
}

export interface Config {
  readonly log: { readonly level: LogLevel; readonly access: boolean };
  readonly limits: { readonly bodyBytes: number; readonly headerBytes: number };
  readonly shutdown: { readonly drainMs: number };
  /** SIP timers (ms): RFC 3261 T1, T2, T4 and the proxy's Timer C. */
  readonly sip: SipSettings;
  readonly listeners: readonly Listener[];
  readonly admin: { readonly address: string; readonly token: string | undefined } | undefined;
  readonly upstreams: readonly Upstream[];
  readonly routes: readonly Route[];
}

/** A problem found while validating, kept for output; the config is not usable while any are errors. */
export interface ConfigWarning {
  readonly path: string;
  readonly message: string;
}
