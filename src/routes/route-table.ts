/**
 * The route table of one listener: an immutable, precompiled lookup from a request (host, path, method,
 * headers) to the route that serves it. A config change compiles a new table and the listener swaps one
 * reference, so a lookup never sees a half-built table.
 *
 * Precedence, most specific first:
 * 1. host: exact host (`api.example.com`) → wildcard (`*.example.com`, longest suffix first) → any host;
 * 2. path: exact path → path with parameters (`/users/:id`) → longest prefix → shorter prefixes;
 * 3. routes with method or header conditions before routes without;
 * 4. order in the config file.
 * The first route whose every condition holds wins; when none holds in one host group, the next group is
 * tried.
 */
import Router from 'find-my-way';
import type { HeaderMatcher, Route } from './config.ts';

/** What a lookup needs of a request. */
export interface RouteRequest {
  readonly method: string;
  /** The Host header as sent (any case, may carry a port). */
  readonly host: string | undefined;
  /** The path, without the query string, already normalized (see {@link normalizePath}). */
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** A lookup result: the entry of the route and the path parameters it captured. */
export interface RouteHit<T> {
  readonly route: Route;
  readonly value: T;
  readonly params: Readonly<Record<string, string | undefined>>;
}

interface Candidate<T> {
  readonly route: Route;
  readonly value: T;
  /** Sort key: lower is more specific. */
  readonly rank: readonly number[];
}

/**
 * The routes of one host pattern, by kind of path match. Literal paths and prefixes are plain Map
 * lookups (a prefix lookup walks the request path's segment ancestors, longest first), so compiling a
 * table is linear in the number of routes; only paths with parameters or a wildcard go through a
 * find-my-way router. Each list holds its candidates ranked (conditions first, then config order).
 */
interface HostGroup<T> {
  readonly exact: ReadonlyMap<string, readonly Candidate<T>[]>;
  readonly router: Router.Instance<Router.HTTPVersion.V1> | undefined;
  readonly prefixes: ReadonlyMap<string, readonly Candidate<T>[]>;
}

type Store<T> = readonly Candidate<T>[];

const NOOP = (): void => {};
const NO_PARAMS: Readonly<Record<string, string | undefined>> = Object.freeze({});
/** Routes register under one method; methods are conditions of the candidates. */
const LOOKUP_METHOD = 'GET';

export class RouteTable<T> {
  readonly #exact = new Map<string, HostGroup<T>>();
  readonly #wildcards: { readonly suffix: string; readonly group: HostGroup<T> }[] = [];
  readonly #any: HostGroup<T> | undefined;
  /** Every route of this table, in config order. */
  readonly routes: readonly Route[];

  /**
   * Compiles a table from routes and the value each carries (for the gateway: the route's runtime).
   * Compilation is O(routes × patterns); lookups are O(path length + candidates of one pattern).
   */
  constructor(entries: readonly { readonly route: Route; readonly value: T }[]) {
    this.routes = entries.map((e) => e.route);
    const byHost = new Map<string, { route: Route; value: T }[]>();
    for (const entry of entries) {
      const hosts = entry.route.match.hosts.length === 0 ? ['*'] : entry.route.match.hosts;
      for (const host of hosts) {
        const list = byHost.get(host) ?? [];
        list.push(entry);
        byHost.set(host, list);
      }
    }
    let any: HostGroup<T> | undefined;
    for (const [host, list] of byHost) {
      const group = compileGroup(list);
      if (host === '*') any = group;
      else if (host.startsWith('*.')) this.#wildcards.push({ suffix: host.slice(1), group });
      else this.#exact.set(host, group);
    }
    this.#wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
    this.#any = any;
  }

  /** Finds the route for a request, or `undefined` (→ 404). */
  lookup(req: RouteRequest): RouteHit<T> | undefined {
    const host = (req.host ?? '').toLowerCase();
    if (host !== '') {
      const exact = this.#exact.get(host) ?? this.#exact.get(stripPort(host));
      if (exact !== undefined) {
        const hit = findIn<T>(exact, req);
        if (hit !== undefined) return hit;
      }
      if (this.#wildcards.length > 0) {
        const bare = stripPort(host);
        for (const { suffix, group } of this.#wildcards) {
          if (bare.endsWith(suffix) && bare.length > suffix.length) {
            const hit = findIn<T>(group, req);
            if (hit !== undefined) return hit;
          }
        }
      }
    }
    return this.#any === undefined ? undefined : findIn<T>(this.#any, req);
  }
}

function findIn<T>(group: HostGroup<T>, req: RouteRequest): RouteHit<T> | undefined {
  const path = req.path;
  const exact = group.exact.get(path);
  if (exact !== undefined) {
    const hit = firstHolding(exact, req, NO_PARAMS);
    if (hit !== undefined) return hit;
  }
  if (group.router !== undefined) {
    const found = group.router.find(LOOKUP_METHOD, path);
    if (found !== null) {
      const hit = firstHolding(found.store as Store<T>, req, found.params);
      if (hit !== undefined) return hit;
    }
  }
  if (group.prefixes.size === 0) return undefined;
  // Segment ancestors, longest first: /a/b/c, /a/b, /a, / (a trailing slash belongs to its prefix).
  let key = path.length > 1 && path.charCodeAt(path.length - 1) === 47 ? path.slice(0, -1) : path;
  for (;;) {
    const list = group.prefixes.get(key);
    if (list !== undefined) {
      const hit = firstHolding(list, req, NO_PARAMS);
      if (hit !== undefined) return hit;
    }
    if (key === '/') return undefined;
    const cut = key.lastIndexOf('/');
    key = cut <= 0 ? '/' : key.slice(0, cut);
  }
}

function firstHolding<T>(candidates: Store<T>, req: RouteRequest, params: Readonly<Record<string, string | undefined>>): RouteHit<T> | undefined {
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i]!;
    if (conditionsHold(c.route, req)) return { route: c.route, value: c.value, params };
  }
  return undefined;
}

function conditionsHold(route: Route, req: RouteRequest): boolean {
  const { methods, headers } = route.match;
  if (methods.length > 0 && !methods.includes(req.method)) return false;
  for (let i = 0; i < headers.length; i++) {
    if (!headerHolds(headers[i]!, req.headers[headers[i]!.name])) return false;
  }
  return true;
}

function headerHolds(m: HeaderMatcher, raw: string | string[] | undefined): boolean {
  if (m.kind === 'present') return (raw !== undefined) === m.present;
  if (raw === undefined) return false;
  const value = Array.isArray(raw) ? raw.join(', ') : raw;
  switch (m.kind) {
    case 'exact':
      return value === m.value;
    case 'prefix':
      return value.startsWith(m.value);
    case 'regex':
      return m.regex.test(value);
  }
}

function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

function rankOf(route: Route): number[] {
  const conditions = route.match.methods.length > 0 || route.match.headers.length > 0 ? 0 : 1;
  return [conditions, route.order];
}

function compareRank(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

function add<T>(map: Map<string, Candidate<T>[]>, key: string, c: Candidate<T>): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [c]);
  else list.push(c);
}

function compileGroup<T>(entries: readonly { route: Route; value: T }[]): HostGroup<T> {
  const exact = new Map<string, Candidate<T>[]>();
  const patterns = new Map<string, Candidate<T>[]>();
  const prefixes = new Map<string, Candidate<T>[]>();
  for (const { route, value } of entries) {
    const candidate: Candidate<T> = { route, value, rank: rankOf(route) };
    const p = route.match.path;
    if (p.kind === 'prefix') add(prefixes, p.prefix, candidate);
    else if (/[:*]/.test(p.path)) add(patterns, p.path, candidate);
    else add(exact, p.path, candidate);
  }
  for (const map of [exact, patterns, prefixes]) for (const list of map.values()) list.sort((a, b) => compareRank(a.rank, b.rank));
  let router: Router.Instance<Router.HTTPVersion.V1> | undefined;
  if (patterns.size > 0) {
    router = Router({ ignoreTrailingSlash: false, caseSensitive: true, maxParamLength: 500 });
    for (const [pattern, list] of patterns) router.on(LOOKUP_METHOD, pattern, NOOP, list);
  }
  return { exact, router, prefixes };
}

/**
 * Normalizes a request path for matching and forwarding: removes `.` and `..` segments (RFC 3986 §5.2.4)
 * and collapses nothing else. Returns `undefined` for a target that is not an origin-form path.
 */
export function normalizePath(path: string): string | undefined {
  if (path.length === 0 || path.charCodeAt(0) !== 47 /* / */) return undefined;
  if (!path.includes('.') && !path.includes('%2e') && !path.includes('%2E')) return path;
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    const decoded = s.replace(/%2e/gi, '.');
    if (decoded === '.') {
      if (i === segments.length - 1) out.push('');
      continue;
    }
    if (decoded === '..') {
      out.pop();
      if (i === segments.length - 1) out.push('');
      continue;
    }
    out.push(s);
  }
  return `/${out.join('/')}`;
}
