/**
 * The core of the raw SIP peers of the proxy and gateway tests: a UDP socket or a TCP connection on
 * 127.0.0.1 whose received messages are parsed (TCP framed by Content-Length) and handed to the
 * subclass, which records them in its own kind of inbox; and the waiting for received items.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { parseMessage, serialize, type SipMessage, StreamFramer } from '../../src/sip/index.ts';

/** What a peer sends: text (latin1), bytes as they are, or a message serialized. */
export type Outgoing = SipMessage | string | Uint8Array;

function toBytes(message: Outgoing): Uint8Array {
  if (typeof message === 'string') return Buffer.from(message, 'latin1');
  return message instanceof Uint8Array ? message : serialize(message);
}

/** Items received, waited for by a predicate; an item that `take` returned is not returned again. */
export class Arrivals<T> {
  readonly all: T[] = [];
  readonly #waiters: { match: (item: T) => boolean; resolve: (item: T) => void }[] = [];
  /** Items a `take()` already returned (so that two waits for the same kind get two items). */
  readonly #taken = new Set<T>();

  push(item: T): void {
    this.all.push(item);
    const i = this.#waiters.findIndex((w) => w.match(item));
    if (i >= 0) {
      this.#taken.add(item);
      this.#waiters.splice(i, 1)[0]!.resolve(item);
    }
  }

  /** The first item matching that no earlier `take()` returned, waiting up to `timeoutMs` for it. */
  take(match: (item: T) => boolean, timeoutMs: number): Promise<T> {
    const found = this.all.find((item) => !this.#taken.has(item) && match(item));
    if (found !== undefined) {
      this.#taken.add(found);
      return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (item: T) => {
          clearTimeout(timer);
          resolve(item);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`nothing matching arrived within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }
}

/** A UDP socket bound to 127.0.0.1:`port` (0: any free port), exclusively. */
export async function bindUdp(port = 0): Promise<UdpSocket> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ port, address: '127.0.0.1', exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

/** A TCP connection to 127.0.0.1:`port`, no Nagle delay. */
export async function connectTcp(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return socket;
}

/** A raw UDP SIP peer on 127.0.0.1: each datagram parsed and passed to {@link received} (or {@link garbage}). */
export abstract class UdpPeerBase {
  readonly socket: UdpSocket;

  protected constructor(socket: UdpSocket) {
    this.socket = socket;
    socket.on('message', (data, rinfo) => {
      const parsed = parseMessage(data);
      if (parsed.ok) this.received(parsed.message, data, rinfo.port);
      else this.garbage(data, rinfo.port);
    });
  }

  /** A datagram that parsed. */
  protected abstract received(message: SipMessage, bytes: Buffer, fromPort: number): void;

  /** A datagram that did not parse: dropped unless a subclass records it. */
  protected garbage(_bytes: Buffer, _fromPort: number): void {}

  get port(): number {
    return this.socket.address().port;
  }

  send(message: Outgoing, port: number): Promise<void> {
    return new Promise((resolve, reject) => this.socket.send(toBytes(message), port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

/** A raw TCP SIP connection: messages framed by Content-Length, parsed and passed to {@link received} (or {@link garbage}). */
export abstract class TcpPeerBase {
  readonly socket: Socket;
  closed = false;
  readonly closedPromise: Promise<void>;

  protected constructor(socket: Socket) {
    this.socket = socket;
    const framer = new StreamFramer({ role: 'client', maxMessageBytes: 1 << 20 });
    socket.on('data', (chunk: Buffer) => {
      for (const e of framer.push(chunk)) {
        if (e.type !== 'message') continue;
        const bytes = Buffer.from(e.bytes);
        const parsed = parseMessage(bytes);
        if (parsed.ok) this.received(parsed.message, bytes, socket.remotePort ?? 0);
        else this.garbage(bytes, socket.remotePort ?? 0);
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

  /** A framed message that parsed. */
  protected abstract received(message: SipMessage, bytes: Buffer, fromPort: number): void;

  /** A framed message that did not parse: dropped unless a subclass records it. */
  protected garbage(_bytes: Buffer, _fromPort: number): void {}

  get port(): number {
    return this.socket.localPort!;
  }

  send(message: Outgoing): Promise<void> {
    return new Promise((resolve, reject) => this.socket.write(toBytes(message), (e) => (e ? reject(e) : resolve())));
  }

  /** Resolves true when the connection closes within `ms`. */
  async closesWithin(ms: number): Promise<boolean> {
    return Promise.race([this.closedPromise.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms))]);
  }

  close(): void {
    this.socket.destroy();
  }
}
