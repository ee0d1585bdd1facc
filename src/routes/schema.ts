/**
 * The config schema: one TypeBox definition that validates the config file (and, later, the admin API's
 * request bodies and its OpenAPI document). Keys are camelCase; units are in the key (`Ms`, `Bytes`).
 * Defaults are part of the schema (ajv `useDefaults`), so a validated config is complete.
 *
 * The user-facing shape is fixed by CONTRACT.md; README.md's config reference documents every field.
 */
import Type, { type Static } from 'typebox';

const Name = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$', description: 'Identifier: letters, digits, . _ -' });

/** `host:port`, `[v6]:port` or `:port` (all interfaces). */
const Address = Type.String({ pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]*):[0-9]{1,5}$', description: 'host:port' });

export const LogLevel = Type.Union(
  [Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')],
);

export const LogSchema = Type.Object(
  {
    level: Type.Optional({ ...LogLevel, default: 'info' }),
    access: Type.Optional(Type.Boolean({ default: true, description: 'One access-log line per request.' })),
  },
  { additionalProperties: false, default: {} },
);

export const LimitsSchema = Type.Object(
  {
    bodyBytes: Type.Optional(Type.Integer({ minimum: 0, default: 10 * 1024 * 1024, description: 'Largest request body (bytes); larger → 413.' })),
    headerBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1024 * 1024, default: 16 * 1024, description: 'Largest request head (bytes); larger → 431.' })),
  },
  { additionalProperties: false, default: {} },
);

export const ShutdownSchema = Type.Object(
  {
    drainMs: Type.Optional(Type.Integer({ minimum: 0, default: 10_000, description: 'How long in-flight requests may finish after SIGTERM/SIGINT (ms).' })),
  },
  { additionalProperties: false, default: {} },
);

export const ListenerSchema = Type.Object(
  {
    name: Name,
    protocol: Type.Optional(Type.Union([Type.Literal('http'), Type.Literal('sip'), Type.Literal('sip-ws')], { default: 'http' })),
    address: Address,
    keepaliveMs: Type.Optional(
      Type.Integer({ minimum: 0, description: 'sip-ws: WebSocket ping interval (ms; default 30000), below load balancer idle timeouts; a connection that missed the previous ping is closed; 0 disables (SPEC D.3).' }),
    ),
    allowedOrigins: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), { description: 'sip-ws: accepted Origin values (https://app.example.com); other upgrades get 403. Unset: any origin.' }),
    ),
    advertise: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 255,
        description:
          'sip, sip-ws: host[:port] written in Via and Record-Route instead of the bound address (a public address behind NAT, a container host, a DNS name); default: the bound address (127.0.0.1 for a wildcard bind) and port. Route values naming it or the bound address are Tandem\'s own.',
      }),
    ),
  },
  { additionalProperties: false },
);

export const AdminSchema = Type.Object(
  {
    address: Type.Optional({ ...Address, default: '127.0.0.1:9901' }),
    token: Type.Optional(Type.String({ description: 'Bearer token; empty means none (loopback only).' })),
  },
  { additionalProperties: false },
);

export const TargetSchema = Type.Object(
  {
    url: Type.String({ minLength: 1, description: 'http://host:port, ws://host:port (or sip:host:port;transport=udp|tcp)' }),
    weight: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 1 })),
  },
  { additionalProperties: false },
);

export const HashOnSchema = Type.Object(
  {
    header: Type.Optional(Type.String({ minLength: 1 })),
    cookie: Type.Optional(Type.String({ minLength: 1 })),
    clientIp: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, description: 'The key of consistentHash: one of header, cookie or clientIp (default clientIp).' },
);

export const TimeoutsSchema = Type.Object(
  {
    connectMs: Type.Optional(Type.Integer({ minimum: 1, default: 1000, description: 'TCP connect timeout (ms) → 502.' })),
    requestMs: Type.Optional(Type.Integer({ minimum: 1, default: 15_000, description: 'From request sent to response head (ms) → 504.' })),
    idleMs: Type.Optional(Type.Integer({ minimum: 1, default: 60_000, description: 'Longest pause between response body chunks (ms).' })),
  },
  { additionalProperties: false, default: {} },
);

export const RetryOn = Type.Union([Type.Literal('connectFailure'), Type.Literal('reset'), Type.Literal('timeout'), Type.Integer({ minimum: 500, maximum: 599 })]);

export const RetriesSchema = Type.Object(
  {
    attempts: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, default: 1, description: 'Retries after the first try (SIP upstreams: serial failover to other targets).' })),
    on: Type.Optional(Type.Array(RetryOn, { default: ['connectFailure'], description: 'When to retry. SIP: connectFailure or reset = a transport error, timeout = Timer B/F (or Timer C before a provisional), a code = a final response with it.' })),
    backoffMs: Type.Optional(Type.Integer({ minimum: 0, default: 25, description: 'Base of the full-jitter exponential backoff (ms).' })),
    maxBackoffMs: Type.Optional(Type.Integer({ minimum: 0, default: 1000, description: 'Cap of one backoff (ms).' })),
    budgetPercent: Type.Optional(Type.Number({ minimum: 0, maximum: 100, default: 20, description: 'Retries in flight may be at most this percentage of requests in flight…' })),
    minRetryConcurrency: Type.Optional(Type.Integer({ minimum: 0, default: 3, description: '…or this many, whichever is more.' })),
    perTryTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, description: 'Response-head timeout of one attempt (ms); all attempts share timeouts.requestMs.' })),
    maxRetryAfterMs: Type.Optional(Type.Integer({ minimum: 0, default: 2000, description: 'A Retry-After longer than this is not waited for: the answer goes to the client (ms).' })),
  },
  { additionalProperties: false, default: {} },
);

export const CircuitBreakerSchema = Type.Object(
  {
    errorThresholdPercentage: Type.Optional(Type.Number({ minimum: 1, maximum: 100, default: 50 })),
    volumeThreshold: Type.Optional(Type.Integer({ minimum: 1, default: 20 })),
    rollingWindowMs: Type.Optional(Type.Integer({ minimum: 100, default: 10_000 })),
    resetTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, default: 5000, description: 'Open time after the first trip (ms); doubles with each re-open.' })),
    maxResetTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, default: 60_000, description: 'Cap of the growing open time (ms).' })),
    halfOpenRequests: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 1, description: 'Trial requests admitted while half-open.' })),
    slowCallMs: Type.Optional(Type.Integer({ minimum: 1, description: 'A request slower than this counts as a failure (ms).' })),
  },
  { additionalProperties: false },
);

export const OutlierDetectionSchema = Type.Object(
  {
    consecutive5xx: Type.Optional(Type.Integer({ minimum: 1, default: 5 })),
    consecutiveGatewayFailures: Type.Optional(Type.Integer({ minimum: 1, default: 3, description: 'Connect failures, resets and timeouts in a row.' })),
    baseEjectionMs: Type.Optional(Type.Integer({ minimum: 1, default: 30_000, description: 'Ejection time × number of ejections (ms).' })),
    maxEjectionMs: Type.Optional(Type.Integer({ minimum: 1, default: 300_000 })),
    maxEjectionPercent: Type.Optional(Type.Number({ minimum: 0, maximum: 100, default: 50, description: 'Most targets ejected at once (at least one may be).' })),
  },
  { additionalProperties: false },
);

export const HealthCheckSchema = Type.Object(
  {
    path: Type.Optional(Type.String({ pattern: '^/', default: '/healthz', description: 'HTTP targets: the path probed with GET. Not used for sip: targets, which are probed with SIP OPTIONS.' })),
    intervalMs: Type.Optional(Type.Integer({ minimum: 100, default: 5000 })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, default: 1000 })),
    unhealthyThreshold: Type.Optional(Type.Integer({ minimum: 1, default: 3 })),
    healthyThreshold: Type.Optional(Type.Integer({ minimum: 1, default: 2 })),
  },
  { additionalProperties: false },
);

export const PoolSchema = Type.Object(
  {
    connections: Type.Optional(Type.Integer({ minimum: 1, maximum: 65_535, default: 256, description: 'Most open connections per target.' })),
    keepAliveMs: Type.Optional(Type.Integer({ minimum: 0, default: 4000, description: 'How long an idle upstream connection is kept (ms).' })),
    pipelining: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 1 })),
  },
  { additionalProperties: false, default: {} },
);

export const UpstreamSchema = Type.Object(
  {
    name: Name,
    targets: Type.Array(TargetSchema, { minItems: 1 }),
    loadBalancer: Type.Optional(
      Type.Union([Type.Literal('roundRobin'), Type.Literal('leastRequest'), Type.Literal('consistentHash')], { default: 'roundRobin' }),
    ),
    hashOn: Type.Optional(HashOnSchema),
    pool: Type.Optional(PoolSchema),
    timeouts: Type.Optional(TimeoutsSchema),
    retries: Type.Optional(RetriesSchema),
    circuitBreaker: Type.Optional(CircuitBreakerSchema),
    healthCheck: Type.Optional(HealthCheckSchema),
    outlierDetection: Type.Optional(OutlierDetectionSchema),
  },
  { additionalProperties: false },
);

export const HeaderMatchSchema = Type.Union([
  Type.String(),
  Type.Object(
    {
      exact: Type.Optional(Type.String()),
      prefix: Type.Optional(Type.String()),
      regex: Type.Optional(Type.String()),
      present: Type.Optional(Type.Boolean()),
    },
    { additionalProperties: false },
  ),
]);

export const SipMatchSchema = Type.Object(
  {
    domain: Type.String({ minLength: 1 }),
    methods: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Z]+$' }))),
    userPrefix: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const SipSchema = Type.Object(
  {
    t1Ms: Type.Optional(Type.Integer({ minimum: 1, default: 500, description: 'RFC 3261 T1, the round-trip estimate (ms): Timers A, B, E, F, G, H, J, L, M derive from it.' })),
    t2Ms: Type.Optional(Type.Integer({ minimum: 1, default: 4000, description: 'RFC 3261 T2, the longest retransmit interval of non-INVITE requests and INVITE responses (ms).' })),
    t4Ms: Type.Optional(Type.Integer({ minimum: 1, default: 5000, description: 'RFC 3261 T4, the longest time a message stays in the network (ms): Timers I and K.' })),
    timerCMs: Type.Optional(Type.Integer({ minimum: 1, default: 180_000, description: 'RFC 3261 §16.6 Timer C: how long a proxied INVITE may wait for a final response, reset by each provisional (ms); then the branch is cancelled and the caller gets 408.' })),
  },
  { additionalProperties: false, default: {} },
);

export const MatchSchema = Type.Object(
  {
    path: Type.Optional(Type.String({ pattern: '^/', description: 'Exact path; `:name` segments are parameters, `*` a trailing wildcard.' })),
    pathPrefix: Type.Optional(Type.String({ pattern: '^/', description: 'Segment-wise prefix: /api matches /api and /api/x, not /apix.' })),
    hosts: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'example.com, *.example.com or *' })),
    methods: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z]+$' }))),
    headers: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z0-9!#$%&\'*+.^_`|~-]+$' }), HeaderMatchSchema)),
    sip: Type.Optional(SipMatchSchema),
  },
  { additionalProperties: false },
);

export const RouteSchema = Type.Object(
  {
    name: Name,
    listener: Type.Optional(Type.Union([Name, Type.Array(Name, { minItems: 1 })])),
    match: MatchSchema,
    upstream: Name,
    stripPrefix: Type.Optional(Type.Boolean({ default: false })),
    registrar: Type.Optional(
      Type.Union([Type.Literal('upstream'), Type.Literal('edge')], {
        default: 'upstream',
        description: 'SIP routes: `upstream` forwards REGISTER to the upstream with a Path carrying a flow token (RFC 5626); `edge` answers REGISTER itself and delivers requests for a registered AOR over the client\'s connection (others go to the upstream).',
      }),
    ),
    websocket: Type.Optional(Type.Boolean({ default: false })),
    preserveHost: Type.Optional(Type.Boolean({ default: true, description: 'Send the client Host to the upstream (else the target host).' })),
    hostRewrite: Type.Optional(Type.String({ minLength: 1, description: 'Send this Host to the upstream.' })),
    limits: Type.Optional(
      Type.Object({ bodyBytes: Type.Optional(Type.Integer({ minimum: 0 })) }, { additionalProperties: false }),
    ),
    drain: Type.Optional(
      Type.Object(
        {
          deadlineMs: Type.Optional(Type.Integer({ minimum: 0, description: 'When the route is removed or replaced: how long its requests may finish (ms); default shutdown.drainMs.' })),
          websockets: Type.Optional(Type.Union([Type.Literal('keep'), Type.Literal('close')], { description: 'At the deadline, close its WebSockets with 1001 (close, default) or leave them open (keep).' })),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    log: Type.Optional(LogSchema),
    limits: Type.Optional(LimitsSchema),
    shutdown: Type.Optional(ShutdownSchema),
    sip: Type.Optional(SipSchema),
    listeners: Type.Optional(
      Type.Array(ListenerSchema, { default: [{ name: 'web', protocol: 'http', address: '127.0.0.1:8080' }] }),
    ),
    admin: Type.Optional(AdminSchema),
    upstreams: Type.Optional(Type.Array(UpstreamSchema, { default: [] })),
    routes: Type.Optional(Type.Array(RouteSchema, { default: [] })),
  },
  { additionalProperties: false },
);

/** A config as written (optional fields may be absent). */
export type ConfigInput = Static<typeof ConfigSchema>;
export type ListenerInput = Static<typeof ListenerSchema>;
export type UpstreamInput = Static<typeof UpstreamSchema>;
export type RouteInput = Static<typeof RouteSchema>;
export type MatchInput = Static<typeof MatchSchema>;
export type HeaderMatchInput = Static<typeof HeaderMatchSchema>;
