import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createResponse, type SipRequest } from '../../../src/sip/index.ts';
import { FlowTable, responseDestination, SipUdpTcpListener, SipWsListener, type SipWsListenerOptions } from '../../../src/sip/transport/index.ts';
import { Inbox, options, Teardown, torture, UdpPeer, WsPeer } from './helpers.ts';

const teardown = new Teardown();
afterEach(() => teardown.run());

const WS_VIA = 'SIP/2.0/WS df7jal23ls0d.invalid;branch=$BRANCH;rport';

async function listener(extra: Partial<SipWsListenerOptions> = {}): Promise<{ ws: SipWsListener; inbox: Inbox; port: number }> {
  const inbox = new Inbox();
  const ws = teardown.add(new SipWsListener({ host: '127.0.0.1', port: 0, user: inbox, ...extra }), (l) => l.close());
  const { port } = await ws.listen();
  return { ws, inbox, port };
}

async function client(port: number, protocols: string | string[] = 'sip', opts = {}): Promise<WsPeer> {
  return teardown.add(await WsPeer.open(port, protocols, opts), (p) => p.close());
}

describe('WebSocket handshake (RFC 7118 §4.1)', () => {
  it('the server MUST echo the sip subprotocol', async () => {
    const { port } = await listener();
    const peer = await client(port);
    expect(peer.ws.protocol).toBe('sip');
    const both = await client(port, ['chat', 'sip']);
    expect(both.ws.protocol).toBe('sip');
  });

  it('an upgrade without a subprotocol is refused with 400', async () => {
    const { port, ws } = await listener();
    expect(await WsPeer.refusedStatus(port, undefined)).toBe(400);
    expect(ws.connections).toBe(0);
  });

  it('an upgrade offering another subprotocol only is refused with 400', async () => {
    const { port } = await listener();
    expect(await WsPeer.refusedStatus(port, 'xmpp')).toBe(400);
    expect(await WsPeer.refusedStatus(port, 'SIP')).toBe(400);
  });

  it('with allowedOrigins, another or no Origin is refused with 403; a listed one is accepted', async () => {
    const { port } = await listener({ allowedOrigins: ['https://app.example.com'] });
    expect(await WsPeer.refusedStatus(port, 'sip', { origin: 'https://evil.example.net' })).toBe(403);
    expect(await WsPeer.refusedStatus(port, 'sip')).toBe(403);
    const peer = await client(port, 'sip', { origin: 'https://APP.example.com' });
    expect(peer.ws.protocol).toBe('sip');
  });

  it('a plain HTTP request gets 426 Upgrade Required', async () => {
    const { port } = await listener();
    const status = await new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    expect(status).toBe(426);
  });
});

describe('SIP messages over WebSocket (RFC 7118 §5)', () => {
  it('text and binary frames each carry one message; received/rport are stamped and the .invalid host is kept', async () => {
    const { port, inbox } = await listener();
    const peer = await client(port);
    await peer.send(options(WS_VIA).toString('latin1'), false);
    await peer.send(options(WS_VIA), true);
    for (const _ of [0, 1]) {
      const event = await inbox.next();
      expect(event.type).toBe('request');
      const via = event.message.topVia!;
      expect(via.transport).toBe('WS');
      expect(via.host).toBe('df7jal23ls0d.invalid');
      expect(via.received).toBe('127.0.0.1');
      expect(via.rport).toBe(event.flow.remote.port);
      expect(event.flow).toMatchObject({ transport: 'ws', reliable: true });
    }
  });

  it('responses go back over the same WebSocket, never to the .invalid host', async () => {
    const { ws, port, inbox } = await listener();
    const peer = await client(port);
    await peer.send(options(WS_VIA), false);
    const event = await inbox.next();
    const response = createResponse(event.message as SipRequest, 200);
    expect(responseDestination(response, event.flow)).toBe(event.flow);
    await ws.send(response, responseDestination(response, event.flow)!);
    const frame = await peer.next();
    expect(frame.binary).toBe(false); // valid UTF-8 goes as a text frame
    expect(frame.data.toString('latin1')).toMatch(/^SIP\/2\.0 200 OK\r\n/);
    // Once the connection is gone, there is no way back (RFC 7118 §5).
    peer.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(responseDestination(response, event.flow)).toBeUndefined();
    await expect(ws.send(response, { transport: 'ws', host: 'df7jal23ls0d.invalid', port: 0 })).rejects.toMatchObject({ code: 'TANDEM_ERR_SIP_UNROUTABLE' });
  });

  it('a message that is not UTF-8 goes as a binary frame', async () => {
    const { port, inbox } = await listener();
    const peer = await client(port);
    await peer.send(options(WS_VIA), true);
    const { flow } = await inbox.next();
    await flow.send(Buffer.from([0x53, 0x49, 0x50, 0xff, 0xfe]));
    expect((await peer.next()).binary).toBe(true);
  });

  it('a CRLFCRLF keepalive is answered with CRLF (RFC 5626 §3.5.1); a lone CRLF is not answered', async () => {
    const { ws, port, inbox } = await listener();
    const peer = await client(port);
    await peer.send('\r\n\r\n', false);
    expect((await peer.next()).data.toString()).toBe('\r\n');
    await peer.send('\r\n', false);
    expect(await peer.none()).toBe(true);
    expect(await inbox.none(10)).toBe(true);
    expect(ws.stats.ws).toMatchObject({ keepalives: 1, malformed: 0 });
  });

  it('WebSocket pings are sent at pingIntervalMs; a client that stops answering is disconnected', async () => {
    const { ws, port } = await listener({ pingIntervalMs: 40 });
    const peer = await client(port);
    let pings = 0;
    peer.ws.on('ping', () => pings++);
    await new Promise((r) => setTimeout(r, 150));
    expect(pings).toBeGreaterThanOrEqual(2);
    expect(ws.connections).toBe(1);
    // A client that does not answer pings (autoPong off) is terminated after a missed one.
    const silent = await client(port, 'sip', { autoPong: false });
    expect(await Promise.race([silent.closed, new Promise((r) => setTimeout(() => r('open'), 1000))])).toBe(1006);
    await new Promise((r) => setTimeout(r, 20));
    expect(ws.connections).toBe(1);
  });

  it('malformed requests are answered over the WebSocket with the reason (badvers → 505, clerr → 400)', async () => {
    const { ws, port, inbox } = await listener();
    const peer = await client(port);
    await peer.send(torture('badvers.sip'), false);
    const a = await peer.message();
    expect(a.kind === 'response' && [a.status, a.reason]).toEqual([505, 'Version Not Supported']);
    await peer.send(torture('clerr.sip'), true);
    const b = await peer.message();
    expect(b.kind === 'response' && [b.status, b.reason]).toEqual([400, 'Content-Length larger than message']);
    expect(await inbox.none(10)).toBe(true);
    expect(ws.stats.ws).toMatchObject({ malformed: 2, rejected: 2, sent: 2 });
  });

  it('garbage is dropped without an answer; the connection keeps serving', async () => {
    const { ws, port, inbox } = await listener();
    const peer = await client(port);
    await peer.send(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0, 0, 0x0d]), true);
    await peer.send('hello', false);
    expect(await peer.none()).toBe(true);
    expect(ws.stats.ws).toMatchObject({ malformed: 2, dropped: 2 });
    await peer.send(options(WS_VIA), false);
    expect((await inbox.next()).type).toBe('request');
  });

  it('a message over maxMessageBytes closes the connection with 1009; the listener keeps serving', async () => {
    const { port, inbox } = await listener({ maxMessageBytes: 1000 });
    const peer = await client(port);
    await peer.send(options(WS_VIA, [`X-Padding: ${'p'.repeat(2000)}`]), false);
    expect(await peer.closed).toBe(1009);
    const again = await client(port);
    await again.send(options(WS_VIA), false);
    expect((await inbox.next()).type).toBe('request');
  });
});

describe('flow tokens and shutdown', () => {
  it('one FlowTable shared by both listeners finds WS and UDP flows by token; a closed flow is not found', async () => {
    const flows = new FlowTable();
    const { port, inbox } = await listener({ flows });
    const sip = teardown.add(new SipUdpTcpListener({ host: '127.0.0.1', port: 0, user: inbox, flows }), (l) => l.close());
    const sipPort = (await sip.listen()).port;
    const peer = await client(port);
    await peer.send(options(WS_VIA), false);
    const wsFlow = (await inbox.next()).flow;
    const udp = teardown.add(await UdpPeer.open(), (p) => p.close());
    await udp.send(options('SIP/2.0/UDP 127.0.0.1;branch=$BRANCH'), sipPort);
    const udpFlow = (await inbox.next()).flow;
    expect(flows.byToken(wsFlow.token)).toBe(wsFlow);
    expect(flows.byToken(udpFlow.token)).toBe(udpFlow);
    expect(wsFlow.token).not.toBe(udpFlow.token);
    // A request for the WS client, found by its token, goes down its connection.
    await flows.byToken(wsFlow.token)!.send(options('SIP/2.0/UDP 127.0.0.1;branch=$BRANCH'));
    expect((await peer.message()).kind).toBe('request');
    wsFlow.close();
    expect(await peer.closed).toBe(1001);
    expect(flows.byToken(wsFlow.token)).toBeUndefined();
  });

  it('close() closes every WebSocket with 1001, stops accepting, and is idempotent', async () => {
    const { ws, port, inbox } = await listener();
    const a = await client(port);
    const b = await client(port);
    await a.send(options(WS_VIA), false);
    const { flow } = await inbox.next();
    await Promise.all([ws.close(), ws.close()]);
    expect(await a.closed).toBe(1001);
    expect(await b.closed).toBe(1001);
    expect(flow.closed).toBe(true);
    expect(ws.connections).toBe(0);
    expect(ws.flows.size).toBe(0);
    await ws.close();
    await expect(WsPeer.open(port)).rejects.toThrow();
  });

  it('close() terminates a client that does not finish the closing handshake within closeTimeoutMs', async () => {
    const { ws, port } = await listener({ closeTimeoutMs: 100 });
    const peer = await client(port);
    // Stop reading: the client never sees the close frame, so it never answers it.
    peer.ws.pause();
    const started = performance.now();
    await ws.close();
    expect(performance.now() - started).toBeLessThan(1500);
  });
});
