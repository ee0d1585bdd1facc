import { afterEach, describe, expect, it } from 'vitest';
import { createResponse } from '../../../src/sip/index.ts';
import type { TransactionManager } from '../../../src/sip/transaction/index.ts';
import { RecordingServerTU, RecordingTransport, request, simulated } from './helpers.ts';

const T1 = 500;
let manager: TransactionManager | undefined;
afterEach(async () => {
  await manager?.stop();
  manager = undefined;
});

const BYE = { method: 'BYE', branch: 'z9hG4bKnist1', toTag: 'uas1', cseq: 2 };

async function setup(reliable = false) {
  const sim = await simulated();
  manager = sim.manager;
  const transport = new RecordingTransport(sim.clock, reliable);
  const tu = new RecordingServerTU(sim.clock);
  const result = sim.manager.receiveRequest(request(BYE), transport, tu);
  if (result.type !== 'new') throw new Error('expected a new transaction');
  await sim.clock.advance(0);
  return { ...sim, transport, tu, tx: result.transaction };
}

describe('non-INVITE server transaction (RFC 3261 §17.2.2)', () => {
  it('in Trying, request retransmissions MUST be discarded: not passed to the TU, nothing sent (no 100 Trying for non-INVITE)', async () => {
    const { clock, transport, tu, tx } = await setup();
    manager!.receiveRequest(request(BYE), transport, tu);
    await clock.advance(1000);
    expect(tx.state).toBe('trying');
    expect(tu.labels()).toEqual(['request:BYE']);
    expect(transport.labels()).toEqual([]);
  });

  it('in Proceeding, a retransmission MUST cause the most recent provisional response to be re-sent', async () => {
    const { clock, transport, tu, tx } = await setup();
    tx.respond(createResponse(tx.request, 100));
    tx.respond(createResponse(tx.request, 183));
    await clock.advance(0);
    expect(tx.state).toBe('proceeding');
    manager!.receiveRequest(request(BYE), transport, tu);
    await clock.advance(0);
    expect(transport.labels()).toEqual(['100', '183', '183']);
  });

  it('in Completed, a retransmission MUST cause the final response to be re-sent; other final responses MUST be discarded; Timer J = 64·T1 on UDP', async () => {
    const { clock, transport, tu, tx } = await setup();
    tx.respond(createResponse(tx.request, 200));
    await clock.advance(0);
    expect(tx.state).toBe('completed');
    expect(tx.status()?.timers.map((t) => t.name)).toEqual(['TimerJ']);
    tx.respond(createResponse(tx.request, 500));
    manager!.receiveRequest(request(BYE), transport, tu);
    await clock.advance(64 * T1 - 1);
    expect(transport.labels()).toEqual(['200', '200']);
    expect(tx.state).toBe('completed');
    await clock.advance(1);
    expect(tx.state).toBe('terminated');
    expect(manager!.size).toBe(0);
  });

  it('Timer J MUST be 0 on a reliable transport', async () => {
    const { clock, tx } = await setup(true);
    tx.respond(createResponse(tx.request, 200));
    await clock.advance(0);
    expect(tx.state).toBe('terminated');
    expect(manager!.size).toBe(0);
  });

  it('a transport error MUST be reported to the TU and end the transaction', async () => {
    const { clock, transport, tu, tx } = await setup();
    transport.fail = { error: new Error('EPIPE'), async: true };
    tx.respond(createResponse(tx.request, 200));
    await clock.advance(0);
    expect(tu.labels()).toEqual(['request:BYE', 'transportError']);
    expect(tx.state).toBe('terminated');
  });
});
