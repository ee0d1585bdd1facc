/**
 * The incremental checks of one route or upstream change (withRoute, withUpstream, withoutRoute,
 * withoutUpstream) must agree with validating the whole changed document.
 */
import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/routes/config.ts';
import { sameValue } from '../../src/routes/config-diff.ts';
import { validateConfig, withoutRoute, withoutUpstream, withRoute, withUpstream } from '../../src/routes/config-validate.ts';

const doc = {
  listeners: [{ name: 'web', address: '127.0.0.1:0' }, { name: 'internal', address: '127.0.0.1:1' }],
  upstreams: [{ name: 'a', targets: [{ url: 'http://127.0.0.1:9001' }] }, { name: 'b', targets: [{ url: 'http://127.0.0.1:9002', weight: 3 }], loadBalancer: 'leastRequest' }],
  routes: [
    { name: 'r1', match: { pathPrefix: '/one' }, upstream: 'a' },
    { name: 'r2', match: { path: '/two/:id', methods: ['GET'] }, upstream: 'b', listener: 'internal' },
    { name: 'r3', match: { hosts: ['*.example.com'], headers: { 'x-env': 'canary' } }, upstream: 'a' },
  ],
};

/** Routes compared by content and relative order (the `order` numbers may have gaps). */
function normalized(config: Config): unknown {
  return { ...config, routes: [...config.routes].sort((x, y) => x.order - y.order).map((r) => ({ ...r, order: 0 })) };
}

function full(change: (d: typeof doc) => unknown): Config {
  return validateConfig(change(structuredClone(doc))).config;
}

const base = validateConfig(structuredClone(doc)).config;

describe('incremental config changes agree with whole-document validation', () => {
  const routeCases: Record<string, unknown>[] = [
    { name: 'r2', match: { pathPrefix: '/changed' }, upstream: 'a', stripPrefix: true },
    { name: 'new', match: { path: '/new', methods: ['post'] }, upstream: 'b', websocket: true, drain: { deadlineMs: 5, websockets: 'keep' } },
    { name: 'r1', match: { pathPrefix: '/one/' }, upstream: 'b', listener: ['web', 'internal'], limits: { bodyBytes: 10 } },
  ];
  for (const route of routeCases) {
    it(`withRoute(${String(route['name'])}) equals validating the changed document`, () => {
      const expected = full((d) => {
        const at = d.routes.findIndex((r) => r.name === route['name']);
        const routes = [...d.routes] as unknown[];
        if (at === -1) routes.push(route);
        else routes[at] = route;
        return { ...d, routes };
      });
      expect(sameValue(normalized(withRoute(base, route)), normalized(expected))).toBe(true);
    });
  }

  it('withoutRoute and withoutUpstream equal validating the changed document', () => {
    const expected = full((d) => ({ ...d, routes: d.routes.filter((r) => r.name !== 'r2') }));
    expect(sameValue(normalized(withoutRoute(base, 'r2')), normalized(expected))).toBe(true);
    const noB = full((d) => ({ ...d, routes: d.routes.filter((r) => r.upstream !== 'b'), upstreams: d.upstreams.filter((u) => u.name !== 'b') }));
    expect(sameValue(normalized(withoutUpstream(withoutRoute(base, 'r2'), 'b')), normalized(noB))).toBe(true);
  });

  it('withUpstream equals validating the changed document, and unchanged routes keep their objects', () => {
    const upstream = { name: 'a', targets: [{ url: 'http://127.0.0.1:9003' }, { url: 'http://127.0.0.1:9004' }], retries: { attempts: 2 } };
    const expected = full((d) => ({ ...d, upstreams: d.upstreams.map((u) => (u.name === 'a' ? upstream : u)) }) as typeof doc);
    const next = withUpstream(base, upstream);
    expect(sameValue(normalized(next), normalized(expected))).toBe(true);
    expect(next.routes[0]).toBe(base.routes[0]);
  });

  it('rejects what whole-document validation rejects, with the same paths and codes', () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ name: 'x', match: { pathPrefix: 'nope' }, upstream: 'a' }, 'TANDEM_ERR_CONFIG_INVALID'],
      [{ name: 'x', match: {}, upstream: 'missing' }, 'TANDEM_ERR_CONFIG_REFERENCE'],
      [{ name: 'x', match: {}, upstream: 'a', listener: 'nope' }, 'TANDEM_ERR_CONFIG_REFERENCE'],
      [{ name: 'x', match: { path: '/x' }, upstream: 'a', stripPrefix: true, extra: 1 }, 'TANDEM_ERR_CONFIG_INVALID'],
    ];
    for (const [route, code] of bad) {
      let fullError: { code?: string; details?: unknown } = {};
      try {
        full((d) => ({ ...d, routes: [...d.routes, route] }));
      } catch (err) {
        fullError = err as typeof fullError;
      }
      expect(() => withRoute(base, route)).toThrow();
      try {
        withRoute(base, route);
      } catch (err) {
        expect((err as { code: string }).code).toBe(code);
        expect(fullError.code).toBe(code);
        expect((err as { details: unknown }).details).toEqual(fullError.details);
      }
    }
    expect(() => withoutUpstream(base, 'a')).toThrow(expect.objectContaining({ code: 'TANDEM_ERR_CONFIG_REFERENCE' }));
  });
});
