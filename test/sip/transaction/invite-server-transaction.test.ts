import { afterEach, describe, expect, it } from 'vitest';
import { createResponse, type SipResponse } from '../../../src/sip/index.ts';
import type { ServerTransaction, TransactionManager } from '../../../src/sip/transaction/index.ts';
import { intervals, RecordingServerTU, RecordingTransport, request, simulated } from './helpers.ts';

const T1 = 500;
const T2 = 4000;
const T4 = 5000;
let manager: TransactionManager | undefined;
afterEach(async () => {
  await manager?.stop();
  manager = undefined;
});

const INVITE = { branch: 'z9hG4bKist1' };
const ACK = { method: 'ACK', branch: 'z9hG4bKist1', toTag: 'uas1' };

async function setup(reliable = false) {
  const sim = await simulated();
  manager = sim.manager;
  const transport = new RecordingTransport(sim.clock, reliable);
  const tu = new RecordingServerTU(sim.clock);
  const invite = request(INVITE);
  const result = sim.manager.receiveRequest(invite, transport, tu);
  if (result.type !== 'new') throw new Error('expected a new transaction');
  await sim.clock.advance(0);
  return { ...sim, transport, tu, invite, tx: result.transaction };
}

function answer(tx: ServerTransaction, status: number): SipResponse {
  const r = createResponse(tx.request, status, { toTag: 'uas1' });
  tx.respond(r);
  return r;
}

describe('INVITE server transaction (RFC 3261 §17.2.1, RFC 6026)', () => {
  it('an INVITE server transaction MUST pass the request to the TU once and send 100 Trying if the TU has not answered within 200 ms', async () => {
    const { clock, transport, tu, tx } = await setup();
    expect(tx.state).toBe('proceeding');
    expect(tu.labels()).toEqual(['request:INVITE']);
    await clock.advance(199);
    expect(transport.labels()).toEqual([]);
    await clock.advance(1);
    expect(transport.labels()).toEqual(['100']);
    expect(transport.sent[0]!.at).toBe(200);
    expect((transport.sent[0]!.message as SipResponse).to.tag).toBeUndefined();
  });

  it('MUST NOT send its own 100 Trying when the TU answers within 200 ms', async () => {
    const { clock, transport, tx } = await setup();
    await clock.advance(50);
    answer(tx, 180);
    await clock.advance(1000);
    expect(transport.labels()).toEqual(['180']);
  });

  it('request retransmissions MUST be absorbed (not passed to the TU) and MUST cause the most recent provisional response to be re-sent', async () => {
    const { clock, transport, tu, tx } = await setup();
    answer(tx, 180);
    await clock.advance(10);
    expect(manager!.receiveRequest(request(INVITE), transport, tu).type).toBe('retransmission');
    expect(manager!.receiveRequest(request(INVITE), transport, tu).type).toBe('retransmission');
    await clock.advance(0);
    expect(tu.labels()).toEqual(['request:INVITE']);
    expect(transport.labels()).toEqual(['180', '180', '180']);
  });

  it('a retransmission before any provisional response is answered with 100 Trying at once', async () => {
    const { clock, transport, tu } = await setup();
    await clock.advance(100);
    manager!.receiveRequest(request(INVITE), transport, tu);
    await clock.advance(0);
    expect(transport.times()).toEqual([100]);
    await clock.advance(1000);
    expect(transport.labels()).toEqual(['100']);
  });

  it('a 300–699 response MUST be retransmitted with Timer G (T1 doubling to T2) on UDP until Timer H (64·T1), which MUST inform the TU', async () => {
    const { clock, transport, tu, tx } = await setup();
    answer(tx, 486);
    await clock.advance(0);
    expect(tx.state).toBe('completed');
    expect(tx.status()?.timers.map((t) => t.name).sort()).toEqual(['TimerG', 'TimerH']);
    await clock.advance(64 * T1 - 1);
    const times = transport.times();
    expect(intervals(times).slice(0, 5)).toEqual([T1, 2 * T1, 4 * T1, T2, T2]);
    expect(tu.labels()).toEqual(['request:INVITE']);
    await clock.advance(1);
    expect(tu.labels()).toEqual(['request:INVITE', 'timeout']);
    expect(tx.state).toBe('terminated');
    expect(manager!.size).toBe(0);
  });

  it('MUST NOT retransmit the final response on a reliable transport (no Timer G), Timer H still runs', async () => {
    const { clock, transport, tu, tx } = await setup(true);
    answer(tx, 603);
    await clock.advance(64 * T1);
    expect(transport.labels()).toEqual(['603']);
    expect(tu.labels()).toEqual(['request:INVITE', 'timeout']);
  });

  it('in Completed, a request retransmission MUST cause the final response to be re-sent', async () => {
    const { clock, transport, tu, tx } = await setup(true);
    answer(tx, 404);
    await clock.advance(10);
    manager!.receiveRequest(request(INVITE), transport, tu);
    await clock.advance(0);
    expect(transport.labels()).toEqual(['404', '404']);
  });

  it('an ACK MUST move Completed to Confirmed, stopping retransmissions; Confirmed absorbs ACKs for Timer I = T4 (UDP)', async () => {
    const { clock, transport, tu, tx } = await setup();
    answer(tx, 486);
    await clock.advance(T1 + 1); // one retransmission
    expect(manager!.receiveRequest(request(ACK), transport, tu).type).toBe('ack');
    await clock.advance(0);
    expect(tx.state).toBe('confirmed');
    expect(tx.status()?.timers.map((t) => t.name)).toEqual(['TimerI']);
    manager!.receiveRequest(request(ACK), transport, tu);
    await clock.advance(T4 - 1);
    expect(transport.labels()).toEqual(['486', '486']);
    expect(tu.labels()).toEqual(['request:INVITE']); // ACKs for a non-2xx are not passed up
    await clock.advance(1);
    expect(tx.state).toBe('terminated');
  });

  it('Timer I MUST be 0 on a reliable transport', async () => {
    const { clock, transport, tu, tx } = await setup(true);
    answer(tx, 486);
    manager!.receiveRequest(request(ACK), transport, tu);
    await clock.advance(0);
    expect(tx.state).toBe('terminated');
  });

  it('a 2xx MUST move the transaction to Accepted (RFC 6026): INVITE retransmissions absorbed, nothing re-sent by the transaction, 2xx from the TU sent, ACK passed to the TU, Timer L (64·T1)', async () => {
    const { clock, transport, tu, tx } = await setup();
    answer(tx, 180);
    const ok = answer(tx, 200);
    await clock.advance(0);
    expect(tx.state).toBe('accepted');
    expect(tx.status()?.timers.map((t) => t.name)).toEqual(['TimerL']);
    manager!.receiveRequest(request(INVITE), transport, tu); // absorbed, nothing re-sent
    await clock.advance(10 * T1);
    expect(transport.labels()).toEqual(['180', '200']);
    tx.respond(ok); // the TU's (or a forked branch's) 2xx: sent
    tx.respond(createResponse(tx.request, 486)); // not a 2xx: dropped
    // an ACK with the INVITE's branch reaching the transaction in Accepted goes to the TU
    manager!.receiveRequest(request({ ...ACK, toTag: 'uas1' }), transport, tu);
    await clock.advance(0);
    expect(transport.labels()).toEqual(['180', '200', '200']);
    expect(tu.labels()).toEqual(['request:INVITE', 'ack']);
    await clock.advance(64 * T1 - 10 * T1 - 1);
    expect(tx.state).toBe('accepted');
    await clock.advance(1);
    expect(tx.state).toBe('terminated');
    expect(manager!.size).toBe(0);
  });

  it('a transport error MUST be reported to the TU and end the transaction', async () => {
    const { clock, transport, tu, tx } = await setup();
    transport.fail = { error: new Error('EPIPE'), async: false };
    answer(tx, 180);
    await clock.advance(0);
    expect(tu.labels()).toEqual(['request:INVITE', 'transportError']);
    expect(tx.state).toBe('terminated');
  });
});
