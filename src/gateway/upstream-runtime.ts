/**
 * The live side of an upstream: one undici Pool per target (keep-alive, connection limit, connect and
 * response timeouts), the load-balancing policy, and the in-flight count of each target. Owned by the
 * gateway; closed when the upstream leaves the config or the gateway stops.
 */
import { Pool } from 'undici';
import type { HashOn, Target, Upstream } from '../routes/config.ts';
import { createLoadBalancer, type LoadBalancer } from '../routes/load-balancer.ts';

/** One target and its pool. `active` counts requests in flight (for leastRequest and drain). */
export interface TargetRuntime {
  readonly target: Target;
  readonly pool: Pool;
  active: number;
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

  constructor(upstream: Upstream) {
    this.upstream = upstream;
    this.targets = upstream.targets.map((target) => ({
      target,
      active: 0,
      pool: new Pool(target.origin, {
        connections: upstream.pool.connections,
        pipelining: upstream.pool.pipelining,
        keepAliveTimeout: upstream.pool.keepAliveMs,
        keepAliveMaxTimeout: Math.max(upstream.pool.keepAliveMs, 1000),
        headersTimeout: upstream.timeouts.requestMs,
        bodyTimeout: upstream.timeouts.idleMs,
        connect: { timeout: upstream.timeouts.connectMs },
      }),
    }));
    const targets = this.targets;
    this.#balancer = createLoadBalancer(
      upstream.loadBalancer,
      upstream.targets.map((t) => ({ id: t.authority, weight: t.weight })),
      { available: () => true, active: (i) => targets[i]!.active },
    );
  }

  /**
   * Picks a target for a request; `exclude` holds indices already tried. Returns -1 when none is left.
   */
  pick(source: HashSource, exclude?: ReadonlySet<number>): number {
    const key = this.upstream.loadBalancer === 'consistentHash' ? hashKey(this.upstream.hashOn, source) : undefined;
    return this.#balancer.pick({ key, exclude });
  }

  /** Closes every pool once its requests finish (undici `Pool.close`). */
  async close(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.pool.close()));
  }

  /** Destroys every pool at once, aborting what is in flight. */
  async destroy(): Promise<void> {
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
