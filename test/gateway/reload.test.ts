/**
 * Live config changes through the one apply path (ConfigManager → Gateway.apply): by diff, under the
 * supervisors, with zero dropped requests and WebSockets on unchanged routes untouched.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import type { ConfigDocument } from '../../src/gateway/admin/config-source.ts';
import type { ConfigManager } from '../../src/gateway/config-manager.ts';
import { ConfigError } from '../../src/errors.ts';
import { startBackend, type Backend } from '../helpers/backend.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';

const actor = { source: 'admin' } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let gw: RunningGateway | undefined;
let backends: Backend[] = [];
let servers: Server[] = [];
const sockets: WebSocket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  await gw?.stop(200);
  await Promise.all(backends.map((b) => b.close()));
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  gw = undefined;
  backends = [];
  servers = [];
});

function manager(): ConfigManager {
  return gw!.gateway.configManager!;
}

/** A ws echo backend that also answers plain HTTP. */
async function startWsEcho(): Promise<{ url: string; wsUrl: string }> {
  const server = createServer((req, res) => res.writeHead(200, { 'x-backend': 'ws-echo' }).end('http'));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (d, bin) => ws.send(d, { binary: bin })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}` };
}

async function openWs(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  sockets.push(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return ws;
}

function baseDoc(a: string, b: string): ConfigDocument {
  return {
    log: { level: 'warn', access: false },
    listeners: [{ name: 'web', protocol: 'http', address: '127.0.0.1:0' }],
    upstreams: [
      { name: 'a', targets: [{ url: a }] },
      { name: 'b', targets: [{ url: b }] },
    ],
    routes: [{ name: 'a', match: { pathPrefix: '/a' }, upstream: 'a' }],
  };
}

describe('live reload', () => {
  it('re-applying an identical config changes nothing: same ETag, empty plan, same supervision tree', async () => {
    backends = [await startBackend(undefined, 'a'), await startBackend(undefined, 'b')];
    gw = await startGateway(baseDoc(backends[0]!.url, backends[1]!.url));
    const before = manager().current();
    const treeBefore = JSON.stringify(gw.gateway.supervisorTree());
    const result = await manager().replace(before.document, { actor });
    expect(result.plan.empty).toBe(true);
    expect(result.etag).toBe(before.etag);
    expect(JSON.stringify(gw.gateway.supervisorTree())).toBe(treeBefore);
  });

  it('a route added or removed is live as soon as the write returns', async () => {
    backends = [await startBackend(undefined, 'a'), await startBackend(undefined, 'b')];
    gw = await startGateway(baseDoc(backends[0]!.url, backends[1]!.url));
    expect((await request(`${gw.url}/b/x`)).statusCode).toBe(404);
    const added = await manager().putRoute('b', { match: { pathPrefix: '/b' }, upstream: 'b' }, { actor });
    expect(added.created).toBe(true);
    expect(added.plan.routes.added).toEqual(['b']);
    const res = await request(`${gw.url}/b/x`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-backend']).toBe('b');
    await manager().deleteRoute('b', { actor });
    expect((await request(`${gw.url}/b/x`)).statusCode).toBe(404);
    await gw.gateway.drained();
    const routesSup = gw.gateway.supervisorTree().children.find((c) => c.id === 'routes')!;
    expect(JSON.stringify(routesSup)).not.toContain('route:b');
  });

  it('a changed route is replaced make-before-break: a request in flight on the old version finishes, new ones go to the new one', async () => {
    const slow = await startBackend((req, res) => {
      req.resume();
      setTimeout(() => res.writeHead(200, { 'x-backend': 'slow' }).end('slow'), 400);
    }, 'slow');
    const fresh = await startBackend(undefined, 'fresh');
    backends = [slow, fresh];
    gw = await startGateway(baseDoc(slow.url, fresh.url));
    const inFlight = request(`${gw.url}/a/1`);
    await sleep(100);
    const result = await manager().putRoute('a', { match: { pathPrefix: '/a' }, upstream: 'b' }, { actor });
    expect(result.plan.routes.changed).toEqual(['a']);
    expect(result.plan.affects).toEqual([{ name: 'a', inFlight: 1, websockets: 0 }]);
    const now = await request(`${gw.url}/a/2`);
    expect(now.headers['x-backend']).toBe('fresh');
    const old = await inFlight;
    expect(old.statusCode).toBe(200);
    expect(await old.body.text()).toBe('slow');
  });

  it('200 WebSockets on route A survive 50 reloads that change other routes', async () => {
    const echo = await startWsEcho();
    backends = [await startBackend(undefined, 'b')];
    const doc = baseDoc(echo.url, backends[0]!.url);
    doc['upstreams'] = [{ name: 'a', targets: [{ url: echo.wsUrl }] }, { name: 'b', targets: [{ url: backends[0]!.url }] }];
    doc['routes'] = [{ name: 'a', match: { path: '/ws' }, upstream: 'a', websocket: true }];
    gw = await startGateway(doc);
    const wsUrl = gw.url.replace('http', 'ws') + '/ws';
    const clients: WebSocket[] = [];
    for (let i = 0; i < 200; i++) clients.push(await openWs(wsUrl));
    let closed = 0;
    for (const c of clients) c.once('close', () => closed++);
    for (let i = 0; i < 50; i++) {
      if (i % 2 === 0) await manager().putRoute(`r${i}`, { match: { pathPrefix: `/r${i}` }, upstream: 'b' }, { actor });
      else await manager().deleteRoute(`r${i - 1}`, { actor });
    }
    await gw.gateway.drained();
    expect(closed).toBe(0);
    // Every session still carries messages both ways.
    const echoes = await Promise.all(
      clients.map(
        (c, i) =>
          new Promise<string>((resolve) => {
            c.once('message', (d) => resolve(String(d)));
            c.send(`m${i}`);
          }),
      ),
    );
    expect(echoes).toEqual(clients.map((_, i) => `m${i}`));
  });

  it('WebSockets on a removed route close with 1001 after the drain deadline, not before', async () => {
    const echo = await startWsEcho();
    backends = [await startBackend(undefined, 'b')];
    const doc = baseDoc(echo.url, backends[0]!.url);
    doc['upstreams'] = [{ name: 'a', targets: [{ url: echo.wsUrl }] }, { name: 'b', targets: [{ url: backends[0]!.url }] }];
    doc['routes'] = [{ name: 'a', match: { path: '/ws' }, upstream: 'a', websocket: true, drain: { deadlineMs: 600, websockets: 'close' } }];
    gw = await startGateway(doc);
    const wsUrl = gw.url.replace('http', 'ws') + '/ws';
    const clients = await Promise.all(Array.from({ length: 5 }, () => openWs(wsUrl)));
    const closes = clients.map((c) => new Promise<{ code: number; at: number }>((resolve) => c.once('close', (code) => resolve({ code, at: Date.now() }))));
    const t0 = Date.now();
    const result = await manager().deleteRoute('a', { actor });
    expect(result.plan.affects).toEqual([{ name: 'a', inFlight: 0, websockets: 5 }]);
    const ended = await Promise.all(closes);
    for (const e of ended) {
      expect(e.code).toBe(1001);
      expect(e.at - t0).toBeGreaterThanOrEqual(550);
      expect(e.at - t0).toBeLessThan(3000);
    }
  });

  it('an invalid change changes nothing: 400/422 with the failing paths, the ETag stays, traffic flows', async () => {
    backends = [await startBackend(undefined, 'a'), await startBackend(undefined, 'b')];
    gw = await startGateway(baseDoc(backends[0]!.url, backends[1]!.url));
    const { etag } = manager().current();
    await expect(manager().putRoute('x', { match: { pathPrefix: 'no-slash' }, upstream: 'a' }, { actor })).rejects.toMatchObject({
      code: 'TANDEM_ERR_CONFIG_INVALID',
      details: [{ path: 'routes[1].match.pathPrefix' }],
    });
    await expect(manager().putRoute('x', { match: {}, upstream: 'nope' }, { actor })).rejects.toMatchObject({ code: 'TANDEM_ERR_CONFIG_REFERENCE', status: 422 });
    await expect(manager().deleteUpstream('a', { actor })).rejects.toMatchObject({ code: 'TANDEM_ERR_CONFIG_REFERENCE' });
    const twoOnOnePort = { ...manager().current().document, listeners: [{ name: 'web', address: '127.0.0.1:18080' }, { name: 'web2', address: '127.0.0.1:18080' }] };
    await expect(manager().replace(twoOnOnePort, { actor })).rejects.toBeInstanceOf(ConfigError);
    await expect(manager().replace(manager().current().document, { actor, ifMatch: '"stale"' })).rejects.toMatchObject({ code: 'TANDEM_ERR_CONFIG_CONFLICT', status: 409 });
    expect(manager().current().etag).toBe(etag);
    expect((await request(`${gw.url}/a`)).statusCode).toBe(200);
  });

  it('a dry run returns the plan and changes nothing', async () => {
    backends = [await startBackend(undefined, 'a'), await startBackend(undefined, 'b')];
    gw = await startGateway(baseDoc(backends[0]!.url, backends[1]!.url));
    const { etag } = manager().current();
    const result = await manager().putRoute('b', { match: { pathPrefix: '/b' }, upstream: 'b' }, { actor, dryRun: true });
    expect(result).toMatchObject({ applied: false, etag, plan: { routes: { added: ['b'], changed: [], removed: [] } } });
    expect((await request(`${gw.url}/b`)).statusCode).toBe(404);
    expect(manager().current().etag).toBe(etag);
  });
});
