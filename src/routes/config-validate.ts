/**
 * Validation of a config document: the schema (ajv over the TypeBox definitions, defaults filled in), then
 * the checks a schema cannot express (names unique, references resolve, addresses distinct). Every
 * problem is reported with its path (`routes[2].upstream: unknown upstream "pbx"`); nothing is half-applied.
 */
import { isIP } from 'node:net';
import { Ajv, type ErrorObject } from 'ajv';
import { ConfigError, type ErrorDetail } from '../errors.ts';
import type {
  Config,
  ConfigWarning,
  HashOn,
  HeaderMatcher,
  Listener,
  PathMatch,
  Route,
  Target,
  Upstream,
} from './config.ts';
import { ConfigSchema, RouteSchema, UpstreamSchema, type ConfigInput, type MatchInput, type RouteInput, type UpstreamInput } from './schema.ts';

const ajv = new Ajv({ allErrors: true, verbose: true, useDefaults: true, strict: false, coerceTypes: false });
const validateSchema = ajv.compile<ConfigInput>(ConfigSchema);

/** The result of a successful validation: the config, and warnings worth printing. */
export interface ValidatedConfig {
  readonly config: Config;
  readonly warnings: readonly ConfigWarning[];
}

/**
 * Validates a parsed config document (after `${env:…}` substitution) and returns the complete model.
 * The input is not modified.
 *
 * @throws {ConfigError} `TANDEM_ERR_CONFIG_INVALID` with `details: [{ path, message }]`, every problem.
 */
export function validateConfig(document: unknown): ValidatedConfig {
  const input: unknown = structuredClone(document ?? {});
  if (!validateSchema(input)) {
    throw invalid(schemaProblems(validateSchema.errors ?? []));
  }
  const problems: ErrorDetail[] = [];
  const warnings: ConfigWarning[] = [];
  const raw = input as Required<ConfigInput>;

  const listeners = (raw.listeners ?? []).map((l, i) => resolveListener(l, `listeners[${i}]`, problems, warnings));
  unique(listeners.map((l) => l.name), 'listeners', problems);
  const addresses = new Map<string, string>();
  listeners.forEach((l, i) => {
    const key = `${l.host}:${l.port}`;
    const other = addresses.get(key);
    if (other !== undefined && l.port !== 0) problems.push({ path: `listeners[${i}].address`, message: `${l.address} is already used by listener "${other}"` });
    addresses.set(key, l.name);
  });

  const upstreams = (raw.upstreams ?? []).map((u, i) => resolveUpstream(u, `upstreams[${i}]`, problems, warnings));
  unique(upstreams.map((u) => u.name), 'upstreams', problems);

  const listenerNames = new Set(listeners.map((l) => l.name));
  const httpListeners = listeners.filter((l) => l.protocol === 'http').map((l) => l.name);
  const sipListeners = listeners.filter((l) => l.protocol !== 'http').map((l) => l.name);
  const upstreamNames = new Set(upstreams.map((u) => u.name));
  const defaultBody = raw.limits?.bodyBytes ?? 0;
  const defaultDrainMs = raw.shutdown?.drainMs ?? 10_000;
  const routes = (raw.routes ?? []).map((r, i) =>
    resolveRoute(r, i, { listenerNames, httpListeners, sipListeners, upstreamNames, defaultBody, defaultDrainMs }, problems, warnings),
  );
  unique(routes.map((r) => r.name), 'routes', problems);
  // A route, its listeners and its upstream's targets must all be HTTP or all SIP.
  const protocolOf = new Map(listeners.map((l) => [l.name, l.protocol]));
  const sipUpstream = new Map(upstreams.map((u) => [u.name, u.targets.length > 0 && u.targets.every((t) => t.sip !== undefined)]));
  upstreams.forEach((u, i) => {
    const kinds = new Set(u.targets.map((t) => (t.sip === undefined ? 'http' : 'sip')));
    if (kinds.size > 1) problems.push({ path: `upstreams[${i}].targets`, message: 'mixes http(s)/ws and sip targets' });
  });
  routes.forEach((r, i) => problems.push(...kindProblems(r, `routes[${i}]`, Array.isArray(raw.routes?.[i]?.listener), protocolOf, sipUpstream)));
  const servedRoutes = routes;
  const sip = { t1Ms: raw.sip?.t1Ms ?? 500, t2Ms: raw.sip?.t2Ms ?? 4000, t4Ms: raw.sip?.t4Ms ?? 5000, timerCMs: raw.sip?.timerCMs ?? 180_000 };
  if (sip.t2Ms < sip.t1Ms) problems.push({ path: 'sip.t2Ms', message: `must be at least t1Ms (${sip.t1Ms})` });
  // RFC 3261 §16.6 step 11: Timer C "MUST be set ... greater than 3 minutes"; shorter values are for tests and labs.
  if (sip.timerCMs < 180_000) warnings.push({ path: 'sip.timerCMs', message: `${sip.timerCMs} ms is below RFC 3261's 3 minutes` });

  let admin: Config['admin'];
  if (raw.admin !== undefined) {
    admin = { address: raw.admin.address ?? '127.0.0.1:9901', token: raw.admin.token === '' ? undefined : raw.admin.token };
    const { host, port } = splitAddress(admin.address);
    if (admin.token === undefined && !isLoopback(host)) {
      problems.push({ path: 'admin.token', message: `required when the admin API listens on a non-loopback address (${admin.address})` });
    }
    const other = addresses.get(`${host}:${port}`);
    if (other !== undefined && port !== 0) problems.push({ path: 'admin.address', message: `${admin.address} is already used by listener "${other}"` });
  }

  if (problems.length > 0) {
    // Only dangling references (a route naming an unknown upstream or listener): 422, not 400.
    if (problems.every((p) => REFERENCE.test(p.message))) {
      throw new ConfigError('TANDEM_ERR_CONFIG_REFERENCE', `invalid config: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, { details: problems });
    }
    throw invalid(problems);
  }
  const config: Config = {
    log: { level: raw.log?.level ?? 'info', access: raw.log?.access ?? true },
    limits: { bodyBytes: raw.limits?.bodyBytes ?? 0, headerBytes: raw.limits?.headerBytes ?? 16384 },
    shutdown: { drainMs: raw.shutdown?.drainMs ?? 10_000 },
    sip,
    listeners,
    admin,
    upstreams,
    routes: servedRoutes,
  };
  return { config, warnings };
}

const REFERENCE = /^unknown (upstream|listener) "/;

function invalid(details: ErrorDetail[]): ConfigError {
  const head = details.length === 1 ? '1 problem' : `${details.length} problems`;
  return new ConfigError('TANDEM_ERR_CONFIG_INVALID', `invalid config: ${head}`, { details });
}

/** `/routes/2/match` → `routes[2].match`. */
export function toPath(instancePath: string, child?: string): string {
  let out = '';
  for (const part of instancePath.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(key) ? `[${key}]` : out === '' ? key : `.${key}`;
  }
  if (child !== undefined) out += out === '' ? child : `.${child}`;
  return out === '' ? '(root)' : out;
}

/** ajv errors as `[{ path, message }]` (one line per failed union), as config problems are reported. */
export function schemaProblems(errors: readonly ErrorObject[]): ErrorDetail[] {
  // A failed union (anyOf) also reports every branch's own failure: keep the union's one line.
  const unions = errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath);
  const seen = new Set<string>();
  const out: ErrorDetail[] = [];
  for (const e of errors) {
    if (e.keyword !== 'anyOf' && unions.some((p) => e.instancePath === p || e.instancePath.startsWith(`${p}/`))) continue;
    let detail: ErrorDetail;
    if (e.keyword === 'required') {
      detail = { path: toPath(e.instancePath, String(e.params['missingProperty'])), message: 'is required' };
    } else if (e.keyword === 'additionalProperties') {
      detail = { path: toPath(e.instancePath, String(e.params['additionalProperty'])), message: 'is not a known field' };
    } else if (e.keyword === 'anyOf') {
      detail = { path: toPath(e.instancePath), message: describeUnion(e) };
    } else if (e.keyword === 'pattern') {
      detail = { path: toPath(e.instancePath), message: `${JSON.stringify(e.data)} is not valid (${String(e.parentSchema?.['description'] ?? e.message)})` };
    } else {
      detail = { path: toPath(e.instancePath), message: e.message ?? 'is invalid' };
    }
    const key = `${detail.path}\u0000${detail.message}`;
    if (!seen.has(key)) out.push(detail);
    seen.add(key);
  }
  return out;
}

function describeUnion(e: ErrorObject): string {
  const branches = (e.schema as { const?: unknown; type?: string }[] | undefined) ?? [];
  const consts = branches.filter((b) => b.const !== undefined).map((b) => JSON.stringify(b.const));
  if (consts.length === branches.length && consts.length > 0) return `${JSON.stringify(e.data)} is not one of ${consts.join(', ')}`;
  const types = branches.map((b) => b.type ?? (b.const !== undefined ? JSON.stringify(b.const) : 'object'));
  return `must be one of: ${[...new Set(types)].join(' | ')}`;
}

function unique(names: readonly string[], section: string, problems: ErrorDetail[]): void {
  const seen = new Map<string, number>();
  names.forEach((n, i) => {
    const first = seen.get(n);
    if (first !== undefined) problems.push({ path: `${section}[${i}].name`, message: `duplicate name "${n}" (also ${section}[${first}])` });
    else seen.set(n, i);
  });
}

/** 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Splits `host:port`, `[v6]:port` or `:port`. */
export function splitAddress(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  let host = address.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { host: host === '' ? '0.0.0.0' : host, port: Number(address.slice(colon + 1)) };
}

function resolveListener(
  l: NonNullable<ConfigInput['listeners']>[number],
  path: string,
  problems: ErrorDetail[],
  warnings: ConfigWarning[],
): Listener {
  const { host, port } = splitAddress(l.address);
  if (port > 65_535) problems.push({ path: `${path}.address`, message: `port ${port} is out of range` });
  const protocol = l.protocol ?? 'http';
  if (protocol !== 'sip-ws' && (l.keepaliveMs !== undefined || l.allowedOrigins !== undefined)) {
    warnings.push({ path: `${path}.${l.keepaliveMs === undefined ? 'allowedOrigins' : 'keepaliveMs'}`, message: 'only sip-ws listeners use it; ignored' });
  }
  let advertise: Listener['advertise'];
  if (l.advertise !== undefined) {
    if (protocol === 'http') warnings.push({ path: `${path}.advertise`, message: 'only sip and sip-ws listeners use it; ignored' });
    else {
      advertise = parseAdvertise(l.advertise);
      if (advertise === undefined) problems.push({ path: `${path}.advertise`, message: `"${l.advertise}" is not host[:port] (an IPv6 address in brackets with a port: [2001:db8::1]:5060)` });
    }
  }
  return {
    name: l.name,
    protocol,
    address: l.address,
    host,
    port,
    keepaliveMs: l.keepaliveMs ?? 30_000,
    allowedOrigins: l.allowedOrigins?.map((o) => o.toLowerCase()),
    ...(advertise === undefined ? {} : { advertise }),
  };
}

/**
 * A listener's `advertise`: `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; the host
 * an IPv4 or IPv6 address (not the unspecified `0.0.0.0` / `::`) or a DNS name (RFC 3261 §25.1
 * `hostname`, a trailing dot allowed), the port 1–65535. Undefined when malformed.
 */
export function parseAdvertise(text: string): { host: string; port: number | undefined } | undefined {
  let host = text;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return undefined;
    host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return undefined;
      portText = rest.slice(1);
    }
    if (isIP(host) !== 6) return undefined;
  } else if (text.indexOf(':') !== text.lastIndexOf(':')) {
    if (isIP(text) !== 6) return undefined; // a bare IPv6 address
  } else {
    const colon = text.indexOf(':');
    if (colon >= 0) {
      host = text.slice(0, colon);
      portText = text.slice(colon + 1);
    }
    const looksNumeric = /^[\d.]+$/.test(host);
    if (looksNumeric ? isIP(host) !== 4 : !HOSTNAME.test(host)) return undefined;
  }
  if (host === '0.0.0.0' || (isIP(host) === 6 && /^[0:]+$/.test(host))) return undefined; // unspecified: nobody can reach it
  if (portText === undefined) return { host, port: undefined };
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  return port >= 1 && port <= 65_535 ? { host, port } : undefined;
}

/** RFC 3261 §25.1 hostname: dot-separated labels of letters, digits and inner hyphens, a trailing dot allowed. */
const HOSTNAME = /^(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function resolveUpstream(u: UpstreamInput, path: string, problems: ErrorDetail[], warnings: ConfigWarning[]): Upstream {
  const targets: Target[] = [];
  u.targets.forEach((t, i) => {
    const target = resolveTarget(t.url, t.weight ?? 1);
    if (typeof target === 'string') problems.push({ path: `${path}.targets[${i}].url`, message: target });
    else targets.push(target);
  });
  const authorities = new Set<string>();
  targets.forEach((t, i) => {
    if (authorities.has(t.authority)) problems.push({ path: `${path}.targets[${i}].url`, message: `duplicate target ${t.authority}` });
    authorities.add(t.authority);
  });
  // A SIP upstream's health check is a SIP OPTIONS request (docs/sip.md): it has no path. (The schema
  // fills in the default /healthz, so only another path is known to be the user's.)
  if (u.healthCheck?.path !== undefined && u.healthCheck.path !== '/healthz' && targets.length > 0 && targets.every((t) => t.sip !== undefined)) {
    warnings.push({ path: `${path}.healthCheck.path`, message: 'ignored for sip: targets (they are probed with SIP OPTIONS)' });
  }
  let hashOn: HashOn = { kind: 'clientIp' };
  if (u.hashOn !== undefined) {
    const keys = (['header', 'cookie', 'clientIp'] as const).filter((k) => u.hashOn?.[k] !== undefined);
    if (keys.length !== 1) problems.push({ path: `${path}.hashOn`, message: 'set exactly one of header, cookie, clientIp' });
    if (u.hashOn.header !== undefined) hashOn = { kind: 'header', name: u.hashOn.header.toLowerCase() };
    else if (u.hashOn.cookie !== undefined) hashOn = { kind: 'cookie', name: u.hashOn.cookie };
    if (u.loadBalancer !== 'consistentHash') problems.push({ path: `${path}.hashOn`, message: 'only used with loadBalancer: consistentHash' });
  }
  const pool = u.pool ?? {};
  const timeouts = u.timeouts ?? {};
  const retries = u.retries ?? {};
  return {
    name: u.name,
    targets,
    loadBalancer: u.loadBalancer ?? 'roundRobin',
    hashOn,
    pool: { connections: pool.connections ?? 256, keepAliveMs: pool.keepAliveMs ?? 4000, pipelining: pool.pipelining ?? 1 },
    timeouts: { connectMs: timeouts.connectMs ?? 1000, requestMs: timeouts.requestMs ?? 15_000, idleMs: timeouts.idleMs ?? 60_000 },
    retries: {
      attempts: retries.attempts ?? 1,
      on: retries.on ?? ['connectFailure'],
      backoffMs: retries.backoffMs ?? 25,
      maxBackoffMs: retries.maxBackoffMs ?? 1000,
      budgetPercent: retries.budgetPercent ?? 20,
      minRetryConcurrency: retries.minRetryConcurrency ?? 3,
      perTryTimeoutMs: retries.perTryTimeoutMs,
      maxRetryAfterMs: retries.maxRetryAfterMs ?? 2000,
    },
    circuitBreaker:
      u.circuitBreaker === undefined
        ? undefined
        : {
            errorThresholdPercentage: u.circuitBreaker.errorThresholdPercentage ?? 50,
            volumeThreshold: u.circuitBreaker.volumeThreshold ?? 20,
            rollingWindowMs: u.circuitBreaker.rollingWindowMs ?? 10_000,
            resetTimeoutMs: u.circuitBreaker.resetTimeoutMs ?? 5000,
            maxResetTimeoutMs: Math.max(u.circuitBreaker.maxResetTimeoutMs ?? 60_000, u.circuitBreaker.resetTimeoutMs ?? 5000),
            halfOpenRequests: u.circuitBreaker.halfOpenRequests ?? 1,
            slowCallMs: u.circuitBreaker.slowCallMs,
          },
    healthCheck:
      u.healthCheck === undefined
        ? undefined
        : {
            path: u.healthCheck.path ?? '/healthz',
            intervalMs: u.healthCheck.intervalMs ?? 5000,
            timeoutMs: u.healthCheck.timeoutMs ?? 1000,
            unhealthyThreshold: u.healthCheck.unhealthyThreshold ?? 3,
            healthyThreshold: u.healthCheck.healthyThreshold ?? 2,
          },
    outlierDetection:
      u.outlierDetection === undefined
        ? undefined
        : {
            consecutive5xx: u.outlierDetection.consecutive5xx ?? 5,
            consecutiveGatewayFailures: u.outlierDetection.consecutiveGatewayFailures ?? 3,
            baseEjectionMs: u.outlierDetection.baseEjectionMs ?? 30_000,
            maxEjectionMs: Math.max(u.outlierDetection.maxEjectionMs ?? 300_000, u.outlierDetection.baseEjectionMs ?? 30_000),
            maxEjectionPercent: u.outlierDetection.maxEjectionPercent ?? 50,
          },
  };
}

/** Parses a target URL; returns the problem as a string when it is not usable. */
export function resolveTarget(url: string, weight: number): Target | string {
  if (url.startsWith('sip:')) return resolveSipTarget(url, weight);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `${JSON.stringify(url)} is not a URL (http://host:port or ws://host:port)`;
  }
  if (!['http:', 'ws:'].includes(parsed.protocol)) return `scheme ${parsed.protocol} is not supported (http:// or ws://)`;
  if (parsed.pathname !== '/' || parsed.search !== '' || parsed.username !== '') {
    return 'a target is an origin only (scheme, host, port): no path, query or credentials';
  }
  const port = parsed.port === '' ? '80' : parsed.port;
  const authority = `${parsed.hostname}:${port}`;
  return { url, origin: `http://${authority}`, authority, weight };
}

/** A route, its listeners and its upstream must all be HTTP or all SIP. */
function kindProblems(r: Route, path: string, listenerList: boolean, protocolOf: ReadonlyMap<string, string>, sipUpstream: ReadonlyMap<string, boolean>): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  const sip = r.match.sip !== undefined;
  r.listeners.forEach((l, j) => {
    const protocol = protocolOf.get(l);
    if (protocol !== undefined && (protocol !== 'http') !== sip) {
      out.push({ path: `${path}.listener${listenerList ? `[${j}]` : ''}`, message: sip ? `listener "${l}" is not a sip listener` : `listener "${l}" is a ${protocol} listener: HTTP routes need an http listener` });
    }
  });
  const upstreamIsSip = sipUpstream.get(r.upstream);
  if (upstreamIsSip !== undefined && upstreamIsSip !== sip) {
    out.push({ path: `${path}.upstream`, message: sip ? `upstream "${r.upstream}" has no sip: targets` : `upstream "${r.upstream}" has sip: targets` });
  }
  return out;
}

/** `sip:host[:port][;transport=udp|tcp]` (default port 5060, transport udp). */
function resolveSipTarget(url: string, weight: number): Target | string {
  const m = /^sip:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?((?:;[A-Za-z0-9_.-]+(?:=[A-Za-z0-9_.-]+)?)*)$/.exec(url);
  if (m === null) return `${JSON.stringify(url)} is not a SIP target (sip:host:port;transport=udp|tcp)`;
  const host = m[1]!.replace(/^\[|\]$/g, '');
  const port = m[2] === undefined ? 5060 : Number(m[2]);
  if (port < 1 || port > 65_535) return `port ${port} is out of range`;
  const params = new Map((m[3] ?? '').split(';').filter(Boolean).map((p) => p.split('=') as [string, string | undefined]));
  const transport = (params.get('transport') ?? 'udp').toLowerCase();
  if (transport !== 'udp' && transport !== 'tcp') return `transport=${transport} is not supported for SIP targets (udp or tcp)`;
  const authority = `${m[1]!}:${port}`;
  return { url, origin: `sip:${authority}`, authority, weight, sip: { transport, host, port } };
}

interface RouteContext {
  readonly listenerNames: ReadonlySet<string>;
  readonly httpListeners: readonly string[];
  readonly sipListeners: readonly string[];
  readonly upstreamNames: ReadonlySet<string>;
  readonly defaultBody: number;
  readonly defaultDrainMs: number;
}

function resolveRoute(r: RouteInput, order: number, ctx: RouteContext, problems: ErrorDetail[], warnings: ConfigWarning[], path = `routes[${order}]`): Route {
  const listeners = r.listener === undefined ? [...(r.match.sip === undefined ? ctx.httpListeners : ctx.sipListeners)] : Array.isArray(r.listener) ? r.listener : [r.listener];
  listeners.forEach((name, i) => {
    if (!ctx.listenerNames.has(name)) {
      const at = Array.isArray(r.listener) ? `${path}.listener[${i}]` : `${path}.listener`;
      problems.push({ path: at, message: `unknown listener "${name}"` });
    }
  });
  if (!ctx.upstreamNames.has(r.upstream)) problems.push({ path: `${path}.upstream`, message: `unknown upstream "${r.upstream}"` });
  const pathMatch = resolvePathMatch(r.match, `${path}.match`, problems);
  if (r.registrar === 'edge' && r.match.sip === undefined) problems.push({ path: `${path}.registrar`, message: 'only SIP routes (match.sip) have a registrar' });
  if ((r.stripPrefix ?? false) && pathMatch.kind !== 'prefix') {
    problems.push({ path: `${path}.stripPrefix`, message: 'needs match.pathPrefix' });
  }
  const headers: HeaderMatcher[] = [];
  for (const [rawName, m] of Object.entries(r.match.headers ?? {})) {
    const name = rawName.toLowerCase();
    if (typeof m === 'string') headers.push({ kind: 'exact', name, value: m });
    else if (m.exact !== undefined) headers.push({ kind: 'exact', name, value: m.exact });
    else if (m.prefix !== undefined) headers.push({ kind: 'prefix', name, value: m.prefix });
    else if (m.regex !== undefined) {
      try {
        headers.push({ kind: 'regex', name, regex: new RegExp(m.regex) });
      } catch (err) {
        problems.push({ path: `${path}.match.headers.${rawName}.regex`, message: `invalid regular expression: ${(err as Error).message}` });
      }
    } else headers.push({ kind: 'present', name, present: m.present ?? true });
  }
  const hosts = (r.match.hosts ?? []).map((h) => h.toLowerCase());
  hosts.forEach((h, i) => {
    if (h !== '*' && !/^(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d+)?$/.test(h) && !/^\[[0-9a-f:.]+\](:\d+)?$/.test(h)) {
      problems.push({ path: `${path}.match.hosts[${i}]`, message: `${JSON.stringify(h)} is not a host, *.domain or *` });
    }
  });
  return {
    name: r.name,
    listeners,
    match: {
      ...(r.match.sip === undefined
        ? {}
        : { sip: { domain: r.match.sip.domain.toLowerCase(), methods: (r.match.sip.methods ?? []).map((m) => m.toUpperCase()), userPrefix: r.match.sip.userPrefix } }),
      path: pathMatch,
      hosts: hosts.includes('*') ? [] : hosts,
      methods: (r.match.methods ?? []).map((m) => m.toUpperCase()),
      headers,
    },
    upstream: r.upstream,
    stripPrefix: r.stripPrefix ?? false,
    registrar: r.registrar ?? 'upstream',
    websocket: r.websocket ?? false,
    preserveHost: r.preserveHost ?? true,
    hostRewrite: r.hostRewrite,
    bodyBytes: r.limits?.bodyBytes ?? ctx.defaultBody,
    drain: { deadlineMs: r.drain?.deadlineMs ?? ctx.defaultDrainMs, websockets: r.drain?.websockets ?? 'close' },
    order,
  };
}

function resolvePathMatch(m: MatchInput, path: string, problems: ErrorDetail[]): PathMatch {
  if (m.path !== undefined && m.pathPrefix !== undefined) {
    problems.push({ path: `${path}.path`, message: 'set path or pathPrefix, not both' });
  }
  if (m.path !== undefined) {
    if (/\*./.test(m.path)) problems.push({ path: `${path}.path`, message: 'a wildcard * may only end the path' });
    return { kind: 'exact', path: m.path };
  }
  const prefix = m.pathPrefix ?? '/';
  if (/[*:]/.test(prefix)) problems.push({ path: `${path}.pathPrefix`, message: 'a prefix is literal: no : parameters or * wildcards' });
  return { kind: 'prefix', prefix: prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix };
}

const validateRouteSchema = ajv.compile<RouteInput>(RouteSchema);
const validateUpstreamSchema = ajv.compile<UpstreamInput>(UpstreamSchema);

/** Schema problems of one item, with paths relative to the whole document (`routes[3].match`). */
function itemProblems(errors: readonly ErrorObject[], at: string): ErrorDetail[] {
  return schemaProblems(errors).map((d) => ({ path: d.path === '(root)' ? at : d.path.startsWith('[') ? `${at}${d.path}` : `${at}.${d.path}`, message: d.message }));
}

function throwProblems(problems: ErrorDetail[]): never {
  if (problems.every((p) => REFERENCE.test(p.message))) {
    throw new ConfigError('TANDEM_ERR_CONFIG_REFERENCE', `invalid config: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, { details: problems });
  }
  throw invalid(problems);
}

/**
 * The running config with one route created or replaced, checked exactly as {@link validateConfig}
 * would check the whole document with that change (schema, references, rules), but in time proportional
 * to the change: the other routes are the same objects, so planning the change is cheap too. `input`
 * has had its `${env:…}` references substituted.
 *
 * @throws {ConfigError} `TANDEM_ERR_CONFIG_INVALID` / `TANDEM_ERR_CONFIG_REFERENCE` with paths.
 */
export function withRoute(config: Config, input: unknown): Config {
  const at = config.routes.findIndex((r) => r.name === (input as { name?: unknown })?.name);
  const index = at === -1 ? config.routes.length : at;
  const path = `routes[${index}]`;
  const route = structuredClone(input);
  if (!validateRouteSchema(route)) throwProblems(itemProblems(validateRouteSchema.errors ?? [], path));
  const problems: ErrorDetail[] = [];
  const order = at === -1 ? config.routes.reduce((max, r) => Math.max(max, r.order), -1) + 1 : config.routes[at]!.order;
  const resolved = resolveRoute(
    route,
    order,
    {
      listenerNames: new Set(config.listeners.map((l) => l.name)),
      httpListeners: config.listeners.filter((l) => l.protocol === 'http').map((l) => l.name),
      sipListeners: config.listeners.filter((l) => l.protocol !== 'http').map((l) => l.name),
      upstreamNames: new Set(config.upstreams.map((u) => u.name)),
      defaultBody: config.limits.bodyBytes,
      defaultDrainMs: config.shutdown.drainMs,
    },
    problems,
    [],
    path,
  );
  if (problems.length === 0) {
    const protocolOf = new Map(config.listeners.map((l) => [l.name, l.protocol]));
    const sipUpstream = new Map(config.upstreams.map((u) => [u.name, u.targets.length > 0 && u.targets.every((t) => t.sip !== undefined)]));
    problems.push(...kindProblems(resolved, path, Array.isArray(route.listener), protocolOf, sipUpstream));
  }
  if (problems.length > 0) throwProblems(problems);
  const routes = [...config.routes];
  if (at === -1) routes.push(resolved);
  else routes[at] = resolved;
  return { ...config, routes };
}

/** The running config without route `name` (the other routes keep their objects). */
export function withoutRoute(config: Config, name: string): Config {
  return { ...config, routes: config.routes.filter((r) => r.name !== name) };
}

/**
 * The running config with one upstream created or replaced, checked as {@link validateConfig} would.
 *
 * @throws {ConfigError} `TANDEM_ERR_CONFIG_INVALID` with paths.
 */
export function withUpstream(config: Config, input: unknown): Config {
  const at = config.upstreams.findIndex((u) => u.name === (input as { name?: unknown })?.name);
  const path = `upstreams[${at === -1 ? config.upstreams.length : at}]`;
  const upstream = structuredClone(input);
  if (!validateUpstreamSchema(upstream)) throwProblems(itemProblems(validateUpstreamSchema.errors ?? [], path));
  const problems: ErrorDetail[] = [];
  const resolved = resolveUpstream(upstream, path, problems, []);
  const kinds = new Set(resolved.targets.map((t) => (t.sip === undefined ? 'http' : 'sip')));
  if (kinds.size > 1) problems.push({ path: `${path}.targets`, message: 'mixes http(s)/ws and sip targets' });
  if (problems.length === 0) {
    const protocolOf = new Map(config.listeners.map((l) => [l.name, l.protocol]));
    const sipUpstream = new Map([[resolved.name, resolved.targets.length > 0 && resolved.targets.every((t) => t.sip !== undefined)]]);
    config.routes.forEach((r, i) => {
      if (r.upstream === resolved.name) problems.push(...kindProblems(r, `routes[${i}]`, r.listeners.length > 1, protocolOf, sipUpstream));
    });
  }
  if (problems.length > 0) throwProblems(problems);
  const upstreams = [...config.upstreams];
  if (at === -1) upstreams.push(resolved);
  else upstreams[at] = resolved;
  return { ...config, upstreams };
}

/**
 * The running config without upstream `name`.
 *
 * @throws {ConfigError} `TANDEM_ERR_CONFIG_REFERENCE` when a route still uses it.
 */
export function withoutUpstream(config: Config, name: string): Config {
  const users = config.routes.filter((r) => r.upstream === name);
  if (users.length > 0) {
    throw new ConfigError('TANDEM_ERR_CONFIG_REFERENCE', `upstream "${name}" is still used by route${users.length > 1 ? 's' : ''} ${users.map((u) => `"${u.name}"`).join(', ')}`, {
      details: users.map((u) => ({ path: `routes[${config.routes.indexOf(u)}].upstream`, message: `uses upstream "${name}"` })),
    });
  }
  return { ...config, upstreams: config.upstreams.filter((u) => u.name !== name) };
}
