/**
 * WebSocket proxying (RFC 6455) for routes with `websocket: true`: the upstream handshake is made first,
 * so the client's upgrade is only accepted once the target accepted it (with the subprotocol the target
 * chose); a refusal is passed back with the target's status. Then text and binary messages, pings and
 * pongs flow both ways unchanged, close codes and reasons are passed through, and back-pressure holds:
 * while one side's send buffer is above {@link HIGH_WATER_BYTES}, reading from the other side stops.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import type { TandemError } from '../errors.ts';
import type { Route } from '../routes/config.ts';
import { rawErrorResponse } from './error-response.ts';
import { isHopByHop, upstreamRequestHeaders } from './headers.ts';
import { classifyFailure, toUpstreamError } from './upstream-errors.ts';
import type { TargetRuntime } from './upstream-runtime.ts';

/** Above this many buffered bytes on one side, the other side is paused. */
export const HIGH_WATER_BYTES = 1024 * 1024;

/** How a WebSocket session ended; given to the access log. */
export interface WebSocketOutcome {
  /** 101 when the session was established, else the status answered. */
  readonly status: number;
  readonly target: string;
  /** Message bytes client → upstream. */
  readonly bytesIn: number;
  /** Message bytes upstream → client. */
  readonly bytesOut: number;
  readonly closeCode: number | undefined;
  readonly error: TandemError | undefined;
}

/** What one upgrade needs. */
export interface WebSocketExchange {
  readonly req: IncomingMessage;
  readonly socket: Duplex;
  readonly head: Buffer;
  readonly route: Route;
  readonly target: TargetRuntime;
  readonly path: string;
  readonly requestId: string;
  readonly clientIp: string;
  readonly connectTimeoutMs: number;
  readonly maxPayloadBytes: number;
  /** Called when the session is established (both handshakes done), with a way to close it. */
  readonly onOpen?: (session: WebSocketSession) => void;
}

/** An established session, as its route sees it (drain closes it with 1001). */
export interface WebSocketSession {
  close(code: number, reason: string): void;
}

/** Headers of the client handshake that belong to the WebSocket handshake itself (ws sets its own). */
const HANDSHAKE = new Set(['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol']);

/**
 * Accepts WebSocket upgrades for many routes: one `ws` server in `noServer` mode, which takes the
 * subprotocol the upstream chose for each request.
 */
export class WebSocketProxy {
  readonly #chosen = new WeakMap<IncomingMessage, string | false>();
  readonly #server: WebSocketServer;
  readonly #sessions = new Set<{ client: WebSocket; upstream: WebSocket }>();
  /** Client sockets whose upstream handshake is still under way, with that upstream attempt. */
  readonly #pending = new Map<Duplex, WebSocket>();

  constructor() {
    this.#server = new WebSocketServer({
      noServer: true,
      autoPong: false,
      perMessageDeflate: false,
      clientTracking: false,
      handleProtocols: (_protocols, req) => this.#chosen.get(req) ?? false,
    });
  }

  /** Live sessions (for drain). */
  get size(): number {
    return this.#sessions.size;
  }

  /** Proxies one upgrade; `done` is called once when it ends. */
  handle(ex: WebSocketExchange, done: (outcome: WebSocketOutcome) => void): void {
    const { req, socket, target } = ex;
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
    const raw = upstreamRequestHeaders(req.rawHeaders, {
      clientIp: ex.clientIp,
      proto: 'http',
      host: req.headers.host,
      upstreamHost: ex.route.hostRewrite ?? (ex.route.preserveHost && req.headers.host !== undefined ? req.headers.host : target.target.authority),
      requestId: ex.requestId,
    });
    const headers: Record<string, string> = {};
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      if (!HANDSHAKE.has(name)) headers[name] = headers[name] === undefined ? raw[i + 1]! : `${headers[name]}, ${raw[i + 1]!}`;
    }
    const authority = target.target.authority;
    let finished = false;
    const finish = (outcome: Omit<WebSocketOutcome, 'target'>): void => {
      if (finished) return;
      finished = true;
      target.active--;
      done({ ...outcome, target: authority });
    };
    target.active++;

    const upstream = new WebSocket(`ws://${authority}${ex.path}`, protocols, {
      headers,
      autoPong: false,
      perMessageDeflate: false,
      handshakeTimeout: ex.connectTimeoutMs,
      maxPayload: ex.maxPayloadBytes,
      followRedirects: false,
    });
    // Until the upstream handshake is done, the client socket is "pending": shutdown can cut it.
    this.#pending.set(socket, upstream);
    let opened = false;
    const settle = (): void => {
      this.#pending.delete(socket);
    };
    const refuse = (err: TandemError): void => {
      settle();
      if (socket.writable) socket.end(rawErrorResponse(err));
      else socket.destroy();
      finish({ status: err.status, bytesIn: 0, bytesOut: 0, closeCode: undefined, error: err });
    };
    socket.on('error', () => upstream.terminate());
    // A client that half-closes or goes away during the handshake abandons it.
    socket.once('end', () => {
      if (!opened) socket.destroy();
    });
    socket.once('close', () => {
      if (opened) return;
      settle();
      upstream.terminate();
      finish({ status: 0, bytesIn: 0, bytesOut: 0, closeCode: undefined, error: undefined });
    });

    upstream.once('unexpected-response', (_request, response) => {
      // The target refused the upgrade: pass its answer back as it is (status, headers, body).
      settle();
      const status = response.statusCode ?? 502;
      let head = `HTTP/1.1 ${status} ${response.statusMessage ?? ''}\r\n`;
      for (let i = 0; i < response.rawHeaders.length; i += 2) {
        const name = response.rawHeaders[i]!;
        if (!isHopByHop(name.toLowerCase())) head += `${name}: ${response.rawHeaders[i + 1]!}\r\n`;
      }
      head += 'Connection: close\r\n\r\n';
      finish({ status, bytesIn: 0, bytesOut: 0, closeCode: undefined, error: undefined });
      if (socket.writable) {
        socket.write(head);
        response.pipe(socket);
      } else {
        response.resume();
      }
    });
    upstream.once('error', (err) => {
      // Errors after the handshake are the session's (see #pipe).
      if (opened || finished) return;
      const kind = (err as { message?: string }).message === 'Opening handshake has timed out' ? 'timeout' : classifyFailure(err);
      refuse(toUpstreamError(kind, authority, err));
    });
    upstream.once('upgrade', (response) => {
      this.#chosen.set(req, response.headers['sec-websocket-protocol'] ?? false);
    });
    upstream.once('open', () => {
      opened = true;
      settle();
      upstream.pause();
      if (!socket.readable || socket.destroyed) {
        upstream.terminate();
        finish({ status: 0, bytesIn: 0, bytesOut: 0, closeCode: undefined, error: undefined });
        return;
      }
      this.#server.handleUpgrade(req, socket, ex.head, (client) => {
        ex.onOpen?.({
          close: (code, reason) => {
            client.close(code, reason);
            upstream.close(code, reason);
          },
        });
        this.#pipe(client, upstream, finish);
        upstream.resume();
      });
    });
  }

  #pipe(client: WebSocket, upstream: WebSocket, finish: (o: Omit<WebSocketOutcome, 'target'>) => void): void {
    const session = { client, upstream };
    this.#sessions.add(session);
    let bytesIn = 0;
    let bytesOut = 0;
    let closeCode: number | undefined;
    let closed = 0;
    relay(client, upstream, (n) => (bytesIn += n));
    relay(upstream, client, (n) => (bytesOut += n));
    const closeOther = (other: WebSocket) => (code: number, reason: Buffer): void => {
      closeCode ??= code;
      passClose(other, code, reason);
      if (++closed < 2) return;
      this.#sessions.delete(session);
      finish({ status: 101, bytesIn, bytesOut, closeCode, error: undefined });
    };
    client.on('close', closeOther(upstream));
    upstream.on('close', closeOther(client));
    client.on('error', () => upstream.terminate());
    upstream.on('error', () => client.terminate());
  }

  /** Closes every session with `code` (1001 going away on shutdown). */
  closeAll(code = 1001, reason = 'gateway shutting down'): void {
    for (const { client, upstream } of this.#sessions) {
      client.close(code, reason);
      upstream.close(code, reason);
    }
  }

  /** Terminates every session, and every upgrade still waiting for its upstream, at once. */
  terminateAll(): void {
    for (const [socket, upstream] of this.#pending) {
      upstream.terminate();
      socket.destroy();
    }
    for (const { client, upstream } of this.#sessions) {
      client.terminate();
      upstream.terminate();
    }
  }
}

/** Messages and control frames from `from` to `to`, pausing `from` while `to` is backed up. */
function relay(from: WebSocket, to: WebSocket, count: (bytes: number) => void): void {
  const resumeWhenDrained = (): void => {
    if (from.isPaused && to.bufferedAmount <= HIGH_WATER_BYTES / 2) from.resume();
  };
  from.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    if (to.readyState !== WebSocket.OPEN) return;
    const size = Buffer.isBuffer(data) ? data.length : Array.isArray(data) ? data.reduce((s, b) => s + b.length, 0) : data.byteLength;
    count(size);
    to.send(data, { binary: isBinary }, resumeWhenDrained);
    if (to.bufferedAmount > HIGH_WATER_BYTES && !from.isPaused) from.pause();
  });
  from.on('ping', (data) => {
    if (to.readyState === WebSocket.OPEN) to.ping(data);
  });
  from.on('pong', (data) => {
    if (to.readyState === WebSocket.OPEN) to.pong(data);
  });
}

/** Closes `to` with the code and reason `from` closed with (RFC 6455 §7.4: 1005/1006 are never sent). */
function passClose(to: WebSocket, code: number, reason: Buffer): void {
  if (to.readyState === WebSocket.CLOSED || to.readyState === WebSocket.CLOSING) return;
  if (code === 1005) {
    to.close();
    return;
  }
  if (code === 1006 || code === 1015) {
    to.terminate();
    return;
  }
  try {
    to.close(code, reason);
  } catch {
    to.terminate();
  }
}
