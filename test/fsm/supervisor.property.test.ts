/**
 * Property: whatever the crash timing, a supervisor never performs more than `intensity` restarts
 * within `periodMs` without escalating, and it escalates exactly when the sliding-window model says.
 */
import diagnostics from 'node:diagnostics_channel';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FSM_CHANNELS, type RestartMessage, SimulatedClock, startSupervisor } from '../../src/fsm/index.ts';
import { settleAll, Workers } from './supervisor-helpers.ts';

const restarts: RestartMessage[] = [];
const onRestart = (message: unknown) => restarts.push(message as RestartMessage);
beforeAll(() => diagnostics.subscribe(FSM_CHANNELS.supRestart, onRestart));
afterAll(() => diagnostics.unsubscribe(FSM_CHANNELS.supRestart, onRestart));

/**
 * Index of the crash that escalates, or -1: OTP add_restart over a window of periodMs, closed at
 * both ends (a restart R is kept while R >= Now - Period).
 */
function escalationIndex(crashTimes: number[], intensity: number, periodMs: number): number {
  let window: number[] = [];
  for (const [i, t] of crashTimes.entries()) {
    window = window.filter((r) => r >= t - periodMs);
    window.push(t);
    if (window.length > intensity) return i;
  }
  return -1;
}

let runs = 0;

describe('supervisor intensity property', () => {
  it('B.4 never more than intensity restarts within periodMs without escalating', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 2000 }),
        fc.array(fc.integer({ min: 0, max: 1500 }), { minLength: 1, maxLength: 12 }),
        async (intensity, periodMs, gaps) => {
          const clock = new SimulatedClock();
          const w = new Workers(clock);
          const sup = await startSupervisor({ intensity, periodMs }, [w.spec('worker')], { clock });
          let exited = false;
          void sup.exited.then(() => (exited = true));
          const crashTimes: number[] = [];
          for (const gap of gaps) {
            await clock.advance(gap);
            if (exited) break;
            crashTimes.push(clock.now());
            w.send('worker', 'crash');
            await settleAll();
          }
          const mine = restarts.filter((r) => r.id === (sup as { id: number }).id);
          const restartTimes = crashTimes.slice(0, mine.length);
          for (const t of restartTimes) {
            expect(restartTimes.filter((r) => r >= t - periodMs && r <= t).length).toBeLessThanOrEqual(intensity);
          }
          const expected = escalationIndex(crashTimes, intensity, periodMs);
          expect(exited).toBe(expected >= 0);
          expect(mine.length).toBe(expected >= 0 ? expected : crashTimes.length);
          if (!exited) await sup.stop();
          runs++;
        },
      ),
      { numRuns: 100 },
    );
    expect(runs).toBe(100);
  });
});
