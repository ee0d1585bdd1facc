/**
 * What the admin API reads: the gateway hands an {@link AdminSources} to the admin server, which only
 * renders it. Data flows one way: the data plane and the machines update their state; the admin API
 * reads snapshots.
 */
import type { SupervisorTree } from '../../fsm/index.ts';

/** A breaker of one route × upstream target (`GET /status`). */
export interface BreakerStatus {
  /** `host:port` of the target. */
  readonly target: string;
  readonly state: 'closed' | 'open' | 'halfOpen';
  /** How many times it re-opened since it was last closed (the open time grows with it). */
  readonly reopens: number;
  /** While open: ms until it goes half-open. */
  readonly retryInMs?: number;
  readonly transitions: number;
}

export interface RouteStatus {
  readonly name: string;
  /** The route machine's state: `active`, `draining`; `quarantined` after a crash loop past its intensity. */
  readonly state: 'active' | 'draining' | 'quarantined';
  readonly upstream: string;
  readonly listeners: readonly string[];
  /** Restarts of the route machine by its supervisor. */
  readonly restarts: number;
  readonly requests: number;
  readonly breakers: readonly BreakerStatus[];
  /** `sip` for SIP routes; absent for HTTP ones. */
  readonly protocol?: 'sip';
}

export interface TargetStatus {
  readonly url: string;
  /** `host:port` */
  readonly authority: string;
  readonly weight: number;
  /** Active health checks' verdict (`healthy` when no health check is configured). */
  readonly health: 'healthy' | 'unhealthy';
  /** Passive outlier detection: ejected from the rotation for a while. */
  readonly ejected: boolean;
  readonly ejections: number;
  /** Requests in flight. */
  readonly active: number;
  readonly requests: number;
  readonly failures: number;
}

export interface UpstreamStatus {
  readonly name: string;
  readonly loadBalancer: string;
  readonly targets: readonly TargetStatus[];
}

/** The SIP side in `GET /status`. */
export interface SipStatusDocument {
  readonly listeners: readonly { readonly name: string; readonly protocol: 'sip' | 'sip-ws'; readonly port?: number | undefined; readonly connections?: number }[];
  /** Live transactions by kind (RFC 3261 §17), and their total. */
  readonly transactions: { readonly inviteClient: number; readonly nonInviteClient: number; readonly inviteServer: number; readonly nonInviteServer: number; readonly total: number };
  readonly pendingInvites: number;
  /** Open flows (UDP peers, TCP and WebSocket connections). */
  readonly flows: number;
  readonly wsConnections: number;
  /** Edge registrar: bindings, and the flows they use. */
  readonly registrations: { readonly bindings: number; readonly flows: number };
  readonly transport: Readonly<Record<'udp' | 'tcp' | 'ws', { readonly received: number; readonly sent: number; readonly malformed: number; readonly rejected: number; readonly dropped: number; readonly keepalives: number }>>;
}

/** `GET /status`. */
export interface StatusDocument {
  /** HTTP and SIP routes (a SIP route has `protocol: sip`). */
  readonly routes: readonly RouteStatus[];
  readonly upstreams: readonly UpstreamStatus[];
  /** Present when SIP listeners are configured. */
  readonly sip?: SipStatusDocument;
}

/** Everything the admin server reads. */
export interface AdminSources {
  /** Snapshot of every route and upstream target with its machines' states and counters. */
  status(): StatusDocument;
  /** The supervision tree (`GET /supervisor`). */
  supervisor(): SupervisorTree;
  /** Prometheus text exposition (`GET /metrics`) and its content type. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Config loaded and every listener up (`GET /readyz`). */
  ready(): boolean;
}
