import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createResponse, type SipRequest } from '../../../src/sip/index.ts';
import { FlowTable, responseDestination, SipTransportError, SipUdpTcpListener } from '../../../src/sip/transport/index.ts';
import { Inbox, ok, options, parsed, TcpPeer, Teardown, torture, torturePath, UdpPeer } from './helpers.ts';

const teardown = new Teardown();
afterEach(() => teardown.run());

async function listener(extra: Partial<ConstructorParameters<typeof SipUdpTcpListener>[0]> = {}): Promise<{ sip: SipUdpTcpListener; inbox: Inbox; port: number }> {
  const inbox = new Inbox();
  const sip = teardown.add(new SipUdpTcpListener({ host: '127.0.0.1', port: 0, user: inbox, ...extra }), (l) => l.close());
  const { port } = await sip.listen();
  return { sip, inbox, port };
}

async function udpPeer(): Promise<UdpPeer> {
  return teardown.add(await UdpPeer.open(), (p) => p.close());
}

async function tcpPeer(port: number): Promise<TcpPeer> {
  return teardown.add(await TcpPeer.connect(port), (p) => p.close());
}

describe('the sip listener binds UDP and TCP on one port', () => {
  it('port 0 gets one free port, used by both UDP and TCP', async () => {
    const { port, inbox } = await listener();
    expect(port).toBeGreaterThan(0);
    const udp = await udpPeer();
    await udp.send(options('SIP/2.0/UDP 127.0.0.1:1;branch=$BRANCH'), port);
    expect((await inbox.next()).flow.transport).toBe('udp');
    const tcp = await tcpPeer(port);
    await tcp.write(options('SIP/2.0/TCP 127.0.0.1:1;branch=$BRANCH'));
    expect((await inbox.next()).flow.transport).toBe('tcp');
  });

  it('a port in use is refused with TANDEM_ERR_SIP_LISTEN', async () => {
    const { port } = await listener();
    const second = new SipUdpTcpListener({ host: '127.0.0.1', port, user: new Inbox() });
    await expect(second.listen()).rejects.toMatchObject({ code: 'TANDEM_ERR_SIP_LISTEN' });
    await second.close();
  });
});

describe('receiving requests over UDP (RFC 3261 §18.2.1, RFC 3581)', () => {
  it('MUST add received when the sent-by host differs from the source address, and fill a bare rport with the source port', async () => {
    const { port, inbox } = await listener();
    const peer = await udpPeer();
    await peer.send(options('SIP/2.0/UDP client.example.com:5062;branch=$BRANCH;rport'), port);
    const event = await inbox.next();
    expect(event.type).toBe('request');
    const via = event.message.topVia!;
    expect(via.received).toBe('127.0.0.1');
    expect(via.rport).toBe(peer.port);
    expect(via.host).toBe('client.example.com');
    expect(via.port).toBe(5062);
    expect(via.branch).toMatch(/^z9hG4bKtest/);
    expect(event.flow).toMatchObject({ transport: 'udp', reliable: false, remote: { address: '127.0.0.1', port: peer.port }, local: { port } });
  });

  it('adds nothing when the sent-by is the source address and rport is absent', async () => {
    const { port, inbox } = await listener();
    const peer = await udpPeer();
    await peer.send(options(`SIP/2.0/UDP 127.0.0.1:${5555};branch=$BRANCH`), port);
    const event = await inbox.next();
    expect(event.message.topVia!.received).toBeUndefined();
    expect(event.message.source).toBeDefined(); // untouched: serializes byte-exact
  });

  it('MUST add received when rport is present even if the sent-by host equals the source address (RFC 3581 §4)', async () => {
    const { port, inbox } = await listener();
    const peer = await udpPeer();
    await peer.send(options('SIP/2.0/UDP 127.0.0.1;rport;branch=$BRANCH'), port);
    const via = (await inbox.next()).message.topVia!;
    expect(via.received).toBe('127.0.0.1');
    expect(via.rport).toBe(peer.port);
  });

  it('a response to a request with rport goes to the received address and rport, from the listener port', async () => {
    const { sip, port, inbox } = await listener();
    const peer = await udpPeer();
    await peer.send(options('SIP/2.0/UDP client.example.com:5062;branch=$BRANCH;rport'), port);
    const event = await inbox.next();
    const response = createResponse(event.message as SipRequest, 200);
    const destination = responseDestination(response, event.flow);
    expect(destination).toBe(event.flow);
    const used = await sip.send(response, destination!);
    expect(used).toBe(event.flow);
    const got = parsed(await peer.next());
    expect(got.kind === 'response' && got.status).toBe(200);
    expect(got.topVia!.rport).toBe(peer.port);
    expect(sip.stats.udp.sent).toBe(1);
  });

  it('the same remote address and port is one flow; another port is another flow', async () => {
    const { port, inbox } = await listener();
    const a = await udpPeer();
    const b = await udpPeer();
    await a.send(options('SIP/2.0/UDP 127.0.0.1;branch=$BRANCH'), port);
    const first = await inbox.next();
    await a.send(options('SIP/2.0/UDP 127.0.0.1;branch=$BRANCH'), port);
    const second = await inbox.next();
    await b.send(options('SIP/2.0/UDP 127.0.0.1;branch=$BRANCH'), port);
    const third = await inbox.next();
    expect(second.flow).toBe(first.flow);
    expect(third.flow).not.toBe(first.flow);
  });

  it('responses are handed up as they are (RFC 3261 §18.1.2)', async () => {
    const { port, inbox } = await listener();
    const peer = await udpPeer();
    await peer.send(ok(['SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKmine']), port);
    const event = await inbox.next();
    expect(event.type).toBe('response');
    expect(event.message.topVia!.received).toBeUndefined();
  });
});

describe('malformed input over UDP', () => {
  it('the RFC 4475 archive is read from ../shared/testdata/rfc4475 beside the repository', () => {
    const repo = fileURLToPath(new URL('../../../', import.meta.url));
    expect(torturePath()).toBe(join(dirname(repo.replace(/\/$/, '')), 'shared/testdata/rfc4475/'));
    expect(existsSync(join(torturePath(), 'badvers.sip'))).toBe(true);
  });

  it('a request with another SIP version is answered 505 with the reason (badvers.sip, RFC 4475 §3.1.2.16)', async () => {
    const { sip, port, inbox } = await listener();
    const peer = await udpPeer();
    await peer.send(torture('badvers.sip'), port);
    const answer = parsed(await peer.next());
    expect(answer.kind === 'response' && [answer.status, answer.reason]).toEqual([505, 'Version Not Supported']);
    expect(answer.callId).toBe('badvers.31417@c.example.com');
    expect(await inbox.none()).toBe(true);
    expect(sip.stats.udp).toMatchObject({ malformed: 1, rejected: 1, dropped: 0, received: 0, sent: 1 });
  });

  it('a Content-Length larger than the datagram is answered 400 with the reason (clerr.sip, RFC 4475 §3.1.2.2)', async () => {
    const { port } = await listener();
    const peer = await udpPeer();
    await peer.send(torture('clerr.sip'), port);
    const answer = parsed(await peer.next());
    expect(answer.kind === 'response' && [answer.status, answer.reason]).toEqual([400, 'Content-Length larger than message']);
  });

  it('a negative Content-Length is answered 400 (ncl.sip, RFC 4475 §3.1.2.3)', async () => {
    const { port } = await listener();
    const peer = await udpPeer();
    await peer.send(torture('ncl.sip'), port);
    const answer = parsed(await peer.next());
    expect(answer.kind === 'response' && [answer.status, answer.reason]).toEqual([400, 'Invalid Content-Length']);
  });

  it('garbage and an unanswerable request are dropped and counted; the listener keeps serving', async () => {
    const { sip, port, inbox } = await listener();
    const peer = await udpPeer();
    await peer.send(Buffer.from([0x00, 0xff, 0x13, 0x37, 0x0d, 0x0a, 0x00]), port);
    await peer.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), port);
    await peer.send(torture('badinv01.sip'), port);
    await peer.send(ok(['garbage']), port);
    expect(await peer.none()).toBe(true);
    expect(await inbox.none(10)).toBe(true);
    expect(sip.stats.udp).toMatchObject({ malformed: 4, dropped: 4, rejected: 0, received: 0 });
    await peer.send(options('SIP/2.0/UDP 127.0.0.1;branch=$BRANCH'), port);
    expect((await inbox.next()).type).toBe('request');
  });

  it('a datagram of CRLFs alone is ignored', async () => {
    const { sip, port, inbox } = await listener();
    const peer = await udpPeer();
    await peer.send(Buffer.from('\r\n\r\n'), port);
    expect(await peer.none()).toBe(true);
    expect(await inbox.none(10)).toBe(true);
    expect(sip.stats.udp.malformed).toBe(0);
  });
});

describe('receiving over TCP (RFC 3261 §18.3 framing)', () => {
  it('a message written one byte at a time is delivered once, when complete', async () => {
    const { port, inbox } = await listener();
    const peer = await tcpPeer(port);
    const bytes = options('SIP/2.0/TCP client.example.com;branch=$BRANCH');
    for (let i = 0; i < bytes.length; i++) await peer.write(bytes.subarray(i, i + 1));
    const event = await inbox.next();
    expect(event.type).toBe('request');
    expect(event.message.callId).toMatch(/^call-/);
    expect(event.message.topVia!.received).toBe('127.0.0.1');
    expect(event.flow).toMatchObject({ transport: 'tcp', reliable: true });
    expect(await inbox.none()).toBe(true);
  });

  it('two messages in one write are both delivered, in order, on the same flow', async () => {
    const { port, inbox } = await listener();
    const peer = await tcpPeer(port);
    const a = options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH');
    const b = options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH');
    await peer.write(Buffer.concat([a, b]));
    const first = await inbox.next();
    const second = await inbox.next();
    expect(first.message.topVia!.branch).not.toBe(second.message.topVia!.branch);
    expect(first.message.cseq.seq).toBe(1);
    expect(Number(first.message.callId.match(/\d+/)![0]) + 1).toBe(Number(second.message.callId.match(/\d+/)![0]));
    expect(second.flow).toBe(first.flow);
  });

  it('a message split across writes with a keepalive between messages is framed correctly', async () => {
    const { port, inbox } = await listener();
    const peer = await tcpPeer(port);
    const a = options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH');
    const b = options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH');
    const all = Buffer.concat([a, Buffer.from('\r\n\r\n'), b]);
    await peer.write(all.subarray(0, a.length - 7));
    await peer.write(all.subarray(a.length - 7, a.length + 6));
    await peer.write(all.subarray(a.length + 6));
    expect((await inbox.next()).type).toBe('request');
    expect((await inbox.next()).type).toBe('request');
    expect(await peer.next()).toEqual({ type: 'pong' });
  });

  it('the server MUST answer a CRLFCRLF ping with a CRLF pong (RFC 5626 §3.5.1)', async () => {
    const { sip, port } = await listener();
    const peer = await tcpPeer(port);
    await peer.write('\r\n\r\n');
    expect(await peer.next()).toEqual({ type: 'pong' });
    await peer.write('\r\n');
    await peer.write('\r\n');
    expect(await peer.next()).toEqual({ type: 'pong' });
    expect(sip.stats.tcp.keepalives).toBe(2);
  });

  it('a response to a TCP request goes back on the same connection (RFC 3261 §18.2.2)', async () => {
    const { sip, port, inbox } = await listener();
    const peer = await tcpPeer(port);
    await peer.write(options('SIP/2.0/TCP client.example.com:5070;branch=$BRANCH'));
    const event = await inbox.next();
    const response = createResponse(event.message as SipRequest, 200);
    expect(responseDestination(response, event.flow)).toBe(event.flow);
    await sip.send(response, event.flow);
    const got = await peer.message();
    expect(got.kind === 'response' && got.status).toBe(200);
    expect(got.topVia!.received).toBe('127.0.0.1');
  });

  it('a framing error is answered 400 with the reason, then the connection is closed (ncl.sip)', async () => {
    const { sip, port, inbox } = await listener();
    const peer = await tcpPeer(port);
    await peer.write(torture('ncl.sip'));
    const answer = await peer.message();
    expect(answer.kind === 'response' && [answer.status, answer.reason]).toEqual([400, 'Invalid Content-Length']);
    await peer.waitClosed();
    expect(await inbox.none(10)).toBe(true);
    expect(sip.stats.tcp).toMatchObject({ malformed: 1, rejected: 1 });
  });

  it('a request that frames but does not parse is answered and the connection stays open (badvers.sip → 505)', async () => {
    const { port, inbox } = await listener();
    const peer = await tcpPeer(port);
    await peer.write(torture('badvers.sip'));
    const answer = await peer.message();
    expect(answer.kind === 'response' && answer.status).toBe(505);
    await peer.write(options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH'));
    expect((await inbox.next()).type).toBe('request');
  });

  it('a message over maxMessageBytes is answered 513 and the connection closed', async () => {
    const { port } = await listener({ maxMessageBytes: 600 });
    const peer = await tcpPeer(port);
    await peer.write(options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH', [`X-Padding: ${'p'.repeat(700)}`]));
    const answer = await peer.message();
    expect(answer.kind === 'response' && [answer.status, answer.reason]).toEqual([513, 'Message Too Large']);
    await peer.waitClosed();
  });

  it('garbage closes the connection without an answer; the listener keeps serving', async () => {
    const { sip, port, inbox } = await listener();
    const peer = await tcpPeer(port);
    await peer.write(Buffer.concat([Buffer.from([0, 1, 2, 0xff]), Buffer.from('\r\n\r\n')]));
    await peer.waitClosed();
    expect(sip.stats.tcp).toMatchObject({ malformed: 1, dropped: 1 });
    const again = await tcpPeer(port);
    await again.write(options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH'));
    expect((await inbox.next()).type).toBe('request');
  });
});

describe('sending requests to addresses (RFC 3261 §18.1.1)', () => {
  it('UDP requests go out of the listener socket', async () => {
    const { sip, port } = await listener();
    const peer = await udpPeer();
    const flow = await sip.send(options('SIP/2.0/UDP 127.0.0.1;branch=$BRANCH'), { transport: 'udp', host: '127.0.0.1', port: peer.port });
    expect(flow).toMatchObject({ transport: 'udp', remote: { address: '127.0.0.1', port: peer.port } });
    await peer.next();
    // The peer's answer arrives on the same flow.
    const received = new Promise<void>((resolve) => peer.socket.once('message', (_b, rinfo) => (expect(rinfo.port).toBe(port), resolve())));
    await sip.send(options('SIP/2.0/UDP 127.0.0.1;branch=$BRANCH'), flow);
    await received;
  });

  it('TCP requests open one connection and reuse it; answers come back on that flow', async () => {
    const { sip, inbox } = await listener();
    const accepted: TcpPeer[] = [];
    const server: Server = teardown.add(createServer((s) => accepted.push(new TcpPeer(s, 'server'))), (s) => new Promise((r) => s.close(r)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const target = { transport: 'tcp' as const, host: '127.0.0.1', port: (server.address() as { port: number }).port };
    const [f1, f2] = await Promise.all([sip.send(options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH'), target), sip.send(options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH'), target)]);
    expect(f2).toBe(f1);
    expect(f1).toMatchObject({ transport: 'tcp', reliable: true, remote: { port: target.port } });
    const f3 = await sip.send(options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH'), target);
    expect(f3).toBe(f1);
    expect(accepted).toHaveLength(1);
    const upstream = accepted[0]!;
    teardown.add(upstream, (p) => p.close());
    for (let i = 0; i < 3; i++) expect((await upstream.message()).kind).toBe('request');
    await upstream.write(ok(['SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKup']));
    const event = await inbox.next();
    expect(event.type).toBe('response');
    expect(event.flow).toBe(f1);
    // A closed connection is replaced by a new one.
    upstream.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(f1.closed).toBe(true);
    const f4 = await sip.send(options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH'), target);
    expect(f4).not.toBe(f1);
    expect(accepted).toHaveLength(2);
    teardown.add(accepted[1]!, (p) => p.close());
  });

  it('a refused connection rejects with TANDEM_ERR_SIP_CONNECT', async () => {
    const { sip } = await listener();
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    await new Promise((r) => server.close(r));
    const error = await sip.send(options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH'), { transport: 'tcp', host: '127.0.0.1', port }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SipTransportError);
    expect(error).toMatchObject({ code: 'TANDEM_ERR_SIP_CONNECT', status: 503 });
  });

  it('.invalid hosts are never resolved (RFC 7118 §5)', async () => {
    const { sip } = await listener();
    await expect(sip.send(options('SIP/2.0/UDP 127.0.0.1;branch=$BRANCH'), { transport: 'udp', host: 'df7jal23ls0d.invalid', port: 5060 })).rejects.toMatchObject({
      code: 'TANDEM_ERR_SIP_UNROUTABLE',
    });
  });
});

describe('flows, tokens and close', () => {
  it('a flow token finds its flow; once the connection closes it finds nothing', async () => {
    const flows = new FlowTable();
    const { port, inbox } = await listener({ flows });
    const peer = await tcpPeer(port);
    await peer.write(options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH'));
    const { flow } = await inbox.next();
    expect(flow.token).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(flows.byToken(flow.token)).toBe(flow);
    expect(flows.byToken(flow.token.slice(0, -1) + (flow.token.endsWith('A') ? 'B' : 'A'))).toBeUndefined();
    peer.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(flow.closed).toBe(true);
    expect(flows.byToken(flow.token)).toBeUndefined();
    await expect(flow.send(options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH'))).rejects.toMatchObject({ code: 'TANDEM_ERR_SIP_FLOW_CLOSED', status: 430 });
  });

  it('close() closes every connection and both sockets, and is idempotent', async () => {
    const { sip, port, inbox } = await listener();
    const peer = await tcpPeer(port);
    await peer.write(options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH'));
    const { flow } = await inbox.next();
    await Promise.all([sip.close(), sip.close()]);
    await sip.close();
    await peer.waitClosed();
    expect(flow.closed).toBe(true);
    expect(sip.flows.size).toBe(0);
    await expect(sip.send(options('SIP/2.0/UDP 127.0.0.1;branch=$BRANCH'), { transport: 'udp', host: '127.0.0.1', port: 9 })).rejects.toMatchObject({
      code: 'TANDEM_ERR_SIP_LISTENER_CLOSED',
    });
    // The port is free again, for UDP and TCP.
    const again = new SipUdpTcpListener({ host: '127.0.0.1', port, user: new Inbox() });
    await again.listen();
    await again.close();
  });
});
