/**
 * The `sip` listener: UDP and TCP on one host and port (RFC 3261 §18: "All SIP elements MUST
 * implement UDP and TCP"; §18.2.1: a server listens on both for the same port).
 *
 * Receiving: a UDP datagram is one message (§18.3); on TCP each connection has a {@link StreamFramer}
 * (§18.3 framing by Content-Length, RFC 5626 §3.5.1 CRLF keepalives answered). Each message goes
 * through {@link receiveMessage}: malformed → 400/505/513 or dropped, requests stamped with
 * `received`/`rport`, the rest handed to the {@link TransportUser}. A framing error on TCP is
 * answered when possible (400, or 513 for an oversize message) and closes the connection.
 *
 * Sending (§18.1.1, §18.2.2): to a flow (responses go back on the flow the request came on), or to an
 * address: UDP from the listener's own socket (so the peer can answer to the port it saw, RFC 3581);
 * TCP over an open connection to that address when there is one (accepted or opened), otherwise a new
 * connection, refused after `connectTimeoutMs`.
 *
 * Not done here, because it changes the Via: RFC 3261 §18.1.1's rule that a request within 200 bytes
 * of the path MTU (or over 1300 bytes when the MTU is unknown) MUST go over a congestion-controlled
 * transport. The proxy core picks `tcp` for such requests before it writes its Via.
 *
 * Port 0 binds TCP first, then UDP on the port TCP got (retrying with a fresh port when UDP's is taken).
 *
 * @module
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { createServer, isIP, type Server, Socket } from 'node:net';
import pino, { type Logger } from 'pino';
import { DEFAULT_MAX_MESSAGE_BYTES, type ParseOptions, type SipMessage } from '../index.ts';
import { SipTransportError } from './errors.ts';
import { type Destination, type Flow, type FlowAddress, isFlow, type TransportAddress } from './flow.ts';
import { FlowTable } from './flow-table.ts';
import { flowClosed, type InboundContext, receiveMessage, refuse } from './inbound.ts';
import { isInvalidHost } from './response-destination.ts';
import { TcpFlow } from './tcp-flow.ts';
import { TransportStats, type TransportStatsSnapshot } from './transport-stats.ts';
import type { TransportUser } from './transport-user.ts';
import { UdpFlow } from './udp-flow.ts';
import { normalizeAddress, unbracket } from './via-received.ts';

export interface SipUdpTcpListenerOptions {
  /** Address to bind (default `0.0.0.0`). */
  readonly host?: string;
  /** Port for both UDP and TCP (default 5060; 0 picks a free one). */
  readonly port?: number;
  /** Receives every well-formed message. */
  readonly user: TransportUser;
  /** Flow registry, shared with the `sip-ws` listener so flow tokens from either resolve (default: own). */
  readonly flows?: FlowTable;
  readonly logger?: Logger;
  /** Largest message on TCP (framer limit, 513 above it); default 65536. */
  readonly maxMessageBytes?: number;
  /** TCP connect timeout for requests to addresses (default 5000 ms). */
  readonly connectTimeoutMs?: number;
  /** A UDP flow with no traffic for this long is forgotten (default 1 hour; 0 keeps them). */
  readonly udpFlowIdleMs?: number;
  /** An accepted TCP connection idle (no bytes either way) for this long is closed (default 0: never). */
  readonly tcpIdleTimeoutMs?: number;
  /**
   * Receive buffer of the UDP socket (SO_RCVBUF), in bytes (default 4 MiB; the kernel caps it, on
   * Linux at `net.core.rmem_max`; 0 keeps the system default). Datagrams that arrive while the event
   * loop is busy (a burst, a GC pause) wait there; once it is full the kernel drops them and the
   * peers' retransmission timers (T1, doubling) have to recover them.
   */
  readonly udpReceiveBufferBytes?: number;
  readonly parseOptions?: ParseOptions;
}

/** How many recently used UDP flows are looked at before the flow map. */
const RECENT_UDP_FLOWS = 4;

/** Default {@link SipUdpTcpListenerOptions.udpReceiveBufferBytes}. */
const UDP_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

type State = 'new' | 'listening' | 'closed';

export class SipUdpTcpListener {
  readonly flows: FlowTable;
  readonly #options: SipUdpTcpListenerOptions;
  readonly #logger: Logger;
  /** The UDP flows used last, most recent first (a closed one is skipped, and soon pushed out). */
  readonly #recentUdpFlows: UdpFlow[] = [];
  /** The UDP socket's address family (read once: `address()` is a system call). */
  #udpFamily: 4 | 6 = 4;
  readonly #stats = new TransportStats();
  readonly #inbound: InboundContext;
  readonly #maxMessageBytes: number;
  #state: State = 'new';
  #tcp: Server | undefined;
  #udp: UdpSocket | undefined;
  #address: FlowAddress | undefined;
  /** UDP flows by `address:port`. */
  readonly #udpFlows = new Map<string, UdpFlow>();
  /** Open TCP flows by remote `address:port`, and outbound ones also by the `host:port` they were opened for. */
  readonly #tcpFlows = new Map<string, TcpFlow>();
  readonly #tcpAll = new Set<TcpFlow>();
  readonly #connecting = new Map<string, Promise<TcpFlow>>();
  readonly #pendingSockets = new Set<Socket>();
  #sweep: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: SipUdpTcpListenerOptions) {
    this.#options = options;
    this.flows = options.flows ?? new FlowTable();
    this.#logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'sip-transport', listener: 'sip' });
    this.#maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.#inbound = {
      user: options.user,
      logger: this.#logger,
      parseOptions: options.parseOptions,
      counters: (transport) => this.#stats.of(transport),
    };
  }

  /** The bound address (after {@link listen}). */
  get address(): FlowAddress {
    if (this.#address === undefined) throw new SipTransportError('TANDEM_ERR_SIP_LISTENER_CLOSED', 'the SIP listener is not listening');
    return this.#address;
  }

  /** Counters per transport (only `udp` and `tcp` move here). */
  get stats(): TransportStatsSnapshot {
    return this.#stats.snapshot();
  }

  /** Binds TCP, then UDP on the same port. Rejects with `TANDEM_ERR_SIP_LISTEN`. */
  async listen(): Promise<FlowAddress> {
    if (this.#state !== 'new') throw new SipTransportError('TANDEM_ERR_SIP_LISTEN', `listen() called on a ${this.#state} listener`);
    const host = this.#options.host ?? '0.0.0.0';
    const wanted = this.#options.port ?? 5060;
    const attempts = wanted === 0 ? 10 : 1;
    let lastError: unknown;
    for (let i = 0; i < attempts; i++) {
      const tcp = createServer({ noDelay: true }, (socket) => this.#accept(socket));
      try {
        await listenTcp(tcp, host, wanted);
      } catch (error) {
        throw new SipTransportError('TANDEM_ERR_SIP_LISTEN', `SIP TCP listen on ${host}:${wanted} failed`, { cause: error });
      }
      const port = (tcp.address() as { port: number }).port;
      const udp = createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4', lookup: ipLookup });
      try {
        await bindUdp(udp, host, port);
      } catch (error) {
        lastError = error;
        udp.close();
        await new Promise<void>((resolve) => tcp.close(() => resolve()));
        continue;
      }
      this.#setReceiveBuffer(udp);
      this.#tcp = tcp;
      this.#udp = udp;
      tcp.on('error', (error) => this.#logger.error({ err: error }, 'SIP TCP server error'));
      udp.on('error', (error) => this.#logger.error({ err: error }, 'SIP UDP socket error'));
      udp.on('message', (bytes, rinfo) => this.#datagram(bytes, rinfo.address, rinfo.port));
      const bound = udp.address();
      this.#udpFamily = bound.family === 'IPv6' ? 6 : 4;
      this.#address = { address: normalizeAddress(bound.address), port };
      this.#state = 'listening';
      this.#startSweep();
      return this.#address;
    }
    throw new SipTransportError('TANDEM_ERR_SIP_LISTEN', `SIP UDP bind on ${host}:${wanted} failed`, { cause: lastError });
  }

  /**
   * Sends `message` to a flow or an address and resolves with the flow used (its `reliable` decides
   * the transaction timers, RFC 3261 §17.1.1.2). Rejects with a `SipTransportError`.
   */
  async send(message: SipMessage | Uint8Array, destination: Destination): Promise<Flow> {
    const flow = isFlow(destination) ? destination : (this.flowNow(destination) ?? (await this.flowTo(destination)));
    await flow.send(message);
    return flow;
  }

  /**
   * The flow to reach `target` when it is known without waiting: UDP to an IP address (the common
   * case of every response and of requests to configured targets), or an open TCP connection to it.
   * Undefined when a name must be resolved or a connection opened ({@link flowTo} does that).
   */
  flowNow(target: TransportAddress): Flow | undefined {
    if (this.#state !== 'listening') return undefined;
    const host = unbracket(target.host);
    if (isIP(host) === 0) return undefined;
    if (target.transport === 'udp') return this.#udpFlow(normalizeAddress(host), target.port);
    if (target.transport === 'tcp') {
      const open = this.#tcpFlows.get(`${normalizeAddress(host)}:${target.port}`);
      return open !== undefined && !open.closed ? open : undefined;
    }
    return undefined;
  }

  /**
   * The flow to reach `target`: the UDP flow for that address, or an open TCP connection to it, or a
   * new one (RFC 3261 §18.1.1; §18.2.2 "open a connection to the IP address in received").
   */
  async flowTo(target: TransportAddress): Promise<Flow> {
    if (this.#state !== 'listening') throw new SipTransportError('TANDEM_ERR_SIP_LISTENER_CLOSED');
    if (isInvalidHost(target.host)) throw new SipTransportError('TANDEM_ERR_SIP_UNROUTABLE', `${target.host} is never resolved (RFC 7118 §5)`);
    if (target.transport === 'udp') {
      const address = await resolve(target.host, this.#udpFamily);
      return this.#udpFlow(address, target.port);
    }
    if (target.transport === 'tcp') return this.#tcpFlowTo(target.host, target.port);
    throw new SipTransportError('TANDEM_ERR_SIP_UNROUTABLE', `the sip listener does not open ${target.transport} connections`);
  }

  /** Stops accepting, closes every flow and both sockets. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#state = 'closed';
    if (this.#sweep !== undefined) clearInterval(this.#sweep);
    for (const socket of this.#pendingSockets) socket.destroy();
    for (const flow of [...this.#tcpAll]) flow.close();
    for (const flow of [...this.#udpFlows.values()]) flow.close();
    const tcp = this.#tcp;
    const udp = this.#udp;
    await Promise.all([
      // Resolves once every connection is gone: closed flows end their sockets and destroy them after a grace.
      tcp === undefined ? undefined : new Promise<void>((resolve) => tcp.close(() => resolve())),
      udp === undefined ? undefined : new Promise<void>((resolve) => udp.close(() => resolve())),
    ]);
  }

  // ---- UDP ----

  #datagram(bytes: Buffer, address: string, port: number): void {
    if (this.#state !== 'listening') return;
    // RFC 3261 §7.5 allows CRLFs before a message; a datagram of only CRLFs is a keepalive some UAs
    // send over UDP: nothing to answer (RFC 5626 uses STUN on UDP).
    if (onlyCrlf(bytes)) return;
    // The flow is made only when the datagram is delivered or answered: garbage from many source
    // addresses must not fill the flow table.
    receiveMessage(this.#inbound, bytes, {
      transport: 'udp',
      get: () => {
        const flow = this.#udpFlow(normalizeAddress(address), port);
        flow.lastActivity = performance.now();
        return flow;
      },
    });
  }

  #setReceiveBuffer(udp: UdpSocket): void {
    const size = this.#options.udpReceiveBufferBytes ?? UDP_RECEIVE_BUFFER_BYTES;
    if (size <= 0) return;
    try {
      if (udp.getRecvBufferSize() < size) udp.setRecvBufferSize(size);
    } catch (error) {
      this.#logger.warn({ err: error, size }, 'SIP UDP: cannot set the socket receive buffer size; keeping the system default');
    }
  }

  #udpFlow(address: string, port: number): UdpFlow {
    // Most datagrams come from a few peers: look at the last flows used before building a key.
    const recent = this.#recentUdpFlows;
    for (let i = 0; i < recent.length; i++) {
      const flow = recent[i]!;
      if (flow.remote.port === port && flow.remote.address === address && !flow.closed) return flow;
    }
    const key = `${address}:${port}`;
    const existing = this.#udpFlows.get(key);
    if (existing !== undefined && !existing.closed) {
      this.#remember(existing);
      return existing;
    }
    const { id, token } = this.flows.allocate('udp');
    const flow = new UdpFlow(
      {
        id,
        token,
        local: this.#address!,
        remote: { address, port },
        counters: this.#stats.udp,
        onClose: (f) => {
          if (this.#udpFlows.get(key) === f) this.#udpFlows.delete(key);
          this.flows.delete(f);
          flowClosed(this.#inbound, f);
        },
      },
      this.#udp!,
    );
    this.#udpFlows.set(key, flow);
    this.flows.add(flow);
    this.#remember(flow);
    return flow;
  }

  #remember(flow: UdpFlow): void {
    const recent = this.#recentUdpFlows;
    if (recent.length >= RECENT_UDP_FLOWS) recent.pop();
    recent.unshift(flow);
  }

  #startSweep(): void {
    const idle = this.#options.udpFlowIdleMs ?? 3_600_000;
    if (idle <= 0) return;
    this.#sweep = setInterval(() => {
      const now = performance.now();
      for (const flow of [...this.#udpFlows.values()]) if (now - flow.lastActivity > idle) flow.close();
    }, Math.min(idle, 60_000));
    this.#sweep.unref();
  }

  // ---- TCP ----

  #accept(socket: Socket): void {
    if (this.#state !== 'listening' || socket.remoteAddress === undefined) {
      socket.destroy();
      return;
    }
    const idle = this.#options.tcpIdleTimeoutMs ?? 0;
    if (idle > 0) socket.setTimeout(idle, () => socket.destroy());
    this.#adopt(socket, false, undefined);
  }

  #adopt(socket: Socket, outbound: boolean, targetKey: string | undefined): TcpFlow {
    const remote = { address: normalizeAddress(socket.remoteAddress ?? ''), port: socket.remotePort ?? 0 };
    const local = { address: normalizeAddress(socket.localAddress ?? ''), port: socket.localPort ?? 0 };
    const remoteKey = `${remote.address}:${remote.port}`;
    const { id, token } = this.flows.allocate('tcp');
    const flow: TcpFlow = new TcpFlow(
      {
        id,
        token,
        local,
        remote,
        counters: this.#stats.tcp,
        onClose: () => {
          this.#tcpAll.delete(flow);
          if (this.#tcpFlows.get(remoteKey) === flow) this.#tcpFlows.delete(remoteKey);
          if (targetKey !== undefined && this.#tcpFlows.get(targetKey) === flow) this.#tcpFlows.delete(targetKey);
          this.flows.delete(flow);
          flowClosed(this.#inbound, flow);
        },
      },
      socket,
      outbound,
      this.#maxMessageBytes,
    );
    this.#tcpAll.add(flow);
    this.#tcpFlows.set(remoteKey, flow);
    if (targetKey !== undefined) this.#tcpFlows.set(targetKey, flow);
    this.flows.add(flow);
    socket.on('error', (error) => this.#logger.debug({ err: error, flow: id }, 'SIP TCP connection error'));
    socket.on('data', (chunk: Buffer) => this.#stream(flow, chunk));
    return flow;
  }

  #stream(flow: TcpFlow, chunk: Buffer): void {
    if (flow.closed) return;
    for (const event of flow.framer.push(chunk)) {
      if (flow.closed) return;
      switch (event.type) {
        case 'message':
          receiveMessage(this.#inbound, event.bytes, flow);
          break;
        case 'ping':
          // RFC 5626 §3.5.1: "the server [...] MUST respond to a double-CRLF ping with a single CRLF pong".
          this.#stats.tcp.keepalives++;
          flow.writeRaw('\r\n');
          break;
        case 'pong':
          break;
        case 'error':
          // Framing is lost (RFC 3261 §18.3): answer if we can, then close the connection.
          void refuse(this.#inbound, event.error, flow).then(() => flow.close());
          return;
      }
    }
  }

  #tcpFlowTo(target: string, port: number): Promise<TcpFlow> {
    // An IPv6 reference comes bracketed from a URI or Via: keyed and dialled without its brackets.
    const host = unbracket(target);
    const ip = isIP(host) !== 0 ? normalizeAddress(host) : undefined;
    const key = `${ip ?? host.toLowerCase()}:${port}`;
    const open = this.#tcpFlows.get(key);
    if (open !== undefined && !open.closed) return Promise.resolve(open);
    const pending = this.#connecting.get(key);
    if (pending !== undefined) return pending;
    const attempt = this.#connect(ip ?? host, port, key).finally(() => this.#connecting.delete(key));
    this.#connecting.set(key, attempt);
    return attempt;
  }

  #connect(host: string, port: number, key: string): Promise<TcpFlow> {
    const timeoutMs = this.#options.connectTimeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const socket = new Socket();
      this.#pendingSockets.add(socket);
      const fail = (error: unknown, message: string): void => {
        clearTimeout(timer);
        this.#pendingSockets.delete(socket);
        socket.destroy();
        reject(new SipTransportError('TANDEM_ERR_SIP_CONNECT', message, { cause: error }));
      };
      const timer = setTimeout(() => fail(undefined, `TCP connect to ${host}:${port} timed out after ${timeoutMs} ms`), timeoutMs);
      socket.once('error', (error) => fail(error, `TCP connect to ${host}:${port} failed: ${error.message}`));
      socket.once('close', () => fail(undefined, `TCP connect to ${host}:${port} was aborted`));
      socket.setNoDelay(true);
      socket.connect({ host, port }, () => {
        clearTimeout(timer);
        this.#pendingSockets.delete(socket);
        socket.removeAllListeners('error');
        socket.removeAllListeners('close');
        if (this.#state !== 'listening') {
          socket.destroy();
          reject(new SipTransportError('TANDEM_ERR_SIP_LISTENER_CLOSED'));
          return;
        }
        resolve(this.#adopt(socket, true, key));
      });
    });
  }
}

function listenTcp(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function bindUdp(socket: UdpSocket, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

async function resolve(host: string, family: 4 | 6): Promise<string> {
  const bare = unbracket(host);
  if (isIP(bare) !== 0) return normalizeAddress(bare);
  try {
    const { address } = await lookup(bare, { family });
    return normalizeAddress(address);
  } catch (error) {
    throw new SipTransportError('TANDEM_ERR_SIP_SEND', `cannot resolve ${bare}`, { cause: error });
  }
}

/**
 * The UDP socket's `lookup`: flows hold IP addresses only, so a send never needs the resolver. dgram's
 * default (`dns.lookup`) answers an IP literal on the next tick, which delays every datagram by one
 * tick; this one answers at once. Names still go to `dns.lookup`.
 */
function ipLookup(address: string, family: unknown, callback: (error: Error | null, address: string, family: number) => void): void {
  const kind = isIP(address);
  if (kind !== 0) callback(null, address, kind);
  else dnsLookup(address, family as number, callback as never);
}

function onlyCrlf(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0x0d && b !== 0x0a) return false;
  return true;
}
