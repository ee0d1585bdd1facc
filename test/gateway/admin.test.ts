import { connect } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTandemError } from '../../src/errors.ts';
import { type Child, type ExitReason, startSupervisor, type SupervisorRef } from '../../src/fsm/index.ts';
import { BearerToken, isLoopback } from '../../src/gateway/admin/auth.ts';
import { type AdminServer, type AdminServerOptions, startAdminServer } from '../../src/gateway/admin/server.ts';
import type { AdminSources, StatusDocument } from '../../src/gateway/admin/sources.ts';
import { Metrics } from '../../src/gateway/metrics.ts';

const TOKEN = 's3cret-admin-token';

const STATUS: StatusDocument = {
  routes: [
    {
      name: 'whoami',
      state: 'active',
      upstream: 'whoami',
      listeners: ['web'],
      restarts: 0,
      requests: 12,
      breakers: [
        { target: '127.0.0.1:9001', state: 'closed', reopens: 0, transitions: 0 },
        { target: '127.0.0.1:9002', state: 'open', reopens: 2, retryInMs: 4000, transitions: 5 },
      ],
    },
    { name: 'pbx', state: 'quarantined', upstream: 'pbx', listeners: ['sip', 'sip-ws'], restarts: 6, requests: 0, breakers: [] },
  ],
  upstreams: [
    {
      name: 'whoami',
      loadBalancer: 'roundRobin',
      targets: [
        { url: 'http://127.0.0.1:9001', authority: '127.0.0.1:9001', weight: 1, health: 'healthy', ejected: false, ejections: 0, active: 1, requests: 10, failures: 0 },
        { url: 'http://127.0.0.1:9002', authority: '127.0.0.1:9002', weight: 2, health: 'unhealthy', ejected: true, ejections: 3, active: 0, requests: 2, failures: 2 },
      ],
    },
  ],
};

/** A worker that runs until stopped, describing itself as a machine state. */
function worker(state: string): Child {
  let exit!: (reason: ExitReason) => void;
  const exited = new Promise<ExitReason>((resolve) => (exit = resolve));
  return {
    exited,
    stop: async (reason = 'shutdown') => {
      exit(reason);
      await exited;
    },
    kill: () => exit('killed'),
    describe: () => ({ state }),
  };
}

/** Collects the JSON log lines. */
function capture(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'debug' }, stream), lines };
}

interface Harness {
  server: AdminServer;
  base: string;
  lines: Record<string, unknown>[];
  sources: AdminSources & { isReady: boolean };
  metrics: Metrics;
}

let supervisor: SupervisorRef;
const servers: AdminServer[] = [];

beforeEach(async () => {
  const routes = await startSupervisor({ strategy: 'one_for_one' }, [{ id: 'route:whoami', start: async () => worker('active') }], { name: 'routes' });
  supervisor = await startSupervisor(
    { strategy: 'rest_for_one' },
    [
      { id: 'routes', type: 'supervisor', start: async () => routes },
      { id: 'listener:web', start: async () => worker('listening') },
    ],
    { name: 'gateway' },
  );
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await supervisor.stop();
});

async function start(overrides: Partial<AdminServerOptions> = {}): Promise<Harness> {
  const { log, lines } = capture();
  const metrics = new Metrics({ defaultMetrics: false });
  const sources = {
    isReady: true,
    status: () => STATUS,
    supervisor: () => supervisor.tree(),
    metrics: () => metrics.render(),
    ready(): boolean {
      return this.isReady;
    },
  };
  const server = await startAdminServer({ host: '127.0.0.1', port: 0, token: TOKEN, sources, log, ...overrides });
  servers.push(server);
  return { server, base: `http://127.0.0.1:${server.address().port}`, lines, sources, metrics };
}

const auth = { authorization: `Bearer ${TOKEN}` };

async function get(url: string, headers: Record<string, string> = auth): Promise<{ status: number; headers: Record<string, unknown>; text: string; json: () => unknown }> {
  const res = await request(url, { headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) };
}

describe('admin API endpoints', () => {
  it('GET /healthz answers 200 { status: "ok" }', async () => {
    const { base } = await start();
    const res = await get(`${base}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('GET /readyz answers 200 { status: "ready" } when ready, 503 { code, message } with Retry-After when not', async () => {
    const { base, sources } = await start();
    expect((await get(`${base}/readyz`)).json()).toEqual({ status: 'ready' });
    sources.isReady = false;
    const res = await get(`${base}/readyz`);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.json()).toEqual({ code: 'TANDEM_ERR_NOT_READY', message: expect.stringContaining('not ready') });
  });

  it('GET /status answers the StatusDocument', async () => {
    const { base } = await start();
    const res = await get(`${base}/status`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual(STATUS);
  });

  it('GET /status sends only the documented fields', async () => {
    const { base, sources } = await start();
    sources.status = () => ({ ...STATUS, secret: 'x', routes: STATUS.routes.map((r) => ({ ...r, internal: 1 })) }) as StatusDocument;
    expect(await get(`${base}/status`).then((r) => r.json())).toEqual(STATUS);
  });

  it('GET /status/routes/{name} answers one route, 404 TANDEM_ERR_NOT_FOUND for an unknown one', async () => {
    const { base } = await start();
    const res = await get(`${base}/status/routes/pbx`);
    expect(res.status).toBe(200);
    expect(res.json()).toEqual(STATUS.routes[1]);
    const missing = await get(`${base}/status/routes/nope`);
    expect(missing.status).toBe(404);
    expect(missing.json()).toEqual({ code: 'TANDEM_ERR_NOT_FOUND', message: 'no route named "nope"' });
  });

  it('GET /supervisor answers the supervision tree with nested supervisors', async () => {
    const { base } = await start();
    const res = await get(`${base}/supervisor`);
    expect(res.status).toBe(200);
    const tree = res.json() as ReturnType<SupervisorRef['tree']>;
    expect(tree).toEqual(JSON.parse(JSON.stringify(supervisor.tree())));
    expect(tree).toMatchObject({ name: 'gateway', type: 'supervisor', strategy: 'rest_for_one', status: 'running' });
    expect(tree.children.map((c) => c.id)).toEqual(['routes', 'listener:web']);
    expect(tree.children[0]!.detail).toMatchObject({ name: 'routes', children: [{ id: 'route:whoami', status: 'running', restarts: 0, detail: { state: 'active' } }] });
  });

  it('GET /metrics answers the Prometheus text with the content type of sources.metrics()', async () => {
    const { base, metrics } = await start();
    metrics.request('web', 'whoami', 'whoami', 200, 0.004);
    metrics.request('web', 'whoami', 'whoami', 502, 0.2);
    metrics.attempt('whoami', '127.0.0.1:9001', 'connectFailure');
    metrics.breakerState('whoami', '127.0.0.1:9001', 'open');
    const res = await get(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const lines = res.text.split('\n');
    expect(lines).toContain('tandem_http_requests_total{listener="web",route="whoami",upstream="whoami",status="502"} 1');
    expect(lines).toContain('tandem_http_request_duration_seconds_bucket{le="0.005",route="whoami"} 1');
    expect(lines).toContain('tandem_http_request_duration_seconds_count{route="whoami"} 2');
    expect(lines).toContain('tandem_upstream_attempts_total{upstream="whoami",target="127.0.0.1:9001",outcome="connectFailure"} 1');
    expect(lines).toContain('tandem_breaker_state{route="whoami",target="127.0.0.1:9001",state="open"} 1');
    expect(lines).toContain('# TYPE tandem_http_requests_total counter');
  });

  it('GET /openapi.json is an OpenAPI 3 document generated from the route schemas', async () => {
    const { base } = await start();
    const res = await get(`${base}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const doc = res.json() as {
      openapi: string;
      info: { title: string; version: string };
      paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }> }>>;
      components: { securitySchemes: unknown };
      security: unknown;
    };
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.info.title).toBe('Tandem admin API');
    for (const path of ['/status', '/status/routes/{name}', '/supervisor', '/metrics', '/healthz', '/readyz', '/openapi.json']) {
      expect(doc.paths[path]?.get, path).toBeDefined();
    }
    const status = doc.paths['/status']!.get!.responses['200']!.content!['application/json']!.schema;
    expect(Object.keys(status['properties'] as object)).toEqual(['routes', 'upstreams', 'sip']);
    expect(doc.paths['/readyz']!.get!.responses['503']).toBeDefined();
    expect(doc.paths['/status']!.get!.responses['401']).toBeDefined();
    expect(doc.paths['/metrics']!.get!.responses['200']!.content!['text/plain']).toBeDefined();
    expect(doc.components.securitySchemes).toEqual({ bearerAuth: { type: 'http', scheme: 'bearer' } });
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
  });

  it('documents no security scheme when no token is configured', async () => {
    const { base } = await start({ token: undefined });
    const doc = (await get(`${base}/openapi.json`, {})).json() as Record<string, unknown>;
    expect(doc['security']).toBeUndefined();
  });

  it('answers 404 { code: TANDEM_ERR_NOT_FOUND } for an unknown path or method', async () => {
    const { base } = await start();
    for (const res of [await get(`${base}/nope`), await request(`${base}/status`, { method: 'DELETE', headers: auth })]) {
      const body = 'text' in res ? res.json() : await res.body.json();
      expect('status' in res ? res.status : res.statusCode).toBe(404);
      expect(body).toMatchObject({ code: 'TANDEM_ERR_NOT_FOUND' });
    }
  });
});

describe('admin API failures', () => {
  it('answers 500 TANDEM_ERR_INTERNAL without a stack when sources.status() throws, logs the error, and keeps serving', async () => {
    const { base, sources, lines } = await start();
    sources.status = () => {
      throw new Error('boom: internal detail');
    };
    const res = await get(`${base}/status`);
    expect(res.status).toBe(500);
    expect(res.json()).toEqual({ code: 'TANDEM_ERR_INTERNAL', message: 'internal error' });
    expect(res.text).not.toContain('boom');
    expect(res.text).not.toContain('at ');
    const logged = lines.find((l) => l['msg'] === 'admin request failed');
    expect(logged).toMatchObject({ level: 50, component: 'admin', path: '/status' });
    expect(JSON.stringify(logged)).toContain('boom: internal detail');

    expect((await get(`${base}/healthz`)).status).toBe(200);
    sources.status = () => STATUS;
    expect((await get(`${base}/status`)).status).toBe(200);
  });

  it('answers 500 when sources.metrics() rejects or a snapshot does not match its schema', async () => {
    const { base, sources } = await start();
    sources.metrics = () => Promise.reject(new Error('registry broke'));
    expect((await get(`${base}/metrics`)).json()).toEqual({ code: 'TANDEM_ERR_INTERNAL', message: 'internal error' });
    sources.status = () => ({ routes: [{ name: 'x' }] }) as unknown as StatusDocument;
    expect((await get(`${base}/status`)).status).toBe(500);
    expect((await get(`${base}/healthz`)).status).toBe(200);
  });
});

describe('admin API authentication', () => {
  it('answers 401 with WWW-Authenticate without a token or with a wrong one, on every path', async () => {
    const { base } = await start();
    const cases: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
      { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
      { authorization: TOKEN },
      { authorization: 'Bearer' },
    ];
    for (const path of ['/status', '/healthz', '/readyz', '/metrics', '/openapi.json', '/no-such-path']) {
      for (const headers of cases) {
        const res = await get(`${base}${path}`, headers);
        expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(res.headers['www-authenticate']).toBe('Bearer realm="tandem"');
        expect(res.json()).toEqual({ code: 'TANDEM_ERR_UNAUTHORIZED', message: 'missing or wrong bearer token' });
      }
    }
  });

  it('answers 200 with the right token, the scheme in any case', async () => {
    const { base } = await start();
    expect((await get(`${base}/status`)).status).toBe(200);
    expect((await get(`${base}/status`, { authorization: `bearer ${TOKEN}` })).status).toBe(200);
  });

  it('needs no token when none is configured (loopback only)', async () => {
    const { base } = await start({ token: undefined });
    expect((await get(`${base}/status`, {})).status).toBe(200);
  });

  it('refuses to listen on a non-loopback address without a token: TANDEM_ERR_LISTEN', async () => {
    const { log } = capture();
    const sources = { status: () => STATUS, supervisor: () => supervisor.tree(), metrics: async () => ({ contentType: 'text/plain', body: '' }), ready: () => true };
    for (const host of ['0.0.0.0', '::', '192.0.2.10', 'example.com']) {
      for (const token of [undefined, '']) {
        const err = await startAdminServer({ host, port: 0, token, sources, log }).catch((e: unknown) => e);
        expect(isTandemError(err) && err.code).toBe('TANDEM_ERR_LISTEN');
        expect((err as Error).message).toContain('without a token');
      }
    }
  });

  it('listens on 0.0.0.0 when a token is configured', async () => {
    const { server } = await start({ host: '0.0.0.0' });
    const res = await get(`http://127.0.0.1:${server.address().port}/healthz`);
    expect(res.status).toBe(200);
  });

  it('logs one debug line per request, never the Authorization header or the token', async () => {
    const { base, lines } = await start();
    await get(`${base}/status`);
    await get(`${base}/nope`, { authorization: 'Bearer wrong-token-value' });
    const requests = lines.filter((l) => l['msg'] === 'admin request');
    expect(requests).toEqual([
      expect.objectContaining({ level: 20, component: 'admin', method: 'GET', path: '/status', status: 200 }),
      expect.objectContaining({ level: 20, component: 'admin', method: 'GET', path: '/nope', status: 401 }),
    ]);
    const all = JSON.stringify(lines);
    expect(all).not.toContain(TOKEN);
    expect(all).not.toContain('wrong-token-value');
    expect(all.toLowerCase()).not.toContain('authorization');
  });

  it('answers a malformed request 400 { code: TANDEM_ERR_BAD_REQUEST } and keeps serving', async () => {
    const { server, base } = await start();
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.address().port, '127.0.0.1', () => socket.end('GET /status HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'));
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400 /);
    expect(raw).toContain('"code":"TANDEM_ERR_BAD_REQUEST"');
    expect((await get(`${base}/healthz`)).status).toBe(200);
  });

  it('close() stops listening', async () => {
    const { server, base } = await start();
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    await expect(request(`${base}/healthz`, { headers: auth })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('admin access rules', () => {
  it('isLoopback accepts 127.0.0.0/8, ::1 and localhost, and nothing else', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST']) {
      expect(isLoopback(host), host).toBe(true);
    }
    for (const host of ['0.0.0.0', '::', '128.0.0.1', '10.0.0.1', '::2', 'localhost.example.com', 'example.com', '']) {
      expect(isLoopback(host), host).toBe(false);
    }
  });

  it('BearerToken matches only "Bearer <token>"', () => {
    const token = new BearerToken('abc');
    expect(token.matches('Bearer abc')).toBe(true);
    expect(token.matches('BEARER abc')).toBe(true);
    expect(token.matches(undefined)).toBe(false);
    expect(token.matches('Bearer abcd')).toBe(false);
    expect(token.matches('Bearer ab')).toBe(false);
    expect(token.matches('abc')).toBe(false);
    expect(token.matches('Bearer abc extra')).toBe(false);
  });
});
