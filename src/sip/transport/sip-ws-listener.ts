/**
 * The `sip-ws` listener: SIP over WebSocket (RFC 7118) on an HTTP server that accepts only WebSocket
 * upgrades.
 *
 * - Handshake (RFC 7118 §4.1): the client MUST offer the `sip` subprotocol and the server echoes it
 *   in `Sec-WebSocket-Protocol`; an upgrade without it is refused with 400. With `allowedOrigins`,
 *   an upgrade whose `Origin` is not listed (or is missing) is refused with 403 (RFC 6455 §10.2, RFC 7118
 *   §6 on browser clients). A plain HTTP request gets 426 Upgrade Required.
 * - Framing (RFC 7118 §5.1): each WebSocket message is one SIP message, text or binary frame; a message
 *   larger than `maxMessageBytes` closes the connection (1009, RFC 6455 §7.4.1).
 * - Keepalive (SPEC D.3): a WebSocket ping every `pingIntervalMs`; a connection that did not answer the
 *   previous ping is terminated. RFC 5626 §3.5.1 CRLF keepalives: a message of CRLFCRLF is answered
 *   with CRLF, a single CRLF (pong) is ignored.
 * - Reachability (RFC 7118 §5): the client's Via host is `*.invalid`; `received`/`rport` are added as for
 *   any transport, nothing is resolved, and the flow is the only way back.
 * - Shutdown: stop accepting, close every connection with 1001 Going Away, terminate those that do not
 *   finish the closing handshake within `closeTimeoutMs`.
 *
 * @module
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import pino, { type Logger } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { DEFAULT_MAX_MESSAGE_BYTES, type ParseOptions, type SipMessage } from '../index.ts';
import { SipTransportError } from './errors.ts';
import { type Destination, type Flow, type FlowAddress, isFlow } from './flow.ts';
import { FlowTable } from './flow-table.ts';
import { flowClosed, type InboundContext, receiveMessage } from './inbound.ts';
import { TransportStats, type TransportStatsSnapshot } from './transport-stats.ts';
import type { TransportUser } from './transport-user.ts';
import { normalizeAddress } from './via-received.ts';
import { WsFlow } from './ws-flow.ts';

/** The WebSocket subprotocol for SIP (RFC 7118 §4.1, IANA WebSocket Subprotocol Name Registry). */
export const SIP_SUBPROTOCOL = 'sip';

export interface SipWsListenerOptions {
  /** Address to bind (default `0.0.0.0`). */
  readonly host?: string;
  /** TCP port of the HTTP server (0 picks a free one). */
  readonly port: number;
  readonly user: TransportUser;
  /** Flow registry, shared with the `sip` listener (default: own). */
  readonly flows?: FlowTable;
  readonly logger?: Logger;
  /** Accepted `Origin` values (`https://app.example.com`), compared case-insensitively; unset: any. */
  readonly allowedOrigins?: readonly string[];
  /** WebSocket ping interval (default 30000 ms; 0 disables). Keep it below load balancer idle timeouts. */
  readonly pingIntervalMs?: number;
  /** Largest WebSocket message (default 65536). */
  readonly maxMessageBytes?: number;
  /** How long a closing connection may take to finish the closing handshake (default 2000 ms). */
  readonly closeTimeoutMs?: number;
  readonly parseOptions?: ParseOptions;
}

type State = 'new' | 'listening' | 'closed';

export class SipWsListener {
  readonly flows: FlowTable;
  readonly #options: SipWsListenerOptions;
  readonly #logger: Logger;
  readonly #stats = new TransportStats();
  readonly #inbound: InboundContext;
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #origins: ReadonlySet<string> | undefined;
  readonly #open = new Set<WsFlow>();
  #state: State = 'new';
  #address: FlowAddress | undefined;
  #ping: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: SipWsListenerOptions) {
    this.#options = options;
    this.flows = options.flows ?? new FlowTable();
    this.#logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'sip-transport', listener: 'sip-ws' });
    this.#origins = options.allowedOrigins === undefined ? undefined : new Set(options.allowedOrigins.map((o) => o.toLowerCase()));
    this.#inbound = {
      user: options.user,
      logger: this.#logger,
      parseOptions: options.parseOptions,
      counters: (transport) => this.#stats.of(transport),
    };
    this.#wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      clientTracking: false,
      maxPayload: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      handleProtocols: (protocols) => (protocols.has(SIP_SUBPROTOCOL) ? SIP_SUBPROTOCOL : false),
    });
    this.#server = createServer((_req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket', Connection: 'close' });
      res.end('SIP over WebSocket: upgrade with Sec-WebSocket-Protocol: sip\n');
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(req, socket, head));
    this.#server.on('clientError', (_error, socket) => socket.destroy());
  }

  /** The bound address (after {@link listen}). */
  get address(): FlowAddress {
    if (this.#address === undefined) throw new SipTransportError('TANDEM_ERR_SIP_LISTENER_CLOSED', 'the SIP WebSocket listener is not listening');
    return this.#address;
  }

  /** Counters (only `ws` moves here). */
  get stats(): TransportStatsSnapshot {
    return this.#stats.snapshot();
  }

  /** Open WebSocket connections. */
  get connections(): number {
    return this.#open.size;
  }

  async listen(): Promise<FlowAddress> {
    if (this.#state !== 'new') throw new SipTransportError('TANDEM_ERR_SIP_LISTEN', `listen() called on a ${this.#state} listener`);
    const host = this.#options.host ?? '0.0.0.0';
    try {
      await new Promise<void>((resolve, reject) => {
        this.#server.once('error', reject);
        this.#server.listen({ host, port: this.#options.port, exclusive: true }, () => {
          this.#server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      throw new SipTransportError('TANDEM_ERR_SIP_LISTEN', `SIP WebSocket listen on ${host}:${this.#options.port} failed`, { cause: error });
    }
    this.#server.on('error', (error) => this.#logger.error({ err: error }, 'SIP WebSocket server error'));
    const bound = this.#server.address() as { address: string; port: number };
    this.#address = { address: normalizeAddress(bound.address), port: bound.port };
    this.#state = 'listening';
    const interval = this.#options.pingIntervalMs ?? 30_000;
    if (interval > 0) {
      this.#ping = setInterval(() => this.#keepalive(), interval);
      this.#ping.unref();
    }
    return this.#address;
  }

  /**
   * Sends `message` on a flow. A WebSocket peer can only be reached over its own connection (RFC 7118
   * §5), so an address destination is refused with `TANDEM_ERR_SIP_UNROUTABLE`.
   */
  async send(message: SipMessage | Uint8Array, destination: Destination): Promise<Flow> {
    if (!isFlow(destination)) throw new SipTransportError('TANDEM_ERR_SIP_UNROUTABLE', `the sip-ws listener does not open connections (${destination.transport}:${destination.host}:${destination.port})`);
    await destination.send(message);
    return destination;
  }

  /** Stops accepting, closes every connection with 1001, closes the server. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const wasListening = this.#state === 'listening';
    this.#state = 'closed';
    if (this.#ping !== undefined) clearInterval(this.#ping);
    const closed = [...this.#open].map((flow) => new Promise<void>((resolve) => {
      if (flow.socket.readyState === WebSocket.CLOSED) resolve();
      else flow.socket.once('close', () => resolve());
      flow.close();
    }));
    await Promise.all(closed);
    if (!wasListening) return;
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (this.#state !== 'listening') return refuse(socket, 503, 'Service Unavailable', 'the listener is closing');
    if (this.#origins !== undefined) {
      const origin = req.headers.origin?.toLowerCase();
      if (origin === undefined || !this.#origins.has(origin)) return refuse(socket, 403, 'Forbidden', 'origin not allowed');
    }
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(SIP_SUBPROTOCOL)) return refuse(socket, 400, 'Bad Request', 'the WebSocket subprotocol "sip" is required (RFC 7118)');
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accept(ws, req));
  }

  #accept(ws: WebSocket, req: IncomingMessage): void {
    const raw = req.socket;
    if (this.#state !== 'listening') {
      ws.close(1001, 'Going Away');
      return;
    }
    const { id, token } = this.flows.allocate('ws');
    const flow: WsFlow = new WsFlow(
      {
        id,
        token,
        local: { address: normalizeAddress(raw.localAddress ?? ''), port: raw.localPort ?? 0 },
        remote: { address: normalizeAddress(raw.remoteAddress ?? ''), port: raw.remotePort ?? 0 },
        counters: this.#stats.ws,
        onClose: () => {
          this.#open.delete(flow);
          this.flows.delete(flow);
          flowClosed(this.#inbound, flow);
        },
      },
      ws,
      this.#options.closeTimeoutMs ?? 2000,
    );
    this.#open.add(flow);
    this.flows.add(flow);
    ws.on('pong', () => {
      flow.alive = true;
    });
    ws.on('error', (error) => {
      // ws closes the connection itself (1009 too big, 1002 protocol error); count what it refused.
      this.#stats.ws.malformed++;
      this.#stats.ws.dropped++;
      this.#logger.debug({ err: error, flow: id }, 'SIP WebSocket error');
    });
    ws.on('message', (data: WebSocket.RawData) => this.#message(flow, toBuffer(data)));
  }

  #message(flow: WsFlow, bytes: Buffer): void {
    if (flow.closed) return;
    flow.alive = true;
    if (onlyCrlf(bytes)) {
      // RFC 5626 §3.5.1 over WebSocket: CRLFCRLF is a ping, answered with CRLF; a lone CRLF is a pong.
      if (bytes.length >= 4) {
        this.#stats.ws.keepalives++;
        if (flow.socket.readyState === WebSocket.OPEN) flow.socket.send('\r\n');
      }
      return;
    }
    receiveMessage(this.#inbound, bytes, flow);
  }

  #keepalive(): void {
    for (const flow of this.#open) {
      const ws = flow.socket;
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (!flow.alive) {
        this.#logger.debug({ flow: flow.id }, 'SIP WebSocket missed a ping; terminating');
        ws.terminate();
        continue;
      }
      flow.alive = false;
      ws.ping();
    }
  }
}

function refuse(socket: Duplex, status: number, reason: string, body: string): void {
  const text = `${body}\n`;
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  setTimeout(() => socket.destroy(), 1000).unref();
}

function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function onlyCrlf(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0x0d && b !== 0x0a) return false;
  return true;
}
