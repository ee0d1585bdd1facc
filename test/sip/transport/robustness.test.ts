import { isUtf8 } from 'node:buffer';
import { afterEach, describe, expect, it } from 'vitest';
import { FlowTable, SipUdpTcpListener, SipWsListener, type TransportEvent } from '../../../src/sip/transport/index.ts';
import { Inbox, options, TcpPeer, Teardown, torture, UdpPeer, WsPeer } from './helpers.ts';

const teardown = new Teardown();
afterEach(() => teardown.run());

/** Deterministic bytes (xorshift32), some of them SIP-looking, for garbage input. */
function garbage(seed: number, count: number): Buffer[] {
  let x = seed;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const out: Buffer[] = [];
  const sipish = options('SIP/2.0/UDP 127.0.0.1;branch=$BRANCH');
  for (let i = 0; i < count; i++) {
    const length = 1 + (next() % 400);
    const b = Buffer.alloc(length);
    for (let k = 0; k < length; k++) b[k] = next() & 0xff;
    // Every other one: a real message with some bytes flipped.
    if (i % 2 === 1) {
      const m = Buffer.from(sipish);
      for (let k = 0; k < 4; k++) m[next() % m.length] = next() & 0xff;
      out.push(m);
    } else out.push(b);
  }
  return out;
}

async function both(): Promise<{ sip: SipUdpTcpListener; ws: SipWsListener; inbox: Inbox; flows: FlowTable }> {
  const inbox = new Inbox();
  const flows = new FlowTable();
  const sip = teardown.add(new SipUdpTcpListener({ host: '127.0.0.1', port: 0, user: inbox, flows }), (l) => l.close());
  const ws = teardown.add(new SipWsListener({ host: '127.0.0.1', port: 0, user: inbox, flows }), (l) => l.close());
  await Promise.all([sip.listen(), ws.listen()]);
  return { sip, ws, inbox, flows };
}

describe('garbage never crashes a listener', () => {
  it('200 garbage datagrams, TCP segments and WebSocket messages; every listener keeps serving afterwards', async () => {
    const { sip, ws, inbox } = await both();
    const inputs = garbage(0x5eed, 200);
    const udp = teardown.add(await UdpPeer.open(), (p) => p.close());
    for (const g of inputs) await udp.send(g, sip.address.port);
    const wsPeer = teardown.add(await WsPeer.open(ws.address.port), (p) => p.close());
    // Text frames must be UTF-8 (RFC 6455 §8.1; ws closes with 1007 otherwise): garbage goes binary.
    for (const [i, g] of inputs.entries()) await wsPeer.send(g, i % 3 === 0 || !isUtf8(g));
    for (const g of inputs.slice(0, 20)) {
      // Each TCP connection gets one garbage chunk (framing is usually lost at once).
      const tcp = teardown.add(await TcpPeer.connect(sip.address.port), (p) => p.close());
      await tcp.write(g);
    }
    await new Promise((r) => setTimeout(r, 200));
    // Drain whatever parsed (a flipped byte in a value may still be valid).
    while (!(await inbox.none(10)));
    const udp2 = teardown.add(await UdpPeer.open(), (p) => p.close());
    await udp2.send(options('SIP/2.0/UDP 127.0.0.1;branch=$BRANCH'), sip.address.port);
    expect((await inbox.next()).flow.transport).toBe('udp');
    const tcp = teardown.add(await TcpPeer.connect(sip.address.port), (p) => p.close());
    await tcp.write(options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH'));
    expect((await inbox.next()).flow.transport).toBe('tcp');
    const ws2 = teardown.add(await WsPeer.open(ws.address.port), (p) => p.close());
    await ws2.send(options('SIP/2.0/WS x.invalid;branch=$BRANCH'), false);
    expect((await inbox.next()).flow.transport).toBe('ws');
    expect(sip.stats.udp.malformed).toBeGreaterThan(100);
    expect(ws.stats.ws.malformed).toBeGreaterThan(100);
    expect(wsPeer.closeCode).toBeUndefined();
  });

  it('a text frame that is not UTF-8 closes the WebSocket with 1007 (RFC 6455 §8.1); the listener keeps serving', async () => {
    const { ws, inbox } = await both();
    const peer = teardown.add(await WsPeer.open(ws.address.port), (p) => p.close());
    await peer.send(Buffer.from([0x49, 0x4e, 0xff, 0xfe]), false);
    expect(await peer.closed).toBe(1007);
    const again = teardown.add(await WsPeer.open(ws.address.port), (p) => p.close());
    await again.send(options('SIP/2.0/WS x.invalid;branch=$BRANCH'), false);
    expect((await inbox.next()).flow.transport).toBe('ws');
  });

  it('garbage from UDP peers makes no flows; an answered malformed request does', async () => {
    const { sip, flows } = await both();
    const peer = teardown.add(await UdpPeer.open(), (p) => p.close());
    for (let i = 0; i < 20; i++) await peer.send(Buffer.from(`garbage ${i}\r\n\r\n`), sip.address.port);
    await new Promise((r) => setTimeout(r, 50));
    expect(flows.size).toBe(0);
    await peer.send(torture('badvers.sip'), sip.address.port);
    await peer.next();
    expect(flows.size).toBe(1);
  });

  it('a transport user that throws loses that message only', async () => {
    let calls = 0;
    const events: TransportEvent[] = [];
    const user = {
      onMessage(e: TransportEvent): void {
        if (++calls === 1) throw new Error('boom');
        events.push(e);
      },
    };
    const sip = teardown.add(new SipUdpTcpListener({ host: '127.0.0.1', port: 0, user }), (l) => l.close());
    const { port } = await sip.listen();
    const tcp = teardown.add(await TcpPeer.connect(port), (p) => p.close());
    await tcp.write(Buffer.concat([options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH'), options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH')]));
    await new Promise((r) => setTimeout(r, 100));
    expect(calls).toBe(2);
    expect(events).toHaveLength(1);
    expect(tcp.closed).toBe(false);
  });
});
