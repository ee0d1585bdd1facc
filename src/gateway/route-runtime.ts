/**
 * What the route table resolves to: a route, its upstream, the route machine's gate and, when the
 * upstream has a `circuitBreaker`, one breaker gate per target (breakers are per route × target).
 */
import type { Clock } from '../fsm/index.ts';
import { BreakerGate } from '../routes/breaker.machine.ts';
import type { Route } from '../routes/config.ts';
import { RouteGate } from '../routes/route.machine.ts';
import type { ProxyObserver } from './observer.ts';
import type { UpstreamRuntime } from './upstream-runtime.ts';

export class RouteRuntime {
  readonly route: Route;
  readonly upstream: UpstreamRuntime;
  readonly gate = new RouteGate();
  /** Per target index; undefined without a circuit breaker. */
  readonly breakers: readonly BreakerGate[] | undefined;
  readonly observer: ProxyObserver;
  readonly clock: Clock;
  /** The per-request condition of target choice: the route's breaker for that target admits. */
  readonly admit: ((i: number) => boolean) | undefined;
  /** The route's supervisor's child id (`route:<name>`, `route:<name>#<generation>` after reloads). */
  readonly childId: string;
  /** Set when a reload retires this version of the route. */
  retiring: 'replaced' | 'removed' | undefined;
  /** HTTP requests in flight on this route (for drain). */
  inFlight = 0;
  /** Open WebSocket sessions on this route (for drain and the plan). */
  readonly sessions = new Set<{ close(code: number, reason: string): void }>();

  constructor(route: Route, upstream: UpstreamRuntime, observer: ProxyObserver, clock: Clock, generation = 0) {
    this.route = route;
    this.childId = generation === 0 ? `route:${route.name}` : `route:${route.name}#${generation}`;
    this.upstream = upstream;
    this.observer = observer;
    this.clock = clock;
    const breakers = upstream.upstream.circuitBreaker === undefined ? undefined : upstream.targets.map(() => new BreakerGate(clock));
    this.breakers = breakers;
    this.admit = breakers === undefined ? undefined : (i) => breakers[i]!.canAdmit();
  }

  /** Seconds until some target may take a request again (for `Retry-After` on 503), at least 1. */
  retryAfterSeconds(): number {
    if (this.breakers === undefined) return 1;
    let best = Infinity;
    for (const b of this.breakers) if (b.state === 'open') best = Math.min(best, b.retryAfterSeconds());
    return Number.isFinite(best) ? best : 1;
  }
}
