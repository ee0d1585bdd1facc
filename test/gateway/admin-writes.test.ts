/**
 * The admin API's config resources (GET/PUT /config, /routes, /upstreams) over real sockets, against an
 * in-memory ConfigSource that records its calls, plans by name and throws the registry's errors the way
 * the gateway's does (409 on a stale If-Match, 422 on a dangling reference, 404 on an unknown name).
 */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { TandemError } from '../../src/errors.ts';
import type { ConfigDocument, ConfigSource, ReloadPlan, WriteOptions, WriteResult } from '../../src/gateway/admin/config-source.ts';
import { type AdminServer, type AdminServerOptions, startAdminServer } from '../../src/gateway/admin/server.ts';
import type { AdminSources } from '../../src/gateway/admin/sources.ts';

const TOKEN = 's3cret-admin-token';
const TOKEN_ID = createHash('sha256').update(TOKEN).digest('hex').slice(0, 8);
const auth = { authorization: `Bearer ${TOKEN}` };

const DOCUMENT: ConfigDocument = {
  listeners: [{ name: 'web', address: '127.0.0.1:8080' }],
  admin: { address: '127.0.0.1:9901', token: '${env:TANDEM_ADMIN_TOKEN}' },
  upstreams: [{ name: 'whoami', targets: [{ url: 'http://127.0.0.1:9001' }] }],
  routes: [{ name: 'whoami', match: { pathPrefix: '/' }, upstream: 'whoami' }],
};

interface Call {
  readonly method: string;
  readonly name?: string;
  readonly body?: unknown;
  readonly options: WriteOptions;
}

type Items = Record<string, unknown>[];

function emptyPlan(): { routes: Diff; upstreams: Diff; listeners: Diff } {
  return { routes: diff(), upstreams: diff(), listeners: diff() };
}
interface Diff {
  added: string[];
  changed: string[];
  removed: string[];
}
function diff(): Diff {
  return { added: [], changed: [], removed: [] };
}

/** An in-memory ConfigSource: a document, a version counter, and the checks the real one makes. */
class FakeConfigSource implements ConfigSource {
  document: ConfigDocument = structuredClone(DOCUMENT);
  version = 1;
  readonly calls: Call[] = [];
  /** Thrown by the next write, when set. */
  fail: Error | undefined;

  get etag(): string {
    return `"v${this.version}"`;
  }

  current(): { document: ConfigDocument; etag: string } {
    return { document: this.document, etag: this.etag };
  }

  async replace(document: ConfigDocument, options: WriteOptions): Promise<WriteResult> {
    this.#begin({ method: 'replace', body: document, options });
    const plan = emptyPlan();
    const before = new Set(this.#items('routes').map((r) => r['name'] as string));
    for (const r of (document['routes'] as Items | undefined) ?? []) (before.delete(r['name'] as string) ? plan.routes.changed : plan.routes.added).push(r['name'] as string);
    plan.routes.removed.push(...before);
    return this.#commit(document, plan, options);
  }

  async putRoute(name: string, route: Record<string, unknown>, options: WriteOptions): Promise<WriteResult & { created: boolean }> {
    this.#begin({ method: 'putRoute', name, body: route, options });
    if (!this.#items('upstreams').some((u) => u['name'] === route['upstream'])) {
      throw new TandemError('TANDEM_ERR_CONFIG_REFERENCE', `route "${name}" names an unknown upstream "${String(route['upstream'])}"`);
    }
    return this.#put('routes', name, route, options);
  }

  async deleteRoute(name: string, options: WriteOptions): Promise<WriteResult> {
    this.#begin({ method: 'deleteRoute', name, options });
    return this.#delete('routes', name, options);
  }

  async putUpstream(name: string, upstream: Record<string, unknown>, options: WriteOptions): Promise<WriteResult & { created: boolean }> {
    this.#begin({ method: 'putUpstream', name, body: upstream, options });
    return this.#put('upstreams', name, upstream, options);
  }

  async deleteUpstream(name: string, options: WriteOptions): Promise<WriteResult> {
    this.#begin({ method: 'deleteUpstream', name, options });
    const user = this.#items('routes').find((r) => r['upstream'] === name);
    if (user !== undefined) {
      throw new TandemError('TANDEM_ERR_CONFIG_REFERENCE', `upstream "${name}" is still used by route "${String(user['name'])}"`);
    }
    return this.#delete('upstreams', name, options);
  }

  #begin(call: Call): void {
    this.calls.push(call);
    const fail = this.fail;
    this.fail = undefined;
    if (fail !== undefined) throw fail;
    if (call.options.ifMatch !== undefined && call.options.ifMatch !== this.etag) {
      throw new TandemError('TANDEM_ERR_CONFIG_CONFLICT', `the config changed since it was read: If-Match ${call.options.ifMatch}, current ${this.etag}`);
    }
  }

  #items(key: 'routes' | 'upstreams', document = this.document): Items {
    return (document[key] as Items | undefined) ?? [];
  }

  #put(key: 'routes' | 'upstreams', name: string, item: Record<string, unknown>, options: WriteOptions): WriteResult & { created: boolean } {
    const items = this.#items(key);
    const created = !items.some((i) => i['name'] === name);
    const plan = emptyPlan();
    (created ? plan[key].added : plan[key].changed).push(name);
    const next = { ...this.document, [key]: created ? [...items, item] : items.map((i) => (i['name'] === name ? item : i)) };
    return { ...this.#commit(next, plan, options), created };
  }

  #delete(key: 'routes' | 'upstreams', name: string, options: WriteOptions): WriteResult {
    const items = this.#items(key);
    if (!items.some((i) => i['name'] === name)) throw new TandemError('TANDEM_ERR_NOT_FOUND', `no ${key.slice(0, -1)} named "${name}"`);
    const plan = emptyPlan();
    plan[key].removed.push(name);
    return this.#commit({ ...this.document, [key]: items.filter((i) => i['name'] !== name) }, plan, options);
  }

  #commit(next: ConfigDocument, p: ReturnType<typeof emptyPlan>, options: WriteOptions): WriteResult {
    const affects = [...p.routes.changed, ...p.routes.removed].map((name) => ({ name, inFlight: 2, websockets: 1 }));
    const plan: ReloadPlan = { ...p, affects, empty: [p.routes, p.upstreams, p.listeners].every((d) => d.added.length + d.changed.length + d.removed.length === 0) };
    if (options.dryRun === true) return { etag: this.etag, plan, applied: false };
    this.document = structuredClone(next);
    this.version += 1;
    return { etag: this.etag, plan, applied: true };
  }
}

const sources: AdminSources = {
  status: () => ({ routes: [], upstreams: [] }),
  supervisor: () => {
    throw new Error('not used');
  },
  metrics: async () => ({ contentType: 'text/plain', body: '' }),
  ready: () => true,
};

const servers: AdminServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function start(overrides: Partial<AdminServerOptions> = {}): Promise<{ base: string; config: FakeConfigSource }> {
  const config = new FakeConfigSource();
  const log = pino({ level: 'silent' }, new Writable({ write: (_c, _e, done) => done() }));
  const server = await startAdminServer({ host: '127.0.0.1', port: 0, token: TOKEN, sources, config, log, ...overrides });
  servers.push(server);
  return { base: `http://127.0.0.1:${server.address().port}`, config };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => Record<string, unknown>;
}

async function call(method: 'GET' | 'PUT' | 'DELETE', url: string, options: { body?: unknown; raw?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...auth, ...options.headers };
  let body: string | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await request(url, { method, headers, body });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

const ROUTE = { name: 'api', match: { pathPrefix: '/api' }, upstream: 'whoami' };
const UPSTREAM = { name: 'api', targets: [{ url: 'http://127.0.0.1:9002', weight: 2 }] };

describe('GET /config, /routes, /upstreams', () => {
  it('GET /config answers the document exactly as written with its ETag', async () => {
    const { base, config } = await start();
    const res = await call('GET', `${base}/config`);
    expect(res.status).toBe(200);
    expect(res.headers['etag']).toBe('"v1"');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    // No schema defaults (stripPrefix, loadBalancer, log, …) are added on the way out.
    expect(res.json()).toEqual(DOCUMENT);
    expect(config.calls).toEqual([]);
  });

  it('GET /routes and /upstreams list the document’s items; GET /{name} answers one, 404 when absent', async () => {
    const { base } = await start();
    const routes = await call('GET', `${base}/routes`);
    expect(routes.status).toBe(200);
    expect(routes.headers['etag']).toBe('"v1"');
    expect(routes.json()).toEqual(DOCUMENT['routes']);
    expect((await call('GET', `${base}/upstreams`)).json()).toEqual(DOCUMENT['upstreams']);

    const one = await call('GET', `${base}/upstreams/whoami`);
    expect(one.status).toBe(200);
    expect(one.headers['etag']).toBe('"v1"');
    expect(one.json()).toEqual({ name: 'whoami', targets: [{ url: 'http://127.0.0.1:9001' }] });

    const missing = await call('GET', `${base}/routes/nope`);
    expect(missing.status).toBe(404);
    expect(missing.json()).toEqual({ code: 'TANDEM_ERR_NOT_FOUND', message: 'no route named "nope"' });
  });

  it('GET /routes is an empty list when the document has no routes', async () => {
    const { base, config } = await start();
    config.document = { listeners: [] };
    expect((await call('GET', `${base}/routes`)).json()).toEqual([]);
  });

  it('a name that is not a valid identifier is 400 TANDEM_ERR_BAD_REQUEST when reading', async () => {
    const { base } = await start();
    const res = await call('GET', `${base}/routes/${encodeURIComponent('bad name!')}`);
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ code: 'TANDEM_ERR_BAD_REQUEST', details: [{ path: 'name', message: expect.stringContaining('"bad name!" is not valid') }] });
  });

  it('without a ConfigSource the config resources do not exist (404)', async () => {
    const { base } = await start({ config: undefined });
    for (const path of ['/config', '/routes', '/upstreams/x']) {
      expect((await call('GET', `${base}${path}`)).json()).toMatchObject({ code: 'TANDEM_ERR_NOT_FOUND' });
    }
  });
});

describe('PUT /config', () => {
  it('replaces the document with a matching If-Match: 200 { etag, applied, plan }, the new ETag, the actor', async () => {
    const { base, config } = await start();
    const next = { ...DOCUMENT, routes: [ROUTE] };
    const res = await call('PUT', `${base}/config`, { body: next, headers: { 'if-match': '"v1"' } });
    expect(res.status).toBe(200);
    expect(res.headers['etag']).toBe('"v2"');
    expect(res.json()).toEqual({
      etag: '"v2"',
      applied: true,
      plan: {
        routes: { added: ['api'], changed: [], removed: ['whoami'] },
        upstreams: { added: [], changed: [], removed: [] },
        listeners: { added: [], changed: [], removed: [] },
        affects: [{ name: 'whoami', inFlight: 2, websockets: 1 }],
        empty: false,
      },
    });
    expect(config.calls).toEqual([
      { method: 'replace', body: next, options: { ifMatch: '"v1"', dryRun: false, actor: { source: 'admin', tokenId: TOKEN_ID, remote: '127.0.0.1' } } },
    ]);
    // Stored as written: no defaults filled in by the request validation.
    expect(config.document).toEqual(next);
    expect((await call('GET', `${base}/config`)).headers['etag']).toBe('"v2"');
  });

  it('a stale If-Match is 409 TANDEM_ERR_CONFIG_CONFLICT and changes nothing', async () => {
    const { base, config } = await start();
    const res = await call('PUT', `${base}/config`, { body: { routes: [] }, headers: { 'if-match': '"v0"' } });
    expect(res.status).toBe(409);
    expect(res.json()).toEqual({ code: 'TANDEM_ERR_CONFIG_CONFLICT', message: 'the config changed since it was read: If-Match "v0", current "v1"' });
    expect(config.document).toEqual(DOCUMENT);
    expect(config.version).toBe(1);
  });

  it('without If-Match, or with If-Match: *, the write is unconditional', async () => {
    const { base, config } = await start();
    expect((await call('PUT', `${base}/config`, { body: DOCUMENT })).status).toBe(200);
    expect((await call('PUT', `${base}/config`, { body: DOCUMENT, headers: { 'if-match': '*' } })).status).toBe(200);
    expect(config.calls.map((c) => c.options.ifMatch)).toEqual([undefined, undefined]);
  });

  it('?dryRun=true is passed through: 200 with the plan and applied: false, nothing changes', async () => {
    const { base, config } = await start();
    const res = await call('PUT', `${base}/config?dryRun=true`, { body: { ...DOCUMENT, routes: [] } });
    expect(res.status).toBe(200);
    expect(res.headers['etag']).toBe('"v1"');
    expect(res.json()).toMatchObject({ etag: '"v1"', applied: false, plan: { routes: { removed: ['whoami'] }, affects: [{ name: 'whoami' }] } });
    expect(config.calls[0]!.options.dryRun).toBe(true);
    expect(config.document).toEqual(DOCUMENT);
  });

  it('?dryRun with a value that is not a boolean is 400 TANDEM_ERR_BAD_REQUEST', async () => {
    const { base, config } = await start();
    const res = await call('PUT', `${base}/config?dryRun=maybe`, { body: DOCUMENT });
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ code: 'TANDEM_ERR_BAD_REQUEST', details: [{ path: 'dryRun', message: 'must be boolean' }] });
    expect(config.calls).toEqual([]);
  });

  it('a document that fails the config schema is 400 with every problem’s path; the source is not called', async () => {
    const { base, config } = await start();
    const res = await call('PUT', `${base}/config`, {
      body: { listeners: [{ name: 'web' }], routes: [{ name: 'r', upstream: 'u', match: { pathPrefix: 5 } }], upstreams: 'none', extra: true },
    });
    expect(res.status).toBe(400);
    const body = res.json();
    expect(body['code']).toBe('TANDEM_ERR_CONFIG_INVALID');
    expect(body['details']).toEqual(
      expect.arrayContaining([
        { path: 'extra', message: 'is not a known field' },
        { path: 'listeners[0].address', message: 'is required' },
        { path: 'routes[0].match.pathPrefix', message: 'must be string' },
        { path: 'upstreams', message: 'must be array' },
      ]),
    );
    expect(body['message']).toMatch(/^invalid config: /);
    expect(config.calls).toEqual([]);
  });

  it('semantic errors of the source (400 with details, 422) pass through with their message', async () => {
    const { base, config } = await start();
    config.fail = new TandemError('TANDEM_ERR_CONFIG_INVALID', 'invalid config: 1 problem', {
      details: [{ path: 'routes[1].name', message: 'duplicate name "whoami" (also routes[0])' }],
    });
    const invalid = await call('PUT', `${base}/config`, { body: DOCUMENT });
    expect(invalid.status).toBe(400);
    expect(invalid.json()).toEqual({ code: 'TANDEM_ERR_CONFIG_INVALID', message: 'invalid config: 1 problem', details: [{ path: 'routes[1].name', message: 'duplicate name "whoami" (also routes[0])' }] });

    config.fail = new TandemError('TANDEM_ERR_CONFIG_REFERENCE', 'route "whoami" names an unknown listener "sip"');
    const reference = await call('PUT', `${base}/config`, { body: DOCUMENT });
    expect(reference.status).toBe(422);
    expect(reference.json()).toEqual({ code: 'TANDEM_ERR_CONFIG_REFERENCE', message: 'route "whoami" names an unknown listener "sip"' });
  });

  it('an unexpected failure of the source is 500 TANDEM_ERR_INTERNAL without its message', async () => {
    const { base, config } = await start();
    config.fail = new Error('disk full: /etc/tandem/tandem.yaml');
    const res = await call('PUT', `${base}/config`, { body: DOCUMENT });
    expect(res.status).toBe(500);
    expect(res.json()).toEqual({ code: 'TANDEM_ERR_INTERNAL', message: 'internal error' });
  });
});

describe('PUT and DELETE /routes/{name}, /upstreams/{name}', () => {
  it('PUT /routes/{name} creates (201) then replaces (200), with the new ETag each time', async () => {
    const { base, config } = await start();
    const created = await call('PUT', `${base}/routes/api`, { body: ROUTE });
    expect(created.status).toBe(201);
    expect(created.headers['etag']).toBe('"v2"');
    expect(created.json()).toEqual({
      etag: '"v2"',
      applied: true,
      created: true,
      plan: { routes: { added: ['api'], changed: [], removed: [] }, upstreams: diff(), listeners: diff(), affects: [], empty: false },
    });
    expect(config.calls[0]).toEqual({ method: 'putRoute', name: 'api', body: ROUTE, options: { ifMatch: undefined, dryRun: false, actor: { source: 'admin', tokenId: TOKEN_ID, remote: '127.0.0.1' } } });

    const replaced = await call('PUT', `${base}/routes/api`, { body: { ...ROUTE, stripPrefix: true }, headers: { 'if-match': '"v2"' } });
    expect(replaced.status).toBe(200);
    expect(replaced.headers['etag']).toBe('"v3"');
    expect(replaced.json()).toMatchObject({ etag: '"v3"', applied: true, created: false, plan: { routes: { changed: ['api'] }, affects: [{ name: 'api', inFlight: 2, websockets: 1 }] } });
    // As written: no defaults (websocket, preserveHost) were added to the stored route.
    expect((await call('GET', `${base}/routes/api`)).json()).toEqual({ ...ROUTE, stripPrefix: true });
  });

  it('PUT /routes/{name}?dryRun=true answers 200 with created: true and applied: false; nothing changes', async () => {
    const { base, config } = await start();
    const res = await call('PUT', `${base}/routes/api?dryRun=true`, { body: ROUTE });
    expect(res.status).toBe(200);
    expect(res.json()).toMatchObject({ etag: '"v1"', applied: false, created: true, plan: { routes: { added: ['api'] } } });
    expect(config.calls[0]!.options.dryRun).toBe(true);
    expect(config.document).toEqual(DOCUMENT);
    expect((await call('GET', `${base}/routes/api`)).status).toBe(404);
  });

  it('PUT with a stale If-Match is 409 and changes nothing', async () => {
    const { base, config } = await start();
    const res = await call('PUT', `${base}/upstreams/api`, { body: UPSTREAM, headers: { 'if-match': '"v7"' } });
    expect(res.status).toBe(409);
    expect(res.json()).toMatchObject({ code: 'TANDEM_ERR_CONFIG_CONFLICT' });
    expect(config.document).toEqual(DOCUMENT);
  });

  it('DELETE /routes/{name}: 404 when absent, 200 with the plan when present', async () => {
    const { base, config } = await start();
    const missing = await call('DELETE', `${base}/routes/nope`);
    expect(missing.status).toBe(404);
    expect(missing.json()).toEqual({ code: 'TANDEM_ERR_NOT_FOUND', message: 'no route named "nope"' });

    const dry = await call('DELETE', `${base}/routes/whoami?dryRun=true`, { headers: { 'if-match': '"v1"' } });
    expect(dry.status).toBe(200);
    expect(dry.json()).toMatchObject({ applied: false, plan: { routes: { removed: ['whoami'] } } });
    expect(config.calls.at(-1)!.options).toMatchObject({ dryRun: true, ifMatch: '"v1"' });

    const res = await call('DELETE', `${base}/routes/whoami`, { headers: { 'if-match': '"v1"' } });
    expect(res.status).toBe(200);
    expect(res.headers['etag']).toBe('"v2"');
    expect(res.json()).toEqual({
      etag: '"v2"',
      applied: true,
      plan: { routes: { added: [], changed: [], removed: ['whoami'] }, upstreams: diff(), listeners: diff(), affects: [{ name: 'whoami', inFlight: 2, websockets: 1 }], empty: false },
    });
    expect((await call('GET', `${base}/routes/whoami`)).status).toBe(404);
  });

  it('PUT /upstreams/{name} creates and replaces; DELETE of an upstream in use is the source’s 422', async () => {
    const { base } = await start();
    expect((await call('PUT', `${base}/upstreams/api`, { body: UPSTREAM })).status).toBe(201);
    expect((await call('PUT', `${base}/upstreams/api`, { body: { ...UPSTREAM, loadBalancer: 'leastRequest' } })).status).toBe(200);
    expect((await call('GET', `${base}/upstreams`)).json()).toEqual([DOCUMENT['upstreams'] as Items, [{ ...UPSTREAM, loadBalancer: 'leastRequest' }]].flat());

    const inUse = await call('DELETE', `${base}/upstreams/whoami`);
    expect(inUse.status).toBe(422);
    expect(inUse.json()).toEqual({ code: 'TANDEM_ERR_CONFIG_REFERENCE', message: 'upstream "whoami" is still used by route "whoami"' });
    expect((await call('DELETE', `${base}/upstreams/api`)).status).toBe(200);
  });

  it('a route naming an unknown upstream is the source’s 422 with its message', async () => {
    const { base } = await start();
    const res = await call('PUT', `${base}/routes/api`, { body: { ...ROUTE, upstream: 'nowhere' } });
    expect(res.status).toBe(422);
    expect(res.json()).toEqual({ code: 'TANDEM_ERR_CONFIG_REFERENCE', message: 'route "api" names an unknown upstream "nowhere"' });
  });

  it('a body that fails the route schema is 400 TANDEM_ERR_CONFIG_INVALID with paths relative to the body', async () => {
    const { base, config } = await start();
    const cases: [unknown, { path: string; message: string }[]][] = [
      [{ name: 'api', upstream: 'whoami' }, [{ path: 'match', message: 'is required' }]],
      [{ ...ROUTE, color: 'blue' }, [{ path: 'color', message: 'is not a known field' }]],
      [{ ...ROUTE, match: { pathPrefix: 5 } }, [{ path: 'match.pathPrefix', message: 'must be string' }]],
      [{ ...ROUTE, match: { pathPrefix: 'api' } }, [{ path: 'match.pathPrefix', message: expect.stringContaining('"api" is not valid') }]],
      [{ ...ROUTE, stripPrefix: 'true' }, [{ path: 'stripPrefix', message: 'must be boolean' }]],
      [{ ...ROUTE, listener: 5 }, [{ path: 'listener', message: 'must be one of: string | array' }]],
      [[ROUTE], [{ path: '(root)', message: 'must be object' }]],
    ];
    for (const [body, details] of cases) {
      const res = await call('PUT', `${base}/routes/api`, { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.json(), JSON.stringify(body)).toEqual({ code: 'TANDEM_ERR_CONFIG_INVALID', message: expect.stringMatching(/^invalid route: /), details });
    }
    const upstream = await call('PUT', `${base}/upstreams/api`, { body: { name: 'api', targets: [{ weight: 0 }], loadBalancer: 'random' } });
    expect(upstream.json()).toMatchObject({
      code: 'TANDEM_ERR_CONFIG_INVALID',
      details: expect.arrayContaining([
        { path: 'targets[0].url', message: 'is required' },
        { path: 'targets[0].weight', message: 'must be >= 1' },
        { path: 'loadBalancer', message: '"random" is not one of "roundRobin", "leastRequest", "consistentHash"' },
      ]),
    });
    expect(config.calls).toEqual([]);
  });

  it('a body name different from the path name is 400 with path "name"; an invalid path name is 400 too', async () => {
    const { base, config } = await start();
    const res = await call('PUT', `${base}/routes/other`, { body: ROUTE });
    expect(res.status).toBe(400);
    expect(res.json()).toEqual({
      code: 'TANDEM_ERR_CONFIG_INVALID',
      message: 'invalid route: name: must be "other", the name in the path',
      details: [{ path: 'name', message: 'must be "other", the name in the path (is "api")' }],
    });
    const bad = await call('PUT', `${base}/upstreams/${encodeURIComponent('-x y')}`, { body: { ...UPSTREAM, name: '-x y' } });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ code: 'TANDEM_ERR_CONFIG_INVALID', details: [{ path: 'name', message: expect.stringContaining('is not valid') }] });
    expect(config.calls).toEqual([]);
  });

  it('a body that is not JSON is 400 TANDEM_ERR_BAD_REQUEST', async () => {
    const { base, config } = await start();
    const broken = await call('PUT', `${base}/routes/api`, { raw: '{"name": "api",', headers: { 'content-type': 'application/json' } });
    expect(broken.status).toBe(400);
    expect(broken.json()).toMatchObject({ code: 'TANDEM_ERR_BAD_REQUEST' });
    const yaml = await call('PUT', `${base}/config`, { raw: 'routes: []\n', headers: { 'content-type': 'application/yaml' } });
    expect(yaml.status).toBe(400);
    expect(yaml.json()).toEqual({ code: 'TANDEM_ERR_BAD_REQUEST', message: 'the body must be JSON (Content-Type: application/json), not application/yaml' });
    expect(config.calls).toEqual([]);
  });

  it('a body over 1 MiB is 413 TANDEM_ERR_BODY_TOO_LARGE', async () => {
    const { base, config } = await start();
    const body = { ...ROUTE, hostRewrite: 'x'.repeat(1024 * 1024) };
    const res = await call('PUT', `${base}/routes/api`, { body });
    expect(res.status).toBe(413);
    expect(res.json()).toMatchObject({ code: 'TANDEM_ERR_BODY_TOO_LARGE' });
    expect(config.calls).toEqual([]);
  });
});

describe('config resources and the token', () => {
  it('reads and writes need the bearer token: 401 and the source is not called', async () => {
    const { base, config } = await start();
    const cases: [method: 'GET' | 'PUT' | 'DELETE', path: string, body?: unknown][] = [
      ['GET', '/config'],
      ['PUT', '/config', DOCUMENT],
      ['GET', '/routes'],
      ['PUT', '/routes/api', ROUTE],
      ['DELETE', '/routes/whoami'],
      ['PUT', '/upstreams/api', UPSTREAM],
      ['DELETE', '/upstreams/whoami'],
    ];
    for (const [method, path, body] of cases) {
      for (const authorization of ['', 'Bearer wrong']) {
        const res = await call(method, `${base}${path}`, { body, headers: { authorization } });
        expect(res.status, `${method} ${path}`).toBe(401);
        expect(res.headers['www-authenticate']).toBe('Bearer realm="tandem"');
        expect(res.json()).toEqual({ code: 'TANDEM_ERR_UNAUTHORIZED', message: 'missing or wrong bearer token' });
      }
    }
    expect(config.calls).toEqual([]);
    expect(config.document).toEqual(DOCUMENT);
  });

  it('without a configured token the actor has no tokenId', async () => {
    const { base, config } = await start({ token: undefined });
    expect((await call('PUT', `${base}/routes/api`, { body: ROUTE, headers: { authorization: '' } })).status).toBe(201);
    expect(config.calls[0]!.options.actor).toEqual({ source: 'admin', tokenId: undefined, remote: '127.0.0.1' });
  });
});

describe('OpenAPI document', () => {
  it('lists the config resources with PUT/DELETE, request bodies from the config schema, dryRun and If-Match', async () => {
    const { base } = await start();
    interface Operation {
      requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown>; required?: string[] } }> };
      parameters?: { name: string; in: string }[];
      responses: Record<string, unknown>;
    }
    const doc = (await call('GET', `${base}/openapi.json`)).json() as { paths: Record<string, Record<string, Operation>> };
    expect(Object.keys(doc.paths['/config']!)).toEqual(expect.arrayContaining(['get', 'put']));
    for (const path of ['/routes', '/upstreams']) expect(doc.paths[path]!.get).toBeDefined();
    for (const path of ['/routes/{name}', '/upstreams/{name}']) {
      expect(Object.keys(doc.paths[path]!)).toEqual(expect.arrayContaining(['get', 'put', 'delete']));
      const put = doc.paths[path]!.put!;
      expect(put.parameters!.map((p) => `${p.in}:${p.name}`)).toEqual(expect.arrayContaining(['path:name', 'query:dryRun', 'header:if-match']));
      expect(Object.keys(put.responses)).toEqual(expect.arrayContaining(['200', '201', '400', '401', '409', '413', '422']));
      expect(doc.paths[path]!.delete!.responses['404']).toBeDefined();
    }
    const route = doc.paths['/routes/{name}']!.put!.requestBody!.content['application/json']!.schema;
    expect(route.required).toEqual(['name', 'match', 'upstream']);
    expect(Object.keys(route.properties!)).toEqual(expect.arrayContaining(['name', 'listener', 'match', 'upstream', 'stripPrefix']));
    const upstream = doc.paths['/upstreams/{name}']!.put!.requestBody!.content['application/json']!.schema;
    expect(Object.keys(upstream.properties!)).toEqual(expect.arrayContaining(['targets', 'loadBalancer', 'circuitBreaker']));
    const config = doc.paths['/config']!.put!.requestBody!.content['application/json']!.schema;
    expect(Object.keys(config.properties!)).toEqual(expect.arrayContaining(['listeners', 'upstreams', 'routes', 'admin']));
  });
});
