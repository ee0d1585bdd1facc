/**
 * UDP retransmission through a running gateway (RFC 3261 §17, SPEC C), real time with T1 scaled down
 * (`GatewayOptions.sipTimers`, T2 = 8·T1, T4 = 10·T1), raw UDP peers on 127.0.0.1:
 * - Timer A: the INVITE client transaction toward an unanswering UAS retransmits at T1, then 2·T1
 *   later, doubling; it stops once the UAS answers, and the call completes;
 * - Timer B: a UAS that never answers → the UAC gets 408 after 64·T1 (then Timer G retransmits the
 *   408 until the UAC's ACK, which is hop by hop and never reaches the UAS);
 * - Timer E: a non-INVITE request is retransmitted at T1, 2·T1, 4·T1, then every T2;
 * - retransmissions from the UAC are absorbed by the server transaction, which re-sends its last
 *   response: an INVITE after a 180 gets the 180 again, an OPTIONS or a BYE after its 200 gets the
 *   same 200 again; the UAS sees each request once;
 * - nothing is retransmitted on a TCP leg (SPEC D.6).
 *
 * Timing assertions allow for a loaded machine: timers never fire early, so the lower bounds are
 * tight (up to the jitter of reading a datagram) and the upper bounds generous.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SipMessage, SipRequest } from '../../../src/sip/index.ts';
import { answer, answerEverything, inDialog, request, sleep, type SipGateway, startSipGateway, TcpPeer, TcpServerPeer, unique, UdpPeer } from './helpers.ts';

/** Late-firing slack: how much later than scheduled a timer or a datagram may be seen on a busy CI machine. */
const LATE_MS = 120;
/**
 * A timer is never early, but a gap is measured between two arrivals, and the first may be seen late
 * (the gateway runs in this process: a busy event loop delays the read of one datagram, not the timer
 * that already fired).
 */
const EARLY_MS = 30;

const closers: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function gateway(T1: number, uas: { port: number }, transport: 'udp' | 'tcp' = 'udp'): Promise<SipGateway> {
  const gw = await startSipGateway({ upstream: { port: uas.port, transport }, T1 });
  closers.push(() => gw.stop());
  return gw;
}

async function udpPeer(): Promise<UdpPeer> {
  const peer = await UdpPeer.open();
  closers.push(() => peer.close());
  return peer;
}

const invites = (peer: { inbox: { filter(m: (m: SipMessage) => boolean): { at: number; bytes: Buffer; message: SipMessage }[] } }, callId?: string) =>
  peer.inbox.filter((m) => m.kind === 'request' && m.method === 'INVITE' && (callId === undefined || m.callId === callId));

function gaps(times: readonly number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i]!);
}

function expectGap(gap: number, scheduled: number): void {
  expect(gap).toBeGreaterThanOrEqual(scheduled - EARLY_MS);
  expect(gap).toBeLessThanOrEqual(scheduled + LATE_MS);
}

describe('UDP retransmission through the gateway', () => {
  it('Timer A: an INVITE the UAS ignores is retransmitted T1, then 2·T1 later; the UAS answers the third copy and the call completes', async () => {
    const T1 = 100;
    const uac = await udpPeer();
    const uas = await udpPeer();
    const gw = await gateway(T1, uas);
    let seen = 0;
    uas.onMessage = (m, peer, from) => {
      if (m.kind !== 'request') return;
      if (m.method === 'INVITE' && ++seen === 3) void peer.send(answer(m, 200, peer.port, 'OK'), from.port);
      if (m.method === 'BYE') void peer.send(answer(m, 200, peer.port, 'OK'), from.port);
    };
    const callId = unique('timer-a-');
    const sentAt = performance.now();
    await uac.send(request({ port: uac.port, callId }), gw.port);

    // The proxy's own 100 Trying within 200 ms (SPEC C), so the UAC stops retransmitting.
    const trying = await uac.inbox.next((m) => m.kind === 'response' && m.status === 100, 1000);
    expect(trying.at - sentAt).toBeLessThan(200 + LATE_MS);
    const ok = await uac.inbox.response(200, 'INVITE', 5000);

    const copies = invites(uas);
    expect(copies).toHaveLength(3);
    // The same request each time: same branch, same bytes.
    expect(new Set(copies.map((c) => c.bytes.toString('latin1'))).size).toBe(1);
    expect((copies[0]!.message as SipRequest).via[0]!.port).toBe(gw.port);
    const [first, second] = gaps(copies.map((c) => c.at));
    expectGap(first!, T1);
    expectGap(second!, 2 * T1);
    expectGap(first! + second!, 3 * T1);
    // The 200 stopped Timer A: nothing more after 4·T1 (the next copy was due 4·T1 after the third).
    await sleep(4 * T1 + LATE_MS);
    expect(invites(uas)).toHaveLength(3);

    // ACK (end to end) and BYE complete the call.
    await uac.send(inDialog('ACK', ok, { port: uac.port }), gw.port);
    await uas.inbox.request('ACK');
    await uac.send(inDialog('BYE', ok, { port: uac.port }), gw.port);
    await uas.inbox.request('BYE');
    expect((await uac.inbox.response(200, 'BYE')).callId).toBe(`${callId}@127.0.0.1`);
    expect(uas.inbox.count((m) => m.kind === 'request' && m.method === 'BYE')).toBe(1);
  });

  it('Timer B: a UAS that never answers → 408 to the UAC after 64·T1; the 408 is retransmitted until the UAC ACKs it, and that ACK stays hop by hop', async () => {
    const T1 = 40;
    const uac = await udpPeer();
    const uas = await udpPeer(); // never answers
    const gw = await gateway(T1, uas);
    const sentAt = performance.now();
    await uac.send(request({ port: uac.port }), gw.port);
    const timeout = await uac.inbox.next((m) => m.kind === 'response' && m.status === 408, 64 * T1 + 3000);
    const elapsed = timeout.at - sentAt;
    expect(elapsed).toBeGreaterThanOrEqual(64 * T1 - EARLY_MS);
    expect(elapsed).toBeLessThanOrEqual(64 * T1 + 1000);
    expect(timeout.message.cseq.method).toBe('INVITE');
    expect((timeout.message as { reason: string }).reason).toBe('Request Timeout');

    // Timer A doubled without a cap: copies at 0, 1, 3, 7, 15, 31 and 63·T1, then Timer B at 64·T1.
    const copies = invites(uas);
    expect(copies).toHaveLength(7);
    const times = gaps(copies.map((c) => c.at));
    times.forEach((gap, i) => expectGap(gap, T1 * 2 ** i));

    // Timer G: the 408 again T1 later (no ACK yet), identical.
    const again = await uac.inbox.next((m) => m.kind === 'response' && m.status === 408, 1000);
    expect(again.bytes.equals(timeout.bytes)).toBe(true);
    expectGap(again.at - timeout.at, T1);
    // The ACK for a non-2xx completes the server transaction: no more 408s, and the UAS never sees it.
    const timeoutResponse = timeout.message;
    if (timeoutResponse.kind !== 'response') throw new Error('expected a response');
    const invite = invites(uas)[0]!.message as SipRequest;
    const ack = [
      `ACK ${invite.uri.raw} SIP/2.0`,
      `Via: ${timeoutResponse.get('via')}`,
      'Max-Forwards: 70',
      `From: ${timeoutResponse.get('from')}`,
      `To: ${timeoutResponse.get('to')}`,
      `Call-ID: ${timeoutResponse.callId}`,
      `CSeq: ${timeoutResponse.cseq.seq} ACK`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    await uac.send(ack, gw.port);
    await sleep(50);
    const count = uac.inbox.count((m) => m.kind === 'response' && m.status === 408);
    await sleep(8 * T1 + LATE_MS);
    expect(uac.inbox.count((m) => m.kind === 'response' && m.status === 408)).toBe(count);
    expect(uas.inbox.count((m) => m.kind === 'request' && m.method === 'ACK')).toBe(0);
  });

  it('Timer E: an OPTIONS the UAS ignores is retransmitted at T1, 2·T1, 4·T1, then every T2 (= 8·T1 here)', async () => {
    const T1 = 40;
    const T2 = 8 * T1;
    const uac = await udpPeer();
    const uas = await udpPeer();
    const gw = await gateway(T1, uas);
    let seen = 0;
    uas.onMessage = (m, peer, from) => {
      if (m.kind === 'request' && m.method === 'OPTIONS' && ++seen === 7) void peer.send(answer(m, 200, peer.port, 'OK'), from.port);
    };
    await uac.send(request({ method: 'OPTIONS', port: uac.port }), gw.port);
    const ok = await uac.inbox.response(200, 'OPTIONS', 5000);
    const copies = uas.inbox.filter((m) => m.kind === 'request' && m.method === 'OPTIONS');
    expect(copies).toHaveLength(7);
    const scheduled = [T1, 2 * T1, 4 * T1, T2, T2, T2];
    gaps(copies.map((c) => c.at)).forEach((gap, i) => expectGap(gap, scheduled[i]!));
    // No 100 Trying for a non-INVITE; the 200 is relayed once.
    expect(uac.inbox.count((m) => m.kind === 'response' && m.status === 100)).toBe(0);
    expect(ok.via).toHaveLength(1);
    await sleep(T2 + LATE_MS);
    expect(uas.inbox.count((m) => m.kind === 'request' && m.method === 'OPTIONS')).toBe(7);
  });

  it('an INVITE the UAC retransmits after the 180 gets the 180 again; the UAS sees the INVITE once, and the call completes', async () => {
    const T1 = 50;
    const uac = await udpPeer();
    const uas = await udpPeer();
    const gw = await gateway(T1, uas);
    let held: { invite: SipRequest; port: number } | undefined;
    uas.onMessage = (m, peer, from) => {
      if (m.kind !== 'request') return;
      if (m.method === 'INVITE') {
        held = { invite: m, port: from.port };
        void peer.send(answer(m, 180, peer.port, 'Ringing'), from.port);
      }
      if (m.method === 'BYE') void peer.send(answer(m, 200, peer.port, 'OK'), from.port);
    };
    const invite = request({ port: uac.port });
    await uac.send(invite, gw.port);
    const ringing = await uac.inbox.next((m) => m.kind === 'response' && m.status === 180);

    await uac.send(invite, gw.port);
    const ringingAgain = await uac.inbox.next((m) => m.kind === 'response' && m.status === 180);
    expect(ringingAgain.bytes.equals(ringing.bytes)).toBe(true);
    // And once more, later: still absorbed.
    await sleep(3 * T1);
    await uac.send(invite, gw.port);
    await uac.inbox.next((m) => m.kind === 'response' && m.status === 180);
    await sleep(2 * T1);
    expect(invites(uas)).toHaveLength(1);

    await uas.send(answer(held!.invite, 200, uas.port, 'OK'), held!.port);
    const ok = await uac.inbox.response(200, 'INVITE');
    await uac.send(inDialog('ACK', ok, { port: uac.port }), gw.port);
    await uas.inbox.request('ACK');
    await uac.send(inDialog('BYE', ok, { port: uac.port }), gw.port);
    expect((await uac.inbox.response(200, 'BYE')).cseq.method).toBe('BYE');
    expect(invites(uas)).toHaveLength(1);
  });

  it('an OPTIONS the UAC retransmits after its 200 gets the same 200 again; the UAS sees it once', async () => {
    const T1 = 50;
    const uac = await udpPeer();
    const uas = await udpPeer();
    answerEverything(uas);
    const gw = await gateway(T1, uas);
    const options = request({ method: 'OPTIONS', port: uac.port });
    await uac.send(options, gw.port);
    const ok = await uac.inbox.next((m) => m.kind === 'response' && m.status === 200);
    // Timer J (64·T1 on UDP) keeps the server transaction in Completed: it absorbs these.
    for (let i = 0; i < 3; i++) {
      await sleep(T1);
      await uac.send(options, gw.port);
      const again = await uac.inbox.next((m) => m.kind === 'response' && m.status === 200);
      expect(again.bytes.equals(ok.bytes)).toBe(true);
    }
    await sleep(2 * T1);
    expect(uas.inbox.count((m) => m.kind === 'request' && m.method === 'OPTIONS')).toBe(1);
  });

  it('a BYE the UAC retransmits after its 200 gets the same 200 again; the UAS sees it once', async () => {
    const T1 = 50;
    const uac = await udpPeer();
    const uas = await udpPeer();
    answerEverything(uas);
    const gw = await gateway(T1, uas);
    await uac.send(request({ port: uac.port }), gw.port);
    const ok = await uac.inbox.response(200, 'INVITE');
    await uac.send(inDialog('ACK', ok, { port: uac.port }), gw.port);
    await uas.inbox.request('ACK');
    const bye = inDialog('BYE', ok, { port: uac.port });
    await uac.send(bye, gw.port);
    const byeOk = await uac.inbox.next((m) => m.kind === 'response' && m.status === 200 && m.cseq.method === 'BYE');
    await uac.send(bye, gw.port);
    const again = await uac.inbox.next((m) => m.kind === 'response' && m.status === 200 && m.cseq.method === 'BYE');
    expect(again.bytes.equals(byeOk.bytes)).toBe(true);
    await sleep(2 * T1);
    expect(uas.inbox.count((m) => m.kind === 'request' && m.method === 'BYE')).toBe(1);
  });
});

describe('no retransmission on a TCP leg (SPEC D.6)', () => {
  it('an INVITE to a TCP UAS that does not answer is sent once (no Timer A); the UDP UAC still gets 408 after 64·T1', async () => {
    const T1 = 25;
    const uac = await udpPeer();
    const uas = await TcpServerPeer.listen();
    closers.push(() => uas.close());
    const gw = await gateway(T1, uas, 'tcp');
    const sentAt = performance.now();
    await uac.send(request({ port: uac.port }), gw.port);
    const timeout = await uac.inbox.next((m) => m.kind === 'response' && m.status === 408, 64 * T1 + 3000);
    expect(timeout.at - sentAt).toBeGreaterThanOrEqual(64 * T1 - EARLY_MS);
    expect(invites(uas)).toHaveLength(1);
  });

  it('a TCP UAC whose INVITE is refused by the UAS gets the final response once (no Timer G on TCP), and the UDP UAS gets the hop-by-hop ACK', async () => {
    const T1 = 25;
    const uas = await udpPeer();
    uas.onMessage = (m, peer, from) => {
      if (m.kind === 'request' && m.method === 'INVITE') void peer.send(answer(m, 486, peer.port, 'Busy Here'), from.port);
    };
    const gw = await gateway(T1, uas);
    const uac = await TcpPeer.connect(gw.port);
    closers.push(() => uac.close());
    await uac.send(request({ port: uac.port, transport: 'TCP' }));
    await uac.inbox.response(486, 'INVITE');
    // The proxy's client transaction ACKs the 486 toward the UAS itself (same branch).
    const ack = await uas.inbox.request('ACK');
    expect(ack.topVia?.branch).toBe((invites(uas)[0]!.message as SipRequest).topVia?.branch);
    await sleep(8 * T1);
    expect(uac.inbox.count((m) => m.kind === 'response' && m.status === 486)).toBe(1);
  });
});
