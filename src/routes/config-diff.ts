/**
 * Reload planning: compares a running config with a new one route by route, upstream by upstream,
 * listener by listener. What is equal is left alone (its connections and WebSockets survive any number
 * of reloads); what changed is replaced make-before-break; what is gone is drained.
 *
 * A route is also "changed" when its upstream changed, because it must move to the new upstream's
 * pools and breakers. A change of a route's position alone (precedence) only rebuilds the route table.
 */
import type { Config, Listener, Route, Upstream } from './config.ts';

export interface Diff<T> {
  readonly added: readonly T[];
  readonly changed: readonly { readonly before: T; readonly after: T }[];
  readonly removed: readonly T[];
  readonly unchanged: readonly T[];
}

export interface ConfigDiff {
  readonly routes: Diff<Route>;
  readonly upstreams: Diff<Upstream>;
  readonly listeners: Diff<Listener>;
  /** Nothing to do at all (not even a table rebuild). */
  readonly empty: boolean;
}

/** Structural equality for config values (RegExps by source and flags; `order` of routes ignored). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof RegExp || b instanceof RegExp) return a instanceof RegExp && b instanceof RegExp && a.source === b.source && a.flags === b.flags;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((v, i) => sameValue(v, bb[i]));
  }
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined && k !== 'order');
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined && k !== 'order');
  return ka.length === kb.length && ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function diffByName<T extends { readonly name: string }>(before: readonly T[], after: readonly T[], forceChanged: (item: T) => boolean = () => false): Diff<T> {
  const old = new Map(before.map((x) => [x.name, x]));
  const added: T[] = [];
  const changed: { before: T; after: T }[] = [];
  const unchanged: T[] = [];
  for (const item of after) {
    const prev = old.get(item.name);
    if (prev === undefined) added.push(item);
    else if (!sameValue(prev, item) || forceChanged(item)) changed.push({ before: prev, after: item });
    else unchanged.push(item);
  }
  const names = new Set(after.map((x) => x.name));
  const removed = before.filter((x) => !names.has(x.name));
  return { added, changed, removed, unchanged };
}

/** Plans the change from `before` to `after`. */
export function diffConfig(before: Config, after: Config): ConfigDiff {
  const upstreams = diffByName(before.upstreams, after.upstreams);
  const replacedUpstreams = new Set(upstreams.changed.map((c) => c.after.name));
  const routes = diffByName(before.routes, after.routes, (r) => replacedUpstreams.has(r.upstream));
  const listeners = diffByName(before.listeners, after.listeners);
  const reordered = before.routes.map((r) => r.name).join('\u0000') !== after.routes.map((r) => r.name).join('\u0000');
  const changes = (d: Diff<unknown>) => d.added.length + d.changed.length + d.removed.length;
  const globals = !sameValue(before.limits, after.limits) || !sameValue(before.log, after.log) || !sameValue(before.shutdown, after.shutdown) || !sameValue(before.admin, after.admin) || !sameValue(before.sip, after.sip);
  return { routes, upstreams, listeners, empty: changes(routes) + changes(upstreams) + changes(listeners) === 0 && !reordered && !globals };
}
