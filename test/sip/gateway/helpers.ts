/**
 * Shared helpers of the gateway-level SIP acceptance tests: a real gateway (`Gateway.start`, the same
 * path as `tandem start`) with a `sip` listener on 127.0.0.1 and SIP routes to raw peers, its RFC 3261
 * timers optionally scaled down (`GatewayOptions.sipTimers`); raw UDP and TCP SIP peers that record
 * what they receive, with arrival times.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { Gateway } from '../../../src/gateway/gateway.ts';
import { createLogger } from '../../../src/gateway/logger.ts';
import { validateConfig } from '../../../src/routes/config-validate.ts';
import type { SipMessage, SipRequest, SipResponse } from '../../../src/sip/index.ts';
import { Arrivals, bindUdp, connectTcp, TcpPeerBase, UdpPeerBase } from '../peers.ts';
import { answer, inDialog } from '../proxy/helpers.ts';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// ---- the gateway ----

export interface SipGateway {
  readonly gateway: Gateway;
  /** The `sip` listener's port (UDP and TCP). */
  readonly port: number;
  /** The `sip-ws` listener's port, when {@link SipGatewayOptions.ws} asked for one. */
  readonly wsPort: number | undefined;
  /** Log lines (JSON) the gateway wrote. */
  readonly logs: Record<string, unknown>[];
  stop(): Promise<void>;
}

export interface SipGatewayOptions {
  /** Where the SIP route's upstream points: `sip:127.0.0.1:<port>;transport=<transport>`. */
  readonly upstream: { readonly port: number; readonly transport?: 'udp' | 'tcp' };
  /** Request-URI domains routed to the upstream (one route each); default `['example.com']`. */
  readonly domains?: readonly string[];
  /** RFC 3261 T1 (ms); T2 = 8·T1 and T4 = 10·T1. Default: the gateway's defaults (500/4000/5000). */
  readonly T1?: number;
  /** Also a `sip-ws` listener (SIP over WebSocket, RFC 7118) on 127.0.0.1 port 0; the routes apply to both. */
  readonly ws?: boolean;
}

/** A gateway with one `sip` listener on 127.0.0.1 port 0 (and a `sip-ws` one), and one SIP route per domain to one upstream. */
export async function startSipGateway(options: SipGatewayOptions): Promise<SipGateway> {
  const domains = options.domains ?? ['example.com'];
  const doc = {
    log: { level: 'warn' },
    listeners: [
      { name: 'sip', protocol: 'sip', address: '127.0.0.1:0' },
      ...(options.ws === true ? [{ name: 'sip-ws', protocol: 'sip-ws', address: '127.0.0.1:0', keepaliveMs: 0 }] : []),
    ],
    upstreams: [{ name: 'uas', targets: [{ url: `sip:127.0.0.1:${options.upstream.port};transport=${options.upstream.transport ?? 'udp'}` }] }],
    routes: domains.map((domain, i) => ({ name: `uas-${i}`, match: { sip: { domain } }, upstream: 'uas' })),
  };
  const { config } = validateConfig(doc);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  const T1 = options.T1;
  const gateway = await Gateway.start(config, createLogger(config.log.level, sink), {
    document: doc,
    ...(T1 === undefined ? {} : { sipTimers: { T1, T2: 8 * T1, T4: 10 * T1 } }),
  });
  const addresses = gateway.addresses();
  return { gateway, port: addresses['sip']!.port, wsPort: addresses['sip-ws']?.port, logs, stop: () => gateway.stop(200) };
}

// ---- waiting for messages ----

/** A received message with its arrival time (`performance.now()`), how it came, and from which port. */
export interface Received {
  readonly message: SipMessage;
  readonly bytes: Buffer;
  readonly at: number;
  readonly via: 'udp' | 'tcp' | 'ws';
  readonly fromPort: number;
}

/** Bytes that did not parse as a SIP message (a response copying a malformed header, say). */
export interface Garbage {
  readonly bytes: Buffer;
  readonly at: number;
  readonly via: 'udp' | 'tcp' | 'ws';
  readonly fromPort: number;
}

/** Messages received by a peer, waited for by a predicate. */
export class Inbox extends Arrivals<Received> {
  /** Datagrams or frames that did not parse. */
  readonly garbage: Garbage[] = [];

  /** The first message matching that no earlier `next()` returned. */
  next(match: (m: SipMessage) => boolean, timeoutMs = 3000): Promise<Received> {
    return this.take((r) => match(r.message), timeoutMs);
  }

  async request(method: string, timeoutMs?: number): Promise<SipRequest> {
    return (await this.next((m) => m.kind === 'request' && m.method === method, timeoutMs)).message as SipRequest;
  }

  async response(status: number | ((status: number) => boolean), method?: string, timeoutMs?: number): Promise<SipResponse> {
    const ok = typeof status === 'number' ? (s: number) => s === status : status;
    return (await this.next((m) => m.kind === 'response' && ok(m.status) && (method === undefined || m.cseq.method === method), timeoutMs)).message as SipResponse;
  }

  /** Messages matching, received so far. */
  count(match: (m: SipMessage) => boolean): number {
    return this.all.filter((r) => match(r.message)).length;
  }

  /** Messages matching, received so far. */
  filter(match: (m: SipMessage) => boolean): Received[] {
    return this.all.filter((r) => match(r.message));
  }
}

// ---- peers ----

/** A raw UDP SIP peer on 127.0.0.1 (a UAC or a UAS), recording what it receives with arrival times. */
export class UdpPeer extends UdpPeerBase {
  readonly inbox = new Inbox();
  /** Called for each message after it is recorded (a UAS answering). */
  onMessage: ((message: SipMessage, peer: UdpPeer, from: { port: number }) => void) | undefined;

  private constructor(socket: UdpSocket) {
    super(socket);
  }

  /** Binds 127.0.0.1:`port` (0: any free port). */
  static async open(port = 0): Promise<UdpPeer> {
    return new UdpPeer(await bindUdp(port));
  }

  protected override received(message: SipMessage, bytes: Buffer, fromPort: number): void {
    this.inbox.push({ message, bytes, at: performance.now(), via: 'udp', fromPort });
    this.onMessage?.(message, this, { port: fromPort });
  }

  protected override garbage(bytes: Buffer, fromPort: number): void {
    this.inbox.garbage.push({ bytes, at: performance.now(), via: 'udp', fromPort });
  }
}

/** A raw TCP SIP connection (client side, or one accepted by a {@link TcpServerPeer}); messages framed by Content-Length. */
export class TcpPeer extends TcpPeerBase {
  readonly inbox: Inbox;
  onMessage: ((message: SipMessage, peer: TcpPeer) => void) | undefined;

  constructor(socket: Socket, inbox = new Inbox()) {
    super(socket);
    this.inbox = inbox;
  }

  static async connect(port: number): Promise<TcpPeer> {
    return new TcpPeer(await connectTcp(port));
  }

  protected override received(message: SipMessage, bytes: Buffer, fromPort: number): void {
    this.inbox.push({ message, bytes, at: performance.now(), via: 'tcp', fromPort });
    this.onMessage?.(message, this);
  }

  protected override garbage(bytes: Buffer, fromPort: number): void {
    this.inbox.garbage.push({ bytes, at: performance.now(), via: 'tcp', fromPort });
  }
}

/** A TCP server on 127.0.0.1 whose accepted connections all feed one inbox (a TCP UAS, or a collector). */
export class TcpServerPeer {
  readonly server: Server;
  readonly inbox = new Inbox();
  readonly connections: TcpPeer[] = [];
  onMessage: ((message: SipMessage, peer: TcpPeer) => void) | undefined;

  private constructor(server: Server) {
    this.server = server;
    server.on('connection', (socket) => {
      socket.setNoDelay(true);
      const peer = new TcpPeer(socket, this.inbox);
      peer.onMessage = (m, p) => this.onMessage?.(m, p);
      this.connections.push(peer);
    });
  }

  static async listen(port = 0): Promise<TcpServerPeer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new TcpServerPeer(server);
  }

  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  close(): Promise<void> {
    for (const c of this.connections) c.close();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Runs `open` until it succeeds or `deadlineMs` passes (a fixed port another test run still holds).
 *
 * @throws the last error, with the port named, after the deadline.
 */
export async function retryBind<T>(what: string, open: () => Promise<T>, deadlineMs = 15_000): Promise<T> {
  const until = performance.now() + deadlineMs;
  for (;;) {
    try {
      return await open();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || performance.now() > until) {
        throw new Error(`cannot bind ${what}: ${(error as Error).message}`, { cause: error });
      }
      await sleep(200);
    }
  }
}

/** A port free for both UDP and TCP on 127.0.0.1. */
export async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer();
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
    await new Promise((r) => server.close(r));
    const udp = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((r) => udp.close(() => r()));
    if (ok) return port;
  }
}

// ---- messages ----

let counter = 0;
/** A unique token for branches, tags and Call-IDs. */
export function unique(prefix = ''): string {
  return `${prefix}${++counter}x${process.pid}x${Date.now().toString(36)}`;
}

export interface RequestOptions {
  readonly method?: string;
  readonly transport?: 'UDP' | 'TCP' | 'WS';
  /** The UAC's port, written in its Via sent-by and Contact. */
  readonly port: number;
  readonly uri?: string;
  readonly callId?: string;
  readonly branch?: string;
  readonly cseq?: number;
  readonly extra?: readonly string[];
  readonly body?: string;
}

/** A request from alice (a UAC at 127.0.0.1:`port`) to `uri` (default `sip:bob@example.com`). */
export function request(options: RequestOptions): string {
  const method = options.method ?? 'INVITE';
  const transport = options.transport ?? 'UDP';
  const body = options.body ?? '';
  return [
    `${method} ${options.uri ?? 'sip:bob@example.com'} SIP/2.0`,
    `Via: SIP/2.0/${transport} 127.0.0.1:${options.port};branch=${options.branch ?? unique('z9hG4bKuac')}`,
    'Max-Forwards: 70',
    `From: "Alice" <sip:alice@example.org>;tag=${unique('a')}`,
    'To: <sip:bob@example.com>',
    `Call-ID: ${options.callId ?? unique('call-')}@127.0.0.1`,
    `CSeq: ${options.cseq ?? 1} ${method}`,
    `Contact: <sip:alice@127.0.0.1:${options.port};transport=${transport.toLowerCase()}>`,
    ...(options.extra ?? []),
    `Content-Length: ${Buffer.byteLength(body, 'latin1')}`,
    '',
    body,
  ].join('\r\n');
}

/** The UAS answer and the in-dialog ACK/BYE are the proxy tests' own. */
export { answer, inDialog };

/** A peer that can send and has an inbox: the UAC side of {@link establishCall}. */
export interface Uac {
  readonly inbox: Inbox;
  readonly port: number;
  send(message: string | Uint8Array): Promise<void>;
}

/** A UDP UAC bound to the gateway's port (so `send` needs no destination). */
export function udpUac(peer: UdpPeer, gatewayPort: number): Uac {
  return { inbox: peer.inbox, port: peer.port, send: (m) => peer.send(m, gatewayPort) };
}

/** A UAS that answers every INVITE 180 then 200 and every other request but ACK 200, over UDP. */
export function answerEverything(uas: UdpPeer, options: { ring?: boolean } = {}): void {
  uas.onMessage = (m, peer, from) => {
    if (m.kind !== 'request' || m.method === 'ACK') return;
    if (m.method === 'INVITE' && options.ring !== false) void peer.send(answer(m, 180, peer.port, 'Ringing'), from.port);
    void peer.send(answer(m, 200, peer.port, 'OK'), from.port);
  };
}

/**
 * A whole call from `uac` through the gateway (INVITE → 200, ACK, BYE → 200), the UAS seeing INVITE,
 * ACK and BYE. Resolves with the 200 of the BYE as the UAC received it.
 */
export async function establishCall(uac: Uac, uasInbox: Inbox, transport: 'UDP' | 'TCP' | 'WS'): Promise<{ ok: SipResponse; hangUp: () => Promise<SipResponse> }> {
  const callId = unique('call-');
  await uac.send(request({ port: uac.port, transport, callId }));
  const sameCall = (m: SipMessage) => m.callId === `${callId}@127.0.0.1`;
  const ok = (await uac.inbox.next((m) => sameCall(m) && m.kind === 'response' && m.status === 200 && m.cseq.method === 'INVITE')).message as SipResponse;
  await uasInbox.next((m) => sameCall(m) && m.kind === 'request' && m.method === 'INVITE');
  await uac.send(inDialog('ACK', ok, { transport, port: uac.port }));
  await uasInbox.next((m) => sameCall(m) && m.kind === 'request' && m.method === 'ACK');
  return {
    ok,
    hangUp: async () => {
      await uac.send(inDialog('BYE', ok, { transport, port: uac.port }));
      await uasInbox.next((m) => sameCall(m) && m.kind === 'request' && m.method === 'BYE');
      return (await uac.inbox.next((m) => sameCall(m) && m.kind === 'response' && m.status === 200 && m.cseq.method === 'BYE')).message as SipResponse;
    },
  };
}
