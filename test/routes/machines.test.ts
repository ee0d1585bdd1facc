/**
 * The breaker and target machines on simulated time: every timer that decides where a request goes
 * (open time, half-open admission, ejection time, health interval) is a machine timeout.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock, startMachine } from '../../src/fsm/index.ts';
import { BreakerGate, breakerMachine, type BreakerMsg, type BreakerState } from '../../src/routes/breaker.machine.ts';
import type { CircuitBreaker } from '../../src/routes/config.ts';
import { RetryBudget } from '../../src/routes/retry-budget.ts';
import { TargetGate, targetMachine, type TargetDecision, type TargetMsg } from '../../src/routes/target.machine.ts';

const options: CircuitBreaker = {
  errorThresholdPercentage: 50,
  volumeThreshold: 4,
  rollingWindowMs: 10_000,
  resetTimeoutMs: 1000,
  maxResetTimeoutMs: 3000,
  halfOpenRequests: 2,
  slowCallMs: undefined,
};

async function breaker(clock: SimulatedClock) {
  const gate = new BreakerGate(clock);
  const transitions: [BreakerState, BreakerState, number][] = [];
  const mailbox: { target?: { cast(m: BreakerMsg): void }; cast(m: BreakerMsg): void } = { cast: (m) => mailbox.target?.cast(m) };
  const ref = await startMachine(breakerMachine, { gate, options, clock, mailbox, onTransition: (f, t, ms) => transitions.push([f, t, ms]) }, { clock });
  mailbox.target = ref;
  return { gate, ref, transitions };
}

/** Lets opossum's promise continuations and the machine's casts run. */
const settle = async (clock: SimulatedClock) => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  await clock.advance(0);
};

describe('breaker machine (simulated clock)', () => {
  it('trips once the error ratio passes the threshold at the minimum volume, not before', async () => {
    const clock = new SimulatedClock();
    const { gate, transitions } = await breaker(clock);
    for (let i = 0; i < 3; i++) gate.report(gate.acquire()!, false);
    await settle(clock);
    expect(gate.state).toBe('closed'); // 3 < volumeThreshold
    gate.report(gate.acquire()!, false);
    await settle(clock);
    expect(gate.state).toBe('open');
    expect(gate.canAdmit()).toBe(false);
    expect(transitions).toEqual([['closed', 'open', 1000]]);
  });

  it('stays closed while the error ratio is at or below the threshold', async () => {
    const clock = new SimulatedClock();
    const { gate } = await breaker(clock);
    for (let i = 0; i < 20; i++) gate.report(gate.acquire()!, i % 2 === 0);
    await settle(clock);
    expect(gate.state).toBe('closed');
  });

  it('forgets failures older than the rolling window', async () => {
    const clock = new SimulatedClock();
    const { gate } = await breaker(clock);
    for (let i = 0; i < 3; i++) gate.report(gate.acquire()!, false);
    await settle(clock);
    await clock.advance(11_000);
    gate.report(gate.acquire()!, false);
    await settle(clock);
    expect(gate.state).toBe('closed');
  });

  it('goes half-open after the open time and admits exactly halfOpenRequests trials; all succeeding closes it', async () => {
    const clock = new SimulatedClock();
    const { gate, transitions } = await breaker(clock);
    for (let i = 0; i < 4; i++) gate.report(gate.acquire()!, false);
    await settle(clock);
    await clock.advance(999);
    expect(gate.state).toBe('open');
    await clock.advance(1);
    expect(gate.state).toBe('halfOpen');
    const a = gate.acquire();
    const b = gate.acquire();
    expect([a, b, gate.acquire(), gate.canAdmit()]).toEqual(['trial', 'trial', undefined, false]);
    gate.report(a!, true);
    await settle(clock);
    expect(gate.state).toBe('halfOpen');
    gate.report(b!, true);
    await settle(clock);
    expect(gate.state).toBe('closed');
    expect(transitions.map(([f, t]) => `${f}>${t}`)).toEqual(['closed>open', 'open>halfOpen', 'halfOpen>closed']);
    // The window was cleared on closing: one new failure does not trip it again.
    gate.report(gate.acquire()!, false);
    await settle(clock);
    expect(gate.state).toBe('closed');
  });

  it('a failed trial re-opens it with a doubled open time, capped at maxResetTimeoutMs', async () => {
    const clock = new SimulatedClock();
    const { gate, transitions } = await breaker(clock);
    for (let i = 0; i < 4; i++) gate.report(gate.acquire()!, false);
    await settle(clock);
    for (const expected of [2000, 3000, 3000]) {
      await clock.advance(transitions.at(-1)![2]);
      expect(gate.state).toBe('halfOpen');
      gate.report(gate.acquire()!, false);
      await settle(clock);
      expect(gate.state).toBe('open');
      expect(transitions.at(-1)).toEqual(['halfOpen', 'open', expected]);
      expect(gate.retryAfterSeconds()).toBe(expected / 1000);
    }
  });

  it('a trial whose client went away gives its place back', async () => {
    const clock = new SimulatedClock();
    const { gate } = await breaker(clock);
    for (let i = 0; i < 4; i++) gate.report(gate.acquire()!, false);
    await settle(clock);
    await clock.advance(1000);
    const a = gate.acquire()!;
    gate.acquire();
    expect(gate.canAdmit()).toBe(false);
    gate.release(a);
    expect(gate.canAdmit()).toBe(true);
  });
});

async function target(clock: SimulatedClock, overrides: Partial<Parameters<typeof targetMachine.init>[0]> = {}) {
  const gate = new TargetGate();
  const decisions: TargetDecision[] = [];
  const probes: number[] = [];
  const ref = await startMachine(
    targetMachine,
    {
      gate,
      healthCheck: undefined,
      outlierDetection: { consecutive5xx: 3, consecutiveGatewayFailures: 2, baseEjectionMs: 1000, maxEjectionMs: 2500, maxEjectionPercent: 50 },
      probe: () => probes.push(clock.now()),
      mayEject: () => true,
      onDecision: (d) => decisions.push(d),
      ...overrides,
    },
    { clock },
  );
  const send = async (msg: TargetMsg) => {
    ref.cast(msg);
    await clock.advance(0);
  };
  return { gate, ref, decisions, probes, send };
}

describe('target machine (simulated clock)', () => {
  it('ejects after consecutive 5xx for baseEjectionMs × ejections (capped), and returns by itself', async () => {
    const clock = new SimulatedClock();
    const { gate, send, decisions } = await target(clock);
    for (const kind of ['http5xx', 'http5xx', 'ok', 'http5xx', 'http5xx'] as const) await send({ type: 'outcome', kind });
    expect(gate.ejected).toBe(false); // the ok in between reset the count
    await send({ type: 'outcome', kind: 'http5xx' });
    expect(gate.ejected).toBe(true);
    expect(gate.available).toBe(false);
    await clock.advance(999);
    expect(gate.ejected).toBe(true);
    await clock.advance(1);
    expect(gate.ejected).toBe(false);
    for (const ms of [2000, 2500]) {
      await send({ type: 'outcome', kind: 'gatewayFailure' });
      await send({ type: 'outcome', kind: 'gatewayFailure' });
      expect(gate.ejected).toBe(true);
      expect(decisions.at(-1)).toMatchObject({ type: 'ejected', ejectionMs: ms });
      await clock.advance(ms);
      expect(gate.ejected).toBe(false);
    }
  });

  it('does not eject past maxEjectionPercent', async () => {
    const clock = new SimulatedClock();
    const { gate, send, decisions } = await target(clock, { mayEject: () => false });
    for (let i = 0; i < 3; i++) await send({ type: 'outcome', kind: 'http5xx' });
    expect(gate.ejected).toBe(false);
    expect(decisions).toEqual([{ type: 'ejectionRefused', reason: 'http5xx' }]);
  });

  it('probes every intervalMs; unhealthyThreshold failures take it out, healthyThreshold successes bring it back', async () => {
    const clock = new SimulatedClock();
    const healthCheck = { path: '/healthz', intervalMs: 500, timeoutMs: 100, unhealthyThreshold: 3, healthyThreshold: 2 };
    const { gate, send, probes } = await target(clock, { healthCheck, outlierDetection: undefined });
    await clock.advance(0);
    expect(probes).toEqual([0]); // the first probe at once
    const answer = async (ok: boolean) => {
      await send({ type: 'probeResult', ok, detail: ok ? 'status 200' : 'status 503' });
      await clock.advance(healthCheck.intervalMs);
    };
    await answer(false);
    await answer(false);
    expect(gate.healthy).toBe(true);
    await answer(false);
    expect(gate.healthy).toBe(false);
    await answer(true);
    expect(gate.healthy).toBe(false);
    await answer(true);
    expect(gate.healthy).toBe(true);
    expect(probes).toEqual([0, 500, 1000, 1500, 2000, 2500]);
  });
});

describe('retry budget', () => {
  it('allows at most budgetPercent % of requests as retries, plus the starting balance', () => {
    const budget = new RetryBudget(20, 2);
    let retries = 0;
    for (let i = 0; i < 1000; i++) {
      budget.deposit();
      if (budget.tryWithdraw(0, 100)) retries++;
    }
    expect(retries).toBe(202);
  });

  it('limits retries in flight to max(minRetryConcurrency, budgetPercent % of requests in flight)', () => {
    const budget = new RetryBudget(20, 3);
    for (let i = 0; i < 50; i++) budget.deposit();
    expect(budget.tryWithdraw(3, 10)).toBe(false); // max(3, 2) = 3 in flight already
    expect(budget.tryWithdraw(3, 20)).toBe(true); // max(3, 4) = 4
    expect(budget.tryWithdraw(4, 20)).toBe(false);
  });
});
