import { describe, expect, it } from 'vitest';
import {
  CallTimeoutError,
  eventTimeout,
  genericTimeout,
  keep,
  next,
  RealClock,
  startMachine,
  startSupervisor,
  stateTimeout,
  cancelStateTimeout,
} from '../../src/fsm/index.ts';

// A few timers on real time, each well under 200 ms, to check the real clock end to end.
const clock = new RealClock({ unref: false });

describe('real time', () => {
  it('A.11 a state timeout fires on real time', async () => {
    const started = performance.now();
    const m = await startMachine<'waiting' | 'done', number, string>(
      {
        name: 'rt-state',
        init: () => ({ state: 'waiting', data: 0, actions: [stateTimeout(30, 'go')] }),
        states: {
          waiting: (event) => (event.type === 'stateTimeout' ? next('done', performance.now() - started) : keep()),
          done: () => keep(),
        },
      },
      undefined,
      { clock },
    );
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(m.status().state).toBe('done');
    expect(m.status().data).toBeGreaterThanOrEqual(29);
    await m.stop();
  });

  it('A.10 an event timeout re-armed by each event fires only after the events stop', async () => {
    const fired: number[] = [];
    const casts: number[] = [];
    const m = await startMachine<string, null, string>(
      {
        name: 'rt-event',
        init: () => ({ state: 's', data: null }),
        handleEvent: (event) => {
          if (event.type === 'eventTimeout') fired.push(performance.now());
          return event.type === 'cast' ? keep(undefined, [eventTimeout(40, 'idle')]) : keep();
        },
      },
      undefined,
      { clock },
    );
    for (let i = 0; i < 4; i++) {
      casts.push(performance.now());
      m.cast('ping');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    // robust to a loaded machine: each expiry comes >= 40 ms after the cast before it (never while
    // events keep arriving in time), and one comes after the last cast
    expect(fired.length).toBeGreaterThanOrEqual(1);
    for (const at of fired) {
      const lastCast = Math.max(...casts.filter((c) => c < at));
      expect(at - lastCast).toBeGreaterThanOrEqual(39);
    }
    expect(fired.at(-1) as number).toBeGreaterThan(casts.at(-1) as number);
    await m.stop();
  });

  it('A.6 a call times out on real time', async () => {
    const m = await startMachine({ name: 'rt-silent', init: () => ({ state: 's', data: null }), handleEvent: () => keep() }, undefined, { clock });
    await expect(m.call('hello?', { timeoutMs: 25 })).rejects.toBeInstanceOf(CallTimeoutError);
    await m.stop();
  });

  it('A.13 a timer cancelled while its expiry is already queued is never delivered (real time)', async () => {
    const log: string[] = [];
    const m = await startMachine<string, null, string>(
      {
        name: 'rt-stale',
        init: () => ({ state: 's', data: null, actions: [genericTimeout('g', 20, 'cancel'), stateTimeout(20, 'stale')] }),
        handleEvent: (event) => {
          log.push(`${event.type}:${event.msg}`);
          return event.msg === 'cancel' ? keep(undefined, [cancelStateTimeout()]) : keep();
        },
      },
      undefined,
      { clock },
    );
    await new Promise((resolve) => setTimeout(resolve, 70));
    expect(log).toEqual(['genericTimeout:cancel']);
    await m.stop();
  });

  it('B.5 a shutdown deadline kills a child that does not stop in time (real time)', async () => {
    let killed = false;
    const stubborn = () => {
      const exit = Promise.withResolvers<'killed'>();
      return Promise.resolve({
        exited: exit.promise,
        stop: () => new Promise<void>(() => {}), // ignores the request
        kill: () => {
          killed = true;
          exit.resolve('killed');
        },
      });
    };
    const sup = await startSupervisor({}, [{ id: 'stubborn', start: stubborn, shutdown: 40 }], { clock });
    const started = performance.now();
    await sup.stop();
    expect(killed).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(39);
  });
});
