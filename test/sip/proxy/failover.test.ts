/**
 * Serial failover in the proxy core (SipProxy with a routing function that gives a Failover), over
 * real UDP sockets with T1 = 10 ms: when the core asks, in what order outcomes are reported, Timer C
 * before a provisional, late responses on a branch Timer C retired, a transport error after a 100
 * (a reset), a try that routing refuses, and the requests it never fails over.
 */
import { RealClock } from '../../../src/fsm/index.ts';
import { afterEach, describe, expect, it } from 'vitest';
import type { SipMessage, SipRequest, SipResponse } from '../../../src/sip/index.ts';
import type { FailedTry, Failover, FailoverReason, RoutingDecision } from '../../../src/sip/proxy/index.ts';
import { type Destination, type Flow, FlowTable, isFlow, type MessageSender } from '../../../src/sip/transport/index.ts';
import { answer, inDialog, invite, type ProxyHarness, sleep, startProxy, TcpPeer, UdpPeer } from './helpers.ts';

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

/** The port a destination names (an address, or a flow after the first send). */
const portOf = (destination: Destination): number => (isFlow(destination) ? destination.remote.port : destination.port);

/** `flow`, whose sends fail with ECONNRESET while `broken()` says so (a connection that reset). */
function failingWhile(flow: Flow, broken: () => boolean): Flow {
  return {
    id: flow.id,
    token: flow.token,
    transport: flow.transport,
    reliable: flow.reliable,
    local: flow.local,
    remote: flow.remote,
    get closed() {
      return flow.closed;
    },
    send: (data) => (broken() ? Promise.reject(new Error('ECONNRESET (test)')) : flow.send(data)),
    close: () => flow.close(),
  };
}

const requests = (peer: UdpPeer, method: string): SipRequest[] => peer.inbox.all.filter((m): m is SipRequest => m.kind === 'request' && m.method === method);
const finals = (peer: UdpPeer): SipResponse[] => peer.inbox.all.filter((m): m is SipResponse => m.kind === 'response' && m.status >= 200);
const optionsOf = (port: number, extra: readonly string[] = []): string => invite({ port, extra }).replace(/^INVITE/, 'OPTIONS').replace('CSeq: 1 INVITE', 'CSeq: 1 OPTIONS');

/** A failover over `second` once when `on` lists the failed try's reason, recording what it is asked. */
function onceOn(second: UdpPeer, on: readonly FailedTry['reason'][]): Failover & { asked: FailedTry[] } {
  const asked: FailedTry[] = [];
  let used = false;
  return {
    asked,
    covers: (failed) => on.includes(failed.reason),
    next(failed) {
      asked.push(failed);
      if (used || !on.includes(failed.reason)) return undefined;
      used = true;
      return { target: address(second) };
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

  it('Timer C before a provisional: the old client transaction is terminated (no more retransmissions), and its late 200 goes upstream while the new branch is CANCELled', async () => {
    const [uac, late, ringing] = [await peer(), await peer(), await peer()];
    // The second target rings, again every 40 ms (each 180 resets its Timer C), until CANCELled.
    let ring: NodeJS.Timeout | undefined;
    ringing.onMessage = (m) => {
      if (m.kind !== 'request') return;
      const send = (text: string): void => void ringing.send(text, harness!.port).catch(() => {});
      if (m.method === 'INVITE') {
        send(answer(m, 180, ringing.port, 'Ringing', 'ringing'));
        ring = setInterval(() => send(answer(m, 180, ringing.port, 'Ringing', 'ringing')), 40);
      }
      if (m.method === 'CANCEL') {
        clearInterval(ring);
        send(answer(m, 200, ringing.port, 'OK'));
        send(answer(requests(ringing, 'INVITE')[0]!, 487, ringing.port, 'Request Terminated', 'ringing'));
      }
    };
    const events: string[] = [];
    // Covers the timeout only (a 487 after our CANCEL is no failure of the target).
    const failover: Failover = { ...onceTo(ringing, events), covers: (failed) => failed.reason === 'timeout' };
    const routes = (): RoutingDecision => ({ type: 'forward', target: address(late), failover });
    // Timer C (100 ms) well under Timer B (64·T1 = 640 ms): the INVITE would still be retransmitted at 150 and 310 ms.
    harness = await startProxy(() => undefined, { routes, clock: new RealClock({ unref: false }), timerCMs: 100 });

    await uac.send(invite({ port: uac.port }), harness.port);
    await ringing.inbox.request('INVITE');
    await uac.inbox.response(180, 'INVITE');
    const sent = requests(late, 'INVITE').length;
    await sleep(250);
    expect(requests(late, 'INVITE')).toHaveLength(sent);

    await late.send(answer(requests(late, 'INVITE')[0]!, 200, late.port, 'OK', 'late'), harness.port);
    const ok = await uac.inbox.response(200, 'INVITE');
    expect(ok.to.tag).toBe('late');
    await ringing.inbox.request('CANCEL', 2000);
    await sleep(100);
    expect(finals(uac).map((r) => [r.status, r.to.tag])).toEqual([[200, 'late']]);
    // The cancelled branch's outcome is reported when it ends (its 487), once; no further failover.
    expect(events).toEqual(['next:timeout', 'second:true']);
    await uac.send(inDialog('ACK', ok, { port: uac.port }), harness.port);
    await late.inbox.request('ACK');
    clearInterval(ring);
  });

  it('a transport error after a 100 Trying is a reset (the target got the request), not a connect failure: no failover unless the policy covers reset', async () => {
    for (const on of [['connectFailure'], ['reset']] as const) {
      const [uac, first, second] = [await peer(), await peer(), await peer()];
      answers(second, [200]);
      // The first target answers 100; later sends to it (Timer E retransmissions in Proceeding) fail.
      let broken = false;
      first.onMessage = (m) => {
        if (m.kind !== 'request' || m.method !== 'OPTIONS' || requests(first, 'OPTIONS').length > 1) return;
        void first.send(answer(m, 100, first.port, 'Trying'), harness!.port).then(async () => {
          await sleep(20);
          broken = true;
        });
      };
      const sender: MessageSender = {
        // A client transaction keeps the flow its first send used: the flow handed back fails once broken.
        send: async (message, destination) => {
          if (broken && portOf(destination) === first.port) throw new Error('ECONNRESET (test)');
          const flow = await harness!.listener.send(message, destination);
          return portOf(destination) === first.port ? failingWhile(flow, () => broken) : flow;
        },
      };
      const failover = onceOn(second, on);
      harness = await startProxy(() => undefined, { sender, routes: () => ({ type: 'forward', target: address(first), failover }) });

      await uac.send(optionsOf(uac.port), harness.port);
      if (on[0] === 'reset') await uac.inbox.response(200, 'OPTIONS');
      else await uac.inbox.response(503, 'OPTIONS');
      expect(failover.asked).toEqual([{ reason: 'reset' }]);
      expect(requests(second, 'OPTIONS')).toHaveLength(on[0] === 'reset' ? 1 : 0);
      await harness.close();
      harness = undefined;
    }
  });

  it('a transport error before any response is a connect failure', async () => {
    const [uac, first, second] = [await peer(), await peer(), await peer()];
    answers(second, [200]);
    const sender: MessageSender = {
      send: (message, destination) => (portOf(destination) === first.port ? Promise.reject(new Error('ECONNREFUSED (test)')) : harness!.listener.send(message, destination)),
    };
    const failover = onceOn(second, ['connectFailure']);
    harness = await startProxy(() => undefined, { sender, routes: () => ({ type: 'forward', target: address(first), failover }) });

    await uac.send(optionsOf(uac.port), harness.port);
    await uac.inbox.response(200, 'OPTIONS');
    expect(failover.asked).toEqual([{ reason: 'connectFailure' }]);
  });

  it('a failover try that routing refuses is never made, and its outcome is still reported (no breaker place or budget slot leaks)', async () => {
    const [uac, first, second] = [await peer(), await peer(), await peer()];
    answers(first, [503]);
    answers(second, [200]);
    const events: string[] = [];
    let caller: Flow | undefined;
    // The caller names its own flow in a Route (a hairpin); the flow is gone by the second try: 430.
    let gone = false;
    class Forgetful extends FlowTable {
      override byToken(token: string): Flow | undefined {
        return gone ? undefined : harness!.listener.flows.byToken(token);
      }
    }
    const failover: Failover = {
      covers: () => true,
      next(failed) {
        events.push(`next:${failed.reason}`);
        gone = true;
        return { target: address(second), onOutcome: (ok) => events.push(`second:${ok}`) };
      },
    };
    const routes = (request: SipRequest, flow: Flow): RoutingDecision => {
      caller = flow;
      return request.method === 'OPTIONS' ? { type: 'respond', status: 200 } : { type: 'forward', target: address(first), onOutcome: (ok) => events.push(`first:${ok}`), failover };
    };
    harness = await startProxy(() => undefined, { routes, flows: new Forgetful() });

    await uac.send(optionsOf(uac.port), harness.port);
    await uac.inbox.response(200, 'OPTIONS');
    const token = caller!.token;
    await uac.send(invite({ port: uac.port, extra: [`Route: <sip:${token}@127.0.0.1:${harness.port};transport=udp;lr>`] }), harness.port);
    await uac.inbox.response(430, 'INVITE');
    expect(events).toEqual(['first:false', 'next:status', 'second:false']);
    expect(second.inbox.count((m: SipMessage) => m.kind === 'request')).toBe(0);
  });

  it('a branch Timer B retired: its late 180 gets a CANCEL, its late 486 an ACK (both dropped); its late 200 goes upstream once, retransmissions included, counted once', async () => {
    const [uac, first, second] = [await peer(), await peer(), await peer()];
    const events: string[] = [];
    const retired: string[] = [];
    const routes = (): RoutingDecision => ({ type: 'forward', target: address(first), failover: onceTo(second, events) });
    harness = await startProxy(() => undefined, { routes, observer: { onRetiredResponse: (status, action) => retired.push(`${status}:${action}`) } });
    second.onMessage = (m) => {
      if (m.kind === 'request' && m.method === 'INVITE') void second.send(answer(m, 180, second.port, 'Ringing', 'sec'), harness!.port);
    };
    await uac.send(invite({ port: uac.port }), harness.port);
    await second.inbox.request('INVITE', 3000); // the first try's Timer B (64·T1 = 640 ms) failed over
    const inv = requests(first, 'INVITE')[0]!;
    await first.send(answer(inv, 180, first.port, 'Ringing', 'late'), harness.port);
    const cancel = await first.inbox.request('CANCEL', 1000);
    expect(cancel.topVia!.branch).toBe(inv.topVia!.branch);
    await first.send(answer(inv, 486, first.port, 'Busy Here', 'late'), harness.port);
    const ack = await first.inbox.request('ACK', 1000);
    expect(ack.topVia!.branch).toBe(inv.topVia!.branch);
    expect(ack.get('to')).toContain('tag=late');
    // Nothing of the dropped ones reached the caller; a late 200 (a forking next hop) does, once per copy sent.
    expect(uac.inbox.all.filter((m) => m.kind === 'response' && (m.status === 486 || m.get('to')?.includes('tag=late') === true))).toEqual([]);
    await first.send(answer(inv, 200, first.port, 'OK', 'late2'), harness.port);
    await uac.inbox.next((m) => m.kind === 'response' && m.status === 200, 1000);
    await first.send(answer(inv, 200, first.port, 'OK', 'late2'), harness.port);
    await sleep(100);
    expect(finals(uac).filter((r) => r.status === 200)).toHaveLength(2);
    expect(retired.filter((r) => r === '200:relayed')).toHaveLength(1);
    expect(retired).toEqual(expect.arrayContaining(['180:dropped', '486:dropped']));
    // The second target, ringing, was CANCELled (§16.7 step 10).
    await second.inbox.request('CANCEL', 1000);
  });

  it("no failover once the caller's server transaction has ended (its TCP connection went): no new try, nothing left pending", async () => {
    const [first, second] = [await peer(), await peer()];
    const events: string[] = [];
    const routes = (): RoutingDecision => ({ type: 'forward', target: address(first), failover: onceTo(second, events) });
    harness = await startProxy(() => undefined, { routes });
    const caller = await TcpPeer.connect(harness.port);
    await caller.send(invite({ transport: 'TCP', port: caller.port }));
    await first.inbox.request('INVITE', 2000);
    await caller.close();
    // The 100 Trying at 200 ms finds the connection gone and the server transaction ends; the first
    // try's Timer B (640 ms) then finds nobody to try for.
    await sleep(1200);
    expect(requests(second, 'INVITE')).toEqual([]);
    expect(events).toEqual([]);
    expect(harness.proxy.pendingInvites).toBe(0);
  });
});
