/**
 * Real time, real sockets: transactions with scaled timers (T1 = 10 ms, T2 = 40 ms) sending real
 * serialized messages over UDP on 127.0.0.1 through the transport interface. Timing is asserted
 * loosely (the event loop and a busy machine add jitter); the exact values are tested on simulated time.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { RealClock } from '../../../src/fsm/index.ts';
import { createResponse, parseMessage, serialize, type SipMessage, type SipRequest, type SipResponse } from '../../../src/sip/index.ts';
import { TransactionManager, type TransactionTransport } from '../../../src/sip/transaction/index.ts';
import { RecordingClientTU, RecordingServerTU, request } from './helpers.ts';

const T1 = 10;
const T2 = 40;
const clock = new RealClock({ unref: false });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A transaction's transport: one UDP socket, bound to one destination. */
class UdpTransport implements TransactionTransport {
  readonly reliable = false;
  readonly #socket: Socket;
  readonly #port: number;
  readonly #host: string;
  constructor(socket: Socket, port: number, host = '127.0.0.1') {
    this.#socket = socket;
    this.#port = port;
    this.#host = host;
  }
  send(message: SipRequest | SipResponse): Promise<void> {
    return new Promise((resolve, reject) => this.#socket.send(serialize(message), this.#port, this.#host, (error) => (error ? reject(error) : resolve())));
  }
}

interface Endpoint {
  readonly socket: Socket;
  readonly port: number;
  /** Messages received, with their arrival time on `clock`. */
  readonly received: { at: number; message: SipMessage; from: RemoteInfo }[];
  onMessage?: (message: SipMessage, from: RemoteInfo) => void;
}

async function endpoint(): Promise<Endpoint> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const ep: Endpoint = { socket, port: socket.address().port, received: [] };
  socket.on('message', (bytes, from) => {
    const parsed = parseMessage(bytes);
    if (!parsed.ok) return;
    ep.received.push({ at: clock.now(), message: parsed.message, from });
    ep.onMessage?.(parsed.message, from);
  });
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return ep;
}

async function startManager(): Promise<TransactionManager> {
  const manager = await TransactionManager.start({ clock, T1, T2, T4: 50, timerD: 64 * T1 });
  cleanups.push(() => manager.stop());
  return manager;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `count` messages matching `filter` arrived (or 2 s passed). */
async function waitFor(ep: Endpoint, filter: (m: SipMessage) => boolean, count: number): Promise<number[]> {
  const deadline = clock.now() + 2000;
  for (;;) {
    const times = ep.received.filter((r) => filter(r.message)).map((r) => r.at);
    if (times.length >= count || clock.now() > deadline) return times;
    await sleep(2);
  }
}

/**
 * Arrival `i` came about `offsets[i]` ms after `start`: never before (a retransmission timer must not
 * fire early), and not much later. Offsets from the start, not intervals between arrivals, so that one
 * late arrival does not make the next interval look short. The upper slack is wide because a loaded VM
 * (other test files run in parallel) can stall the event loop for a while.
 */
function expectSchedule(times: readonly number[], start: number, offsets: readonly number[]): void {
  expect(times.length).toBeGreaterThanOrEqual(offsets.length);
  offsets.forEach((offset, i) => {
    expect(times[i]! - start).toBeGreaterThanOrEqual(offset - 1);
    expect(times[i]! - start).toBeLessThanOrEqual(offset + 200);
  });
}

describe('transactions over real UDP on 127.0.0.1 (T1 = 10 ms)', () => {
  it('an INVITE client transaction retransmits at ~T1, 2·T1, 4·T1 over UDP, and ACKs a 486 with the INVITE branch, which stops retransmissions', async () => {
    const manager = await startManager();
    const local = await endpoint();
    const peer = await endpoint();
    local.onMessage = (message) => {
      if (message.kind === 'response') manager.receiveResponse(message);
    };
    const tu = new RecordingClientTU(clock);
    const branch = manager.newBranch();
    const invite = request({ branch, sentBy: `127.0.0.1:${local.port}` });
    const start = clock.now();
    await manager.sendRequest(invite, new UdpTransport(local.socket, peer.port), tu);

    const isInvite = (m: SipMessage) => m.kind === 'request' && m.method === 'INVITE';
    expectSchedule(await waitFor(peer, isInvite, 4), start, [0, T1, 3 * T1, 7 * T1]); // T1, 2·T1, 4·T1 apart
    const invites = peer.received.filter((r) => isInvite(r.message));

    const received = invites[0]!.message as SipRequest;
    peer.socket.send(serialize(createResponse(received, 486, { toTag: 'busy' })), local.port, '127.0.0.1');
    await sleep(30);
    const acks = peer.received.filter((r) => r.message.kind === 'request' && r.message.method === 'ACK');
    expect(acks).toHaveLength(1);
    const ack = acks[0]!.message as SipRequest;
    expect(ack.topVia?.branch).toBe(branch);
    expect(ack.to.tag).toBe('busy');
    expect(tu.labels()).toEqual(['response:486']);
    const count = peer.received.filter((r) => r.message.kind === 'request' && r.message.method === 'INVITE').length;
    await sleep(200); // no INVITE retransmission once Completed
    expect(peer.received.filter((r) => r.message.kind === 'request' && r.message.method === 'INVITE')).toHaveLength(count);
  });

  it('an INVITE server transaction retransmits its 486 with Timer G (~T1 doubling to T2) over UDP until the ACK arrives', async () => {
    const manager = await startManager();
    const local = await endpoint();
    const peer = await endpoint();
    const tu = new RecordingServerTU(clock);
    tu.answer = 486;
    local.onMessage = (message, from) => {
      if (message.kind === 'request') manager.receiveRequest(message, new UdpTransport(local.socket, from.port, from.address), tu);
    };
    const invite = request({ branch: manager.newBranch(), sentBy: `127.0.0.1:${peer.port}` });
    const start = clock.now();
    peer.socket.send(serialize(invite), local.port, '127.0.0.1');

    const is486 = (m: SipMessage) => m.kind === 'response' && m.status === 486;
    expectSchedule(await waitFor(peer, is486, 5), start, [0, T1, 3 * T1, 7 * T1, 7 * T1 + T2]); // T1, 2·T1, 4·T1, then T2 (cap) apart
    expect(peer.received.some((r) => r.message.kind === 'response' && r.message.status === 100)).toBe(false); // the TU answered at once

    const ack = request({ method: 'ACK', branch: invite.topVia!.branch!, sentBy: `127.0.0.1:${peer.port}`, toTag: 'uas1' });
    peer.socket.send(serialize(ack), local.port, '127.0.0.1');
    await sleep(20);
    const count = peer.received.length;
    await sleep(150);
    expect(peer.received).toHaveLength(count); // Confirmed: no more retransmissions
    expect(tu.labels()).toEqual(['request:INVITE']);
  });

  it('a non-INVITE server transaction re-sends its final response when the request is retransmitted over UDP', async () => {
    const manager = await startManager();
    const local = await endpoint();
    const peer = await endpoint();
    const tu = new RecordingServerTU(clock);
    tu.answer = 200;
    local.onMessage = (message, from) => {
      if (message.kind === 'request') manager.receiveRequest(message, new UdpTransport(local.socket, from.port, from.address), tu);
    };
    const options = serialize(request({ method: 'OPTIONS', branch: manager.newBranch(), sentBy: `127.0.0.1:${peer.port}` }));
    peer.socket.send(options, local.port, '127.0.0.1');
    await sleep(T1);
    peer.socket.send(options, local.port, '127.0.0.1');
    await sleep(2 * T1);
    peer.socket.send(options, local.port, '127.0.0.1');
    await sleep(30);
    expect(peer.received.map((r) => (r.message as SipResponse).status)).toEqual([200, 200, 200]);
    expect(tu.labels()).toEqual(['request:OPTIONS']);
  });
});
