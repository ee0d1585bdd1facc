/**
 * WebSocket proxying through a real gateway: a real `ws` client on one side, a real `ws` WebSocketServer
 * backend on the other, everything on 127.0.0.1 port 0.
 */
import { randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer, type RawData } from 'ws';
import { closedPort, proxyConfig } from '../helpers/backend.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';

interface WsBackend {
  readonly wss: WebSocketServer;
  readonly port: number;
  readonly url: string;
  /** Server-side sockets of every accepted connection, in order. */
  readonly connections: WebSocket[];
  /** Upgrade requests that reached the backend's HTTP server (accepted or not). */
  readonly upgrades: IncomingMessage[];
  close(): Promise<void>;
}

type WsServerOptions = ConstructorParameters<typeof WebSocketServer>[0];

/** A `ws` backend; `onConnection` gets every accepted socket (default: echo, text stays text). */
async function startWsBackend(onConnection?: (ws: WebSocket, req: IncomingMessage) => void, options: WsServerOptions = {}): Promise<WsBackend> {
  const server: Server = createServer((_req, res) => res.writeHead(426).end());
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const upgrades: IncomingMessage[] = [];
  server.prependListener('upgrade', (req: IncomingMessage) => upgrades.push(req));
  const wss = new WebSocketServer({ ...options, server });
  const connections: WebSocket[] = [];
  wss.on('connection', (ws, req) => {
    connections.push(ws);
    if (onConnection !== undefined) onConnection(ws, req);
    else ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    wss,
    port,
    url: `ws://127.0.0.1:${port}`,
    connections,
    upgrades,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        for (const s of sockets) s.destroy();
        wss.close();
        server.close(() => resolve());
      }),
  };
}

/** The first event of `name` on `emitter`, as its argument list. */
function once<T extends unknown[]>(emitter: EventEmitter, name: string, timeoutMs = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for "${name}"`)), timeoutMs);
    emitter.once(name, (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as T);
    });
  });
}

/** Polls `check` until it is true (or fails after `timeoutMs`). */
async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** An upgrade the gateway refused: its status and raw body (fails when no answer comes in `timeoutMs`). */
async function refusedUpgrade(url: string, timeoutMs = 2500): Promise<{ status: number; body: string }> {
  const client = new WebSocket(url);
  clients.push(client);
  const result = new Promise<{ status: number; body: string }>((resolve, reject) => {
    setTimeout(() => reject(new Error(`the gateway did not answer the upgrade within ${timeoutMs} ms`)), timeoutMs).unref();
    client.on('open', () => reject(new Error('the upgrade was accepted')));
    client.on('error', () => undefined); // ws reports the abort after unexpected-response
    client.on('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
  });
  return result;
}

const clients: WebSocket[] = [];

/** A client connected through the gateway (resolves on 'open'). */
async function connect(url: string, protocols?: string[]): Promise<WebSocket> {
  const client = new WebSocket(url, protocols ?? []);
  clients.push(client);
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve());
    client.once('error', reject);
    client.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with ${res.statusCode ?? '?'}`)));
  });
  return client;
}

describe('WebSocket proxy', () => {
  let gw: RunningGateway | undefined;
  let be: WsBackend | undefined;
  afterEach(async () => {
    for (const c of clients.splice(0)) c.terminate();
    if (gw !== undefined) await gw.stop(200);
    await be?.close();
    gw = undefined;
    be = undefined;
  });

  const wsRoute = { websocket: true };
  const gwWs = (path = '/chat'): string => `ws://127.0.0.1:${gw!.port}${path}`;

  it('echoes a text message back as text', async () => {
    be = await startWsBackend();
    gw = await startGateway(proxyConfig([be.url], wsRoute));
    const client = await connect(gwWs());
    const reply = once<[RawData, boolean]>(client, 'message');
    client.send('hello through tandem');
    const [data, isBinary] = await reply;
    expect(isBinary).toBe(false);
    expect(toBuffer(data).toString('utf8')).toBe('hello through tandem');
    expect(be.upgrades[0]?.url).toBe('/chat');
  });

  it('counts open sessions per route in tandem_websocket_sessions', async () => {
    be = await startWsBackend();
    gw = await startGateway({ ...proxyConfig([be.url], wsRoute), admin: { address: '127.0.0.1:0' } });
    const gauge = async (): Promise<string | undefined> => {
      const text = await (await fetch(`${gw!.adminUrl!}/metrics`)).text();
      return text.split('\n').find((l) => l.startsWith('tandem_websocket_sessions{route="app"}'));
    };
    const client = await connect(gwWs());
    await until(() => be!.connections.length === 1, 'backend session');
    expect(await gauge()).toBe('tandem_websocket_sessions{route="app"} 1');
    const closed = once(client, 'close');
    client.close(1000);
    await closed;
    let last: string | undefined;
    for (let i = 0; i < 50 && last !== 'tandem_websocket_sessions{route="app"} 0'; i++) {
      last = await gauge();
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(last).toBe('tandem_websocket_sessions{route="app"} 0');
  });

  it('echoes a binary message back as binary with the same bytes', async () => {
    be = await startWsBackend();
    gw = await startGateway(proxyConfig([be.url], wsRoute));
    const client = await connect(gwWs());
    const payload = randomBytes(4096);
    const reply = once<[RawData, boolean]>(client, 'message');
    client.send(payload, { binary: true });
    const [data, isBinary] = await reply;
    expect(isBinary).toBe(true);
    expect(toBuffer(data).equals(payload)).toBe(true);
  });

  it('carries a 1 MiB binary frame intact both ways', async () => {
    let seenByBackend: Buffer | undefined;
    be = await startWsBackend((ws) =>
      ws.on('message', (data, isBinary) => {
        seenByBackend = toBuffer(data);
        ws.send(data, { binary: isBinary });
      }),
    );
    gw = await startGateway(proxyConfig([be.url], wsRoute));
    const client = await connect(gwWs());
    const payload = randomBytes(1024 * 1024);
    const reply = once<[RawData, boolean]>(client, 'message');
    client.send(payload, { binary: true });
    const [data, isBinary] = await reply;
    expect(isBinary).toBe(true);
    expect(seenByBackend?.length).toBe(payload.length);
    expect(seenByBackend?.equals(payload)).toBe(true);
    const back = toBuffer(data);
    expect(back.length).toBe(payload.length);
    expect(back.equals(payload)).toBe(true);
  });

  it('passes the close code and reason the backend sends to the client', async () => {
    be = await startWsBackend((ws) => ws.on('message', () => ws.close(4000, 'backend says bye')));
    gw = await startGateway(proxyConfig([be.url], wsRoute));
    const client = await connect(gwWs());
    const closed = once<[number, Buffer]>(client, 'close');
    client.send('close please');
    const [code, reason] = await closed;
    expect(code).toBe(4000);
    expect(reason.toString('utf8')).toBe('backend says bye');
  });

  it('passes the close code and reason the client sends to the backend', async () => {
    let backendClosed: Promise<[number, Buffer]> | undefined;
    be = await startWsBackend((ws) => {
      backendClosed = once<[number, Buffer]>(ws, 'close');
    });
    gw = await startGateway(proxyConfig([be.url], wsRoute));
    const client = await connect(gwWs());
    await until(() => backendClosed !== undefined, 'the backend has the connection');
    const clientClosed = once<[number, Buffer]>(client, 'close');
    client.close(4001, 'client says bye');
    const [code, reason] = await backendClosed!;
    expect(code).toBe(4001);
    expect(reason.toString('utf8')).toBe('client says bye');
    const [clientCode] = await clientClosed;
    expect(clientCode).toBe(4001);
  });

  it("relays a client ping to the backend as a ping and the backend's own pong back", async () => {
    const pingsAtBackend: Buffer[] = [];
    be = await startWsBackend(
      (ws) =>
        ws.on('ping', (data: Buffer) => {
          pingsAtBackend.push(data);
          ws.pong(Buffer.concat([Buffer.from('pong:'), data]));
        }),
      { autoPong: false },
    );
    gw = await startGateway(proxyConfig([be.url], wsRoute));
    const client = await connect(gwWs());
    const pong = once<[Buffer]>(client, 'pong');
    client.ping(Buffer.from('are-you-there'));
    const [data] = await pong;
    // The payload is the backend's, so the pong was not answered by the gateway itself.
    expect(data.toString('utf8')).toBe('pong:are-you-there');
    expect(pingsAtBackend.map((b) => b.toString('utf8'))).toEqual(['are-you-there']);
  });

  it('negotiates the subprotocol the backend picks among those the client offers', async () => {
    let offered: string[] = [];
    be = await startWsBackend(undefined, {
      handleProtocols: (protocols) => {
        offered = [...protocols];
        return protocols.has('b') ? 'b' : false;
      },
    });
    gw = await startGateway(proxyConfig([be.url], wsRoute));
    const client = await connect(gwWs(), ['a', 'b']);
    expect(client.protocol).toBe('b');
    expect(offered).toEqual(['a', 'b']);
    expect(be.connections[0]?.protocol).toBe('b');
  });

  it('refuses an upgrade on a route without websocket: true with 400 TANDEM_ERR_WEBSOCKET_NOT_ALLOWED', async () => {
    be = await startWsBackend();
    gw = await startGateway(proxyConfig([be.url]));
    const { status, body } = await refusedUpgrade(gwWs());
    expect(status).toBe(400);
    expect((JSON.parse(body) as { code: string }).code).toBe('TANDEM_ERR_WEBSOCKET_NOT_ALLOWED');
    expect(be.upgrades).toHaveLength(0);
  });

  it("passes the backend's refusal of the upgrade (403) back to the client", async () => {
    be = await startWsBackend(undefined, { verifyClient: (_info, cb) => cb(false, 403, 'Forbidden') });
    gw = await startGateway(proxyConfig([be.url], wsRoute));
    const { status } = await refusedUpgrade(gwWs());
    expect(status).toBe(403);
    expect(be.upgrades).toHaveLength(1);
    expect(be.connections).toHaveLength(0);
  });

  // Regression: ws reports a failed upstream handshake while its readyState is CLOSING, not CLOSED; the
  // client's upgrade must still be answered.
  it('answers 502 TANDEM_ERR_UPSTREAM_CONNECT when the backend does not listen', async () => {
    const port = await closedPort();
    gw = await startGateway(proxyConfig([`ws://127.0.0.1:${port}`], wsRoute));
    const { status, body } = await refusedUpgrade(gwWs());
    expect(status).toBe(502);
    expect((JSON.parse(body) as { code: string }).code).toBe('TANDEM_ERR_UPSTREAM_CONNECT');
  });

  // The same path, reached through the handshake timeout (upstream timeouts.connectMs).
  it('answers 504 TANDEM_ERR_UPSTREAM_TIMEOUT when the backend accepts the connection but never answers the upgrade', async () => {
    const silent = new Set<Socket>();
    const server = createServer();
    server.on('upgrade', (_req, socket: Socket) => silent.add(socket)); // never answers
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      gw = await startGateway(proxyConfig([`ws://127.0.0.1:${port}`], wsRoute, { timeouts: { connectMs: 300 } }));
      const { status, body } = await refusedUpgrade(gwWs());
      expect(status).toBe(504);
      expect((JSON.parse(body) as { code: string }).code).toBe('TANDEM_ERR_UPSTREAM_TIMEOUT');
    } finally {
      for (const s of silent) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('holds back-pressure: a paused client stalls a fast backend, and every byte arrives in order after resume', async () => {
    const MESSAGE = 64 * 1024;
    const COUNT = 1024; // 64 MiB in all
    const TOTAL = MESSAGE * COUNT;
    const message = (seq: number): Buffer => {
      const b = Buffer.alloc(MESSAGE, seq & 0xff);
      b.writeUInt32BE(seq, 0);
      return b;
    };
    let flushed = 0; // bytes the backend's socket accepted (send callbacks)
    let sent = 0;
    let sendError: Error | undefined;
    be = await startWsBackend((ws) => {
      const pump = (): void => {
        // As fast as the backend's own buffer allows.
        while (sent < COUNT && ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 1024 * 1024) {
          const m = message(sent++);
          ws.send(m, { binary: true }, (err) => {
            if (err) sendError ??= err;
            else flushed += m.length;
            pump();
          });
        }
      };
      pump();
    });
    gw = await startGateway(proxyConfig([be.url], wsRoute));

    const client = new WebSocket(gwWs());
    clients.push(client);
    const received: Buffer[] = [];
    let receivedBytes = 0;
    client.on('message', (data) => {
      const b = toBuffer(data);
      received.push(b);
      receivedBytes += b.length;
    });
    await new Promise<void>((resolve, reject) => {
      client.once('open', () => {
        client.pause();
        resolve();
      });
      client.once('error', reject);
    });

    // Wait until the backend's progress stops: no send callback for 750 ms.
    let last = -1;
    let stableSince = Date.now();
    const giveUp = Date.now() + 12_000;
    while (Date.now() - stableSince < 750) {
      if (flushed !== last) {
        last = flushed;
        stableSince = Date.now();
      }
      if (flushed >= TOTAL || Date.now() > giveUp) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const stalledAt = flushed;
    // The proxy stopped reading the backend: far from all 64 MiB left the backend while the client was
    // paused (what did leave sits in kernel socket buffers and the gateway's bounded send buffer).
    expect(sendError).toBeUndefined();
    expect(stalledAt).toBeLessThan(TOTAL / 2);
    expect(receivedBytes).toBeLessThan(TOTAL / 2);
    expect(be.connections[0]!.bufferedAmount).toBeGreaterThan(0);

    client.resume();
    await until(() => receivedBytes >= TOTAL, `all ${TOTAL} bytes arrived (got ${receivedBytes})`, 20_000);
    expect(receivedBytes).toBe(TOTAL);
    expect(received).toHaveLength(COUNT);
    for (let i = 0; i < COUNT; i++) {
      const b = received[i]!;
      if (b.readUInt32BE(0) !== i || !b.equals(message(i))) expect.fail(`message ${i} is out of order or damaged (seq ${b.readUInt32BE(0)})`);
    }
    console.info(`back-pressure: the backend stalled after ${(stalledAt / 1048576).toFixed(1)} MiB of ${TOTAL / 1048576} MiB`);
  });
});
