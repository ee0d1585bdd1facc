import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createResponse, type SipRequest } from '../../../src/sip/index.ts';
import { type Flow, requestTransport, responseTransport, SipUdpTcpListener, type TransportEvent } from '../../../src/sip/transport/index.ts';
import { Inbox, ok, options, parsed, TcpPeer, Teardown, UdpPeer } from './helpers.ts';

const teardown = new Teardown();
afterEach(() => teardown.run());

class ClosingInbox extends Inbox {
  readonly closedFlows: Flow[] = [];
  onFlowClose(flow: Flow): void {
    this.closedFlows.push(flow);
  }
}

async function listener(): Promise<{ sip: SipUdpTcpListener; inbox: ClosingInbox; port: number }> {
  const inbox = new ClosingInbox();
  const sip = teardown.add(new SipUdpTcpListener({ host: '127.0.0.1', port: 0, user: inbox }), (l) => l.close());
  const { port } = await sip.listen();
  return { sip, inbox, port };
}

describe('transports bound to a transaction', () => {
  it('responseTransport: UDP responses go to received/rport; reliable is false', async () => {
    const { sip, port, inbox } = await listener();
    const peer = teardown.add(await UdpPeer.open(), (p) => p.close());
    await peer.send(options('SIP/2.0/UDP phone.example.com;rport;branch=$BRANCH'), port);
    const event: TransportEvent = await inbox.next();
    const transport = responseTransport(sip, event.flow);
    expect(transport.reliable).toBe(false);
    await transport.send(createResponse(event.message as SipRequest, 180));
    await transport.send(createResponse(event.message as SipRequest, 200));
    expect(parsed(await peer.next()).kind).toBe('response');
    expect(parsed(await peer.next()).kind).toBe('response');
  });

  it('responseTransport over TCP: when the connection closed, a new one is opened to received at the sent-by port (RFC 3261 §18.2.2)', async () => {
    const { sip, port, inbox } = await listener();
    const accepted: TcpPeer[] = [];
    const server = teardown.add(createServer((s) => accepted.push(teardown.add(new TcpPeer(s, 'server'), (p) => p.close()))), (s) => new Promise((r) => s.close(r)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const uaPort = (server.address() as { port: number }).port;
    const client = teardown.add(await TcpPeer.connect(port), (p) => p.close());
    await client.write(options(`SIP/2.0/TCP ua.example.com:${uaPort};branch=$BRANCH`));
    const event = await inbox.next();
    const transport = responseTransport(sip, event.flow);
    expect(transport.reliable).toBe(true);
    client.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(event.flow.closed).toBe(true);
    expect(inbox.closedFlows).toContain(event.flow);
    await transport.send(createResponse(event.message as SipRequest, 200));
    await new Promise((r) => setTimeout(r, 20));
    expect(accepted).toHaveLength(1);
    const got = await accepted[0]!.message();
    expect(got.kind === 'response' && got.status).toBe(200);
  });

  it('requestTransport keeps the flow of the first send for the ACK and CANCEL that follow', async () => {
    const { sip, inbox } = await listener();
    const accepted: TcpPeer[] = [];
    const server = teardown.add(createServer((s) => accepted.push(teardown.add(new TcpPeer(s, 'server'), (p) => p.close()))), (s) => new Promise((r) => s.close(r)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const target = { transport: 'tcp' as const, host: '127.0.0.1', port: (server.address() as { port: number }).port };
    const transport = requestTransport(sip, target);
    expect(transport.reliable).toBe(true);
    expect(transport.flow).toBeUndefined();
    await transport.send(parsed(options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH')));
    const flow = transport.flow!;
    expect(flow.transport).toBe('tcp');
    await transport.send(parsed(options('SIP/2.0/TCP 127.0.0.1;branch=$BRANCH')));
    expect(transport.flow).toBe(flow);
    expect(accepted).toHaveLength(1);
    await accepted[0]!.write(ok(['SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKx']));
    expect((await inbox.next()).flow).toBe(flow);
  });
});
