/**
 * Serial failover in the proxy core (SipProxy with a routing function that gives a Failover), over
 * real UDP sockets with T1 = 10 ms: when the core asks, in what order outcomes are reported, Timer C
 * before a provisional, and the requests it never fails over.
 */
import { RealClock } from '../../../src/fsm/index.ts';
import { afterEach, describe, expect, it } from 'vitest';
import type { FailedTry, Failover, FailoverReason, RoutingDecision } from '../../../src/sip/proxy/index.ts';
import { answer, invite, type ProxyHarness, startProxy, UdpPeer } from './helpers.ts';

const open: UdpPeer[] = [];
let harness: ProxyHarness | undefined;
afterEach(async () => {
  await harness?.close();
  harness = undefined;
  for (const p of open.splice(0)) await p.close();
});

async function peer(): Promise<UdpPeer> {
  const p = await UdpPeer.open();
  open.push(p);
  return p;
}

/** Every new request (not ACK, not CANCEL) answered with `statuses` in turn. */
function answers(uas: UdpPeer, statuses: readonly number[]): void {
  uas.onMessage = (m) => {
    if (m.kind !== 'request' || m.method === 'ACK' || m.method === 'CANCEL') return;
    for (const status of statuses) void uas.send(answer(m, status, uas.port, 'Reason', `tag${uas.port}`), harness!.port);
  };
}

const address = (p: UdpPeer) => ({ transport: 'udp' as const, host: '127.0.0.1', port: p.port });

/** A failover to `second` once, on anything, recording what it is asked and the events in order. */
function onceTo(second: UdpPeer, events: string[]): Failover & { asked: FailedTry[] } {
  const asked: FailedTry[] = [];
  let used = false;
  return {
    asked,
    covers: () => true,
    next(failed) {
      asked.push(failed);
      events.push(`next:${failed.reason}`);
      if (used) return undefined;
      used = true;
      return { target: address(second), onOutcome: (ok) => events.push(`second:${ok}`) };
    },
  };
}

describe('SipProxy: serial failover', () => {
  it('reports the failed try to its outcome callback before asking for the next target; the caller sees the second target\'s 200 only', async () => {
    const [uac, first, second] = [await peer(), await peer(), await peer()];
    answers(first, [503]);
    answers(second, [200]);
    const events: string[] = [];
    const failovers: FailoverReason[] = [];
    const failover = onceTo(second, events);
    const routes = (): RoutingDecision => ({ type: 'forward', target: address(first), onOutcome: (ok) => events.push(`first:${ok}`), failover });
    harness = await startProxy(() => undefined, { routes, observer: { onFailover: (reason) => failovers.push(reason) } });

    await uac.send(invite({ port: uac.port }).replace(/^INVITE/, 'OPTIONS').replace('CSeq: 1 INVITE', 'CSeq: 1 OPTIONS'), harness.port);
    const ok = await uac.inbox.response(200, 'OPTIONS');
    expect(ok.to.tag).toBe(`tag${second.port}`);
    expect(events).toEqual(['first:false', 'next:status', 'second:true']);
    expect(failover.asked).toEqual([{ reason: 'status', status: 503 }]);
    expect(failovers).toEqual(['status']);
  });

  it('Timer C before any provisional fails over (reason timeout) instead of answering 408', async () => {
    const [uac, silent, second] = [await peer(), await peer(), await peer()];
    answers(second, [200]);
    const events: string[] = [];
    const timerC: number[] = [];
    const routes = (): RoutingDecision => ({ type: 'forward', target: address(silent), failover: onceTo(second, events) });
    harness = await startProxy(() => undefined, { routes, clock: new RealClock({ unref: false }), timerCMs: 100, observer: { onTimerC: () => timerC.push(1) } });

    await uac.send(invite({ port: uac.port }), harness.port);
    await uac.inbox.response(200, 'INVITE');
    expect(events).toEqual(['next:timeout', 'second:true']);
    expect(timerC).toHaveLength(1);
    expect(uac.inbox.count((m) => m.kind === 'response' && m.status === 408)).toBe(0);
  });

  it('an in-dialog request (To tag) is never failed over, even with a Failover: the 503 goes upstream as a 500', async () => {
    const [uac, first, second] = [await peer(), await peer(), await peer()];
    answers(first, [503]);
    answers(second, [200]);
    const events: string[] = [];
    const routes = (): RoutingDecision => ({ type: 'forward', target: address(first), failover: onceTo(second, events) });
    harness = await startProxy(() => undefined, { routes });

    const bye = invite({ port: uac.port }).replace(/^INVITE/, 'BYE').replace('CSeq: 1 INVITE', 'CSeq: 2 BYE').replace('To: <sip:bob@example.com>', 'To: <sip:bob@example.com>;tag=remote');
    await uac.send(bye, harness.port);
    const relayed = await uac.inbox.response(500, 'BYE');
    expect(relayed.reason).toMatch(/503/);
    expect(events).toEqual([]);
    expect(second.inbox.count((m) => m.kind === 'request')).toBe(0);
  });
});
