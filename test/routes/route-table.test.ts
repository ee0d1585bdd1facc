import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/routes/config-validate.ts';
import { normalizePath, RouteTable, type RouteRequest } from '../../src/routes/route-table.ts';

function table(routes: Record<string, unknown>[]): RouteTable<string> {
  const { config } = validateConfig({
    listeners: [{ name: 'web', address: '127.0.0.1:0' }],
    upstreams: [{ name: 'u', targets: [{ url: 'http://127.0.0.1:1' }] }],
    routes: routes.map((r) => ({ upstream: 'u', ...r })),
  });
  return new RouteTable(config.routes.map((route) => ({ route, value: route.name })));
}

function find(t: RouteTable<string>, req: Partial<RouteRequest>): string | undefined {
  return t.lookup({ method: 'GET', host: 'example.com', path: '/', headers: {}, ...req })?.value;
}

describe('route table: match types', () => {
  it('an exact path matches only that path', () => {
    const t = table([{ name: 'exact', match: { path: '/health' } }]);
    expect(find(t, { path: '/health' })).toBe('exact');
    expect(find(t, { path: '/health/x' })).toBeUndefined();
    expect(find(t, { path: '/healthz' })).toBeUndefined();
  });

  it('a prefix matches segment-wise: /api matches /api and /api/x, not /apix', () => {
    const t = table([{ name: 'api', match: { pathPrefix: '/api' } }]);
    expect(find(t, { path: '/api' })).toBe('api');
    expect(find(t, { path: '/api/' })).toBe('api');
    expect(find(t, { path: '/api/v1/users' })).toBe('api');
    expect(find(t, { path: '/apix' })).toBeUndefined();
  });

  it('path parameters capture segments', () => {
    const t = table([{ name: 'user', match: { path: '/users/:id/orders/:order' } }]);
    const hit = t.lookup({ method: 'GET', host: 'h', path: '/users/42/orders/7', headers: {} });
    expect(hit?.value).toBe('user');
    expect(hit?.params).toEqual({ id: '42', order: '7' });
    expect(find(t, { path: '/users/42' })).toBeUndefined();
  });

  it('hosts match exactly (ignoring case and port) and by *.domain wildcard', () => {
    const t = table([
      { name: 'exact', match: { hosts: ['api.example.com'] } },
      { name: 'wild', match: { hosts: ['*.example.com'] } },
      { name: 'any', match: {} },
    ]);
    expect(find(t, { host: 'API.example.com:8080' })).toBe('exact');
    expect(find(t, { host: 'www.example.com' })).toBe('wild');
    expect(find(t, { host: 'example.com' })).toBe('any');
    expect(find(t, { host: 'other.org' })).toBe('any');
    expect(find(t, { host: undefined })).toBe('any');
  });

  it('methods restrict a route; another route can take the other methods', () => {
    const t = table([
      { name: 'read', match: { pathPrefix: '/items', methods: ['GET', 'HEAD'] } },
      { name: 'write', match: { pathPrefix: '/items', methods: ['post', 'PUT'] } },
    ]);
    expect(find(t, { path: '/items/1', method: 'GET' })).toBe('read');
    expect(find(t, { path: '/items/1', method: 'PUT' })).toBe('write');
    expect(find(t, { path: '/items/1', method: 'POST' })).toBe('write');
    expect(find(t, { path: '/items/1', method: 'DELETE' })).toBeUndefined();
  });

  it('headers match by exact value, prefix, regex and presence', () => {
    const t = table([
      { name: 'canary', match: { headers: { 'X-Env': 'canary' } } },
      { name: 'mobile', match: { headers: { 'user-agent': { prefix: 'Mobile/' } } } },
      { name: 'v2', match: { headers: { accept: { regex: 'version=2' } } } },
      { name: 'debug', match: { headers: { 'x-debug': { present: true } } } },
      { name: 'default', match: {} },
    ]);
    expect(find(t, { headers: { 'x-env': 'canary' } })).toBe('canary');
    expect(find(t, { headers: { 'x-env': 'prod' } })).toBe('default');
    expect(find(t, { headers: { 'user-agent': 'Mobile/1.0' } })).toBe('mobile');
    expect(find(t, { headers: { accept: 'application/json; version=2' } })).toBe('v2');
    expect(find(t, { headers: { 'x-debug': '' } })).toBe('debug');
    expect(find(t, {})).toBe('default');
  });
});

describe('route table: precedence', () => {
  it('an exact path beats a parameter path, which beats a prefix', () => {
    const t = table([
      { name: 'prefix', match: { pathPrefix: '/users' } },
      { name: 'param', match: { path: '/users/:id' } },
      { name: 'exact', match: { path: '/users/me' } },
    ]);
    expect(find(t, { path: '/users/me' })).toBe('exact');
    expect(find(t, { path: '/users/42' })).toBe('param');
    expect(find(t, { path: '/users/42/x' })).toBe('prefix');
  });

  it('the longest prefix wins, whatever the config order', () => {
    const t = table([
      { name: 'root', match: { pathPrefix: '/' } },
      { name: 'api', match: { pathPrefix: '/api' } },
      { name: 'v1', match: { pathPrefix: '/api/v1' } },
    ]);
    expect(find(t, { path: '/api/v1/x' })).toBe('v1');
    expect(find(t, { path: '/api/v2/x' })).toBe('api');
    expect(find(t, { path: '/other' })).toBe('root');
  });

  it('a route with conditions beats the same path without, and falls back to it when they fail', () => {
    const t = table([
      { name: 'plain', match: { pathPrefix: '/api' } },
      { name: 'canary', match: { pathPrefix: '/api', headers: { 'x-canary': '1' } } },
    ]);
    expect(find(t, { path: '/api/x', headers: { 'x-canary': '1' } })).toBe('canary');
    expect(find(t, { path: '/api/x' })).toBe('plain');
  });

  it('a more specific path whose conditions fail falls back to a shorter prefix', () => {
    const t = table([
      { name: 'root', match: { pathPrefix: '/' } },
      { name: 'post-only', match: { path: '/upload/:id', methods: ['POST'] } },
    ]);
    expect(find(t, { path: '/upload/1', method: 'POST' })).toBe('post-only');
    expect(find(t, { path: '/upload/1', method: 'GET' })).toBe('root');
  });

  it('host specificity comes before path specificity', () => {
    const t = table([
      { name: 'any-deep', match: { pathPrefix: '/a/b/c' } },
      { name: 'host-root', match: { hosts: ['api.example.com'], pathPrefix: '/' } },
    ]);
    expect(find(t, { host: 'api.example.com', path: '/a/b/c' })).toBe('host-root');
    expect(find(t, { host: 'other.example.com', path: '/a/b/c' })).toBe('any-deep');
  });

  it('an exact host with no matching path falls back to wildcard, then any host', () => {
    const t = table([
      { name: 'exact', match: { hosts: ['a.example.com'], path: '/only' } },
      { name: 'wild', match: { hosts: ['*.example.com'], pathPrefix: '/w' } },
      { name: 'any', match: { pathPrefix: '/' } },
    ]);
    expect(find(t, { host: 'a.example.com', path: '/only' })).toBe('exact');
    expect(find(t, { host: 'a.example.com', path: '/w/1' })).toBe('wild');
    expect(find(t, { host: 'a.example.com', path: '/z' })).toBe('any');
  });

  it('equal routes are decided by config order', () => {
    const t = table([
      { name: 'first', match: { pathPrefix: '/x' } },
      { name: 'second', match: { pathPrefix: '/x' } },
    ]);
    expect(find(t, { path: '/x/1' })).toBe('first');
  });
});

describe('normalizePath', () => {
  it('removes dot segments (RFC 3986 §5.2.4), also percent-encoded', () => {
    expect(normalizePath('/a/./b/../c')).toBe('/a/c');
    expect(normalizePath('/public/%2e%2e/private')).toBe('/private');
    expect(normalizePath('/../../etc/passwd')).toBe('/etc/passwd');
    expect(normalizePath('/a/b/..')).toBe('/a/');
    expect(normalizePath('/plain/path')).toBe('/plain/path');
  });

  it('refuses a target that is not a path', () => {
    expect(normalizePath('http://evil/')).toBeUndefined();
    expect(normalizePath('*')).toBeUndefined();
  });
});
