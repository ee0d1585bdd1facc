/**
 * TypeBox schemas of the admin API's answers. They serialize the responses (fast-json-stringify: fields
 * not in a schema are not sent) and @fastify/swagger turns them into the OpenAPI document
 * (`GET /openapi.json`), so they describe exactly what clients receive. They mirror the read model of
 * `sources.ts`; the type assertions at the end fail to compile when a required field is added there and
 * not here.
 */
import Type, { type Static } from 'typebox';
import type { ReloadPlan, WriteResult } from './config-source.ts';
import type { StatusDocument } from './sources.ts';

/** `{ code, message, details? }`: every error answer (see docs/errors.md). */
export const ErrorBody = Type.Object(
  {
    code: Type.String({ description: 'Stable `TANDEM_ERR_*` code (docs/errors.md).' }),
    message: Type.String(),
    details: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { description: 'An error answer.' },
);

export const HealthBody = Type.Object({ status: Type.Literal('ok') }, { description: 'The process is alive.' });
export const ReadyBody = Type.Object({ status: Type.Literal('ready') }, { description: 'Config loaded and every listener up.' });

export const BreakerStatus = Type.Object(
  {
    target: Type.String({ description: '`host:port` of the target.' }),
    state: Type.Union([Type.Literal('closed'), Type.Literal('open'), Type.Literal('halfOpen')]),
    reopens: Type.Integer({ description: 'Re-opens since it was last closed (the open time grows with it).' }),
    retryInMs: Type.Optional(Type.Number({ description: 'While open: ms until it goes half-open.' })),
    transitions: Type.Integer(),
  },
  { description: 'The circuit breaker of one route × upstream target.' },
);

export const RouteStatus = Type.Object({
  name: Type.String(),
  state: Type.Union([Type.Literal('active'), Type.Literal('draining'), Type.Literal('quarantined')], {
    description: '`quarantined` after a crash loop past the restart intensity.',
  }),
  upstream: Type.String(),
  listeners: Type.Array(Type.String()),
  restarts: Type.Integer({ description: 'Restarts of the route machine by its supervisor.' }),
  requests: Type.Integer(),
  breakers: Type.Array(BreakerStatus),
  protocol: Type.Optional(Type.Literal('sip', { description: 'Set on SIP routes.' })),
});

export const TargetStatus = Type.Object({
  url: Type.String(),
  authority: Type.String({ description: '`host:port`' }),
  weight: Type.Number(),
  health: Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy')], {
    description: 'Active health checks’ verdict (`healthy` when no health check is configured).',
  }),
  ejected: Type.Boolean({ description: 'Ejected from the rotation by passive outlier detection.' }),
  ejections: Type.Integer(),
  active: Type.Integer({ description: 'Requests in flight.' }),
  requests: Type.Integer(),
  failures: Type.Integer(),
});

export const UpstreamStatus = Type.Object({
  name: Type.String(),
  loadBalancer: Type.String(),
  targets: Type.Array(TargetStatus),
});

const TransportCounters = Type.Object({
  received: Type.Integer(),
  sent: Type.Integer(),
  malformed: Type.Integer(),
  rejected: Type.Integer({ description: 'Malformed requests answered 400/505/513.' }),
  dropped: Type.Integer(),
  keepalives: Type.Integer(),
});

export const SipStatus = Type.Object(
  {
    listeners: Type.Array(
      Type.Object({
        name: Type.String(),
        protocol: Type.Union([Type.Literal('sip'), Type.Literal('sip-ws')]),
        port: Type.Optional(Type.Integer()),
        connections: Type.Optional(Type.Integer({ description: 'sip-ws: open WebSocket connections.' })),
      }),
    ),
    transactions: Type.Object({
      inviteClient: Type.Integer(),
      nonInviteClient: Type.Integer(),
      inviteServer: Type.Integer(),
      nonInviteServer: Type.Integer(),
      total: Type.Integer(),
    }),
    pendingInvites: Type.Integer(),
    flows: Type.Integer({ description: 'Open flows: UDP peers, TCP and WebSocket connections.' }),
    wsConnections: Type.Integer(),
    registrations: Type.Object({ bindings: Type.Integer(), flows: Type.Integer() }, { description: 'Edge registrar bindings and the flows they use.' }),
    transport: Type.Object({ udp: TransportCounters, tcp: TransportCounters, ws: TransportCounters }),
  },
  { description: 'SIP listeners, live transactions (RFC 3261 §17), flows and registrations.' },
);

export const StatusBody = Type.Object(
  { routes: Type.Array(RouteStatus), upstreams: Type.Array(UpstreamStatus), sip: Type.Optional(SipStatus) },
  { description: 'Every route and upstream target with its state machines’ states and counters.' },
);

export const ChildNode = Type.Object({
  id: Type.String(),
  type: Type.Union([Type.Literal('worker'), Type.Literal('supervisor')]),
  restart: Type.Union([Type.Literal('permanent'), Type.Literal('transient'), Type.Literal('temporary')]),
  status: Type.Union([Type.Literal('running'), Type.Literal('restarting'), Type.Literal('stopped')]),
  restarts: Type.Integer({ description: 'Times this child was restarted by the supervisor.' }),
  detail: Type.Unknown({ description: 'The child’s own description: a nested supervisor’s tree, a machine’s state, or null.' }),
});

export const SupervisorBody = Type.Object(
  {
    name: Type.String(),
    id: Type.Integer(),
    type: Type.Literal('supervisor'),
    strategy: Type.Union([Type.Literal('one_for_one'), Type.Literal('one_for_all'), Type.Literal('rest_for_one'), Type.Literal('dynamic')]),
    status: Type.Union([Type.Literal('starting'), Type.Literal('running'), Type.Literal('stopping'), Type.Literal('exited')]),
    intensity: Type.Integer(),
    periodMs: Type.Integer(),
    recentRestarts: Type.Integer({ description: 'Restarts within the current intensity window.' }),
    children: Type.Array(ChildNode),
  },
  { description: 'The supervision tree.' },
);

const Names = Type.Array(Type.String());
const SectionDiff = Type.Object({ added: Names, changed: Names, removed: Names });

/** What a write changes (or, for a dry run, would change), by name. */
export const PlanBody = Type.Object(
  {
    routes: SectionDiff,
    upstreams: SectionDiff,
    listeners: SectionDiff,
    affects: Type.Array(
      Type.Object({
        name: Type.String({ description: 'A route being replaced or removed.' }),
        inFlight: Type.Integer({ description: 'Requests in flight on it now.' }),
        websockets: Type.Integer({ description: 'Open WebSocket sessions on it now.' }),
      }),
      { description: 'Routes being replaced or removed, with what is open on them now.' },
    ),
    empty: Type.Boolean({ description: 'True when nothing changes (the document is identical to the running one).' }),
  },
  { description: 'The diff a change makes.' },
);

/** The answer of `PUT /config`, `DELETE /routes/{name}`, `DELETE /upstreams/{name}`. */
export const WriteBody = Type.Object(
  {
    etag: Type.String({ description: 'The config’s ETag after the write (unchanged for a dry run); also sent as the `ETag` header.' }),
    applied: Type.Boolean({ description: 'False for a dry run: nothing changed.' }),
    plan: PlanBody,
  },
  { description: 'The change is live on this instance and persisted (or, with `applied: false`, only planned).' },
);

/** The answer of `PUT /routes/{name}` and `PUT /upstreams/{name}`. */
export const PutBody = Type.Object(
  {
    etag: WriteBody.properties.etag,
    applied: WriteBody.properties.applied,
    created: Type.Boolean({ description: 'True when the name did not exist before (a dry run says whether it would be created).' }),
    plan: PlanBody,
  },
  { description: 'The route or upstream is created or replaced, live on this instance and persisted (or, with `applied: false`, only planned).' },
);

// A schema that lacks a required field of the read model does not compile.
type Covers<Schema, Model> = Schema extends Model ? true : never;
export const STATUS_SCHEMA_COVERS_MODEL: Covers<Static<typeof StatusBody>, StatusDocument> = true;
export const PLAN_SCHEMA_COVERS_MODEL: Covers<Static<typeof PlanBody>, ReloadPlan> = true;
export const WRITE_SCHEMA_COVERS_MODEL: Covers<Static<typeof WriteBody>, WriteResult> = true;
export const PUT_SCHEMA_COVERS_MODEL: Covers<Static<typeof PutBody>, WriteResult & { readonly created: boolean }> = true;
