import { afterEach, describe, expect, it } from 'vitest';
import type { TransactionManager } from '../../../src/sip/transaction/index.ts';
import { intervals, RecordingClientTU, RecordingTransport, request, response, simulated } from './helpers.ts';

const T1 = 500;
const T2 = 4000;
const T4 = 5000;
let manager: TransactionManager | undefined;
afterEach(async () => {
  await manager?.stop();
  manager = undefined;
});

async function setup(reliable = false, method = 'OPTIONS') {
  const sim = await simulated();
  manager = sim.manager;
  const transport = new RecordingTransport(sim.clock, reliable);
  const tu = new RecordingClientTU(sim.clock);
  const req = request({ method, branch: 'z9hG4bKnict1' });
  const tx = await sim.manager.sendRequest(req, transport, tu);
  await sim.clock.advance(0);
  return { ...sim, transport, tu, req, tx };
}

describe('non-INVITE client transaction (RFC 3261 §17.1.2)', () => {
  it('a non-INVITE client transaction MUST retransmit at T1, doubling up to T2, until Timer F (64·T1) → 408 to the TU', async () => {
    const { clock, transport, tu, tx } = await setup();
    expect(tx.kind).toBe('nonInviteClient');
    expect(tx.state).toBe('trying');
    expect(tx.status()?.timers.map((t) => t.name).sort()).toEqual(['TimerE', 'TimerF']);
    await clock.advance(64 * T1 - 1);
    const times = transport.times();
    expect(intervals(times).slice(0, 5)).toEqual([T1, 2 * T1, 4 * T1, T2, T2]);
    expect(intervals(times).every((d) => d <= T2)).toBe(true);
    expect(times.at(-1)).toBe(31_500);
    expect(tu.reports).toEqual([]);
    await clock.advance(1);
    expect(tu.labels()).toEqual(['timeout:408']);
    expect(tx.state).toBe('terminated');
    expect(manager!.size).toBe(0);
  });

  it('in Proceeding, Timer E MUST be reset to T2; Timer F still applies', async () => {
    const { clock, transport, tu, req } = await setup();
    manager!.receiveResponse(response(req, 100));
    await clock.advance(T1); // Timer E fires in Proceeding: next interval T2
    await clock.advance(3 * T2);
    expect(intervals(transport.times())).toEqual([T1, T2, T2, T2]);
    await clock.advance(64 * T1);
    expect(tu.labels()).toEqual(['response:100', 'timeout:408']);
  });

  it('MUST NOT retransmit on a reliable transport; Timer F still fires', async () => {
    const { clock, transport, tu } = await setup(true);
    await clock.advance(64 * T1);
    expect(transport.labels()).toEqual(['OPTIONS']);
    expect(tu.labels()).toEqual(['timeout:408']);
  });

  it('a final response MUST be passed to the TU once; Completed absorbs its retransmissions for Timer K = T4 on UDP', async () => {
    const { clock, transport, tu, tx, req } = await setup(false, 'REGISTER');
    manager!.receiveResponse(response(req, 180));
    manager!.receiveResponse(response(req, 200));
    await clock.advance(0);
    expect(tx.state).toBe('completed');
    expect(tx.status()?.timers.map((t) => t.name)).toEqual(['TimerK']);
    manager!.receiveResponse(response(req, 200));
    await clock.advance(T4 - 1);
    expect(tu.labels()).toEqual(['response:180', 'response:200']);
    expect(transport.labels()).toEqual(['REGISTER']); // no retransmissions once Completed
    expect(tx.state).toBe('completed');
    await clock.advance(1);
    expect(tx.state).toBe('terminated');
    expect(manager!.size).toBe(0);
  });

  it('Timer K MUST be 0 on a reliable transport', async () => {
    const { clock, tx, req } = await setup(true, 'BYE');
    manager!.receiveResponse(response(req, 481));
    await clock.advance(0);
    expect(tx.state).toBe('terminated');
  });

  it('a transport error MUST be reported to the TU as a 503', async () => {
    const { clock, transport, tu, tx } = await setup();
    transport.fail = { error: new Error('ENETUNREACH'), async: false };
    await clock.advance(T1);
    expect(tu.labels()).toEqual(['transportError:503']);
    expect(tx.state).toBe('terminated');
  });
});
