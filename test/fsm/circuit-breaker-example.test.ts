/**
 * The circuit breaker of docs/fsm.md, as a test. The code between the `circuit-breaker` markers
 * must stay identical to the block in the docs (checked below).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SimulatedClock, startMachine } from '../../src/fsm/index.ts';

// circuit-breaker:start
import { keep, type MachineSpec, next, reply, stateTimeout } from '../../src/fsm/index.ts';

type BreakerState = 'closed' | 'open' | 'halfOpen';
type BreakerMsg = 'request' | 'success' | 'failure' | 'reset';
type BreakerOptions = { threshold: number; resetMs: number };
type BreakerData = BreakerOptions & { failures: number; trialSent: boolean };

/** `call('request')` answers whether a request may go upstream; `cast` its outcome. */
export const circuitBreaker: MachineSpec<BreakerState, BreakerData, BreakerMsg, boolean, BreakerOptions> = {
  name: 'circuit-breaker',
  init: (options) => ({ state: 'closed', data: { ...options, failures: 0, trialSent: false } }),
  enter: (_old, state, data) =>
    state === 'open'
      ? keep(undefined, [stateTimeout(data.resetMs, 'reset')]) // open for resetMs, then half-open
      : keep({ ...data, failures: 0, trialSent: false }),
  states: {
    closed(event, data) {
      if (event.type === 'call') return keep(undefined, [reply(event.from, true)]);
      if (event.msg === 'success') return keep({ ...data, failures: 0 });
      if (event.msg !== 'failure') return keep();
      const failures = data.failures + 1;
      return failures >= data.threshold ? next('open') : keep({ ...data, failures });
    },
    open(event) {
      if (event.type === 'call') return keep(undefined, [reply(event.from, false)]);
      if (event.type === 'stateTimeout') return next('halfOpen');
      return keep();
    },
    halfOpen(event, data) {
      // one trial request at a time; its outcome closes or re-opens the breaker
      if (event.type === 'call') return keep({ ...data, trialSent: true }, [reply(event.from, !data.trialSent)]);
      if (event.msg === 'success') return next('closed');
      if (event.msg === 'failure') return next('open');
      return keep();
    },
  },
};
// circuit-breaker:end

describe('circuit breaker example (docs/fsm.md)', () => {
  it('opens after threshold failures, half-opens after resetMs, closes on a successful trial', async () => {
    const clock = new SimulatedClock();
    const breaker = await startMachine(circuitBreaker, { threshold: 3, resetMs: 5000 }, { clock });
    expect(await breaker.call('request')).toBe(true);
    for (let i = 0; i < 3; i++) breaker.cast('failure');
    expect(await breaker.call('request')).toBe(false);
    expect(breaker.status().state).toBe('open');

    await clock.advance(5000);
    expect(breaker.status().state).toBe('halfOpen');
    expect(await breaker.call('request')).toBe(true); // the trial
    expect(await breaker.call('request')).toBe(false); // others wait for its outcome
    breaker.cast('success');
    expect(await breaker.call('request')).toBe(true);
    expect(breaker.status()).toMatchObject({ state: 'closed', data: { failures: 0 } });
  });

  it('a failed trial re-opens the breaker for another resetMs', async () => {
    const clock = new SimulatedClock();
    const breaker = await startMachine(circuitBreaker, { threshold: 1, resetMs: 1000 }, { clock });
    breaker.cast('failure');
    await clock.advance(1000);
    expect(await breaker.call('request')).toBe(true);
    breaker.cast('failure');
    await clock.advance(999);
    expect(breaker.status().state).toBe('open');
    await clock.advance(1);
    expect(breaker.status().state).toBe('halfOpen');
  });

  it('a success in closed resets the failure count', async () => {
    const breaker = await startMachine(circuitBreaker, { threshold: 2, resetMs: 1000 }, { clock: new SimulatedClock() });
    breaker.cast('failure');
    breaker.cast('success');
    breaker.cast('failure');
    expect(await breaker.call('request')).toBe(true);
  });

  it('the code in docs/fsm.md is this code', () => {
    const between = (text: string, start: string, end: string) => {
      const from = text.indexOf(start);
      const to = text.indexOf(end, from + start.length);
      expect(from).toBeGreaterThanOrEqual(0);
      expect(to).toBeGreaterThan(from);
      return text.slice(from + start.length, to).trim();
    };
    const test = between(readFileSync(new URL(import.meta.url).pathname, 'utf8'), '// circuit-breaker:' + 'start', '// circuit-breaker:' + 'end');
    const docs = readFileSync(new URL('../../docs/fsm.md', import.meta.url), 'utf8');
    const block = between(docs, '<!-- circuit-breaker:start -->', '<!-- circuit-breaker:end -->');
    const code = between(block, '```ts', '```');
    expect(code.replaceAll("'tandem/fsm'", "'../../src/fsm/index.ts'")).toBe(test);
  });
});
