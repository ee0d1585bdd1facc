/**
 * A proxied call over real sockets: a UDP UAC (node:dgram) → SipProxy on a SipUdpTcpListener → a UDP
 * UAS (node:dgram); T1 = 10 ms.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SipRequest } from '../../../src/sip/index.ts';
import { answer, closeUdpCall, inDialog, invite, openUdpCall, type ProxyHarness, sleep, startProxy, type UdpPeer } from './helpers.ts';

let uac: UdpPeer;
let uas: UdpPeer;
let harness: ProxyHarness;

beforeEach(async () => {
  ({ uac, uas, harness } = await openUdpCall());
});

afterEach(() => closeUdpCall({ uac, uas, harness }));

/** The UAS rings then answers every INVITE, and answers BYE 200. */
function ringThenAnswer(): void {
  uas.onMessage = (m) => {
    if (m.kind !== 'request') return;
    if (m.method === 'INVITE') {
      void uas.send(answer(m, 180, uas.port, 'Ringing'), harness.port);
      void sleep(20).then(() => uas.send(answer(m, 200, uas.port, 'OK'), harness.port));
    } else if (m.method === 'BYE') void uas.send(answer(m, 200, uas.port, 'OK'), harness.port);
  };
}

describe('SipProxy: a call through the proxy (RFC 3261 §16)', () => {
  it('forwards INVITE/180/200, ACK and BYE/200, with Via, Max-Forwards and Record-Route handled per §16.6 and §16.7', async () => {
    ringThenAnswer();
    await uac.send(invite({ port: uac.port }), harness.port);

    const forwarded = await uas.inbox.request('INVITE');
    // §16.6 step 8: the proxy's Via on top of the UAC's.
    expect(forwarded.via).toHaveLength(2);
    expect(forwarded.via[0]!.host).toBe('127.0.0.1');
    expect(forwarded.via[0]!.port).toBe(harness.port);
    expect(forwarded.via[0]!.transport).toBe('UDP');
    expect(forwarded.via[0]!.branch).toMatch(/^z9hG4bK/);
    expect(forwarded.via[1]!.port).toBe(uac.port);
    // §16.6 step 3, step 4.
    expect(forwarded.maxForwards).toBe(69);
    expect(forwarded.recordRoute.map((r) => r.uri.raw)).toEqual([`sip:127.0.0.1:${harness.port};transport=udp;lr`]);

    // The UAC sees its own Via only; 180 and 200 forwarded; no 100 from the UAS, the proxy's own 100.
    const ringing = await uac.inbox.response(180);
    expect(ringing.via).toHaveLength(1);
    expect(ringing.via[0]!.port).toBe(uac.port);
    const ok = await uac.inbox.response(200, 'INVITE');
    expect(ok.via).toHaveLength(1);
    expect(ok.recordRoute).toHaveLength(1);

    // ACK for the 2xx: end to end, loose-routed through the proxy (Route = the Record-Route).
    await uac.send(inDialog('ACK', ok, { port: uac.port }), harness.port);
    const ack = await uas.inbox.request('ACK');
    expect(ack.route).toHaveLength(0);
    expect(ack.via).toHaveLength(2);
    expect(ack.via[0]!.port).toBe(harness.port);
    expect(ack.maxForwards).toBe(69);
    expect(ack.uri.raw).toBe(`sip:bob@127.0.0.1:${uas.port}`);

    // BYE: in-dialog, through a transaction, same route.
    await uac.send(inDialog('BYE', ok, { port: uac.port }), harness.port);
    const bye = await uas.inbox.request('BYE');
    expect(bye.route).toHaveLength(0);
    expect(bye.via).toHaveLength(2);
    const byeOk = await uac.inbox.response(200, 'BYE');
    expect(byeOk.via).toHaveLength(1);
    // A stateful proxy never forwards a 100 it receives; the UAC saw at most the proxy's own.
    expect(uac.inbox.count((m) => m.kind === 'response' && m.status === 100)).toBeLessThanOrEqual(1);
  });

  it('adds Max-Forwards 70 when the request has none (§16.6 step 3)', async () => {
    ringThenAnswer();
    await uac.send(invite({ port: uac.port, maxForwards: undefined }), harness.port);
    expect((await uas.inbox.request('INVITE')).maxForwards).toBe(70);
    await uac.inbox.response(200, 'INVITE');
  });

  it('MUST answer 483 Too Many Hops to a request with Max-Forwards 0 and not forward it (§16.3 step 3)', async () => {
    await uac.send(invite({ port: uac.port, maxForwards: 0 }), harness.port);
    const response = await uac.inbox.response(483);
    expect(response.to.tag).toBeDefined();
    await sleep(50);
    expect(uas.inbox.all).toHaveLength(0);
  });

  it('answers 404 Not Found when the routing function has no target for the Request-URI', async () => {
    await uac.send(invite({ port: uac.port, uri: 'sip:carol@unknown.example.net' }), harness.port);
    await uac.inbox.response(404);
    expect(uas.inbox.all).toHaveLength(0);
  });

  it('MUST answer 420 Bad Extension listing unsupported Proxy-Require option tags in Unsupported (§16.3 step 5)', async () => {
    await uac.send(invite({ port: uac.port, extra: ['Proxy-Require: foo, bar'] }), harness.port);
    const response = await uac.inbox.response(420);
    expect(response.get('unsupported')).toBe('foo, bar');
    expect(uas.inbox.all).toHaveLength(0);
  });

  it('sends 408 upstream when the next hop never answers (Timer B = 64·T1)', async () => {
    const started = Date.now();
    await uac.send(invite({ port: uac.port }), harness.port);
    await uas.inbox.request('INVITE');
    const timeout = await uac.inbox.response(408, 'INVITE', 3000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
    expect(timeout.via).toHaveLength(1);
    // Timer A retransmitted the INVITE to the silent UAS meanwhile.
    expect(uas.inbox.count((m) => m.kind === 'request' && m.method === 'INVITE')).toBeGreaterThan(3);
  });

  it('absorbs an INVITE retransmission from the UAC (the UAS sees it once) and re-sends the last provisional', async () => {
    uas.onMessage = (m) => {
      if (m.kind === 'request' && m.method === 'INVITE') void uas.send(answer(m, 180, uas.port, 'Ringing'), harness.port);
    };
    const text = invite({ port: uac.port });
    await uac.send(text, harness.port);
    await uac.inbox.response(180);
    await uac.send(text, harness.port);
    await uac.inbox.response(180);
    await sleep(50);
    expect(uas.inbox.count((m) => m.kind === 'request' && m.method === 'INVITE')).toBe(1);
    // Let the UAS finish so nothing is pending at teardown.
    const forwarded = uas.inbox.all.find((m): m is SipRequest => m.kind === 'request' && m.method === 'INVITE')!;
    await uas.send(answer(forwarded, 486, uas.port, 'Busy Here'), harness.port);
    await uac.inbox.response(486);
  });

  it('answers 503 with Retry-After when the next hop is unreachable over TCP', async () => {
    await harness.close();
    // A closed TCP port: bind a UDP peer's number, nothing listens on TCP there.
    harness = await startProxy(() => ({ transport: 'tcp', host: '127.0.0.1', port: uas.port }));
    await uac.send(invite({ port: uac.port }), harness.port);
    const response = await uac.inbox.response(503);
    expect(response.get('retry-after')).toBe('5');
  });
});

describe('SipProxy: loop detection (RFC 3261 §16.3 step 4)', () => {
  it('answers 482 Loop Detected when a request it forwarded comes back unchanged, and the UAC gets the 482', async () => {
    await harness.close();
    // A route to the proxy itself: the forwarded request arrives again with our Via and the same hash.
    harness = await startProxy(() => ({ transport: 'udp', host: '127.0.0.1', port: harness.port }), { recordRoute: false });
    await uac.send(invite({ port: uac.port }), harness.port);
    const response = await uac.inbox.response(482, 'INVITE');
    expect(response.via).toHaveLength(1);
  });
});

describe('SipProxy: 100 Trying (SPEC §C)', () => {
  it('never forwards a 100 it receives; the UAC gets the server transaction\'s own 100 within about 200 ms', async () => {
    uas.onMessage = (m) => {
      if (m.kind === 'request' && m.method === 'INVITE') void uas.send(answer(m, 100, uas.port, 'Trying'), harness.port);
    };
    const started = Date.now();
    await uac.send(invite({ port: uac.port }), harness.port);
    const forwarded = await uas.inbox.request('INVITE');
    const trying = await uac.inbox.response(100, 'INVITE', 1000);
    expect(Date.now() - started).toBeLessThan(600);
    expect(trying.via).toHaveLength(1);
    await sleep(100);
    expect(uac.inbox.count((m) => m.kind === 'response' && m.status === 100)).toBe(1);
    await uas.send(answer(forwarded, 486, uas.port, 'Busy Here'), harness.port);
    await uac.inbox.response(486);
  });
});
