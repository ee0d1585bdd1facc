/**
 * The gateway: the composition root of the data plane. It turns a validated {@link Config} into running
 * parts — an {@link UpstreamRuntime} per upstream, a {@link RouteTable} and an {@link HttpListener} per
 * HTTP listener — and stops them in reverse order.
 */
import type { AddressInfo } from 'node:net';
import type { Config } from '../routes/config.ts';
import { RouteTable } from '../routes/route-table.ts';
import { HttpListener, type RouteRuntime } from './http-listener.ts';
import type { Logger } from './logger.ts';
import { UpstreamRuntime } from './upstream-runtime.ts';

export class Gateway {
  readonly config: Config;
  readonly #log: Logger;
  readonly #upstreams: ReadonlyMap<string, UpstreamRuntime>;
  readonly #listeners: readonly HttpListener[];
  #stopping: Promise<void> | undefined;

  private constructor(config: Config, log: Logger) {
    this.config = config;
    this.#log = log;
    this.#upstreams = new Map(config.upstreams.map((u) => [u.name, new UpstreamRuntime(u)]));
    this.#listeners = config.listeners
      .filter((l) => l.protocol === 'http')
      .map(
        (listener) =>
          new HttpListener({
            listener,
            limits: config.limits,
            table: this.#tableFor(listener.name),
            log,
            accessLog: config.log.access,
          }),
      );
  }

  /**
   * Starts every HTTP listener of `config`. On a failure, what already started is stopped again.
   *
   * @throws {TandemError} `TANDEM_ERR_LISTEN` when an address cannot be bound.
   */
  static async start(config: Config, log: Logger): Promise<Gateway> {
    const gateway = new Gateway(config, log);
    try {
      for (const listener of gateway.#listeners) {
        const address = await listener.listen();
        log.info({ component: 'gateway', listener: listener.listener.name, address: `${address.address}:${address.port}` }, 'listening');
      }
    } catch (err) {
      await gateway.stop(0);
      throw err;
    }
    return gateway;
  }

  /** Bound addresses by listener name (useful with port 0). */
  addresses(): Record<string, AddressInfo> {
    return Object.fromEntries(this.#listeners.map((l) => [l.listener.name, l.address()]));
  }

  /**
   * Drains and stops: listeners stop accepting and let in-flight requests finish for up to `deadlineMs`,
   * then the upstream pools close. Idempotent.
   */
  stop(deadlineMs: number = this.config.shutdown.drainMs): Promise<void> {
    this.#stopping ??= (async () => {
      this.#log.info({ component: 'gateway', deadlineMs }, 'draining');
      await Promise.all([...this.#listeners].reverse().map((l) => l.close(deadlineMs)));
      await Promise.all([...this.#upstreams.values()].map((u) => u.close()));
      this.#log.info({ component: 'gateway' }, 'stopped');
    })();
    return this.#stopping;
  }

  #tableFor(listener: string): RouteTable<RouteRuntime> {
    const entries = this.config.routes
      .filter((route) => route.listeners.includes(listener))
      .map((route) => ({ route, value: { route, upstream: this.#upstreams.get(route.upstream)! } }));
    return new RouteTable(entries);
  }
}
