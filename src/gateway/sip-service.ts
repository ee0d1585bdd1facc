/**
 * A `sip` listener: SIP over UDP and TCP on one port, a transaction-stateful proxy (RFC 3261 §16) and
 * its transactions (§17), routing each new request by its request-URI to the SIP routes of the running
 * config (read at every request, so live changes apply at once) and, through the route's upstream, to
 * one of its `sip:` targets (round robin by weight).
 */
import type { Child, Clock, ExitReason, JsonValue } from '../fsm/index.ts';
import type { Config, Listener, Route, Upstream } from '../routes/config.ts';
import { createLoadBalancer, type LoadBalancer } from '../routes/load-balancer.ts';
import type { SipRequest } from '../sip/index.ts';
import { SipProxy, type ProxyTarget } from '../sip/proxy/index.ts';
import { TransactionManager } from '../sip/transaction/index.ts';
import { SipUdpTcpListener } from '../sip/transport/index.ts';
import type { Logger } from './logger.ts';

export interface SipServiceOptions {
  readonly listener: Listener;
  /** The running config (read per request). */
  readonly config: () => Config;
  readonly log: Logger;
  readonly clock: Clock;
  /** RFC 3261 timer bases (ms); tests scale them down. */
  readonly timers?: { readonly T1: number; readonly T2: number; readonly T4: number };
}

/** Does the request-URI host match a route's domain (`pbx.local`, `*.example.com`, `*`)? */
function domainMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
  return host === pattern;
}

export class SipService {
  readonly listener: Listener;
  readonly #options: SipServiceOptions;
  readonly #log: Logger;
  readonly #balancers = new WeakMap<Upstream, LoadBalancer>();
  #transport: SipUdpTcpListener | undefined;
  #transactions: TransactionManager | undefined;

  constructor(options: SipServiceOptions) {
    this.listener = options.listener;
    this.#options = options;
    this.#log = options.log.child({ component: 'sip', listener: options.listener.name });
  }

  /**
   * Binds UDP and TCP on the listener's address and starts the transactions.
   *
   * @throws {SipTransportError} when the address cannot be bound.
   */
  async start(): Promise<{ address: string; port: number }> {
    const timers = this.#options.timers;
    this.#transactions = await TransactionManager.start({ clock: this.#options.clock, name: `sip-transactions:${this.listener.name}`, ...(timers ?? {}) });
    const holder: { proxy?: SipProxy } = {};
    const transport = new SipUdpTcpListener({ host: this.listener.host, port: this.listener.port, user: { onMessage: (e) => holder.proxy?.onMessage(e) }, logger: this.#log });
    const { port } = await transport.listen();
    this.#transport = transport;
    const viaHost = this.listener.host === '0.0.0.0' || this.listener.host === '::' ? '127.0.0.1' : this.listener.host;
    holder.proxy = new SipProxy({
      transactions: this.#transactions,
      sender: transport,
      routes: (request) => this.#route(request),
      localVia: { host: viaHost, port, transport: 'udp' },
      recordRoute: true,
      onError: (error, context) => this.#log.warn({ err: (error as Error).message, context }, 'SIP proxy error'),
    });
    this.#log.info({ address: `${this.listener.host}:${port}` }, 'SIP listener up (UDP and TCP)');
    return { address: this.listener.host, port };
  }

  /** The bound port (after {@link start}). */
  get port(): number | undefined {
    return this.#transport?.address.port;
  }

  /** Live SIP transactions (for status and metrics). */
  get transactions(): number {
    return this.#transactions?.size ?? 0;
  }

  async close(): Promise<void> {
    await this.#transport?.close();
    await this.#transactions?.stop();
  }

  /** The target of a new request: the first SIP route of this listener that matches, then its upstream's balancer. */
  #route(request: SipRequest): ProxyTarget | undefined {
    const uri = request.uri;
    if (uri.kind !== 'sip') return undefined;
    const config = this.#options.config();
    const host = uri.host.toLowerCase();
    const route = config.routes.find((r) => this.#matches(r, host, uri.user, request.method));
    if (route === undefined) return undefined;
    const upstream = config.upstreams.find((u) => u.name === route.upstream);
    if (upstream === undefined) return undefined;
    let balancer = this.#balancers.get(upstream);
    if (balancer === undefined) {
      balancer = createLoadBalancer(upstream.loadBalancer === 'consistentHash' ? 'roundRobin' : upstream.loadBalancer, upstream.targets.map((t) => ({ id: t.authority, weight: t.weight })));
      this.#balancers.set(upstream, balancer);
    }
    const target = upstream.targets[balancer.pick()]?.sip;
    return target === undefined ? undefined : { transport: target.transport, host: target.host, port: target.port };
  }

  #matches(route: Route, host: string, user: string | undefined, method: string): boolean {
    const m = route.match.sip;
    if (m === undefined || !route.listeners.includes(this.listener.name)) return false;
    if (!domainMatches(m.domain, host)) return false;
    if (m.methods.length > 0 && !m.methods.includes(method)) return false;
    return m.userPrefix === undefined || (user ?? '').startsWith(m.userPrefix);
  }
}

/** A SIP service as a supervised child. */
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
      return { name: `sip:${service.listener.name}`, transactions: service.transactions };
    },
  };
}
