/**
 * Test backends: real node:http servers on 127.0.0.1 port 0 that record what reached them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Backend {
  readonly server: Server;
  readonly port: number;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** Requests that reached the backend, in order. */
  readonly requests: IncomingMessage[];
  close(): Promise<void>;
}

/** Starts a backend with `handler` (default: 200 `ok` with the backend's name in `x-backend`). */
export async function startBackend(
  handler?: (req: IncomingMessage, res: ServerResponse) => void,
  name = 'backend',
): Promise<Backend> {
  const requests: IncomingMessage[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    requests.push(req);
    if (handler !== undefined) handler(req, res);
    else {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name }).end(name));
    }
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A minimal upstream/route config document for one backend. */
export function proxyConfig(targets: string[], route: Record<string, unknown> = {}, upstream: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    log: { level: 'info', access: true },
    upstreams: [{ name: 'app', targets: targets.map((url) => ({ url })), ...upstream }],
    routes: [{ name: 'app', match: { pathPrefix: '/' }, upstream: 'app', ...route }],
  };
}
