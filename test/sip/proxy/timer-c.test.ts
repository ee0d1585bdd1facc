/**
 * Timer C (RFC 3261 §16.6 step 11, §16.8) on a simulated clock: the proxy's INVITE branch timer, reset
 * by each provisional; when it fires, a CANCEL for a branch that had a provisional (then 408 if no
 * final response comes within 64·T1, §9.1), a 408 for one that had none. Real UDP sockets; the
 * transactions run on real time with T1 = 10 ms, Timer C on the simulated clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../../src/fsm/index.ts';
import { answer, invite, sleep, startProxy, type ProxyHarness, UdpPeer } from './helpers.ts';

const TIMER_C = 180_000;
let harness: ProxyHarness | undefined;
const peers: UdpPeer[] = [];

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  for (const p of peers.splice(0)) await p.close();
});

async function setup() {
  const clock = new SimulatedClock();
  const uac = await UdpPeer.open();
  const uas = await UdpPeer.open();
  peers.push(uac, uas);
  const fired: string[] = [];
  harness = await startProxy(() => ({ transport: 'udp', host: '127.0.0.1', port: uas.port }), { clock, timerCMs: TIMER_C, observer: { onTimerC: () => fired.push('C') } });
  return { clock, uac, uas, port: harness.port, fired };
}

describe('SipProxy: Timer C', () => {
  it('is reset by each provisional and, after one, CANCELs the branch when it fires; the 487 is relayed', async () => {
    const { clock, uac, uas, port, fired } = await setup();
    await uac.send(invite({ port: uac.port }), port);
    const forwarded = await uas.inbox.request('INVITE');
    await clock.advance(TIMER_C - 1000);
    await uas.send(answer(forwarded, 180, uas.port, 'Ringing'), port);
    await uac.inbox.response(180);
    // Reset by the 180: at the first deadline nothing happens.
    await clock.advance(1500);
    await sleep(30);
    expect(uas.inbox.count((m) => m.kind === 'request' && m.method === 'CANCEL')).toBe(0);
    expect(fired).toEqual([]);
    // The reset deadline: TIMER_C after the 180 (not past it: 64·T1 later the branch would get its 408).
    await clock.advance(TIMER_C - 1500);
    const cancel = await uas.inbox.request('CANCEL');
    expect(cancel.topVia!.branch).toBe(forwarded.topVia!.branch);
    expect(fired).toEqual(['C']);
    await uas.send(answer(cancel, 200, uas.port, 'OK'), port);
    await uas.send(answer(forwarded, 487, uas.port, 'Request Terminated'), port);
    expect((await uac.inbox.response(487)).status).toBe(487);
  });

  it('answers 408 when it fires before any provisional, and a late final response is not relayed', async () => {
    const { clock, uac, uas, port, fired } = await setup();
    await uac.send(invite({ port: uac.port }), port);
    const forwarded = await uas.inbox.request('INVITE');
    await clock.advance(TIMER_C);
    expect((await uac.inbox.response(408, 'INVITE')).status).toBe(408);
    expect(fired).toEqual(['C']);
    await uas.send(answer(forwarded, 486, uas.port, 'Busy Here'), port);
    await sleep(50);
    expect(uac.inbox.count((m) => m.kind === 'response' && m.status === 486)).toBe(0);
  });

  it('after its CANCEL, gives the branch 64·T1 for a final response, then answers 408', async () => {
    const { clock, uac, uas, port } = await setup();
    await uac.send(invite({ port: uac.port }), port);
    const forwarded = await uas.inbox.request('INVITE');
    await uas.send(answer(forwarded, 183, uas.port, 'Session Progress'), port);
    await uac.inbox.response(183);
    await clock.advance(TIMER_C);
    await uas.inbox.request('CANCEL');
    await clock.advance(64 * 10 - 1);
    await sleep(30);
    expect(uac.inbox.count((m) => m.kind === 'response' && m.status === 408)).toBe(0);
    await clock.advance(1);
    expect((await uac.inbox.response(408, 'INVITE')).status).toBe(408);
  });

  it('stops with the final response: nothing fires later', async () => {
    const { clock, uac, uas, port, fired } = await setup();
    await uac.send(invite({ port: uac.port }), port);
    const forwarded = await uas.inbox.request('INVITE');
    await uas.send(answer(forwarded, 486, uas.port, 'Busy Here'), port);
    await uac.inbox.response(486);
    await clock.advance(2 * TIMER_C);
    await sleep(30);
    expect(fired).toEqual([]);
    expect(uas.inbox.count((m) => m.kind === 'request' && m.method === 'CANCEL')).toBe(0);
  });
});
