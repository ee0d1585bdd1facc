/**
 * The live side of an upstream: one undici Pool per target (keep-alive, connection limit, connect and
 * response timeouts), the load-balancing policy, each target's {@link TargetGate} (written by its target
 * machine: health, ejection) and counters, and the upstream's retry budget. Owned by the upstream's
 * supervisor; its pools close when the upstream stops.
 */
import type { Pool } from 'undici';
import { PoolRegistry, type PoolLease } from './pool-registry.ts';
import type { HashOn, Target, Upstream } from '../routes/config.ts';
import { createLoadBalancer, type LoadBalancer } from '../routes/load-balancer.ts';
import { RetryBudget } from '../routes/retry-budget.ts';
import { TargetGate } from '../routes/target.machine.ts';

/** One target: its pool, its gate, its counters. */
export interface TargetRuntime {
  readonly target: Target;
  readonly index: number;
  readonly pool: Pool;
  readonly gate: TargetGate;
  /** Requests in flight (for leastRequest and the retry budget). */
  active: number;
  /** Attempts sent, and those that failed (5xx, connect failure, reset, timeout). */
  requests: number;
  failures: number;
  /** Delivers an outcome to the target's machine (set while it runs). */
  report: ((kind: 'ok' | 'http5xx' | 'gatewayFailure') => void) | undefined;
}

/** What the hash key of consistentHash is read from. */
export interface HashSource {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly clientIp: string;
}

export class UpstreamRuntime {
  readonly upstream: Upstream;
  readonly targets: readonly TargetRuntime[];
  readonly #balancer: LoadBalancer;
  /** Requests in flight to this upstream, and retries among them (the retry budget's inputs). */
  activeRequests = 0;
  activeRetries = 0;
  readonly retryBudget: RetryBudget;
  /** The upstream's supervisor's child id (`upstream:<name>`, `upstream:<name>#<generation>` after reloads). */
  readonly childId: string;

  readonly #leases: PoolLease[];

  /**
   * @param pools where the targets' pools come from (shared across config versions); a private
   *   registry when omitted.
   */
  constructor(upstream: Upstream, generation = 0, pools: PoolRegistry = new PoolRegistry(0)) {
    this.upstream = upstream;
    this.childId = generation === 0 ? `upstream:${upstream.name}` : `upstream:${upstream.name}#${generation}`;
    this.retryBudget = new RetryBudget(upstream.retries.budgetPercent, upstream.retries.minRetryConcurrency);
    this.#leases = upstream.targets.map((target) =>
      pools.lease(target.origin, {
        connections: upstream.pool.connections,
        pipelining: upstream.pool.pipelining,
        keepAliveMs: upstream.pool.keepAliveMs,
        connectMs: upstream.timeouts.connectMs,
        headersTimeoutMs: upstream.timeouts.requestMs,
        bodyTimeoutMs: upstream.timeouts.idleMs,
      }),
    );
    this.targets = upstream.targets.map((target, index) => ({
      target,
      index,
      active: 0,
      requests: 0,
      failures: 0,
      gate: new TargetGate(),
      report: undefined,
      pool: this.#leases[index]!.pool,
    }));
    const targets = this.targets;
    this.#balancer = createLoadBalancer(
      upstream.loadBalancer,
      upstream.targets.map((t) => ({ id: t.authority, weight: t.weight })),
      { available: (i) => targets[i]!.gate.available, active: (i) => targets[i]!.active },
    );
  }

  /**
   * Picks a target for a request: in the rotation (healthy, not ejected), not in `exclude` (already
   * tried), and admitted by `admit` (the route's breaker). Returns -1 when none is left.
   */
  pick(source: HashSource, exclude?: ReadonlySet<number>, admit?: (i: number) => boolean): number {
    const key = this.upstream.loadBalancer === 'consistentHash' ? hashKey(this.upstream.hashOn, source) : undefined;
    return this.#balancer.pick({ key, exclude, admit });
  }

  /** Takes a place in the retry budget ({@link RetryBudget}); false when it is spent. */
  takeRetry(): boolean {
    return this.retryBudget.tryWithdraw(this.activeRetries, this.activeRequests);
  }

  /** How many targets are ejected now (for outlier detection's `maxEjectionPercent`). */
  ejectedCount(): number {
    let n = 0;
    for (const t of this.targets) if (t.gate.ejected) n++;
    return n;
  }

  /**
   * Gives the pools back: a pool no other upstream version leases closes (after its requests finish,
   * and after the registry's linger).
   */
  async close(): Promise<void> {
    for (const lease of this.#leases) lease.release();
  }

  /** Destroys every pool at once, aborting what is in flight (a failed start). */
  async destroy(): Promise<void> {
    for (const lease of this.#leases) lease.release();
    await Promise.all(this.targets.map((t) => t.pool.destroy()));
  }
}

/** The consistentHash key of a request; falls back to the client IP when the header/cookie is absent. */
export function hashKey(on: HashOn, source: HashSource): string {
  if (on.kind === 'header') {
    const v = source.headers[on.name];
    if (v !== undefined) return Array.isArray(v) ? v.join(',') : v;
  } else if (on.kind === 'cookie') {
    const v = cookieValue(source.headers['cookie'], on.name);
    if (v !== undefined) return v;
  }
  return source.clientIp;
}

function cookieValue(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const all = Array.isArray(header) ? header.join('; ') : header;
  for (const part of all.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
