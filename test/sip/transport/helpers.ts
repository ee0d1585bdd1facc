/** Shared helpers of the SIP transport tests: messages, a recording transport user, real peers. */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { parseMessage, type SipMessage, StreamFramer } from '../../../src/sip/index.ts';
import type { TransportEvent, TransportUser } from '../../../src/sip/transport/index.ts';

/** The RFC 4475 torture messages shared with the message-layer tests. */
export const RFC4475 = new URL('../../../../shared/testdata/rfc4475/', import.meta.url);

export function torture(name: string): Buffer {
  return readFileSync(new URL(name, RFC4475));
}

export function torturePath(): string {
  return fileURLToPath(RFC4475);
}

let counter = 0;

/** An OPTIONS request with a fresh branch and Call-ID; `via` is the top Via value. */
export function options(via: string, extra: readonly string[] = []): Buffer {
  const n = ++counter;
  return Buffer.from(
    [
      'OPTIONS sip:edge.example.com SIP/2.0',
      `Via: ${via.replace('$BRANCH', `z9hG4bKtest${n}`)}`,
      'Max-Forwards: 70',
      'From: <sip:alice@example.com>;tag=a' + n,
      'To: <sip:edge.example.com>',
      `Call-ID: call-${n}@example.com`,
      'CSeq: 1 OPTIONS',
      ...extra,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    'latin1',
  );
}

/** A 200 OK with the given Via lines (top first). */
export function ok(vias: readonly string[]): Buffer {
  return Buffer.from(
    [
      'SIP/2.0 200 OK',
      ...vias.map((v) => `Via: ${v}`),
      'From: <sip:alice@example.com>;tag=x',
      'To: <sip:edge.example.com>;tag=y',
      'Call-ID: resp@example.com',
      'CSeq: 1 OPTIONS',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
    'latin1',
  );
}

/** Parses bytes a peer received; throws when they are not one valid SIP message. */
export function parsed(bytes: Uint8Array): SipMessage {
  const result = parseMessage(bytes);
  if (!result.ok) throw new Error(`not a SIP message: ${result.error.reason}\n${Buffer.from(bytes).toString('latin1')}`);
  return result.message;
}

/** Waits for values pushed into a queue. */
class Queue<T> {
  readonly items: T[] = [];
  readonly #waiters: { match: (item: T) => boolean; resolve: (item: T) => void }[] = [];

  push(item: T): void {
    const i = this.#waiters.findIndex((w) => w.match(item));
    if (i >= 0) {
      const [w] = this.#waiters.splice(i, 1);
      w!.resolve(item);
      return;
    }
    this.items.push(item);
  }

  next(match: (item: T) => boolean = () => true, timeoutMs = 3000): Promise<T> {
    const i = this.items.findIndex(match);
    if (i >= 0) return Promise.resolve(this.items.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const k = this.#waiters.indexOf(waiter);
        if (k >= 0) this.#waiters.splice(k, 1);
        reject(new Error(`nothing arrived within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = {
        match,
        resolve: (item: T) => {
          clearTimeout(timer);
          resolve(item);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  /** Resolves true when nothing matching arrives within `ms`. */
  async none(ms: number, match: (item: T) => boolean = () => true): Promise<boolean> {
    try {
      await this.next(match, ms);
      return false;
    } catch {
      return true;
    }
  }
}

/** A transport user that records every event. */
export class Inbox implements TransportUser {
  readonly #queue = new Queue<TransportEvent>();

  onMessage(event: TransportEvent): void {
    this.#queue.push(event);
  }

  next(timeoutMs?: number): Promise<TransportEvent> {
    return this.#queue.next(() => true, timeoutMs);
  }

  none(ms = 150): Promise<boolean> {
    return this.#queue.none(ms);
  }
}

/** A UDP peer on 127.0.0.1. */
export class UdpPeer {
  readonly socket: UdpSocket;
  readonly #queue = new Queue<Buffer>();

  private constructor(socket: UdpSocket) {
    this.socket = socket;
    socket.on('message', (bytes) => this.#queue.push(bytes));
  }

  static async open(): Promise<UdpPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    return new UdpPeer(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(bytes: Uint8Array, port: number): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(bytes, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }

  next(timeoutMs?: number): Promise<Buffer> {
    return this.#queue.next(() => true, timeoutMs);
  }

  none(ms = 150): Promise<boolean> {
    return this.#queue.none(ms);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** Events a TCP peer saw: framed SIP messages, CRLF pongs, and the end of the connection. */
export type StreamItem = { type: 'message'; bytes: Uint8Array } | { type: 'pong' } | { type: 'ping' } | { type: 'closed' };

/** A TCP peer: a client connection, or a server-side connection accepted by a test server. */
export class TcpPeer {
  readonly socket: Socket;
  readonly #queue = new Queue<StreamItem>();
  readonly #framer: StreamFramer;
  #closed = false;

  constructor(socket: Socket, role: 'client' | 'server' = 'client') {
    this.socket = socket;
    this.#framer = new StreamFramer({ role });
    socket.on('data', (chunk: Buffer) => {
      for (const e of this.#framer.push(chunk)) {
        if (e.type === 'message') this.#queue.push({ type: 'message', bytes: e.bytes });
        else if (e.type === 'pong' || e.type === 'ping') this.#queue.push({ type: e.type });
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#closed = true;
      this.#queue.push({ type: 'closed' });
    });
  }

  static async connect(port: number): Promise<TcpPeer> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new TcpPeer(socket);
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(bytes: Uint8Array | string): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(bytes, (e) => (e ? reject(e) : resolve())));
  }

  /** The next SIP message (skipping keepalive items). */
  async message(timeoutMs?: number): Promise<SipMessage> {
    const item = await this.#queue.next((i) => i.type === 'message' || i.type === 'closed', timeoutMs);
    if (item.type !== 'message') throw new Error('connection closed before a message arrived');
    return parsed(item.bytes);
  }

  next(timeoutMs?: number): Promise<StreamItem> {
    return this.#queue.next(() => true, timeoutMs);
  }

  async waitClosed(timeoutMs?: number): Promise<void> {
    if (this.#closed) return;
    await this.#queue.next((i) => i.type === 'closed', timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** A WebSocket client peer. */
export class WsPeer {
  readonly ws: WebSocket;
  readonly #queue = new Queue<{ data: Buffer; binary: boolean }>();
  closeCode: number | undefined;
  readonly closed: Promise<number>;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer, binary: boolean) => this.#queue.push({ data, binary }));
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        resolve(code);
      }),
    );
  }

  static async open(port: number, protocols: string | string[] = 'sip', options: WebSocket.ClientOptions = {}): Promise<WsPeer> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, protocols, options);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new WsPeer(ws);
  }

  /** Attempts a handshake expected to fail; resolves with the HTTP status the server refused with. */
  static refusedStatus(port: number, protocols: string | string[] | undefined, options: WebSocket.ClientOptions = {}): Promise<number> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, protocols, options);
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        ws.terminate();
        reject(new Error('the handshake succeeded'));
      });
      ws.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
        ws.terminate();
      });
      ws.once('error', () => {});
    });
  }

  send(data: Uint8Array | string, binary: boolean): Promise<void> {
    return new Promise((resolve, reject) => this.ws.send(data, { binary }, (e) => (e ? reject(e) : resolve())));
  }

  next(timeoutMs?: number): Promise<{ data: Buffer; binary: boolean }> {
    return this.#queue.next(() => true, timeoutMs);
  }

  async message(timeoutMs?: number): Promise<SipMessage> {
    return parsed((await this.next(timeoutMs)).data);
  }

  none(ms = 150): Promise<boolean> {
    return this.#queue.none(ms);
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Tears down what a test opened, last first; errors are ignored. */
export class Teardown {
  readonly #steps: (() => unknown)[] = [];

  add<T>(value: T, close: (value: T) => unknown): T {
    this.#steps.push(() => close(value));
    return value;
  }

  async run(): Promise<void> {
    while (this.#steps.length > 0) {
      try {
        await this.#steps.pop()!();
      } catch {
        // already closed
      }
    }
  }
}
