/**
 * Serial failover of SIP requests over an upstream's targets (`retries`), and RFC 3261 §16.7 step 6
 * (a 503 of the next hop goes upstream as a 500), through a real gateway with raw UDP (and a dead
 * TCP) peers on 127.0.0.1, on real time.
 */
import { describe, expect, it } from 'vitest';
import type { SipMessage, SipRequest, SipResponse } from '../../../src/sip/index.ts';
import { startGateway, type RunningGateway } from '../../helpers/gateway.ts';
import type { UdpPeer } from '../proxy/helpers.ts';
import { answer, cancelOf, inDialog, invite, sleep } from '../proxy/helpers.ts';
import { freePort } from './helpers.ts';
import { cleanupsAfterEach, udpPeer } from './teardown.ts';

let gw: RunningGateway | undefined;
const cleanups = cleanupsAfterEach(async () => {
  await gw?.stop(200);
  gw = undefined;
});
const open = (): Promise<UdpPeer> => udpPeer(cleanups);

const T1 = 10;

/**
 * A gateway (with admin, T1 = 10 ms) whose `sip` listener routes `example.com` to one upstream of
 * `targets` (`sip:` URLs) in this order, with `retries` and `circuitBreaker` as given; resolves with
 * the `sip` listener's port.
 */
async function startPbx(targets: readonly string[], upstream: { retries?: Record<string, unknown>; circuitBreaker?: Record<string, unknown> } = {}): Promise<number> {
  gw = await startGateway({
    log: { level: 'warn' },
    admin: { address: '127.0.0.1:0' },
    sip: { t1Ms: T1, t2Ms: 8 * T1, t4Ms: 10 * T1 },
    listeners: [{ name: 'sip', protocol: 'sip', address: '127.0.0.1:0' }],
    upstreams: [{ name: 'pbx', targets: targets.map((url) => ({ url })), ...upstream }],
    routes: [{ name: 'pbx', match: { sip: { domain: 'example.com' } }, upstream: 'pbx' }],
  });
  return gw.gateway.addresses()['sip']!.port;
}

const udp = (peer: UdpPeer): string => `sip:127.0.0.1:${peer.port};transport=udp`;

/** `uas` answers each new request (not ACK, not CANCEL) with `statuses` in turn, to the gateway at `port`. */
function answers(uas: UdpPeer, port: number, statuses: readonly number[]): void {
  uas.onMessage = (m) => {
    if (m.kind !== 'request' || m.method === 'ACK' || m.method === 'CANCEL') return;
    for (const status of statuses) void uas.send(answer(m, status, uas.port, status === 200 ? 'OK' : 'Some Reason', `tag${uas.port}`), port);
  };
}

/** `uas` rings (180) on an INVITE; a CANCEL gets its 200 and the INVITE its 487 (RFC 3261 §9.2). */
function ringsUntilCancelled(uas: UdpPeer, port: number): void {
  uas.onMessage = (m) => {
    if (m.kind !== 'request') return;
    if (m.method === 'INVITE') void uas.send(answer(m, 180, uas.port, 'Ringing', `tag${uas.port}`), port);
    if (m.method === 'CANCEL') {
      void uas.send(answer(m, 200, uas.port, 'OK'), port);
      void uas.send(answer(requests(uas, 'INVITE')[0]!, 487, uas.port, 'Request Terminated', `tag${uas.port}`), port);
    }
  };
}

const requests = (peer: UdpPeer, method: string): SipRequest[] => peer.inbox.all.filter((m): m is SipRequest => m.kind === 'request' && m.method === method);
const finals = (peer: UdpPeer): SipResponse[] => peer.inbox.all.filter((m): m is SipResponse => m.kind === 'response' && m.status >= 200);

async function metrics(): Promise<string> {
  return (await fetch(`${gw!.adminUrl}/metrics`)).text();
}

function options(uacPort: number): string {
  return invite({ port: uacPort }).replace(/^INVITE/, 'OPTIONS').replace('CSeq: 1 INVITE', 'CSeq: 1 OPTIONS');
}

describe('SIP serial failover (retries)', () => {
  it('a 503 after a 100 Trying: the INVITE goes to the next target on a new branch, its 200 reaches the caller, ACK and BYE go end to end', async () => {
    const [uac, first, second] = [await open(), await open(), await open()];
    const port = await startPbx([udp(first), udp(second)], { retries: { attempts: 1, on: [503] } });
    answers(first, port, [100, 503]);
    answers(second, port, [180, 200]);

    await uac.send(invite({ port: uac.port }), port);
    const ok = await uac.inbox.response(200, 'INVITE');
    const [tried, taken] = [requests(first, 'INVITE'), requests(second, 'INVITE')];
    expect(tried).toHaveLength(1);
    expect(taken).toHaveLength(1);
    expect(taken[0]!.topVia!.branch).not.toBe(tried[0]!.topVia!.branch);
    expect(taken[0]!.topVia!.branch).toMatch(/^z9hG4bK/);
    // The 503 was ACKed hop by hop by Tandem's client transaction and never reached the caller.
    await first.inbox.request('ACK');
    expect(uac.inbox.all.filter((m: SipMessage) => m.kind === 'response' && m.status >= 300)).toEqual([]);
    expect(ok.to.tag).toBe(`tag${second.port}`);

    await uac.send(inDialog('ACK', ok, { port: uac.port }), port);
    await second.inbox.request('ACK');
    await uac.send(inDialog('BYE', ok, { port: uac.port }), port);
    await second.inbox.request('BYE');
    await uac.inbox.response(200, 'BYE');
    expect(requests(first, 'BYE')).toEqual([]);
    expect(await metrics()).toMatch(/tandem_sip_failovers_total\{reason="status"\} 1\b/);
  });

  it('a target refusing TCP connections: an OPTIONS fails over with the default retries (attempts 1, on [connectFailure])', async () => {
    const [uac, healthy] = [await open(), await open()];
    const dead = await freePort();
    const port = await startPbx([`sip:127.0.0.1:${dead};transport=tcp`, udp(healthy)]);
    answers(healthy, port, [200]);

    await uac.send(options(uac.port), port);
    const ok = await uac.inbox.response(200, 'OPTIONS');
    expect(ok.to.tag).toBe(`tag${healthy.port}`);
    expect(requests(healthy, 'OPTIONS')).toHaveLength(1);
    expect(await metrics()).toMatch(/tandem_sip_failovers_total\{reason="connectFailure"\} 1\b/);
    const targets = gw!.gateway.status().upstreams.find((u) => u.name === 'pbx')!.targets;
    expect(targets[0]).toMatchObject({ requests: 1, failures: 1 });
    expect(targets[1]).toMatchObject({ requests: 1, failures: 0 });
  });

  it('a silent UDP target: after Timer B (64·T1) the INVITE goes to the next target when `timeout` is listed', async () => {
    const [uac, silent, healthy] = [await open(), await open(), await open()];
    const port = await startPbx([udp(silent), udp(healthy)], { retries: { attempts: 1, on: ['timeout'] } });
    answers(healthy, port, [200]);

    const sent = performance.now();
    await uac.send(invite({ port: uac.port }), port);
    await healthy.inbox.request('INVITE');
    const elapsed = performance.now() - sent;
    await uac.inbox.response(200, 'INVITE');
    // Timer A retransmitted the INVITE to the silent target until Timer B fired at 64·T1.
    expect(requests(silent, 'INVITE').length).toBeGreaterThanOrEqual(5);
    expect(elapsed).toBeGreaterThanOrEqual(64 * T1 - 20);
    expect(uac.inbox.all.some((m) => m.kind === 'response' && m.status === 408)).toBe(false);
    expect(await metrics()).toMatch(/tandem_sip_failovers_total\{reason="timeout"\} 1\b/);
  });

  it('a late 200 from the target that timed out (Timer B) while the next one rings: relayed once, the ringing branch is CANCELled, the caller sees one final', async () => {
    const [uac, late, ringing] = [await open(), await open(), await open()];
    const port = await startPbx([udp(late), udp(ringing)], { retries: { attempts: 1, on: ['timeout'] } });
    ringsUntilCancelled(ringing, port);

    await uac.send(invite({ port: uac.port }), port);
    await ringing.inbox.request('INVITE');
    await uac.inbox.response(180, 'INVITE');
    // The first target answers after all, on the branch Tandem gave up on at its Timer B.
    await late.send(answer(requests(late, 'INVITE')[0]!, 200, late.port, 'OK', 'late'), port);
    const ok = await uac.inbox.response(200, 'INVITE');
    expect(ok.to.tag).toBe('late');
    // §16.7 step 10: the pending branch is cancelled; its 487 is not relayed.
    await ringing.inbox.request('CANCEL', 2000);
    await sleep(100);
    expect(finals(uac).filter((r) => r.cseq.method === 'INVITE').map((r) => [r.status, r.to.tag])).toEqual([[200, 'late']]);
    // The dialog is the late target's: the ACK goes there end to end.
    await uac.send(inDialog('ACK', ok, { port: uac.port }), port);
    await late.inbox.request('ACK');
    expect(requests(ringing, 'ACK')).toHaveLength(1); // the 487's, hop by hop
  });

  it('a late 183 and 486 from the target that timed out (Timer B) are dropped: the caller hears only the pending branch, whose 200 it gets', async () => {
    const [uac, late, next] = [await open(), await open(), await open()];
    const port = await startPbx([udp(late), udp(next)], { retries: { attempts: 1, on: ['timeout'] } });
    next.onMessage = (m) => {
      if (m.kind === 'request' && m.method === 'INVITE') void next.send(answer(m, 180, next.port, 'Ringing', 'next'), port);
    };

    await uac.send(invite({ port: uac.port }), port);
    const pending = await next.inbox.request('INVITE');
    await uac.inbox.response(180, 'INVITE');
    const first = requests(late, 'INVITE')[0]!;
    await late.send(answer(first, 183, late.port, 'Session Progress', 'late'), port);
    await late.send(answer(first, 486, late.port, 'Busy Here', 'late'), port);
    await sleep(100);
    await next.send(answer(pending, 200, next.port, 'OK', 'next'), port);
    const ok = await uac.inbox.response(200, 'INVITE');
    expect(ok.to.tag).toBe('next');
    await sleep(50);
    expect(uac.inbox.all.filter((m) => m.kind === 'response' && m.to.tag === 'late')).toEqual([]);
    expect(finals(uac).map((r) => r.status)).toEqual([200]);
    expect(requests(next, 'CANCEL')).toEqual([]);
  });

  it('a non-INVITE to a silent target with `timeout` listed: no second try at its Timer F (the caller\'s own has fired too), the caller gets 408; an INVITE still fails over', async () => {
    const [uac, silent, healthy] = [await open(), await open(), await open()];
    const port = await startPbx([udp(silent), udp(healthy)], { retries: { attempts: 1, on: ['timeout'] } });
    answers(healthy, port, [200]);

    await uac.send(options(uac.port), port);
    await uac.inbox.response(408, 'OPTIONS', 3000);
    await sleep(50);
    expect(requests(silent, 'OPTIONS').length).toBeGreaterThanOrEqual(2);
    expect(requests(healthy, 'OPTIONS')).toEqual([]);
    expect(finals(uac).map((r) => r.status)).toEqual([408]);
    expect(await metrics()).not.toMatch(/tandem_sip_failovers_total\{/);

    // The next request starts at the healthy target (round robin): make the silent one first again.
    await uac.send(options(uac.port), port);
    await uac.inbox.response(200, 'OPTIONS');
    await uac.send(invite({ port: uac.port }), port);
    await healthy.inbox.request('INVITE', 3000);
    await uac.inbox.response(200, 'INVITE');
    expect(await metrics()).toMatch(/tandem_sip_failovers_total\{reason="timeout"\} 1\b/);
  });

  it('attempts exhausted: the last 503 goes to the caller as a 500 (§16.7 step 6), a third target is not tried; the breakers count every failed try', async () => {
    const [uac, a, b, c] = [await open(), await open(), await open(), await open()];
    const port = await startPbx([udp(a), udp(b), udp(c)], {
      retries: { attempts: 1, on: [503] },
      circuitBreaker: { volumeThreshold: 2, errorThresholdPercentage: 50, rollingWindowMs: 10_000, resetTimeoutMs: 60_000 },
    });
    for (const p of [a, b, c]) answers(p, port, [503]);

    await uac.send(invite({ port: uac.port }), port);
    const relayed = await uac.inbox.response(500, 'INVITE');
    expect(relayed.get('retry-after')).toBeUndefined();
    expect(requests(a, 'INVITE')).toHaveLength(1);
    expect(requests(b, 'INVITE')).toHaveLength(1);
    expect(requests(c, 'INVITE')).toHaveLength(0);
    const targets = gw!.gateway.status().upstreams.find((u) => u.name === 'pbx')!.targets;
    expect(targets.map((t) => t.failures)).toEqual([1, 1, 0]);
  });

  it('every breaker opened by failed tries: Tandem answers its own 503 with Retry-After (SPEC D.9), not a 500', async () => {
    const [uac, a, b] = [await open(), await open(), await open()];
    const port = await startPbx([udp(a), udp(b)], {
      retries: { attempts: 1, on: [503] },
      circuitBreaker: { volumeThreshold: 2, errorThresholdPercentage: 50, rollingWindowMs: 10_000, resetTimeoutMs: 60_000 },
    });
    for (const p of [a, b]) answers(p, port, [503]);

    for (let i = 0; i < 2; i++) {
      await uac.send(invite({ port: uac.port }), port);
      await uac.inbox.response(500, 'INVITE');
    }
    // Two requests, each tried on both targets: two failures each, both breakers open.
    expect(requests(a, 'INVITE')).toHaveLength(2);
    expect(requests(b, 'INVITE')).toHaveLength(2);
    await sleep(20);
    await uac.send(invite({ port: uac.port }), port);
    const own = await uac.inbox.response(503, 'INVITE');
    expect(Number(own.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(requests(a, 'INVITE')).toHaveLength(2);
    expect(requests(b, 'INVITE')).toHaveLength(2);
  });

  it('retries.attempts 0: no failover; the 503 goes to the caller as a 500 and the second target sees nothing', async () => {
    const [uac, first, second] = [await open(), await open(), await open()];
    const port = await startPbx([udp(first), udp(second)], { retries: { attempts: 0, on: [503] } });
    answers(first, port, [503]);
    answers(second, port, [200]);

    await uac.send(invite({ port: uac.port }), port);
    await uac.inbox.response(500, 'INVITE');
    await sleep(50);
    expect(requests(second, 'INVITE')).toEqual([]);
    // (retransmitted by Timer G: the UAC does not ACK)
    expect(new Set(finals(uac).map((r) => r.status))).toEqual(new Set([500]));
  });

  it('a provisional (180) relayed before the 503: no failover (the call was in progress), the caller gets 180 then 500', async () => {
    const [uac, first, second] = [await open(), await open(), await open()];
    const port = await startPbx([udp(first), udp(second)], { retries: { attempts: 1, on: [503] } });
    answers(first, port, [180, 503]);
    answers(second, port, [200]);

    await uac.send(invite({ port: uac.port }), port);
    await uac.inbox.response(180, 'INVITE');
    await uac.inbox.response(500, 'INVITE');
    await sleep(50);
    expect(requests(second, 'INVITE')).toEqual([]);
  });

  it('an in-dialog request (To tag) routed by its Request-URI does not fail over; a non-INVITE out of dialog does', async () => {
    const [uac, first, second] = [await open(), await open(), await open()];
    const port = await startPbx([udp(first), udp(second)], { retries: { attempts: 1, on: [503] } });
    answers(first, port, [503]);
    answers(second, port, [200]);

    await uac.send(options(uac.port).replace('To: <sip:bob@example.com>', 'To: <sip:bob@example.com>;tag=dialog1'), port);
    await uac.inbox.response(500, 'OPTIONS');
    await sleep(50);
    expect(requests(second, 'OPTIONS')).toEqual([]);
    // The next one starts at the second target (round robin): its 200 comes back at once.
    await uac.send(options(uac.port), port);
    await uac.inbox.response(200, 'OPTIONS');
    // The third starts at the first again, gets its 503 and fails over to the second.
    await uac.send(options(uac.port), port);
    await uac.inbox.response(200, 'OPTIONS');
    expect(requests(first, 'OPTIONS')).toHaveLength(2);
    expect(requests(second, 'OPTIONS')).toHaveLength(2);
  });

  it('a 2 KB request whose TCP attempt is refused (§18.1.1) is retried over UDP to the same target: no failover', async () => {
    const [uac, first, second] = [await open(), await open(), await open()];
    const port = await startPbx([udp(first), udp(second)], { retries: { attempts: 1, on: ['connectFailure'] } });
    answers(first, port, [200]);
    answers(second, port, [200]);

    await uac.send(options(uac.port).replace('CSeq: 1 OPTIONS', `CSeq: 1 OPTIONS\r\nX-Padding: ${'a'.repeat(2000)}`), port);
    const ok = await uac.inbox.response(200, 'OPTIONS');
    expect(ok.to.tag).toBe(`tag${first.port}`);
    expect(requests(first, 'OPTIONS')).toHaveLength(1);
    expect(requests(second, 'OPTIONS')).toEqual([]);
    expect(await metrics()).not.toMatch(/tandem_sip_failovers_total\{/);
    expect(gw!.gateway.status().upstreams.find((u) => u.name === 'pbx')!.targets[0]).toMatchObject({ failures: 0 });
  });

  it('a CANCEL while the second target rings: the pending branch is cancelled, the caller gets 487, no third branch', async () => {
    const [uac, a, b, c] = [await open(), await open(), await open(), await open()];
    const port = await startPbx([udp(a), udp(b), udp(c)], { retries: { attempts: 2, on: [503] } });
    answers(a, port, [503]);
    answers(c, port, [200]);
    b.onMessage = (m) => {
      if (m.kind !== 'request') return;
      if (m.method === 'INVITE') void b.send(answer(m, 100, b.port, 'Trying'), port);
      if (m.method === 'CANCEL') {
        void b.send(answer(m, 200, b.port, 'OK'), port);
        const pending = requests(b, 'INVITE')[0]!;
        void b.send(answer(pending, 487, b.port, 'Request Terminated'), port);
      }
    };

    const text = invite({ port: uac.port });
    await uac.send(text, port);
    await b.inbox.request('INVITE');
    await sleep(20);
    await uac.send(cancelOf(text), port);
    await uac.inbox.response(200, 'CANCEL');
    await b.inbox.request('CANCEL');
    await uac.inbox.response(487, 'INVITE');
    await sleep(50);
    expect(requests(c, 'INVITE')).toEqual([]);
    expect(new Set(finals(uac).filter((r) => r.cseq.method === 'INVITE').map((r) => r.status))).toEqual(new Set([487]));
  });

  it('a CANCEL while the second target is silent: no CANCEL can go, and at its Timer B the caller gets 487, no third branch', async () => {
    const [uac, a, b, c] = [await open(), await open(), await open(), await open()];
    const port = await startPbx([udp(a), udp(b), udp(c)], { retries: { attempts: 2, on: [503, 'timeout'] } });
    answers(a, port, [503]);
    answers(c, port, [200]);

    const text = invite({ port: uac.port });
    await uac.send(text, port);
    await b.inbox.request('INVITE');
    await uac.send(cancelOf(text), port);
    await uac.inbox.response(200, 'CANCEL');
    await uac.inbox.response(487, 'INVITE');
    await sleep(50);
    expect(requests(b, 'CANCEL')).toEqual([]);
    expect(requests(c, 'INVITE')).toEqual([]);
  });
});
