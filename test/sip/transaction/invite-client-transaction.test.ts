import { afterEach, describe, expect, it } from 'vitest';
import type { SipRequest } from '../../../src/sip/index.ts';
import type { TransactionManager } from '../../../src/sip/transaction/index.ts';
import { intervals, RecordingClientTU, RecordingTransport, request, response, simulated } from './helpers.ts';

const T1 = 500;
let manager: TransactionManager | undefined;
afterEach(async () => {
  await manager?.stop();
  manager = undefined;
});

async function setup(reliable = false) {
  const sim = await simulated();
  manager = sim.manager;
  const transport = new RecordingTransport(sim.clock, reliable);
  const tu = new RecordingClientTU(sim.clock);
  const invite = request({ branch: 'z9hG4bKclient1', transport: reliable ? 'TCP' : 'UDP' });
  const tx = await sim.manager.sendRequest(invite, transport, tu);
  await sim.clock.advance(0);
  return { ...sim, transport, tu, invite, tx };
}

const isInvite = (m: { kind: string; method?: string }) => m.kind === 'request' && (m as SipRequest).method === 'INVITE';

describe('INVITE client transaction (RFC 3261 §17.1.1, RFC 6026)', () => {
  it('an INVITE client transaction MUST retransmit at T1, 2·T1, 4·T1 … until Timer B (64·T1) on an unreliable transport', async () => {
    const { clock, transport, tu, tx } = await setup();
    expect(tx.status()?.timers.map((t) => t.name).sort()).toEqual(['TimerA', 'TimerB']);
    await clock.advance(64 * T1 - 1);
    expect(transport.times(isInvite)).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
    expect(intervals(transport.times(isInvite))).toEqual([T1, 2 * T1, 4 * T1, 8 * T1, 16 * T1, 32 * T1]);
    expect(tu.reports).toEqual([]);
    await clock.advance(1);
    // Timer B → 408 to the TU, Terminated
    expect(tu.labels()).toEqual(['timeout:408']);
    expect(tu.reports[0]!.at).toBe(64 * T1);
    expect(tx.state).toBe('terminated');
    expect(manager!.size).toBe(0);
  });

  it('an INVITE client transaction MUST NOT retransmit on a reliable transport, and still times out with Timer B', async () => {
    const { clock, transport, tu, tx } = await setup(true);
    expect(tx.status()?.timers.map((t) => t.name)).toEqual(['TimerB']);
    await clock.advance(64 * T1);
    expect(transport.labels()).toEqual(['INVITE']);
    expect(tu.labels()).toEqual(['timeout:408']);
  });

  it('a provisional response MUST be passed to the TU and stops retransmissions (Proceeding); Timer B no longer applies', async () => {
    const { clock, transport, tu, tx, invite } = await setup();
    await clock.advance(T1); // one retransmission
    manager!.receiveResponse(response(invite, 100));
    await clock.advance(0);
    expect(tx.state).toBe('proceeding');
    manager!.receiveResponse(response(invite, 180));
    await clock.advance(200 * T1);
    expect(transport.labels()).toEqual(['INVITE', 'INVITE']);
    expect(tu.labels()).toEqual(['response:100', 'response:180']);
    expect(tx.state).toBe('proceeding');
    expect(tx.status()?.timers).toEqual([]);
  });

  it('a 300–699 response MUST be passed up once and ACKed by the transaction with the same branch, Request-URI, Route, From, Call-ID, CSeq number, and To from the response (§17.1.1.3)', async () => {
    const { clock, transport, tu, tx, invite } = await setup();
    manager!.receiveResponse(response(invite, 180));
    const busy = response(invite, 486, 'busytag');
    manager!.receiveResponse(busy);
    await clock.advance(0);
    expect(tx.state).toBe('completed');
    expect(tu.labels()).toEqual(['response:180', 'response:486']);
    const ack = transport.sent[1]!.message as SipRequest;
    expect(ack.method).toBe('ACK');
    expect(ack.uri.raw).toBe(invite.uri.raw);
    expect(ack.via).toHaveLength(1);
    expect(ack.topVia!.raw).toBe(invite.topVia!.raw);
    expect(ack.topVia!.branch).toBe('z9hG4bKclient1');
    expect(ack.route.map((r) => r.uri.raw)).toEqual(invite.route.map((r) => r.uri.raw));
    expect(ack.get('From')).toBe(invite.get('From'));
    expect(ack.to.tag).toBe('busytag');
    expect(ack.get('To')).toBe(busy.get('To'));
    expect(ack.callId).toBe(invite.callId);
    expect(ack.cseq).toEqual({ seq: invite.cseq.seq, method: 'ACK' });
    expect(ack.maxForwards).toBe(invite.maxForwards);
    expect(ack.contentLength).toBe(0);
  });

  it('in Completed, a retransmitted final response MUST cause the ACK to be re-sent and MUST NOT be passed to the TU; Timer D (32 s on UDP) then Terminated', async () => {
    const { clock, transport, tu, tx, invite } = await setup();
    manager!.receiveResponse(response(invite, 503));
    await clock.advance(0);
    expect(tx.status()?.timers.map((t) => t.name)).toEqual(['TimerD']);
    manager!.receiveResponse(response(invite, 503));
    manager!.receiveResponse(response(invite, 503));
    await clock.advance(31_999);
    expect(transport.labels()).toEqual(['INVITE', 'ACK', 'ACK', 'ACK']);
    expect(tu.labels()).toEqual(['response:503']);
    expect(tx.state).toBe('completed');
    await clock.advance(1);
    expect(tx.state).toBe('terminated');
    expect(manager!.size).toBe(0);
  });

  it('Timer D MUST be 0 on a reliable transport: Completed ends at once, the ACK still sent', async () => {
    const { clock, transport, tx, invite } = await setup(true);
    manager!.receiveResponse(response(invite, 404));
    await clock.advance(0);
    expect(transport.labels()).toEqual(['INVITE', 'ACK']);
    expect(tx.state).toBe('terminated');
    expect(manager!.size).toBe(0);
  });

  it('a 2xx MUST move the transaction to Accepted (RFC 6026): the transaction sends no ACK, every 2xx retransmission is passed to the TU until Timer M (64·T1)', async () => {
    const { clock, transport, tu, tx, invite } = await setup();
    manager!.receiveResponse(response(invite, 200));
    await clock.advance(0);
    expect(tx.state).toBe('accepted');
    expect(tx.status()?.timers.map((t) => t.name)).toEqual(['TimerM']);
    manager!.receiveResponse(response(invite, 200));
    manager!.receiveResponse(response(invite, 200, 'otherbranch')); // a forked 2xx
    manager!.receiveResponse(response(invite, 486)); // absorbed
    await clock.advance(64 * T1 - 1);
    expect(transport.labels()).toEqual(['INVITE']);
    expect(tu.labels()).toEqual(['response:200', 'response:200', 'response:200']);
    await clock.advance(1);
    expect(tx.state).toBe('terminated');
    // after Terminated, a late 2xx is stray: the proxy core forwards it statelessly
    expect(manager!.receiveResponse(response(invite, 200)).type).toBe('stray');
  });

  it('a transport error in Calling MUST be reported to the TU, as a 503 (§8.1.3.1), and the transaction terminates', async () => {
    const sim = await simulated();
    manager = sim.manager;
    const transport = new RecordingTransport(sim.clock);
    transport.fail = { error: new Error('EHOSTUNREACH'), async: false };
    const tu = new RecordingClientTU(sim.clock);
    const tx = await sim.manager.sendRequest(request({ branch: 'z9hG4bKfail' }), transport, tu);
    await sim.clock.advance(0);
    expect(tu.labels()).toEqual(['transportError:503']);
    expect(tx.state).toBe('terminated');
  });

  it('a transport error reported asynchronously (a rejected send) on a retransmission is a 503 to the TU', async () => {
    const { clock, transport, tu, tx } = await setup();
    transport.fail = { error: new Error('ECONNREFUSED'), async: true };
    await clock.advance(T1);
    expect(tu.labels()).toEqual(['transportError:503']);
    expect(tx.state).toBe('terminated');
  });

  it('a transport error reported later through the handle (a closed flow) is a 503 to the TU', async () => {
    const { clock, tu, tx, invite } = await setup(true);
    manager!.receiveResponse(response(invite, 180));
    tx.transportError(new Error('flow closed'));
    await clock.advance(0);
    expect(tu.labels()).toEqual(['response:180', 'transportError:503']);
  });
});
