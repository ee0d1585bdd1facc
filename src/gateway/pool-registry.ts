/**
 * Connection pools shared across config versions. A reload that replaces an upstream (new timeouts, a
 * target added) keeps the pools of the targets it still has: the new version leases the same undici Pool,
 * so traffic moves to it on warm keep-alive connections instead of opening a burst of new ones. A pool no
 * version leases any more lingers `lingerMs` before it closes, so a target that comes back soon (a change
 * rolled back) finds its connections still open.
 *
 * Pools are keyed by origin and the settings a Pool fixes at creation (connection limit, pipelining,
 * keep-alive, connect timeout); per-request timeouts are per dispatch and do not split pools.
 */
import { Pool } from 'undici';

export interface PoolSettings {
  readonly connections: number;
  readonly pipelining: number;
  readonly keepAliveMs: number;
  readonly connectMs: number;
  /** Defaults of requests that set none (health checks set their own). */
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
}

interface Entry {
  readonly pool: Pool;
  leases: number;
  linger: NodeJS.Timeout | undefined;
}

/** A lease on a shared pool: release it once, when the upstream version that took it stops. */
export interface PoolLease {
  readonly pool: Pool;
  release(): void;
}

export class PoolRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #lingerMs: number;
  #closed = false;

  constructor(lingerMs = 5000) {
    this.#lingerMs = lingerMs;
  }

  /** Pools open now (for tests and status). */
  get size(): number {
    return this.#entries.size;
  }

  /** Leases the pool for `origin` with `settings`, creating it if none is open. */
  lease(origin: string, settings: PoolSettings): PoolLease {
    const key = `${origin}|${settings.connections}|${settings.pipelining}|${settings.keepAliveMs}|${settings.connectMs}`;
    let entry = this.#entries.get(key);
    if (entry === undefined || this.#closed) {
      entry = {
        leases: 0,
        linger: undefined,
        pool: new Pool(origin, {
          connections: settings.connections,
          pipelining: settings.pipelining,
          keepAliveTimeout: settings.keepAliveMs,
          keepAliveMaxTimeout: Math.max(settings.keepAliveMs, 1000),
          headersTimeout: settings.headersTimeoutMs,
          bodyTimeout: settings.bodyTimeoutMs,
          connect: { timeout: settings.connectMs },
        }),
      };
      if (!this.#closed) this.#entries.set(key, entry);
    }
    const leased = entry;
    clearTimeout(leased.linger);
    leased.linger = undefined;
    leased.leases++;
    let released = false;
    return {
      pool: leased.pool,
      release: () => {
        if (released) return;
        released = true;
        leased.leases--;
        if (leased.leases > 0) return;
        if (this.#closed || this.#lingerMs === 0) {
          this.#close(key, leased);
          return;
        }
        leased.linger = setTimeout(() => this.#close(key, leased), this.#lingerMs);
        leased.linger.unref();
      },
    };
  }

  /** Closes every pool (after the requests in flight on them), leased or not. */
  async close(): Promise<void> {
    this.#closed = true;
    const entries = [...this.#entries];
    this.#entries.clear();
    await Promise.all(
      entries.map(([, e]) => {
        clearTimeout(e.linger);
        return e.pool.close().catch(() => undefined);
      }),
    );
  }

  #close(key: string, entry: Entry): void {
    if (entry.leases > 0) return;
    if (this.#entries.get(key) === entry) this.#entries.delete(key);
    void entry.pool.close().catch(() => undefined);
  }
}
