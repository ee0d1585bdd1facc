/**
 * Shared helpers of the gateway-level SIP acceptance tests: a real gateway (`Gateway.start`, the same
 * path as `tandem start`) with a `sip` listener on 127.0.0.1 and SIP routes to raw peers, its RFC 3261
 * timers optionally scaled down (`GatewayOptions.sipTimers`); raw UDP and TCP SIP peers that record
 * what they receive, with arrival times.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { Gateway } from '../../../src/gateway/gateway.ts';
import { createLogger } from '../../../src/gateway/logger.ts';
import { validateConfig } from '../../../src/routes/config-validate.ts';
import { parseMessage, type SipMessage, type SipRequest, type SipResponse, StreamFramer } from '../../../src/sip/index.ts';

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
export class Inbox {
  readonly all: Received[] = [];
  /** Datagrams or frames that did not parse. */
  readonly garbage: Garbage[] = [];
  readonly #waiters: { match: (r: Received) => boolean; resolve: (r: Received) => void }[] = [];
  /** Items a `next()` already returned (so that two waits for the same kind get two messages). */
  readonly #taken = new Set<Received>();

  push(item: Received): void {
    this.all.push(item);
    const i = this.#waiters.findIndex((w) => w.match(item));
    if (i >= 0) {
      this.#taken.add(item);
      this.#waiters.splice(i, 1)[0]!.resolve(item);
    }
  }

  /** The first message matching that no earlier `next()` returned. */
  next(match: (m: SipMessage) => boolean, timeoutMs = 3000): Promise<Received> {
    const found = this.all.find((r) => !this.#taken.has(r) && match(r.message));
    if (found !== undefined) {
      this.#taken.add(found);
      return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        match: (r: Received) => match(r.message),
        resolve: (r: Received) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`nothing matching arrived within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
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

function toBytes(message: string | Uint8Array): Uint8Array {
  return typeof message === 'string' ? Buffer.from(message, 'latin1') : message;
}

/** A raw UDP SIP peer on 127.0.0.1 (a UAC or a UAS). */
export class UdpPeer {
  readonly socket: UdpSocket;
  readonly inbox = new Inbox();
  /** Called for each message after it is recorded (a UAS answering). */
  onMessage: ((message: SipMessage, peer: UdpPeer, from: { port: number }) => void) | undefined;

  private constructor(socket: UdpSocket) {
    this.socket = socket;
    socket.on('message', (data, rinfo) => {
      const parsed = parseMessage(data);
      if (!parsed.ok) {
        this.inbox.garbage.push({ bytes: data, at: performance.now(), via: 'udp', fromPort: rinfo.port });
        return;
      }
      this.inbox.push({ message: parsed.message, bytes: data, at: performance.now(), via: 'udp', fromPort: rinfo.port });
      this.onMessage?.(parsed.message, this, { port: rinfo.port });
    });
  }

  /** Binds 127.0.0.1:`port` (0: any free port). */
  static async open(port = 0): Promise<UdpPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port, address: '127.0.0.1', exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new UdpPeer(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(message: string | Uint8Array, port: number): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(toBytes(message), port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** A raw TCP SIP connection (client side, or one accepted by a {@link TcpServerPeer}); messages framed by Content-Length. */
export class TcpPeer {
  readonly socket: Socket;
  readonly inbox: Inbox;
  closed = false;
  readonly closedPromise: Promise<void>;
  onMessage: ((message: SipMessage, peer: TcpPeer) => void) | undefined;

  constructor(socket: Socket, inbox = new Inbox()) {
    this.socket = socket;
    this.inbox = inbox;
    const framer = new StreamFramer({ role: 'client', maxMessageBytes: 1 << 20 });
    socket.on('data', (chunk: Buffer) => {
      for (const e of framer.push(chunk)) {
        if (e.type !== 'message') continue;
        const bytes = Buffer.from(e.bytes);
        const parsed = parseMessage(bytes);
        if (!parsed.ok) {
          inbox.garbage.push({ bytes, at: performance.now(), via: 'tcp', fromPort: socket.remotePort ?? 0 });
          continue;
        }
        inbox.push({ message: parsed.message, bytes, at: performance.now(), via: 'tcp', fromPort: socket.remotePort ?? 0 });
        this.onMessage?.(parsed.message, this);
      }
    });
    socket.on('error', () => {});
    this.closedPromise = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  static async connect(port: number): Promise<TcpPeer> {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new TcpPeer(socket);
  }

  get port(): number {
    return this.socket.localPort!;
  }

  send(message: string | Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(toBytes(message), (e) => (e ? reject(e) : resolve())));
  }

  /** Resolves true when the connection closes within `ms`. */
  async closesWithin(ms: number): Promise<boolean> {
    return Promise.race([this.closedPromise.then(() => true), sleep(ms).then(() => false)]);
  }

  close(): void {
    this.socket.destroy();
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

/** A UAS answer to `req`: `status`, To tag added (except 100), Contact at the UAS for INVITE 1xx/2xx, Record-Route copied (§12.1.1). */
export function answer(req: SipRequest, status: number, contactPort: number, reason = 'Whatever', toTag = 'uas'): string {
  const lines = [`SIP/2.0 ${status} ${reason}`];
  for (const f of req.headers) if (['via', 'record-route', 'from', 'call-id', 'cseq'].includes(f.key)) lines.push(f.wire);
  const to = req.get('to')!;
  lines.push(`To: ${status === 100 || req.to.tag !== undefined ? to : `${to};tag=${toTag}`}`);
  if (status >= 101 && status < 300 && req.method === 'INVITE') lines.push(`Contact: <sip:bob@127.0.0.1:${contactPort}>`);
  lines.push('Content-Length: 0', '', '');
  return lines.join('\r\n');
}

/**
 * An in-dialog request from the UAC (§12.2.1.1): Request-URI the remote target (the 2xx Contact),
 * Route the Record-Route of the 2xx reversed, From/To/Call-ID of the dialog.
 */
export function inDialog(method: 'ACK' | 'BYE', ok: SipResponse, options: { transport?: 'UDP' | 'TCP' | 'WS'; port: number; seq?: number }): string {
  const contact = ok.contact;
  if (contact === '*' || contact[0] === undefined) throw new Error('the 2xx has no Contact');
  const routes = [...ok.recordRoute].reverse().map((r) => `Route: ${r.raw}`);
  return [
    `${method} ${contact[0].uri.raw} SIP/2.0`,
    `Via: SIP/2.0/${options.transport ?? 'UDP'} 127.0.0.1:${options.port};branch=${unique(`z9hG4bK${method.toLowerCase()}`)}`,
    'Max-Forwards: 70',
    ...routes,
    `From: ${ok.get('from')}`,
    `To: ${ok.get('to')}`,
    `Call-ID: ${ok.callId}`,
    `CSeq: ${method === 'ACK' ? ok.cseq.seq : (options.seq ?? ok.cseq.seq + 1)} ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

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
