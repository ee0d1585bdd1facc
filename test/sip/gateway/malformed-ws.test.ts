/**
 * Malformed input over SIP's WebSocket transport (RFC 7118), through a running gateway: garbage text
 * and binary frames, truncated messages, a wrong Content-Length, requests missing Via, From, To,
 * Call-ID or CSeq, and an oversized message. Each is answered 400 with a reason, or dropped (nothing to
 * answer), or (oversized) closes that connection with 1009; the gateway goes on, the noisy connection
 * still carries requests, and a call in progress on another connection finishes normally.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { SipResponse } from '../../../src/sip/index.ts';
import { startGateway, type RunningGateway } from '../../helpers/gateway.ts';
import { answer, sleep, UdpPeer } from '../proxy/helpers.ts';
import { cleanupsAfterEach } from './teardown.ts';
import { WsPeer } from './ws-peer.ts';

let gw: RunningGateway | undefined;
const cleanups = cleanupsAfterEach(async () => {
  await gw?.stop(200);
  gw = undefined;
});

let n = 0;
type Field = 'via' | 'from' | 'to' | 'call-id' | 'cseq';

/** A request from a WebSocket client to `sip:bob@pbx.local`, with `omit`ted header fields. */
function request(method: string, options: { omit?: Field; callId?: string; body?: string; contentLength?: number; extra?: string[] } = {}): string {
  const i = ++n;
  const body = options.body ?? '';
  const lines: [Field | 'other', string][] = [
    ['via', `Via: SIP/2.0/WS ws${i}.invalid;branch=z9hG4bKmws${i}x${Date.now()}`],
    ['other', 'Max-Forwards: 70'],
    ['from', `From: <sip:alice@pbx.local>;tag=f${i}`],
    ['to', 'To: <sip:bob@pbx.local>'],
    ['call-id', `Call-ID: ${options.callId ?? `mws-${i}-${Date.now()}`}`],
    ['cseq', `CSeq: 1 ${method}`],
    ['other', `Contact: <sip:alice@ws${i}.invalid;transport=ws>`],
  ];
  return [
    `${method} sip:bob@pbx.local SIP/2.0`,
    ...lines.filter(([f]) => f !== options.omit).map(([, l]) => l),
    ...(options.extra ?? []),
    `Content-Length: ${options.contentLength ?? Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

describe('malformed SIP over WebSocket', () => {
  it('is answered 400 or dropped, never crashes, and leaves the noisy connection and a call on another unaffected', async () => {
    const uas = await UdpPeer.open();
    cleanups.push(() => uas.close());
    gw = await startGateway({
      log: { level: 'warn' },
      listeners: [
        { name: 'sip', protocol: 'sip', address: '127.0.0.1:0' },
        { name: 'sip-ws', protocol: 'sip-ws', address: '127.0.0.1:0', keepaliveMs: 0 },
      ],
      upstreams: [{ name: 'pbx', targets: [{ url: `sip:127.0.0.1:${uas.port};transport=udp` }] }],
      routes: [{ name: 'pbx', match: { sip: { domain: 'pbx.local' } }, upstream: 'pbx' }],
    });
    const addresses = gw.gateway.addresses();
    const sipPort = addresses['sip']!.port;
    const wsPort = addresses['sip-ws']!.port;
    uas.onMessage = (m) => {
      if (m.kind !== 'request' || m.method === 'ACK') return;
      void uas.send(answer(m, 200, uas.port, 'OK'), sipPort);
    };

    // A call in progress on one connection.
    const caller = await WsPeer.connect(wsPort);
    cleanups.push(() => caller.close());
    const callId = `call-${Date.now()}`;
    caller.send(request('INVITE', { callId }));
    const ok = await caller.inbox.next((m) => m.kind === 'response' && m.status === 200 && m.callId === callId);
    expect(ok.kind === 'response' && ok.recordRoute.length).toBe(2);

    // Noise on another.
    const noisy = await WsPeer.connect(wsPort);
    cleanups.push(() => noisy.close());
    const answered = async (text: string | Uint8Array, status: number): Promise<SipResponse> => {
      const before = noisy.inbox.count(() => true);
      noisy.send(text);
      const r = await noisy.inbox.next((m) => m.kind === 'response' && noisy.inbox.count(() => true) > before);
      if (r.kind !== 'response') throw new Error('not a response');
      expect(r.status).toBe(status);
      return r;
    };
    const dropped = async (data: string | Uint8Array): Promise<void> => {
      const before = noisy.raw.length;
      noisy.send(data);
      await sleep(60);
      expect(noisy.raw.length).toBe(before);
    };

    await dropped('hello, this is not SIP\r\n\r\n');
    await dropped(new Uint8Array(randomBytes(512)));
    await dropped('INVITE sip:bob@pbx.local SIP/2.0\r\nVia: SIP/2.0/WS x.invalid;bra');
    await dropped(request('OPTIONS', { omit: 'via' }));
    /** 400 with a reason when the request can be answered (§8.2.6.2), else dropped: never anything else. */
    const refusedOrDropped = async (text: string): Promise<'refused' | 'dropped'> => {
      const before = noisy.raw.length;
      noisy.send(text);
      await sleep(80);
      const got = noisy.raw.slice(before);
      if (got.length === 0) return 'dropped';
      expect(got).toHaveLength(1);
      // What the request had of From/To/Call-ID/CSeq is echoed; a missing one stays missing.
      expect(got[0]).toMatch(/^SIP\/2\.0 400 \S.*\r\n/);
      return 'refused';
    };
    const outcomes = [];
    for (const field of ['from', 'to', 'call-id', 'cseq'] as const) outcomes.push(await refusedOrDropped(request('OPTIONS', { omit: field })));
    console.info(`missing From, To, Call-ID, CSeq over WS: ${outcomes.join(', ')}`);
    // Content-Length says more than the WebSocket message holds (RFC 3261 §18.3 on message transports).
    const short = await answered(request('OPTIONS', { body: 'v=0\r\n', contentLength: 400, extra: ['Content-Type: application/sdp'] }), 400);
    expect(short.reason).toMatch(/content-length/i);
    const garbageHeader = await answered(request('OPTIONS', { extra: ['Max-Forwards: many'] }), 400);
    expect(garbageHeader.reason.length).toBeGreaterThan(0);
    expect(uas.inbox.count((m) => m.kind === 'request' && m.method === 'OPTIONS')).toBe(0);

    // The noisy connection still carries a good request end to end.
    const good = await answered(request('OPTIONS'), 200);
    expect(good.via).toHaveLength(1);

    // An oversized message closes that connection with 1009 (RFC 6455 §7.4.1); others stay.
    const big = await WsPeer.connect(wsPort);
    const closed = new Promise<number>((resolve) => big.socket.once('close', (code) => resolve(code)));
    big.send(request('MESSAGE', { body: 'x'.repeat(70 * 1024), extra: ['Content-Type: text/plain'] }));
    expect(await closed).toBe(1009);
    expect(noisy.socket.readyState).toBe(WebSocket.OPEN);

    // The call finishes normally: BYE along the route set, 200 back.
    const byeRoutes = [...(ok as SipResponse).recordRoute].reverse().map((r) => `Route: ${r.raw}`);
    const contact = (ok as SipResponse).contact;
    const target = contact === '*' ? '' : contact[0]!.uri.raw;
    caller.send(
      request('BYE', { callId, extra: byeRoutes })
        .replace('BYE sip:bob@pbx.local', `BYE ${target}`)
        .replace('CSeq: 1 BYE', 'CSeq: 2 BYE')
        .replace('To: <sip:bob@pbx.local>', `To: ${(ok as SipResponse).get('to')}`),
    );
    const byeOk = await caller.inbox.next((m) => m.kind === 'response' && m.callId === callId && m.cseq.method === 'BYE');
    expect(byeOk.kind === 'response' && byeOk.status).toBe(200);
    const ws = gw.gateway.status().sip!.transport.ws;
    const refusedCount = outcomes.filter((o) => o === 'refused').length;
    expect(ws.malformed).toBe(11);
    expect(ws.rejected).toBe(2 + refusedCount);
    expect(ws.dropped).toBe(4 + (4 - refusedCount) + 1);
  });
});
