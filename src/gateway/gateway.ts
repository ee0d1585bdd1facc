/**
 * The gateway: the composition root. It turns a validated {@link Config} into a supervision tree and
 * the data plane that reads it:
 *
 * ```
 * tandem (one_for_one)
 * ├── upstreams (one_for_one)
 * │   └── upstream:<name> (one_for_one): pool (the targets' undici pools), target:<host:port> machines
 * ├── routes (one_for_one)
 * │   └── route:<name> (one_for_one, transient): route machine, breaker:<host:port> machines
 * ├── listener:<name> (an HTTP listener; its shutdown deadline is the drain deadline)
 * └── admin (the admin API, when configured)
 * ```
 *
 * A crashed machine is restarted by its supervisor without touching anything else; a route whose
 * supervisor exceeds its restart intensity exits, is not restarted (transient, clean exit), and the route
 * is quarantined: it answers 503 `TANDEM_ERR_ROUTE_QUARANTINED` while the others keep serving.
 */
import type { AddressInfo } from 'node:net';
import { TandemError } from '../errors.ts';
import { request } from 'undici';
import {
  type Child,
  type Clock,
  defaultClock,
  type ExitReason,
  type JsonValue,
  MaxIntensityError,
  startMachine,
  startSupervisor,
  type SupervisorRef,
  type SupervisorTree,
} from '../fsm/index.ts';
import { breakerMachine, type BreakerMsg } from '../routes/breaker.machine.ts';
import type { Config, Listener, Route, Upstream } from '../routes/config.ts';
import { diffConfig, type ConfigDiff } from '../routes/config-diff.ts';
import type { ConfigDocument, ConfigSource, ReloadPlan } from './admin/config-source.ts';
import { ConfigManager } from './config-manager.ts';
import { RouteTable } from '../routes/route-table.ts';
import { routeMachine, type RouteMsg } from '../routes/route.machine.ts';
import { type TargetDecision, targetMachine, type TargetMsg } from '../routes/target.machine.ts';
import { AdminServer } from './admin/server.ts';
import type { AdminSources, RouteStatus, StatusDocument, UpstreamStatus } from './admin/sources.ts';
import { splitAddress } from '../routes/config-validate.ts';
import { HttpListener } from './http-listener.ts';
import { SipService, sipServiceChild } from './sip-service.ts';
import type { Logger } from './logger.ts';
import { Metrics } from './metrics.ts';
import type { ProxyObserver } from './observer.ts';
import { RouteRuntime } from './route-runtime.ts';
import { PoolRegistry } from './pool-registry.ts';
import { UpstreamRuntime, type TargetRuntime } from './upstream-runtime.ts';

/** Options of {@link Gateway.start}. */
export interface GatewayOptions {
  /** The clock of every machine and timer (default: the shared real clock). Tests pass a SimulatedClock. */
  readonly clock?: Clock;
  /**
   * The config document as written (before `${env:…}` substitution). With it, the gateway's config can be
   * changed live (admin API writes, {@link Gateway.reloadFromFile}); without it, the config is fixed.
   */
  readonly document?: ConfigDocument;
  /** The config file: admin writes are persisted to it; {@link Gateway.reloadFromFile} and the watch read it. */
  readonly file?: string;
  /** Environment for `${env:…}` substitution of changed documents (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
  /** RFC 3261 T1/T2/T4 (ms) of the SIP listeners; default 500/4000/5000. Tests scale them down. */
  readonly sipTimers?: { readonly T1: number; readonly T2: number; readonly T4: number };
}

/** A machine's mailbox, bound once the machine runs (its spec's side effects reply through it). */
class Mailbox<M> {
  target: { cast(msg: M): void } | undefined;
  cast(msg: M): void {
    this.target?.cast(msg);
  }
}

export class Gateway {
  readonly metrics: Metrics;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #observerImpl: ProxyObserver;
  #config: Config;
  readonly #upstreams = new Map<string, UpstreamRuntime>();
  readonly #routes = new Map<string, RouteRuntime>();
  readonly #routeMailboxes = new Map<RouteRuntime, Mailbox<RouteMsg>>();
  readonly #listeners = new Map<string, HttpListener>();
  /** The SIP listeners (sip: UDP+TCP, sip-ws) with their proxy; routes are read from the running config per request. */
  #sip: SipService | undefined;
  readonly #sipTimers: GatewayOptions['sipTimers'];
  /** Upstream connection pools, shared by the versions of an upstream across reloads. */
  readonly #pools = new PoolRegistry();
  /** Reload generation: ids of children started by a reload carry it (`route:api#3`). */
  #generation = 0;
  /** Old route versions still draining after a reload. */
  readonly #draining = new Set<Promise<void>>();
  #admin: AdminServer | undefined;
  #root: SupervisorRef | undefined;
  #upstreamsSup: SupervisorRef | undefined;
  #routesSup: SupervisorRef | undefined;
  #stopping: Promise<void> | undefined;
  #ready = false;
  /** The versioned config and its change path; undefined when started without a document. */
  readonly configManager: ConfigManager | undefined;

  private constructor(config: Config, log: Logger, options: GatewayOptions) {
    this.#config = config;
    this.#log = log;
    this.#clock = options.clock ?? defaultClock;
    this.#sipTimers = options.sipTimers;
    this.metrics = new Metrics();
    this.#observerImpl = this.#observer();
    for (const u of config.upstreams) if (isHttpUpstream(u)) this.#upstreams.set(u.name, new UpstreamRuntime(u, 0, this.#pools));
    for (const r of config.routes) if (isHttpRoute(r)) this.#routes.set(r.name, this.#newRoute(r, 0));
    for (const l of config.listeners) if (l.protocol === 'http') this.#listeners.set(l.name, this.#newListener(l, 0));
    const sipListeners = config.listeners.filter((l) => l.protocol !== 'http');
    if (sipListeners.length > 0) {
      const sip = this.#newSipService(sipListeners);
      this.#sip = sip;
      this.metrics.sipStatus(() => sip.status());
    }
    this.configManager =
      options.document === undefined ? undefined : new ConfigManager({ gateway: this, document: options.document, file: options.file, env: options.env ?? process.env, log });
  }

  /** The running config. */
  get config(): Config {
    return this.#config;
  }

  #newRoute(route: Route, generation: number, upstream: UpstreamRuntime = this.#upstreams.get(route.upstream)!): RouteRuntime {
    return new RouteRuntime(route, upstream, this.#observerImpl, this.#clock, generation);
  }

  #newSipService(listeners: readonly Listener[]): SipService {
    return new SipService({
      listeners,
      config: () => this.#config,
      log: this.#log,
      clock: this.#clock,
      observer: this.metrics.sipObserver(),
      ...(this.#sipTimers === undefined ? {} : { timers: this.#sipTimers }),
    });
  }

  #sipSpec(service: SipService) {
    return { id: 'sip', shutdown: 2000, start: () => sipServiceChild(service) };
  }

  #newListener(listener: Listener, generation: number): HttpListener {
    const l = new HttpListener({
      listener,
      limits: this.#config.limits,
      table: this.#tableFor(listener.name),
      log: this.#log,
      accessLog: this.#config.log.access,
      onRequest: (name, rt, status, durationMs) => this.metrics.request(name, rt.route.name, rt.upstream.upstream.name, status, durationMs / 1000),
      onWebSocket: (rt, delta) => this.metrics.websocketSessions(rt.route.name, delta),
    });
    this.#listenerIds.set(l, generation === 0 ? `listener:${listener.name}` : `listener:${listener.name}#${generation}`);
    return l;
  }

  readonly #listenerIds = new Map<HttpListener, string>();

  /**
   * Starts the supervision tree: upstreams, routes, listeners, admin. On a failure, what already started
   * is stopped again.
   *
   * @throws {TandemError} `TANDEM_ERR_LISTEN` when an address cannot be bound.
   */
  static async start(config: Config, log: Logger, options: GatewayOptions = {}): Promise<Gateway> {
    const gateway = new Gateway(config, log, options);
    try {
      gateway.#root = await gateway.#startTree();
    } catch (err) {
      await gateway.#closePools();
      const cause = (err as { cause?: unknown }).cause;
      throw cause instanceof Error ? cause : err;
    }
    gateway.#ready = true;
    return gateway;
  }

  /** Bound addresses by listener name (useful with port 0); the admin API as `admin`. */
  addresses(): Record<string, AddressInfo> {
    const out: Record<string, AddressInfo> = Object.fromEntries([...this.#listeners.values()].map((l) => [l.listener.name, l.address()]));
    for (const [name, port] of this.#sip?.ports() ?? []) {
      const listener = this.#config.listeners.find((l) => l.name === name);
      out[name] = { address: listener?.host ?? '127.0.0.1', family: 'IPv4', port };
    }
    if (this.#admin !== undefined) out['admin'] = this.#admin.address();
    return out;
  }

  /** What the admin API shows. */
  sources(): AdminSources {
    return {
      status: () => this.status(),
      supervisor: () => this.supervisorTree(),
      metrics: () => this.metrics.render(),
      ready: () => this.#ready && this.#stopping === undefined,
    };
  }

  /** Every route and upstream target with its machines' states and counters (`GET /status`). */
  status(): StatusDocument {
    const http = this.#httpStatus();
    const sip = this.#sip;
    if (sip === undefined) return http;
    const config = this.#config;
    const now = this.#clock.now();
    const live = config.routes.filter((r) => !isHttpRoute(r));
    const draining = sip.draining().filter((r) => !live.some((l) => l.name === r.name));
    const sipRoutes: RouteStatus[] = [...live, ...draining].map((r) => {
      const upstream = config.upstreams.find((u) => u.name === r.upstream);
      const breakers = upstream === undefined ? [] : [...sip.breakers(upstream)].map(([target, b]) => ({ target, state: b.state, reopens: b.reopens, transitions: b.transitions, ...(b.state === 'open' ? { retryInMs: Math.max(0, Math.round(b.openUntil - now)) } : {}) }));
      const state = draining.includes(r) ? ('draining' as const) : ('active' as const);
      return { name: r.name, protocol: 'sip' as const, state, upstream: r.upstream, listeners: r.listeners, restarts: 0, requests: sip.routeRequests(r.name), breakers };
    });
    const sipUpstreams: UpstreamStatus[] = config.upstreams
      .filter((u) => !isHttpUpstream(u))
      .map((u) => ({
        name: u.name,
        loadBalancer: u.loadBalancer === 'consistentHash' ? 'roundRobin' : u.loadBalancer,
        targets: u.targets.map((t, i) => ({ url: t.url, authority: t.authority, weight: t.weight, health: sip.targetHealthy(u, i) ? 'healthy' : 'unhealthy', ejected: false, ejections: 0, active: 0, ...sip.targetCounters(t.authority) })),
      }));
    return { routes: [...http.routes, ...sipRoutes], upstreams: [...http.upstreams, ...sipUpstreams], sip: sip.status() };
  }

  #httpStatus(): StatusDocument {
    return {
      routes: [...this.#routes.values()].map((rt) => ({
        name: rt.route.name,
        state: rt.gate.quarantined ? 'quarantined' : rt.gate.state,
        upstream: rt.upstream.upstream.name,
        listeners: rt.route.listeners,
        restarts: rt.gate.restarts,
        requests: rt.gate.requests,
        breakers: (rt.breakers ?? []).map((b, i) => ({
          target: rt.upstream.targets[i]!.target.authority,
          state: b.state,
          reopens: b.reopens,
          transitions: b.transitions,
          ...(b.state === 'open' ? { retryInMs: Math.max(0, Math.round(b.openUntil - this.#clock.now())) } : {}),
        })),
      })),
      upstreams: [...this.#upstreams.values()].map((u) => ({
        name: u.upstream.name,
        loadBalancer: u.upstream.loadBalancer,
        targets: u.targets.map((t) => ({
          url: t.target.url,
          authority: t.target.authority,
          weight: t.target.weight,
          health: t.gate.healthy ? 'healthy' : 'unhealthy',
          ejected: t.gate.ejected,
          ejections: t.gate.ejections,
          active: t.active,
          requests: t.requests,
          failures: t.failures,
        })),
      })),
    };
  }

  /** The supervision tree (`GET /supervisor`). */
  supervisorTree(): SupervisorTree {
    if (this.#root === undefined) throw new Error('the gateway is not running');
    return this.#root.tree();
  }

  /**
   * Fault injection: makes a route's machine throw, so its supervisor restarts it (and quarantines the
   * route past its restart intensity). For tests and chaos drills; not reachable from the network.
   */
  crashRoute(name: string): void {
    const rt = this.#routes.get(name);
    if (rt !== undefined) this.#routeMailboxes.get(rt)?.cast({ type: 'crash' });
  }

  /**
   * Drains and stops: listeners stop accepting and let in-flight requests finish for up to `deadlineMs`,
   * then the tree stops in reverse order (admin, listeners, routes, upstreams and their pools).
   * Idempotent.
   */
  stop(deadlineMs: number = this.#config.shutdown.drainMs): Promise<void> {
    this.#stopping ??= (async () => {
      this.#log.info({ component: 'gateway', deadlineMs }, 'draining');
      // Listeners drain first, all at once (each to the deadline); then the tree stops in reverse order.
      await Promise.all([...this.#listeners.values()].map((l) => l.close(deadlineMs)));
      this.configManager?.close();
      await this.#root?.stop();
      await this.#pools.close();
      this.#log.info({ component: 'gateway' }, 'stopped');
    })();
    return this.#stopping;
  }

  /**
   * The plan of a change from the running config to `next`, with what is open on the routes it would
   * replace or remove. Changes nothing.
   */
  plan(next: Config): ReloadPlan {
    return this.#planOf(diffConfig(this.#config, next));
  }

  #planOf(diff: ConfigDiff): ReloadPlan {
    const names = <T extends { name: string }>(d: { added: readonly T[]; changed: readonly { after: T }[]; removed: readonly T[] }) => ({
      added: d.added.map((x) => x.name),
      changed: d.changed.map((x) => x.after.name),
      removed: d.removed.map((x) => x.name),
    });
    const affected = [...diff.routes.changed.map((c) => c.before.name), ...diff.routes.removed.map((r) => r.name)];
    return {
      routes: names(diff.routes),
      upstreams: names(diff.upstreams),
      listeners: names(diff.listeners),
      affects: affected.map((name) => {
        const rt = this.#routes.get(name);
        return { name, inFlight: rt?.inFlight ?? 0, websockets: rt?.sessions.size ?? 0 };
      }),
      empty: diff.empty,
    };
  }

  /**
   * Applies a new config by diff, under the supervisors (the caller serialises calls):
   * - unchanged routes, upstreams and listeners are not touched (their connections and WebSockets live on);
   * - added or changed upstreams start as new children (new pools, target machines); added or changed
   *   routes start as new children (route machine, breakers), make-before-break;
   * - every listener's route table is swapped at once: from then on, new requests see the new config;
   * - replaced and removed routes drain in the background: no new requests, in-flight ones finish until
   *   the route's `drain.deadlineMs`, then its WebSockets are closed with 1001 (`drain.websockets: close`),
   *   and its supervisor is terminated and deleted; an upstream no longer used stops after them.
   * Resolves with the plan once the change is live (tables swapped).
   */
  async apply(next: Config): Promise<ReloadPlan> {
    const diff = diffConfig(this.#config, next);
    const plan = this.#planOf(diff);
    if (diff.empty) return plan;
    const upstreamsSup = this.#upstreamsSup;
    const routesSup = this.#routesSup;
    const root = this.#root;
    if (upstreamsSup === undefined || routesSup === undefined || root === undefined) throw new Error('the gateway is not running');
    const generation = ++this.#generation;
    const previous = this.#config;
    this.#config = next;

    // 1–3. Start what is new — upstreams (routes refer to them), routes, listeners on new addresses —
    // beside what runs. Nothing old is touched yet, so a failure (an address in use) is rolled back whole.
    const started: { sup: SupervisorRef; id: string }[] = [];
    const newUpstreams = new Map<string, UpstreamRuntime>();
    const newRoutes = new Map<string, RouteRuntime>();
    const newListeners = new Map<string, HttpListener>();
    const headerLimitChanged = next.limits.headerBytes !== previous.limits.headerBytes;
    const stopListeners = [...diff.listeners.removed, ...diff.listeners.changed.map((c) => c.before), ...(headerLimitChanged ? diff.listeners.unchanged : [])];
    const freedAddresses = new Set(stopListeners.map((l) => `${l.host}:${l.port}`));
    const deferred: Listener[] = [];
    try {
      for (const u of [...diff.upstreams.added, ...diff.upstreams.changed.map((c) => c.after)].filter(isHttpUpstream)) {
        const runtime = new UpstreamRuntime(u, generation, this.#pools);
        newUpstreams.set(u.name, runtime);
        await upstreamsSup.startChild(this.#upstreamSpec(runtime));
        started.push({ sup: upstreamsSup, id: runtime.childId });
      }
      for (const r of [...diff.routes.added, ...diff.routes.changed.map((c) => c.after)].filter(isHttpRoute)) {
        const rt = this.#newRoute(r, generation, newUpstreams.get(r.upstream) ?? this.#upstreams.get(r.upstream)!);
        await routesSup.startChild(this.#routeSpec(rt));
        started.push({ sup: routesSup, id: rt.childId });
        newRoutes.set(r.name, rt);
      }
      const keep = new Set(next.listeners.filter((l) => !stopListeners.some((x) => x.name === l.name)).map((l) => l.name));
      for (const l of next.listeners) {
        if (l.protocol !== 'http' || (keep.has(l.name) && this.#listeners.has(l.name))) continue;
        // A new listener on an address an old one still holds binds once that one has stopped.
        if (freedAddresses.has(`${l.host}:${l.port}`) && l.port !== 0) {
          deferred.push(l);
          continue;
        }
        const listener = this.#newListener(l, generation);
        await root.startChild(this.#listenerSpec(listener));
        started.push({ sup: root, id: this.#listenerIds.get(listener)! });
        newListeners.set(l.name, listener);
      }
    } catch (err) {
      for (const { sup, id } of started.reverse()) {
        await sup.terminateChild(id).catch(() => undefined);
        await sup.deleteChild(id).catch(() => undefined);
      }
      for (const l of newListeners.values()) this.#listenerIds.delete(l);
      this.#config = previous;
      const cause = (err as { cause?: unknown }).cause;
      const reason = cause instanceof TandemError ? cause : err;
      this.#log.error({ component: 'gateway', decision: 'reloadFailed', err: (reason as Error).message }, 'config not applied: rolled back');
      throw reason;
    }
    if (next.log.level !== previous.log.level) this.#log.level = next.log.level;

    // Commit: the new versions replace the old ones in the maps; old listeners stop (drain).
    const retiredUpstreams: UpstreamRuntime[] = [];
    for (const u of diff.upstreams.removed) if (this.#upstreams.has(u.name)) retiredUpstreams.push(this.#upstreams.get(u.name)!);
    for (const { after } of diff.upstreams.changed) if (this.#upstreams.has(after.name) && newUpstreams.has(after.name)) retiredUpstreams.push(this.#upstreams.get(after.name)!);
    for (const u of diff.upstreams.removed) this.#upstreams.delete(u.name);
    for (const [name, runtime] of newUpstreams) this.#upstreams.set(name, runtime);
    const retiredRoutes: { rt: RouteRuntime; removed: boolean }[] = [];
    for (const r of diff.routes.removed) if (this.#routes.has(r.name)) retiredRoutes.push({ rt: this.#routes.get(r.name)!, removed: true });
    for (const { before } of diff.routes.changed) if (this.#routes.has(before.name)) retiredRoutes.push({ rt: this.#routes.get(before.name)!, removed: !newRoutes.has(before.name) });
    for (const r of diff.routes.removed) this.#routes.delete(r.name);
    for (const { before, after } of diff.routes.changed) if (!isHttpRoute(after)) this.#routes.delete(before.name);
    for (const [name, rt] of newRoutes) this.#routes.set(name, rt);
    for (const l of stopListeners) {
      const listener = this.#listeners.get(l.name);
      if (listener === undefined) continue;
      const id = this.#listenerIds.get(listener)!;
      this.#listeners.delete(l.name);
      this.#listenerIds.delete(listener);
      await root.terminateChild(id).catch(() => undefined);
      await root.deleteChild(id).catch(() => undefined);
    }
    for (const [name, listener] of newListeners) this.#listeners.set(name, listener);
    for (const l of deferred) {
      const listener = this.#newListener(l, generation);
      try {
        await root.startChild(this.#listenerSpec(listener));
        this.#listeners.set(l.name, listener);
      } catch (err) {
        this.#listenerIds.delete(listener);
        this.#log.error({ component: 'gateway', listener: l.name, err: (err as Error).message }, 'listener could not start on its new address');
      }
    }

    // 4. The switch: every listener's table at once.
    for (const [name, listener] of this.#listeners) listener.setTable(this.#tableFor(name));

    // 5. Admin API changes restart it (after this answer: the write that changed it is answered first).
    if (!sameAdmin(previous.admin, next.admin)) setImmediate(() => void this.#restartAdmin(root, next.admin));

    // 6. What was replaced or removed drains in the background.
    const drainsOf = new Map<UpstreamRuntime, Promise<void>[]>();
    for (const { rt, removed } of retiredRoutes) {
      const drain = this.#drainRoute(routesSup, rt, removed);
      this.#track(drain);
      const list = drainsOf.get(rt.upstream);
      if (list === undefined) drainsOf.set(rt.upstream, [drain]);
      else list.push(drain);
    }
    for (const u of retiredUpstreams) {
      this.#track(Promise.all(drainsOf.get(u) ?? []).then(() => this.#retireUpstream(upstreamsSup, u, !this.#upstreams.has(u.upstream.name))));
    }
    const sipListenerChanges = [...diff.listeners.added, ...diff.listeners.changed.map((c) => c.after), ...diff.listeners.removed].filter((l) => l.protocol !== 'http');
    if (sipListenerChanges.length > 0) {
      this.#log.warn({ component: 'gateway', listeners: sipListenerChanges.map((l) => l.name) }, 'SIP listener changes take effect at the next restart (SIP routes and upstreams change live)');
    }
    // SPEC D.10: a removed SIP route already refuses new dialogs (no match); its WebSocket flows close at its drain deadline.
    const sip = this.#sip;
    if (sip !== undefined) {
      for (const r of diff.routes.removed) if (!isHttpRoute(r)) this.#track(sip.drain(r));
      this.#track(sip.reconfigured());
    }
    this.#log.info({ component: 'gateway', decision: 'reload', generation, plan }, 'config applied');
    return plan;
  }

  #track(p: Promise<void>): void {
    const tracked = p.catch((err: unknown) => this.#log.error({ err }, 'drain failed'));
    this.#draining.add(tracked);
    void tracked.finally(() => this.#draining.delete(tracked));
  }

  /** Waits until every route replaced or removed by a reload has drained (for tests and shutdown). */
  async drained(): Promise<void> {
    while (this.#draining.size > 0) await Promise.all([...this.#draining]);
  }

  /**
   * Retires a replaced or removed route through its supervisor: `terminateChild` stops the route's
   * child, whose stop is the drain ({@link #drain}; its shutdown deadline is the drain deadline), then
   * the spec is deleted.
   */
  async #drainRoute(routesSup: SupervisorRef, rt: RouteRuntime, removed: boolean): Promise<void> {
    this.#routeMailboxes.get(rt)?.cast({ type: 'drain' });
    rt.gate.state = 'draining';
    rt.retiring = removed ? 'removed' : 'replaced';
    this.#log.info(
      { component: 'route', route: rt.route.name, decision: 'drain', removed, inFlight: rt.inFlight, websockets: rt.sessions.size, deadlineMs: rt.route.drain.deadlineMs },
      removed ? 'route removed: draining' : 'route replaced: old version draining',
    );
    await routesSup.terminateChild(rt.childId).catch(() => undefined);
    await routesSup.deleteChild(rt.childId).catch(() => undefined);
    this.#routeMailboxes.delete(rt);
    if (removed && !this.#routes.has(rt.route.name)) this.metrics.forget({ route: rt.route.name });
  }

  /**
   * A route's drain: its in-flight requests finish (and, with `drain.websockets: keep`, its WebSockets
   * stay open) until `drain.deadlineMs`; then its WebSockets are closed with 1001 (`close`).
   */
  async #drain(rt: RouteRuntime): Promise<void> {
    const { deadlineMs, websockets } = rt.route.drain;
    const deadline = this.#clock.now() + deadlineMs;
    const settled = () => rt.inFlight === 0 && (websockets === 'keep' || rt.sessions.size === 0);
    while (!settled() && this.#clock.now() < deadline && this.#stopping === undefined) {
      await new Promise<void>((resolve) => {
        const timer = this.#clock.createTimer(resolve);
        timer.arm(Math.min(deadline, this.#clock.now() + 25));
      });
    }
    if (websockets === 'close' && rt.sessions.size > 0) {
      this.#log.info({ component: 'route', route: rt.route.name, decision: 'drainDeadline', websockets: rt.sessions.size }, 'drain deadline: closing WebSockets with 1001');
      for (const s of [...rt.sessions]) s.close(1001, rt.retiring === 'removed' ? 'route removed' : 'route replaced');
    }
  }

  async #retireUpstream(upstreamsSup: SupervisorRef, u: UpstreamRuntime, removed: boolean): Promise<void> {
    await upstreamsSup.terminateChild(u.childId).catch(() => undefined);
    await upstreamsSup.deleteChild(u.childId).catch(() => undefined);
    const live = this.#upstreams.get(u.upstream.name);
    for (const t of u.targets) {
      const stillThere = live?.targets.some((x) => x.target.authority === t.target.authority) ?? false;
      if (removed || !stillThere) this.metrics.forget({ upstream: u.upstream.name, target: t.target.authority });
    }
  }

  async #restartAdmin(root: SupervisorRef, admin: Config['admin']): Promise<void> {
    await root.terminateChild('admin').catch(() => undefined);
    await root.deleteChild('admin').catch(() => undefined);
    this.#admin = undefined;
    if (admin !== undefined) await root.startChild(this.#adminSpec(admin)).catch((err: unknown) => this.#log.error({ err }, 'admin API could not restart'));
  }

  async #closePools(): Promise<void> {
    await Promise.all([...this.#upstreams.values()].map((u) => u.destroy()));
    await this.#pools.close();
  }

  #tableFor(listener: string): RouteTable<RouteRuntime> {
    const entries = this.#config.routes
      .filter((route) => route.listeners.includes(listener))
      .map((route) => ({ route, value: this.#routes.get(route.name)! }));
    return new RouteTable(entries);
  }

  async #startTree(): Promise<SupervisorRef> {
    const clock = this.#clock;
    const children = [
      {
        id: 'upstreams',
        type: 'supervisor' as const,
        start: async () => {
          const sup = await startSupervisor({ strategy: 'one_for_one', intensity: 10, periodMs: 10_000 }, [...this.#upstreams.values()].map((u) => this.#upstreamSpec(u)), { name: 'upstreams', clock });
          this.#upstreamsSup = sup;
          return sup;
        },
      },
      {
        id: 'routes',
        type: 'supervisor' as const,
        start: async () => {
          const sup = await startSupervisor({ strategy: 'one_for_one', intensity: 10, periodMs: 10_000 }, [...this.#routes.values()].map((rt) => this.#routeSpec(rt)), { name: 'routes', clock });
          this.#routesSup = sup;
          return sup;
        },
      },
      ...[...this.#listeners.values()].map((l) => this.#listenerSpec(l)),
      ...(this.#sip === undefined ? [] : [this.#sipSpec(this.#sip)]),
    ];
    const admin = this.#config.admin;
    if (admin !== undefined) children.push(this.#adminSpec(admin));
    return startSupervisor({ strategy: 'one_for_one', intensity: 3, periodMs: 10_000 }, children, { name: 'tandem', clock });
  }

  #listenerSpec(l: HttpListener) {
    return { id: this.#listenerIds.get(l)!, shutdown: this.#config.shutdown.drainMs + 1000, start: () => this.#listenerChild(l) };
  }

  #adminSpec(admin: NonNullable<Config['admin']>) {
    return { id: 'admin', shutdown: 2000, start: () => this.#adminChild(admin.address, admin.token) };
  }

  #upstreamSpec(u: UpstreamRuntime) {
    const clock = this.#clock;
    const up = u.upstream;
    return {
      id: u.childId,
      type: 'supervisor' as const,
      start: () =>
        startSupervisor(
          { strategy: 'one_for_one', intensity: 5, periodMs: 10_000 },
          [{ id: 'pool', shutdown: 'infinity' as const, start: async () => poolChild(u) }, ...u.targets.map((t) => ({ id: `target:${t.target.authority}`, start: () => this.#startTarget(u, t) }))],
          { name: `upstream:${up.name}`, clock },
        ),
    };
  }

  async #startTarget(u: UpstreamRuntime, t: TargetRuntime): Promise<Child> {
    const up = u.upstream;
    const mailbox = new Mailbox<TargetMsg>();
    const log = this.#log.child({ component: 'upstream', upstream: up.name, target: t.target.authority });
    const ref = await startMachine(
      targetMachine,
      {
        gate: t.gate,
        healthCheck: up.healthCheck,
        outlierDetection: up.outlierDetection,
        probe: () => probe(up, t, (ok, detail) => mailbox.cast({ type: 'probeResult', ok, detail })),
        mayEject: () => {
          const max = up.outlierDetection?.maxEjectionPercent ?? 0;
          const ejected = u.ejectedCount();
          return ejected === 0 || ((ejected + 1) / u.targets.length) * 100 <= max;
        },
        onDecision: (d) => this.#targetDecision(up, t, d, log),
      },
      { clock: this.#clock },
    );
    mailbox.target = ref;
    this.metrics.healthy(up.name, t.target.authority, t.gate.healthy);
    this.metrics.ejected(up.name, t.target.authority, t.gate.ejected);
    t.report = up.outlierDetection === undefined ? undefined : (kind) => ref.cast({ type: 'outcome', kind });
    void ref.exited.then(() => {
      t.report = undefined;
    });
    return ref;
  }

  #targetDecision(up: Upstream, t: TargetRuntime, d: TargetDecision, log: Logger): void {
    const target = t.target.authority;
    switch (d.type) {
      case 'probe':
        this.metrics.healthCheck(up.name, target, d.ok ? 'success' : 'failure');
        return;
      case 'health':
        this.metrics.healthy(up.name, target, d.healthy);
        log.warn({ decision: 'health', healthy: d.healthy, detail: d.detail }, d.healthy ? 'target healthy: back in the rotation' : 'target unhealthy: out of the rotation');
        return;
      case 'ejected':
        this.metrics.ejection(up.name, target);
        this.metrics.ejected(up.name, target, true);
        log.warn({ decision: 'eject', reason: d.reason, ejectionMs: d.ejectionMs, ejections: d.ejections }, 'target ejected (outlier detection)');
        return;
      case 'ejectionRefused':
        log.warn({ decision: 'ejectionRefused', reason: d.reason }, 'target not ejected: maxEjectionPercent reached');
        return;
      case 'returned':
        this.metrics.ejected(up.name, target, false);
        log.info({ decision: 'return' }, 'target back in the rotation after its ejection');
        return;
    }
  }

  #routeSpec(rt: RouteRuntime) {
    const clock = this.#clock;
    const name = rt.route.name;
    const log = this.#log.child({ component: 'route', route: name });
    const cb = rt.upstream.upstream.circuitBreaker;
    const breakerSpecs =
      cb === undefined || rt.breakers === undefined
        ? []
        : rt.breakers.map((gate, i) => {
            const target = rt.upstream.targets[i]!.target.authority;
            return {
              id: `breaker:${target}`,
              start: async () => {
                const mailbox = new Mailbox<BreakerMsg>();
                const ref = await startMachine(
                  breakerMachine,
                  {
                    gate,
                    options: cb,
                    clock,
                    mailbox,
                    onTransition: (from, to, openMs) => {
                      this.metrics.breakerTransition(name, target, from, to);
                      this.metrics.breakerState(name, target, to);
                      const fields = { decision: 'breaker', target, from, to, ...(to === 'open' ? { openMs, reopens: gate.reopens } : {}) };
                      if (to === 'open') log.warn(fields, 'breaker opened');
                      else log.info(fields, `breaker ${to === 'closed' ? 'closed' : 'half-open'}`);
                    },
                  },
                  { clock },
                );
                mailbox.target = ref;
                this.metrics.breakerState(name, target, gate.state);
                return ref;
              },
            };
          });
    return {
      id: rt.childId,
      type: 'supervisor' as const,
      restart: 'transient' as const,
      // SPEC B.5: a route's shutdown deadline is its drain deadline (plus a second for WebSocket closes).
      shutdown: rt.route.drain.deadlineMs + 1000,
      start: async () => {
        const sup = await startSupervisor(
          { strategy: 'one_for_one', intensity: 3, periodMs: 10_000 },
          [
            {
              id: 'route',
              start: async () => {
                const mailbox = new Mailbox<RouteMsg>();
                this.#routeMailboxes.set(rt, mailbox);
                const ref = await startMachine(routeMachine, { gate: rt.gate }, { clock });
                mailbox.target = ref;
                if (rt.gate.restarts > 0) {
                  this.metrics.routeRestart(name);
                  log.warn({ decision: 'restart', restarts: rt.gate.restarts }, 'route machine restarted by its supervisor');
                }
                return ref;
              },
            },
            ...breakerSpecs,
          ],
          { name: `route:${name}`, clock },
        );
        rt.gate.quarantined = false;
        this.metrics.quarantined(name, false);
        void sup.exited.then((reason) => this.#routeExited(rt, reason, log));
        // Stopping the route (a reload retiring it, or shutdown) drains it first.
        return drainingChild(sup, () => this.#drain(rt));
      },
    };
  }

  #routeExited(rt: RouteRuntime, reason: ExitReason, log: Logger): void {
    if (typeof reason === 'object' && 'shutdown' in reason && reason.shutdown instanceof MaxIntensityError) {
      rt.gate.quarantined = true;
      this.metrics.quarantined(rt.route.name, true);
      log.error({ decision: 'quarantine', reason: reason.shutdown.message }, 'route quarantined: its machines crashed more often than the restart intensity allows');
    }
  }

  async #listenerChild(l: HttpListener): Promise<Child> {
    const address = await l.listen();
    this.#log.info({ component: 'gateway', listener: l.listener.name, address: `${address.address}:${address.port}` }, 'listening');
    return closableChild(`listener:${l.listener.name}`, (deadlineMs) => l.close(deadlineMs), this.#config.shutdown.drainMs);
  }

  async #adminChild(address: string, token: string | undefined): Promise<Child> {
    const { host, port } = splitAddress(address);
    const admin = new AdminServer({ host, port, token, sources: this.sources(), log: this.#log, ...(this.configManager === undefined ? {} : { config: this.configManager as ConfigSource }) });
    await admin.listen();
    this.#admin = admin;
    return closableChild('admin', () => admin.close(), 1000);
  }

  #observer(): ProxyObserver {
    const log = this.#log.child({ component: 'proxy' });
    return {
      attempt: (rt, target, outcome) => {
        if (outcome !== 'aborted') this.metrics.attempt(rt.upstream.upstream.name, target.target.authority, outcome);
      },
      retry: (rt, from, reason, delayMs, attempt) => {
        this.metrics.retry(rt.route.name, rt.upstream.upstream.name);
        log.info({ decision: 'retry', route: rt.route.name, upstream: rt.upstream.upstream.name, target: from.target.authority, reason, delayMs, attempt }, 'retrying on another target');
      },
      retryBudgetExhausted: (rt, reason) => {
        this.metrics.retryBudgetExhausted(rt.upstream.upstream.name);
        log.warn({ decision: 'noRetry', route: rt.route.name, upstream: rt.upstream.upstream.name, reason }, 'retry budget exhausted: not retrying');
      },
    };
  }
}

function sameAdmin(a: Config['admin'], b: Config['admin']): boolean {
  return a?.address === b?.address && a?.token === b?.token;
}

/** HTTP routes have no `match.sip`. */
function isHttpRoute(r: Route): boolean {
  return r.match.sip === undefined;
}

/** HTTP upstreams have http:// or ws:// targets (SIP upstreams have sip: ones). */
function isHttpUpstream(u: Upstream): boolean {
  return u.targets.every((t) => t.sip === undefined);
}

/** A route's supervisor as a child whose graceful stop drains the route first. */
function drainingChild(sup: SupervisorRef, drain: () => Promise<void>): Child {
  return {
    exited: sup.exited,
    async stop(reason, options) {
      await drain();
      await sup.stop(reason, options);
    },
    kill: () => sup.kill(),
    describe: () => sup.describe(),
  };
}

/** A supervised child around something with an async close (a listener, the admin server). */
function closableChild(name: string, close: (deadlineMs: number) => Promise<void>, defaultDeadlineMs: number): Child {
  let resolveExit!: (reason: ExitReason) => void;
  const exited = new Promise<ExitReason>((resolve) => (resolveExit = resolve));
  let closing: Promise<void> | undefined;
  return {
    exited,
    stop(reason: ExitReason = 'shutdown', options) {
      closing ??= close(options?.timeoutMs ?? defaultDeadlineMs).then(
        () => resolveExit(reason),
        (err: unknown) => resolveExit({ error: err }),
      );
      return closing;
    },
    kill() {
      void close(0).finally(() => resolveExit('killed'));
    },
    describe(): JsonValue {
      return { name };
    },
  };
}

/** The pools of an upstream's targets as one supervised child: stopped last, after the machines. */
function poolChild(u: UpstreamRuntime): Child {
  return closableChild(`pool:${u.upstream.name}`, () => u.close(), 0);
}

/** One active health check: GET `path` on the target, through its pool, within `timeoutMs`. */
function probe(up: Upstream, t: TargetRuntime, done: (ok: boolean, detail: string) => void): void {
  const hc = up.healthCheck!;
  request(`${t.target.origin}${hc.path}`, {
    dispatcher: t.pool,
    method: 'GET',
    headers: { 'user-agent': 'tandem-health-check' },
    headersTimeout: hc.timeoutMs,
    bodyTimeout: hc.timeoutMs,
    signal: AbortSignal.timeout(hc.timeoutMs),
  }).then(
    async (res) => {
      await res.body.dump();
      const ok = res.statusCode >= 200 && res.statusCode < 400;
      done(ok, `status ${res.statusCode}`);
    },
    (err: unknown) => done(false, (err as { code?: string }).code ?? (err as Error).message),
  );
}

