/**
 * Proxy behaviour at the edges of dialogs and connections, through a running gateway with raw peers:
 * a callee's WebSocket closing while it rings (430 at once, RFC 5626 §5.3), a caller's closing (the
 * branch is cancelled), a branch that only sent 100 is still CANCELled (§9.1), a client calling itself
 * over one connection (hairpin), a TCP caller reached back through its connection's flow token, new
 * requests with a preloaded Route refused when no route allows them, and a request carrying hundreds
 * of our own Route values.
 */
import { describe, expect, it } from 'vitest';
import type { SipRequest, SipResponse } from '../../../src/sip/index.ts';
import { startGateway, type RunningGateway } from '../../helpers/gateway.ts';
import type { UdpPeer } from '../proxy/helpers.ts';
import { answer, invite, sleep, TcpPeer } from '../proxy/helpers.ts';
import { cleanupsAfterEach, udpPeer } from './teardown.ts';
import { WsPeer, wsAnswer } from './ws-peer.ts';

let gw: RunningGateway | undefined;
const cleanups = cleanupsAfterEach(async () => {
  await gw?.stop(200);
  gw = undefined;
});

const host = 'k3j4h5.invalid';
let n = 0;

async function start(upstreamPort: number): Promise<{ sipPort: number; wsPort: number }> {
  gw = await startGateway({
    log: { level: 'warn' },
    listeners: [
      { name: 'sip', protocol: 'sip', address: '127.0.0.1:0' },
      { name: 'sip-ws', protocol: 'sip-ws', address: '127.0.0.1:0', keepaliveMs: 0 },
    ],
    upstreams: [{ name: 'pbx', targets: [{ url: `sip:127.0.0.1:${upstreamPort};transport=udp` }] }],
    routes: [{ name: 'pbx', match: { sip: { domain: 'pbx.local' } }, upstream: 'pbx', registrar: 'edge' }],
  });
  const a = gw.gateway.addresses();
  return { sipPort: a['sip']!.port, wsPort: a['sip-ws']!.port };
}

const udp = (): Promise<UdpPeer> => udpPeer(cleanups);

async function ws(port: number, user?: string): Promise<WsPeer> {
  const p = await WsPeer.connect(port);
  cleanups.push(() => p.close());
  if (user !== undefined) {
    p.send(
      [
        'REGISTER sip:pbx.local SIP/2.0',
        `Via: SIP/2.0/WS ${host};branch=z9hG4bKdr${++n}x${Date.now()}`,
        'Max-Forwards: 70',
        `From: <sip:${user}@pbx.local>;tag=r${n}`,
        `To: <sip:${user}@pbx.local>`,
        `Call-ID: dreg-${n}-${Date.now()}`,
        `CSeq: ${n} REGISTER`,
        `Contact: <sip:${user}@${host};transport=ws>`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
    await p.inbox.response(200, 'REGISTER');
  }
  return p;
}

/** An INVITE from a WebSocket client. */
function wsInvite(to: string, callId = `dws-${++n}-${Date.now()}`): string {
  return [
    `INVITE ${to} SIP/2.0`,
    `Via: SIP/2.0/WS ${host};branch=z9hG4bKdi${++n}x${Date.now()}`,
    'Max-Forwards: 70',
    `From: <sip:caller@pbx.local>;tag=c${n}`,
    `To: <${to}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:caller@${host};transport=ws>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** The WebSocket client's answer to a request it received. */
function answerWs(request: SipRequest, status: number, reason: string): string {
  return wsAnswer(request, status, reason, { tag: 'callee', contact: `sip:callee@${host};transport=ws` });
}

describe('SIP dialogs and connections through the gateway', () => {
  it("a ringing WebSocket callee's connection closes: the caller gets 430 at once, not after Timer C", async () => {
    const [caller, pbx] = [await udp(), await udp()];
    const { sipPort, wsPort } = await start(pbx.port);
    const callee = await ws(wsPort, 'dora');
    callee.onMessage = (m) => {
      if (m.kind === 'request' && m.method === 'INVITE') callee.send(answerWs(m, 180, 'Ringing'));
    };
    await caller.send(invite({ port: caller.port, uri: 'sip:dora@pbx.local' }), sipPort);
    await caller.inbox.response(180);
    const t0 = Date.now();
    await callee.close();
    expect((await caller.inbox.response(430, 'INVITE')).reason).toBe('Flow Failed');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it("a WebSocket caller's connection closes while the callee rings: the branch is CANCELled", async () => {
    const [pbx] = [await udp()];
    const { sipPort, wsPort } = await start(pbx.port);
    const caller = await ws(wsPort);
    pbx.onMessage = (m) => {
      if (m.kind !== 'request') return;
      if (m.method === 'INVITE') void pbx.send(answer(m, 180, pbx.port, 'Ringing'), sipPort);
      if (m.method === 'CANCEL') void pbx.send(answer(m, 200, pbx.port, 'OK'), sipPort);
    };
    caller.send(wsInvite('sip:bob@pbx.local'));
    await caller.inbox.response(180);
    const inv = await pbx.inbox.request('INVITE');
    await caller.close();
    const cancel = await pbx.inbox.request('CANCEL');
    expect(cancel.topVia!.branch).toBe(inv.topVia!.branch);
  });

  it('a caller CANCELs a branch that only answered 100 Trying: the CANCEL is forwarded (§9.1: 100 is a provisional)', async () => {
    const [caller, pbx] = [await udp(), await udp()];
    const { sipPort } = await start(pbx.port);
    pbx.onMessage = (m) => {
      if (m.kind !== 'request') return;
      if (m.method === 'INVITE') void pbx.send(answer(m, 100, pbx.port, 'Trying'), sipPort);
      if (m.method === 'CANCEL') void pbx.send(answer(m, 200, pbx.port, 'OK'), sipPort);
    };
    const text = invite({ port: caller.port, uri: 'sip:bob@pbx.local' });
    await caller.send(text, sipPort);
    const inv = await pbx.inbox.request('INVITE');
    await sleep(50);
    const lines = text.split('\r\n');
    const cancel = [lines[0]!.replace('INVITE', 'CANCEL'), lines[1]!, 'Max-Forwards: 70', ...lines.filter((l) => /^(From|To|Call-ID):/.test(l)), 'CSeq: 1 CANCEL', 'Content-Length: 0', '', ''].join('\r\n');
    await caller.send(cancel, sipPort);
    expect((await caller.inbox.response(200, 'CANCEL')).status).toBe(200);
    const forwarded = await pbx.inbox.request('CANCEL');
    expect(forwarded.topVia!.branch).toBe(inv.topVia!.branch);
    await pbx.send(answer(inv, 487, pbx.port, 'Request Terminated'), sipPort);
    expect((await caller.inbox.response(487)).status).toBe(487);
  });

  it('a client calls itself over one WebSocket (hairpin): the INVITE comes back on that connection and in-dialog requests work', async () => {
    const [pbx] = [await udp()];
    const { wsPort } = await start(pbx.port);
    const me = await ws(wsPort, 'echo');
    let inviteIn: SipRequest | undefined;
    me.onMessage = (m) => {
      if (m.kind === 'request' && m.method === 'INVITE') {
        inviteIn = m;
        me.send(answerWs(m, 200, 'OK'));
      } else if (m.kind === 'request' && m.method === 'BYE') me.send(answerWs(m, 200, 'OK'));
    };
    const callId = `hairpin-${Date.now()}`;
    me.send(wsInvite('sip:echo@pbx.local', callId));
    const ok = (await me.inbox.next((m) => m.kind === 'response' && m.status === 200 && m.callId === callId)) as SipResponse;
    expect(inviteIn?.recordRoute).toHaveLength(2);
    // BYE from the caller side: Route = the 200's Record-Route reversed, to the callee's Contact.
    const routes = [...ok.recordRoute].reverse().map((r) => `Route: ${r.raw}`);
    me.send(
      [`BYE sip:callee@${host};transport=ws SIP/2.0`, `Via: SIP/2.0/WS ${host};branch=z9hG4bKhb${Date.now()}`, 'Max-Forwards: 70', ...routes, `From: ${ok.get('from')}`, `To: ${ok.get('to')}`, `Call-ID: ${callId}`, 'CSeq: 2 BYE', 'Content-Length: 0', '', ''].join('\r\n'),
    );
    const byeOk = await me.inbox.next((m) => m.kind === 'response' && m.callId === callId && m.cseq.method === 'BYE');
    expect(byeOk.kind === 'response' && byeOk.status).toBe(200);
  });

  it("a TCP caller's side of the Record-Route carries its connection's flow token: the callee's BYE comes back on that connection", async () => {
    const [pbx] = [await udp()];
    const { sipPort } = await start(pbx.port);
    const caller = await TcpPeer.connect(sipPort);
    cleanups.push(() => caller.close());
    pbx.onMessage = (m) => {
      if (m.kind === 'request' && m.method === 'INVITE') void pbx.send(answer(m, 200, pbx.port, 'OK'), sipPort);
    };
    // A Contact nobody listens on: only the connection reaches the caller.
    await caller.send(invite({ transport: 'TCP', port: 9, uri: 'sip:bob@pbx.local' }));
    const inv = await pbx.inbox.request('INVITE');
    expect(inv.recordRoute.map((r) => r.uri.raw)).toEqual([`sip:127.0.0.1:${sipPort};transport=udp;lr`, expect.stringMatching(new RegExp(`^sip:[A-Za-z0-9_-]{22}@127\\.0\\.0\\.1:${sipPort};transport=tcp;lr$`))]);
    await caller.inbox.response(200, 'INVITE');
    const bye = [
      `BYE sip:alice@127.0.0.1:9;transport=tcp SIP/2.0`,
      `Via: SIP/2.0/UDP 127.0.0.1:${pbx.port};branch=z9hG4bKtb${Date.now()}`,
      'Max-Forwards: 70',
      ...inv.recordRoute.map((r) => `Route: ${r.raw}`),
      `From: ${inv.get('to')};tag=uas`,
      `To: ${inv.get('from')}`,
      `Call-ID: ${inv.callId}`,
      'CSeq: 1 BYE',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    await pbx.send(bye, sipPort);
    expect((await caller.inbox.request('BYE')).callId).toBe(inv.callId);
  });

  it('a new request with a preloaded Route elsewhere is refused (404) unless a route allows it; the allowed one goes to its Route', async () => {
    const [caller, pbx, elsewhere] = [await udp(), await udp(), await udp()];
    const { sipPort } = await start(pbx.port);
    const preloaded = (uri: string) => invite({ port: caller.port, uri, extra: [`Route: <sip:127.0.0.1:${elsewhere.port};lr>`] });
    await caller.send(preloaded('sip:premium@internal.example'), sipPort);
    expect((await caller.inbox.response(404, 'INVITE')).status).toBe(404);
    await caller.send(preloaded('sip:bob@pbx.local'), sipPort);
    expect((await elsewhere.inbox.request('INVITE')).uri.raw).toBe('sip:bob@pbx.local');
    expect(pbx.inbox.count(() => true)).toBe(0);
  });

  it('a request over 1300 bytes to a UDP-only target: TCP first (§18.1.1), refused, then retried over UDP', async () => {
    const [caller, pbx] = [await udp(), await udp()];
    const { sipPort } = await start(pbx.port);
    pbx.onMessage = (m) => {
      if (m.kind === 'request' && m.method === 'OPTIONS') void pbx.send(answer(m, 200, pbx.port, 'OK'), sipPort);
    };
    const text = invite({ port: caller.port, uri: 'sip:bob@pbx.local', extra: [`X-Padding: ${'p'.repeat(2000)}`] }).replace(/^INVITE/, 'OPTIONS').replace('CSeq: 1 INVITE', 'CSeq: 1 OPTIONS');
    await caller.send(text, sipPort);
    const forwarded = await pbx.inbox.request('OPTIONS');
    expect(forwarded.topVia!.transport).toBe('UDP');
    expect((await caller.inbox.response(200, 'OPTIONS')).status).toBe(200);
  });

  it('a request with 500 Route values naming Tandem is routed after removing them all', async () => {
    const [caller, pbx] = [await udp(), await udp()];
    const { sipPort } = await start(pbx.port);
    const routes = Array.from({ length: 500 }, () => `Route: <sip:127.0.0.1:${sipPort};lr>`);
    const tcp = await TcpPeer.connect(sipPort);
    cleanups.push(() => tcp.close());
    pbx.onMessage = (m) => {
      if (m.kind === 'request' && m.method === 'OPTIONS') void pbx.send(answer(m, 200, pbx.port, 'OK'), sipPort);
    };
    const text = invite({ transport: 'TCP', port: caller.port, uri: 'sip:bob@pbx.local', extra: routes }).replace(/^INVITE/, 'OPTIONS').replace('CSeq: 1 INVITE', 'CSeq: 1 OPTIONS');
    await tcp.send(text);
    const forwarded = await pbx.inbox.request('OPTIONS');
    expect(forwarded.route).toHaveLength(0);
    expect((await tcp.inbox.response(200, 'OPTIONS')).status).toBe(200);
  });
});
