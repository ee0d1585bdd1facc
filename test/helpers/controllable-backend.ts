/**
 * A backend whose behaviour a test changes on command: answer 200, answer 503, reset the connection,
 * hang, or stop listening (connection refused) and come back on the same port.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type BackendMode = 'ok' | '503' | 'reset' | 'hang';

export interface ControllableBackend {
  readonly port: number;
  readonly url: string;
  mode: BackendMode;
  /** Requests received, by path prefix `/healthz` or not. */
  readonly counts: { requests: number; health: number; methods: Record<string, number> };
  /** Health endpoint answer (independent of `mode`). */
  healthy: boolean;
  /** Stops listening and drops every connection (refused from now on). */
  kill(): Promise<void>;
  /** Listens again on the same port. */
  revive(): Promise<void>;
  close(): Promise<void>;
}

export async function startControllableBackend(name = 'backend'): Promise<ControllableBackend> {
  const sockets = new Set<Socket>();
  let server: Server;
  const state = {
    mode: 'ok' as BackendMode,
    healthy: true,
    counts: { requests: 0, health: 0, methods: {} as Record<string, number> },
  };
  const make = (): Server => {
    const s = createServer((req, res) => {
      if (req.url?.startsWith('/healthz')) {
        state.counts.health++;
        req.resume();
        res.writeHead(state.healthy ? 200 : 503).end(state.healthy ? 'ok' : 'down');
        return;
      }
      state.counts.requests++;
      state.counts.methods[req.method ?? 'GET'] = (state.counts.methods[req.method ?? 'GET'] ?? 0) + 1;
      req.resume();
      switch (state.mode) {
        case 'ok':
          req.on('end', () => res.writeHead(200, { 'x-backend': name }).end(name));
          return;
        case '503':
          req.on('end', () => res.writeHead(503, { 'x-backend': name }).end('unavailable'));
          return;
        case 'reset':
          req.socket.destroy();
          return;
        case 'hang':
          return;
      }
    });
    s.on('connection', (c) => {
      sockets.add(c);
      c.on('close', () => sockets.delete(c));
    });
    return s;
  };
  server = make();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const c of sockets) c.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get mode() {
      return state.mode;
    },
    set mode(m: BackendMode) {
      state.mode = m;
    },
    get healthy() {
      return state.healthy;
    },
    set healthy(h: boolean) {
      state.healthy = h;
    },
    counts: state.counts,
    kill: stop,
    async revive() {
      server = make();
      await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    },
    close: stop,
  };
}
