/**
 * What the admin API's write side talks to: the running config as a versioned document. Every source of
 * change (admin API, config file watch, SIGHUP, later a cluster store) goes through one apply path: the
 * new document is validated whole, compared with the running one route by route and upstream by
 * upstream, and applied by diff; a document that fails validation changes nothing.
 */

/** A config document as written (camelCase, `${env:…}` references kept). */
export type ConfigDocument = Record<string, unknown>;

/** Who asked for a change (for the audit log). */
export interface Actor {
  /** `admin`, `file`, `signal`, … */
  readonly source: string;
  /** A non-secret id of the bearer token (a hash prefix), when one was used. */
  readonly tokenId?: string | undefined;
  readonly remote?: string | undefined;
}

export interface WriteOptions {
  /** `If-Match`: the ETag the writer last read; a different current ETag → 409. */
  readonly ifMatch?: string | undefined;
  /** Validate and plan only; change nothing. */
  readonly dryRun?: boolean | undefined;
  readonly actor: Actor;
}

/** What an open connection a change would affect (requests in flight, WebSocket sessions). */
export interface AffectedRoute {
  readonly name: string;
  readonly inFlight: number;
  readonly websockets: number;
}

/** The diff a change makes, by name. */
export interface ReloadPlan {
  readonly routes: { readonly added: readonly string[]; readonly changed: readonly string[]; readonly removed: readonly string[] };
  readonly upstreams: { readonly added: readonly string[]; readonly changed: readonly string[]; readonly removed: readonly string[] };
  readonly listeners: { readonly added: readonly string[]; readonly changed: readonly string[]; readonly removed: readonly string[] };
  /** Routes being replaced or removed, with what is open on them now. */
  readonly affects: readonly AffectedRoute[];
  /** True when nothing changes (re-applying an identical config). */
  readonly empty: boolean;
}

export interface WriteResult {
  /** The ETag of the config after the write (unchanged for a dry run). */
  readonly etag: string;
  readonly plan: ReloadPlan;
  /** False for a dry run. */
  readonly applied: boolean;
}

/**
 * The running config, versioned. Errors (thrown, as TandemError):
 * - `TANDEM_ERR_CONFIG_INVALID` (400) with `details: [{ path, message }]`: schema or semantic problems;
 * - `TANDEM_ERR_CONFIG_REFERENCE` (422): a route names an unknown upstream or listener, or an upstream
 *   to delete is still used by a route;
 * - `TANDEM_ERR_CONFIG_CONFLICT` (409): `ifMatch` is not the current ETag;
 * - `TANDEM_ERR_NOT_FOUND` (404): deleting or reading a route/upstream that does not exist.
 * A successful write resolves once the change is live on this instance and persisted.
 */
export interface ConfigSource {
  /** The running document and its ETag (a strong validator, quoted: `"…"`). */
  current(): { readonly document: ConfigDocument; readonly etag: string };
  /** `PUT /config`: replaces the whole document. */
  replace(document: ConfigDocument, options: WriteOptions): Promise<WriteResult>;
  /** `PUT /routes/{name}`: creates or replaces one route (its `name` must be `name` or absent). */
  putRoute(name: string, route: Record<string, unknown>, options: WriteOptions): Promise<WriteResult & { readonly created: boolean }>;
  /** `DELETE /routes/{name}`. */
  deleteRoute(name: string, options: WriteOptions): Promise<WriteResult>;
  /** `PUT /upstreams/{name}`. */
  putUpstream(name: string, upstream: Record<string, unknown>, options: WriteOptions): Promise<WriteResult & { readonly created: boolean }>;
  /** `DELETE /upstreams/{name}`. */
  deleteUpstream(name: string, options: WriteOptions): Promise<WriteResult>;
}
