/**
 * SIGTERM on the real CLI (`node src/cli.ts start`, a child process): in-flight requests drain, new
 * connections are refused, requests slower than `shutdown.drainMs` are cut at the deadline.
 */
import { connect } from 'node:net';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { spawnGateway, type GatewayProcess } from '../fixtures/gateway-process.ts';
import { closedPort, startBackend, type Backend } from '../helpers/backend.ts';

/** Connects to 127.0.0.1:port; resolves 'connected' (and closes) or the error code. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err)));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

function gatewayDoc(backendUrl: string, drainMs: number): Record<string, unknown> {
  return {
    shutdown: { drainMs },
    upstreams: [{ name: 'app', targets: [{ url: backendUrl }], timeouts: { requestMs: 30_000 } }],
    routes: [{ name: 'app', match: { pathPrefix: '/' }, upstream: 'app' }],
  };
}

describe('graceful stop on SIGTERM', () => {
  let proc: GatewayProcess | undefined;
  let be: Backend | undefined;
  let agent: Agent | undefined;
  const timers = new Set<NodeJS.Timeout>();
  afterEach(async () => {
    for (const t of timers) clearTimeout(t);
    timers.clear();
    await agent?.destroy();
    await proc?.kill();
    await be?.close();
    proc = undefined;
    be = undefined;
    agent = undefined;
  });

  it('loses none of 100 slow in-flight requests, refuses new connections, and exits 0', async () => {
    const N = 100;
    const bodyOf = (path: string): string => `done ${path} ${'x'.repeat(1000)}`;
    be = await startBackend((req, res) => {
      req.resume();
      // Each request is answered about 1 s after it arrived.
      const t = setTimeout(() => {
        timers.delete(t);
        const body = bodyOf(req.url ?? '');
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) }).end(body);
      }, 1000);
      timers.add(t);
    });
    proc = await spawnGateway(gatewayDoc(be.url, 5000));
    agent = new Agent({ connections: N + 10 });
    const settled: { i: number; status?: number; body?: string; error?: string }[] = [];
    const all = Array.from({ length: N }, async (_, i) => {
      try {
        const res = await request(`${proc!.url}/r/${i}`, { dispatcher: agent! });
        settled.push({ i, status: res.statusCode, body: await res.body.text() });
      } catch (err) {
        settled.push({ i, error: (err as { code?: string }).code ?? String(err) });
      }
    });
    await until(() => be!.requests.length === N, `the backend has all ${N} requests (has ${be.requests.length})`, 10_000);
    const exited = proc.exited;
    expect(proc.child.kill('SIGTERM')).toBe(true);

    // The listener stops accepting while the requests are still in flight.
    let refusedWhileDraining = false;
    for (let tries = 0; tries < 40 && settled.length === 0; tries++) {
      if ((await tryConnect(proc.port)) === 'ECONNREFUSED') {
        refusedWhileDraining = settled.length === 0;
        break;
      }
      await sleep(20);
    }
    expect(refusedWhileDraining, 'a new connection was refused before the in-flight requests were answered').toBe(true);

    await Promise.all(all);
    const failed = settled.filter((s) => s.status !== 200 || s.body !== bodyOf(`/r/${s.i}`));
    expect(failed).toEqual([]);
    expect(settled).toHaveLength(N);
    const { code, signal } = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(await tryConnect(proc.port)).toBe('ECONNREFUSED');
    expect(proc.logs.some((l) => l.msg === 'stopped')).toBe(true);
  });

  it('cuts requests slower than drainMs at the deadline and exits soon after', async () => {
    let backendSawClose = false;
    be = await startBackend((req, res) => {
      req.resume();
      res.on('close', () => (backendSawClose = !res.writableFinished));
      const t = setTimeout(() => {
        timers.delete(t);
        res.writeHead(200, { 'content-type': 'text/plain' }).end('too late');
      }, 5000);
      timers.add(t);
    });
    proc = await spawnGateway(gatewayDoc(be.url, 300));
    agent = new Agent();
    const outcome = request(`${proc.url}/slow`, { dispatcher: agent }).then(
      async (res) => ({ status: res.statusCode, body: await res.body.text() }),
      (err: unknown) => ({ error: (err as { code?: string }).code ?? String(err) }),
    );
    await until(() => be!.requests.length === 1, 'the backend has the request', 5000);
    const signalledAt = Date.now();
    proc.child.kill('SIGTERM');
    const { code } = await proc.exited;
    const exitAfterMs = Date.now() - signalledAt;
    const result = await outcome;
    // The client did not get the backend's (late) answer: its socket was closed at the deadline.
    expect(result).not.toHaveProperty('status');
    expect(result).toHaveProperty('error');
    expect(exitAfterMs).toBeLessThan(2500);
    expect(code).toBe(0);
    expect(proc.logs.some((l) => l.msg === 'drain deadline reached: closing remaining connections')).toBe(true);
    await until(() => backendSawClose, 'the backend saw its request cut', 2000);
  });

  it('closes an open WebSocket session with 1001 on SIGTERM and exits 0', async () => {
    let backendClose: { code: number; reason: string } | undefined;
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    wss.on('connection', (ws) => ws.on('close', (code, reason) => (backendClose = { code, reason: reason.toString() })));
    try {
      const port = (wss.address() as { port: number }).port;
      proc = await spawnGateway({
        shutdown: { drainMs: 2000 },
        upstreams: [{ name: 'ws', targets: [{ url: `ws://127.0.0.1:${port}` }] }],
        routes: [{ name: 'ws', match: { pathPrefix: '/' }, upstream: 'ws', websocket: true }],
      });
      const client = new WebSocket(`ws://127.0.0.1:${proc.port}/live`);
      await new Promise<void>((resolve, reject) => {
        client.once('open', () => resolve());
        client.once('error', reject);
      });
      const closed = new Promise<{ code: number; reason: string }>((r) => client.once('close', (code, reason) => r({ code, reason: reason.toString() })));
      proc.child.kill('SIGTERM');
      expect(await closed).toEqual({ code: 1001, reason: 'gateway shutting down' });
      const { code } = await proc.exited;
      expect(code).toBe(0);
      await until(() => backendClose !== undefined, 'the backend saw the close', 2000);
      expect(backendClose?.code).toBe(1001);
    } finally {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
    }
  });

  // Regression: an upgraded socket is no longer tracked by the HTTP server, so an upgrade still waiting for
  // its upstream must be cut by the drain deadline (WebSocketProxy.terminateAll), or stop never completes.
  it('exits 0 at the drain deadline even with a WebSocket upgrade to a dead target pending', async () => {
    const dead = await closedPort();
    proc = await spawnGateway({
      shutdown: { drainMs: 300 },
      upstreams: [{ name: 'ws', targets: [{ url: `ws://127.0.0.1:${dead}` }] }],
      routes: [{ name: 'ws', match: { pathPrefix: '/' }, upstream: 'ws', websocket: true }],
    });
    const client = new WebSocket(`ws://127.0.0.1:${proc.port}/live`);
    client.on('error', () => undefined);
    try {
      await sleep(300); // the upgrade has reached the gateway and its upstream attempt has failed
      proc.child.kill('SIGTERM');
      const exit = await Promise.race([proc.exited, sleep(2500).then(() => undefined)]);
      expect(exit, 'the gateway exited within 2.5 s of SIGTERM').toEqual({ code: 0, signal: null });
    } finally {
      client.terminate();
    }
  });
});
