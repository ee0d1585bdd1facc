/**
 * Load-balancing policies over an upstream's targets: pure algorithms over indices, no I/O.
 * - `roundRobin`: smooth weighted round robin (the sequence nginx uses): over every window of
 *   Σweights picks, target i is chosen exactly weight(i) times, interleaved rather than in bursts.
 * - `leastRequest`: power of two choices (Mitzenmacher): two distinct random targets, the one with fewer
 *   active requests per unit of weight wins.
 * - `consistentHash`: a hash ring with virtual nodes (160 × weight per target, placed by the target's
 *   identity), so adding a target moves only the keys that now belong to it (≈ 1/N of them).
 *
 * Every `pick` skips targets for which `available(i)` is false and those in `exclude` (a retry prefers a
 * different target); it returns -1 when no target is left.
 */
import type { LoadBalancerKind } from './config.ts';

/** What the policies know of a target. */
export interface BalancedTarget {
  /** Stable identity (`host:port`): places the target on the hash ring. */
  readonly id: string;
  readonly weight: number;
}

/** Per-pick context. */
export interface PickContext {
  /** consistentHash key (header value, cookie or client IP); other policies ignore it. */
  readonly key?: string | undefined;
  /** Indices not to pick (targets already tried). */
  readonly exclude?: ReadonlySet<number> | undefined;
  /** A further per-request condition (e.g. the route's breaker for that target admits). */
  readonly admit?: ((i: number) => boolean) | undefined;
}

export interface LoadBalancer {
  /** Index of the chosen target, or -1 when none is available. */
  pick(ctx?: PickContext): number;
}

/** What a policy may ask of the live targets. */
export interface TargetState {
  /** Is target i able to take requests (healthy, breaker not open)? */
  available(i: number): boolean;
  /** Requests in flight on target i. */
  active(i: number): number;
}

const ALWAYS: TargetState = { available: () => true, active: () => 0 };

/** Creates the policy named in the config. */
export function createLoadBalancer(kind: LoadBalancerKind, targets: readonly BalancedTarget[], state: TargetState = ALWAYS, random: () => number = Math.random): LoadBalancer {
  switch (kind) {
    case 'roundRobin':
      return new WeightedRoundRobin(targets, state);
    case 'leastRequest':
      return new LeastRequest(targets, state, random);
    case 'consistentHash':
      return new ConsistentHash(targets, state);
  }
}

function usable(i: number, state: TargetState, ctx: PickContext | undefined): boolean {
  if (ctx === undefined) return state.available(i);
  return (ctx.exclude === undefined || !ctx.exclude.has(i)) && state.available(i) && (ctx.admit === undefined || ctx.admit(i));
}

/** Smooth weighted round robin, precomputed as one cycle of Σweights slots. */
export class WeightedRoundRobin implements LoadBalancer {
  readonly #schedule: Uint32Array;
  readonly #state: TargetState;
  #next = 0;

  constructor(targets: readonly BalancedTarget[], state: TargetState = ALWAYS) {
    this.#state = state;
    const total = targets.reduce((s, t) => s + t.weight, 0);
    this.#schedule = new Uint32Array(total);
    const current = targets.map(() => 0);
    for (let slot = 0; slot < total; slot++) {
      let best = 0;
      for (let i = 0; i < targets.length; i++) {
        current[i]! += targets[i]!.weight;
        if (current[i]! > current[best]!) best = i;
      }
      current[best]! -= total;
      this.#schedule[slot] = best;
    }
  }

  pick(ctx?: PickContext): number {
    const n = this.#schedule.length;
    for (let tries = 0; tries < n; tries++) {
      const i = this.#schedule[this.#next]!;
      this.#next = this.#next + 1 === n ? 0 : this.#next + 1;
      if (usable(i, this.#state, ctx)) return i;
    }
    return -1;
  }
}

/** Power of two choices on active requests per unit of weight. */
export class LeastRequest implements LoadBalancer {
  readonly #targets: readonly BalancedTarget[];
  readonly #state: TargetState;
  readonly #random: () => number;

  constructor(targets: readonly BalancedTarget[], state: TargetState = ALWAYS, random: () => number = Math.random) {
    this.#targets = targets;
    this.#state = state;
    this.#random = random;
  }

  pick(ctx?: PickContext): number {
    const n = this.#targets.length;
    const a = this.#randomUsable(ctx, -1);
    if (a === -1) return -1;
    const b = this.#randomUsable(ctx, a);
    if (b === -1) return a;
    const la = this.#state.active(a) / this.#targets[a]!.weight;
    const lb = this.#state.active(b) / this.#targets[b]!.weight;
    return n > 0 && lb < la ? b : a;
  }

  #randomUsable(ctx: PickContext | undefined, not: number): number {
    const n = this.#targets.length;
    const start = Math.floor(this.#random() * n);
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      if (i !== not && usable(i, this.#state, ctx)) return i;
    }
    return -1;
  }
}

/** Virtual nodes per unit of weight on the hash ring. */
export const RING_REPLICAS = 160;

/** Hash ring with virtual nodes; lookups are a binary search. */
export class ConsistentHash implements LoadBalancer {
  readonly #points: Uint32Array;
  readonly #owners: Uint32Array;
  readonly #state: TargetState;
  readonly #count: number;

  constructor(targets: readonly BalancedTarget[], state: TargetState = ALWAYS) {
    this.#state = state;
    this.#count = targets.length;
    const nodes: { point: number; owner: number }[] = [];
    targets.forEach((t, owner) => {
      for (let r = 0; r < RING_REPLICAS * t.weight; r++) nodes.push({ point: hash32(`${t.id}#${r}`), owner });
    });
    nodes.sort((a, b) => a.point - b.point || a.owner - b.owner);
    this.#points = Uint32Array.from(nodes, (n) => n.point);
    this.#owners = Uint32Array.from(nodes, (n) => n.owner);
  }

  pick(ctx?: PickContext): number {
    const points = this.#points;
    if (points.length === 0) return -1;
    const h = hash32(ctx?.key ?? '');
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    // Walk clockwise past unusable owners; each distinct owner is checked once.
    const seen = new Set<number>();
    for (let k = 0; k < points.length && seen.size < this.#count; k++) {
      const owner = this.#owners[(lo + k) % points.length]!;
      if (seen.has(owner)) continue;
      seen.add(owner);
      if (usable(owner, this.#state, ctx)) return owner;
    }
    return -1;
  }
}

/** MurmurHash3 (x86, 32-bit) over the string's UTF-16 code units: fast, well spread, unsigned. */
export function hash32(key: string, seed = 0x9747b28c): number {
  let h = seed >>> 0;
  const len = key.length;
  let i = 0;
  for (; i + 1 < len; i += 2) {
    let k = (key.charCodeAt(i) | (key.charCodeAt(i + 1) << 16)) >>> 0;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < len) {
    let k = key.charCodeAt(i);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
