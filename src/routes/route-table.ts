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

/** The routes of one host pattern; each router pattern's store holds its ranked candidates. */
interface HostGroup {
  readonly router: Router.Instance<Router.HTTPVersion.V1>;
}

type Store<T> = readonly Candidate<T>[];

const NOOP = (): void => {};
/** Routes register under one method; methods are conditions of the candidates. */
const LOOKUP_METHOD = 'GET';

export class RouteTable<T> {
  readonly #exact = new Map<string, HostGroup>();
  readonly #wildcards: { readonly suffix: string; readonly group: HostGroup }[] = [];
  readonly #any: HostGroup | undefined;
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
    let any: HostGroup | undefined;
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

function findIn<T>(group: HostGroup, req: RouteRequest): RouteHit<T> | undefined {
  const found = group.router.find(LOOKUP_METHOD, req.path);
  if (found === null) return undefined;
  const candidates = found.store as Store<T>;
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i]!;
    if (conditionsHold(c.route, req)) return { route: c.route, value: c.value, params: found.params };
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

/** The router patterns a route registers. */
function patternsOf(route: Route): string[] {
  const p = route.match.path;
  if (p.kind === 'exact') return [p.path];
  return p.prefix === '/' ? ['/', '/*'] : [p.prefix, `${p.prefix}/*`];
}

/** The literal part of a pattern before its first parameter or wildcard. */
function leadOf(pattern: string): string {
  const cut = pattern.search(/[:*]/);
  return cut === -1 ? pattern : pattern.slice(0, cut);
}

/** Does prefix route `prefix` cover every path the pattern can match? Segment-wise. */
function covers(prefix: string, lead: string): boolean {
  return prefix === '/' || lead === prefix || lead.startsWith(`${prefix}/`);
}

function rankOf(route: Route): number[] {
  const p = route.match.path;
  const pathRank = p.kind === 'exact' ? (/[:*]/.test(p.path) ? 1 : 0) : 2;
  const length = p.kind === 'exact' ? p.path.length : p.prefix.length;
  const conditions = route.match.methods.length > 0 || route.match.headers.length > 0 ? 0 : 1;
  return [pathRank, -length, conditions, route.order];
}

function compareRank(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

function compileGroup<T>(entries: readonly { route: Route; value: T }[]): HostGroup {
  const router = Router({ ignoreTrailingSlash: false, caseSensitive: true, maxParamLength: 500 });
  const own = new Map<string, Candidate<T>[]>();
  const prefixes: Candidate<T>[] = [];
  for (const { route, value } of entries) {
    const candidate: Candidate<T> = { route, value, rank: rankOf(route) };
    if (route.match.path.kind === 'prefix') prefixes.push(candidate);
    for (const pattern of patternsOf(route)) {
      const list = own.get(pattern) ?? [];
      list.push(candidate);
      own.set(pattern, list);
    }
  }
  for (const [pattern, list] of own) {
    // A path that reaches this pattern may still belong to a shorter prefix route whose conditions hold
    // where this pattern's routes' do not: those prefix routes are fallbacks, ranked after.
    const lead = leadOf(pattern);
    const all = new Set(list);
    for (const p of prefixes) {
      if (p.route.match.path.kind === 'prefix' && covers(p.route.match.path.prefix, lead)) all.add(p);
    }
    const store: Store<T> = [...all].sort((a, b) => compareRank(a.rank, b.rank));
    router.on(LOOKUP_METHOD, pattern, NOOP, store);
  }
  return { router };
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
