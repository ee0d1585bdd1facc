/**
 * SIP over WebSocket through a running gateway (SPEC §D): a raw RFC 7118 client (the `ws` package,
 * subprotocol `sip`) on the `sip-ws` listener, raw UDP peers on the `sip` listener.
 * - edge registrar: REGISTER answered by Tandem; a call from UDP reaches the client over its
 *   WebSocket with a Record-Route per side (D.5), and in-dialog requests cross back both ways;
 * - registrar upstream: REGISTER forwarded with a Path carrying the flow token (D.4); requests routed
 *   by that Path reach the client; once its connection is gone, 430 Flow Failed;
 * - Timer C (RFC 3261 §16.8) on real time: CANCEL after a provisional, 408 without one;
 * - /status and /metrics show the SIP side.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { SipRequest, SipResponse } from '../../../src/sip/index.ts';
import { startGateway, type RunningGateway } from '../../helpers/gateway.ts';
import { answer, inDialog, invite, sleep, UdpPeer } from '../proxy/helpers.ts';
import { cleanupsAfterEach } from './teardown.ts';
import { WsPeer, wsAnswer } from './ws-peer.ts';

let seq = 0;
const host = 'df7jal23ls0d.invalid';

function register(domain: string, user: string, expires = 600): string {
  const n = ++seq;
  return [
    `REGISTER sip:${domain} SIP/2.0`,
    `Via: SIP/2.0/WS ${host};branch=z9hG4bKreg${n}x${Date.now()}`,
    'Max-Forwards: 70',
    `From: <sip:${user}@${domain}>;tag=reg${n}`,
    `To: <sip:${user}@${domain}>`,
    `Call-ID: reg-${n}-${Date.now()}`,
    `CSeq: ${n} REGISTER`,
    `Contact: <sip:${user}x@${host};transport=ws>;expires=${expires}`,
    'Supported: path, outbound',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

/** The client's answer to a request that came over its WebSocket (Contact: its `.invalid` address). */
function answerWs(request: SipRequest, status: number, reason = 'OK'): string {
  return wsAnswer(request, status, reason, { tag: 'wsuas', contact: `sip:alicex@${host};transport=ws` });
}

/** An in-dialog request from the WebSocket client (the UAS side): Route = the Record-Route in order (§12.1.1). */
function wsInDialog(method: 'BYE', inviteReq: SipRequest, ok: SipResponse): string {
  const routes = inviteReq.recordRoute.map((r) => `Route: ${r.raw}`);
  const contact = inviteReq.contact;
  if (contact === '*' || contact[0] === undefined) throw new Error('no Contact');
  return [
    `${method} ${contact[0].uri.raw} SIP/2.0`,
    `Via: SIP/2.0/WS ${host};branch=z9hG4bKwsbye${++seq}x${Date.now()}`,
    'Max-Forwards: 70',
    ...routes,
    `From: ${ok.get('to')}`,
    `To: ${ok.get('from')}`,
    `Call-ID: ${ok.callId}`,
    'CSeq: 7 BYE',
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

let gw: RunningGateway | undefined;
const cleanups = cleanupsAfterEach(async () => {
  await gw?.stop(200);
  gw = undefined;
});

async function start(upstreamPort: number, extra: Record<string, unknown> = {}, registrar: 'edge' | 'upstream' = 'edge') {
  gw = await startGateway({
    log: { level: 'warn' },
    admin: { address: '127.0.0.1:0' },
    listeners: [
      { name: 'sip', protocol: 'sip', address: '127.0.0.1:0' },
      { name: 'sip-ws', protocol: 'sip-ws', address: '127.0.0.1:0', keepaliveMs: 0 },
    ],
    upstreams: [{ name: 'pbx', targets: [{ url: `sip:127.0.0.1:${upstreamPort};transport=udp` }] }],
    routes: [{ name: 'pbx', listener: ['sip', 'sip-ws'], match: { sip: { domain: 'pbx.local' } }, upstream: 'pbx', registrar }],
    ...extra,
  });
  const addresses = gw.gateway.addresses();
  return { sipPort: addresses['sip']!.port, wsPort: addresses['sip-ws']!.port, adminUrl: gw.adminUrl! };
}

async function peers(...make: (() => Promise<UdpPeer>)[]): Promise<UdpPeer[]> {
  const out: UdpPeer[] = [];
  for (const m of make) {
    const p = await m();
    cleanups.push(() => p.close());
    out.push(p);
  }
  return out;
}

describe('SIP over WebSocket through the gateway', () => {
  it('edge registrar: a UDP call reaches the registered WebSocket client, with a Record-Route per side, and in-dialog requests cross back both ways', async () => {
    const [uac, pbx] = await peers(UdpPeer.open, UdpPeer.open);
    const { sipPort, wsPort, adminUrl } = await start(pbx!.port);
    const client = await WsPeer.connect(wsPort);
    cleanups.push(() => client.close());

    client.send(register('pbx.local', 'alice'));
    const registered = await client.inbox.response(200, 'REGISTER');
    expect(registered.getAll('contact')[0]).toContain(`sip:alicex@${host};transport=ws`);
    expect(registered.getAll('contact')[0]).toMatch(/expires=(600|599)/);
    expect(pbx!.inbox.count(() => true)).toBe(0);

    client.onMessage = (m) => {
      if (m.kind === 'request' && m.method === 'INVITE') {
        client.send(answerWs(m, 180, 'Ringing'));
        client.send(answerWs(m, 200));
      } else if (m.kind === 'request' && m.method === 'BYE') client.send(answerWs(m, 200));
    };
    await uac!.send(invite({ port: uac!.port, uri: 'sip:alice@pbx.local' }), sipPort);
    const inv = await client.inbox.request('INVITE');
    // Retargeted to the registered Contact (RFC 3261 §16.5), over the client's WebSocket, Via WS.
    expect(inv.uri.raw).toBe(`sip:alicex@${host};transport=ws`);
    expect(inv.topVia!.transport).toBe('WS');
    expect(inv.topVia!.port).toBe(wsPort);
    // SPEC D.5: two Record-Routes, the one facing the client on top, with its flow token.
    const rr = inv.recordRoute.map((r) => r.uri.raw);
    expect(rr).toHaveLength(2);
    expect(rr[0]).toMatch(new RegExp(`^sip:[A-Za-z0-9_-]{22}@127\\.0\\.0\\.1:${wsPort};transport=ws;lr$`));
    expect(rr[1]).toBe(`sip:127.0.0.1:${sipPort};transport=udp;lr`);

    expect((await uac!.inbox.response(180)).status).toBe(180);
    const ok = await uac!.inbox.response(200, 'INVITE');
    expect(ok.recordRoute).toHaveLength(2);
    // ACK (end to end) from the UDP side: Route = Record-Route reversed; reaches the client.
    await uac!.send(inDialog('ACK', ok, { port: uac!.port }), sipPort);
    const ack = await client.inbox.request('ACK');
    expect(ack.route).toHaveLength(0);
    // BYE from the WebSocket client: Route = Record-Route in order; reaches the UDP UAC.
    uac!.onMessage = (m) => {
      if (m.kind === 'request' && m.method === 'BYE') void uac!.send(answer(m, 200, uac!.port, 'OK'), sipPort);
    };
    client.send(wsInDialog('BYE', inv, ok));
    const bye = await uac!.inbox.request('BYE');
    expect(bye.uri.raw).toBe(`sip:alice@127.0.0.1:${uac!.port};transport=udp`);
    expect(bye.route).toHaveLength(0);
    expect((await client.inbox.response(200, 'BYE')).status).toBe(200);

    const status = (await (await fetch(`${adminUrl}/status`)).json()) as { sip: { wsConnections: number; registrations: { bindings: number } }; routes: { name: string; protocol?: string; requests: number }[] };
    expect(status.sip.wsConnections).toBe(1);
    expect(status.sip.registrations.bindings).toBe(1);
    expect(status.routes.find((r) => r.name === 'pbx')).toMatchObject({ protocol: 'sip' });
    const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/tandem_sip_requests_received_total\{method="INVITE"\} 1\b/);
    expect(metrics).toMatch(/tandem_sip_local_responses_total\{method="REGISTER",code="200"\} 1\b/);
    expect(metrics).toMatch(/tandem_sip_websocket_connections 1\b/);
    expect(metrics).toMatch(/tandem_sip_registrations 1\b/);

    // The client's connection closes: its binding goes; a new call goes to the upstream instead.
    await client.close();
    await sleep(50);
    pbx!.onMessage = (m) => {
      if (m.kind === 'request' && m.method === 'INVITE') void pbx!.send(answer(m, 486, pbx!.port, 'Busy Here'), sipPort);
    };
    await uac!.send(invite({ port: uac!.port, uri: 'sip:alice@pbx.local' }), sipPort);
    expect((await pbx!.inbox.request('INVITE')).uri.raw).toBe('sip:alice@pbx.local');
    expect((await uac!.inbox.response(486)).status).toBe(486);
  });

  it('registrar upstream: REGISTER goes on with a Path carrying the flow token (421 without Supported: path); requests routed by it reach the client; after it closed, 430 Flow Failed', async () => {
    const [registrar] = await peers(UdpPeer.open);
    const { sipPort, wsPort } = await start(registrar!.port, {}, 'upstream');
    const client = await WsPeer.connect(wsPort);
    // RFC 3327 §5.2: Tandem needs the Path to reach a WebSocket client; without support, 421.
    client.send(register('pbx.local', 'bob').replace('Supported: path, outbound\r\n', ''));
    const refused = await client.inbox.response(421, 'REGISTER');
    expect(refused.get('require')).toBe('path');
    // With reg-id (RFC 5626 outbound), the Path URI carries `ob`.
    client.send(register('pbx.local', 'bob').replace(';transport=ws>;expires=600', ';transport=ws>;expires=600;reg-id=1;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'));
    const withOb = await registrar!.inbox.request('REGISTER');
    expect(withOb.path[0]!.uri.raw).toMatch(/;lr;ob$/);
    registrar!.onMessage = (m) => {
      if (m.kind === 'request' && m.method === 'REGISTER') void registrar!.send(answer(m, 200, registrar!.port, 'OK'), sipPort);
    };
    client.send(register('pbx.local', 'bob'));
    const reg = await registrar!.inbox.request('REGISTER');
    const path = reg.path.map((p) => p.uri.raw);
    expect(path).toHaveLength(1);
    expect(path[0]).toMatch(new RegExp(`^sip:[A-Za-z0-9_-]{22}@127\\.0\\.0\\.1:${sipPort};transport=udp;lr$`));
    expect(reg.topVia!.transport).toBe('UDP');
    expect((await client.inbox.response(200, 'REGISTER')).status).toBe(200);

    // The registrar's side sends a call along the Path (RFC 3327 §5.3: the Path becomes the Route).
    const call = (n: number) =>
      invite({ port: registrar!.port, uri: `sip:bobx@${host};transport=ws`, extra: [`Route: <${path[0]}>`] }).replace(/Call-ID: [^\r]+/, `Call-ID: path-${n}-${Date.now()}`);
    await registrar!.send(call(1), sipPort);
    const inv = await client.inbox.request('INVITE');
    expect(inv.uri.raw).toBe(`sip:bobx@${host};transport=ws`);
    expect(inv.route).toHaveLength(0);
    client.send(answerWs(inv, 486, 'Busy Here'));
    expect((await registrar!.inbox.response(486)).status).toBe(486);

    await client.close();
    await sleep(50);
    await registrar!.send(call(2), sipPort);
    const failed = await registrar!.inbox.response(430);
    expect(failed.reason).toBe('Flow Failed');
  });

  it('drain (SPEC D.10): a removed SIP route refuses new dialogs at once and closes the WebSockets that used it with 1001 at its deadline', async () => {
    const [pbx] = await peers(UdpPeer.open);
    const { wsPort, adminUrl } = await start(pbx!.port);
    const put = await fetch(`${adminUrl}/routes/pbx`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'pbx', listener: ['sip', 'sip-ws'], match: { sip: { domain: 'pbx.local' } }, upstream: 'pbx', registrar: 'edge', drain: { deadlineMs: 400 } }),
    });
    expect(put.status).toBe(200);
    const used = await WsPeer.connect(wsPort);
    const idle = await WsPeer.connect(wsPort);
    cleanups.push(() => used.close(), () => idle.close());
    used.send(register('pbx.local', 'carol'));
    await used.inbox.response(200, 'REGISTER');
    const closed = new Promise<{ code: number; at: number }>((resolve) => used.socket.once('close', (code) => resolve({ code, at: Date.now() })));

    const removedAt = Date.now();
    expect((await fetch(`${adminUrl}/routes/pbx`, { method: 'DELETE' })).status).toBe(200);
    used.send(register('pbx.local', 'carol'));
    expect((await used.inbox.response(404, 'REGISTER')).status).toBe(404);
    const draining = (await (await fetch(`${adminUrl}/status`)).json()) as { routes: { name: string; state: string }[] };
    expect(draining.routes.find((r) => r.name === 'pbx')?.state).toBe('draining');
    const { code, at } = await closed;
    expect(code).toBe(1001);
    expect(at - removedAt).toBeGreaterThanOrEqual(380);
    expect(at - removedAt).toBeLessThan(3000);
    expect(idle.socket.readyState).toBe(WebSocket.OPEN);
    const after = (await (await fetch(`${adminUrl}/status`)).json()) as { routes: { name: string }[] };
    expect(after.routes.some((r) => r.name === 'pbx')).toBe(false);
  });

  it('sip-ws listener settings: allowedOrigins refuses other Origins with 403; the subprotocol sip is required (400) and echoed', async () => {
    const [pbx] = await peers(UdpPeer.open);
    gw = await startGateway({
      log: { level: 'warn' },
      listeners: [{ name: 'sip-ws', protocol: 'sip-ws', address: '127.0.0.1:0', keepaliveMs: 1000, allowedOrigins: ['https://app.example.com'] }],
      upstreams: [{ name: 'pbx', targets: [{ url: `sip:127.0.0.1:${pbx!.port};transport=udp` }] }],
      routes: [{ name: 'pbx', match: { sip: { domain: 'pbx.local' } }, upstream: 'pbx' }],
    });
    const port = gw.gateway.addresses()['sip-ws']!.port;
    const attempt = (protocols: string[], origin: string) =>
      new Promise<number | string>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}`, protocols, { origin });
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('open', () => {
          resolve(ws.protocol);
          ws.close();
        });
        ws.once('error', () => undefined);
      });
    expect(await attempt(['sip'], 'https://evil.example.com')).toBe(403);
    expect(await attempt(['chat'], 'https://app.example.com')).toBe(400);
    expect(await attempt(['chat', 'sip'], 'https://app.example.com')).toBe('sip');
  });

  it('a UDP UAS that never answers: Tandem retransmits the INVITE on the UDP leg only (T1, 2·T1, …) and the WebSocket client gets 408 at Timer B', async () => {
    const [uas] = await peers(UdpPeer.open);
    const T1 = 25;
    const { wsPort, adminUrl } = await start(uas!.port, { sip: { t1Ms: T1, t2Ms: 8 * T1, t4Ms: 10 * T1 } });
    const client = await WsPeer.connect(wsPort);
    cleanups.push(() => client.close());
    const arrivals: number[] = [];
    uas!.onMessage = (m) => {
      if (m.kind === 'request' && m.method === 'INVITE') arrivals.push(Date.now());
    };
    const t0 = Date.now();
    client.send(
      [
        'INVITE sip:bob@pbx.local SIP/2.0',
        `Via: SIP/2.0/WS ${host};branch=z9hG4bKnoanswer${Date.now()}`,
        'Max-Forwards: 70',
        'From: <sip:alice@pbx.local>;tag=na1',
        'To: <sip:bob@pbx.local>',
        `Call-ID: noanswer-${Date.now()}`,
        'CSeq: 1 INVITE',
        `Contact: <sip:alicex@${host};transport=ws>`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'),
    );
    expect((await client.inbox.response(100, 'INVITE')).status).toBe(100);
    const timeout = await client.inbox.response(408, 'INVITE', 5000);
    const elapsed = Date.now() - t0;
    expect(timeout.status).toBe(408);
    // Timer B = 64·T1 = 1600 ms (timers on a shared machine may run late, never early).
    expect(elapsed).toBeGreaterThanOrEqual(64 * T1 - 10);
    expect(elapsed).toBeLessThan(64 * T1 + 1500);
    // Timer A on the UDP leg: the first gaps are T1, 2·T1, 4·T1 (within scheduling slack).
    const gaps = arrivals.slice(1, 4).map((t, i) => t - arrivals[i]!);
    expect(arrivals.length).toBeGreaterThanOrEqual(5);
    expect(gaps[0]).toBeGreaterThanOrEqual(T1 - 5);
    expect(gaps[1]).toBeGreaterThanOrEqual(2 * T1 - 5);
    expect(gaps[2]).toBeGreaterThanOrEqual(4 * T1 - 5);
    expect(gaps[2]!).toBeGreaterThan(gaps[0]!);
    // Nothing was retransmitted towards the WebSocket client: one 100, one 408.
    expect(client.raw.filter((r) => r.startsWith('SIP/2.0 '))).toHaveLength(2);
    const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
    const sent = Number(/tandem_sip_retransmissions_total\{direction="sent",kind="request"\} (\d+)/.exec(metrics)?.[1]);
    expect(sent).toBe(arrivals.length - 1);
  });

  it('Timer C (real time): CANCEL after a provisional, the 487 relayed; 408 when there was none', async () => {
    const [uac, uas] = await peers(UdpPeer.open, UdpPeer.open);
    const { sipPort } = await start(uas!.port, { sip: { timerCMs: 400 } });
    let ring = true;
    uas!.onMessage = (m) => {
      if (m.kind !== 'request') return;
      if (m.method === 'INVITE' && ring) void uas!.send(answer(m, 180, uas!.port, 'Ringing'), sipPort);
      if (m.method === 'CANCEL') {
        void uas!.send(answer(m, 200, uas!.port, 'OK'), sipPort);
        const inv = uas!.inbox.count((x) => x.kind === 'request' && x.method === 'INVITE');
        expect(inv).toBeGreaterThan(0);
      }
    };
    const t0 = Date.now();
    await uac!.send(invite({ port: uac!.port, uri: 'sip:bob@pbx.local' }), sipPort);
    const forwarded = await uas!.inbox.request('INVITE');
    await uac!.inbox.response(180);
    const cancel = await uas!.inbox.request('CANCEL', 3000);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(380);
    expect(elapsed).toBeLessThan(2000);
    expect(cancel.topVia!.branch).toBe(forwarded.topVia!.branch);
    const text = answer(forwarded, 487, uas!.port, 'Request Terminated');
    await uas!.send(text, sipPort);
    expect((await uac!.inbox.response(487)).status).toBe(487);

    ring = false;
    const t1 = Date.now();
    await uac!.send(invite({ port: uac!.port, uri: 'sip:bob@pbx.local' }), sipPort);
    const timeout = await uac!.inbox.response(408, 'INVITE', 3000);
    expect(timeout.status).toBe(408);
    expect(Date.now() - t1).toBeGreaterThanOrEqual(380);
    const metrics = await (await fetch(`${gw!.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/tandem_sip_timer_c_total 2\b/);
  });
});
