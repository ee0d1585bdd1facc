import { afterEach, describe, expect, it, vi } from 'vitest';
import { genericTimeout, keep, RealClock, SimulatedClock, startMachine } from '../../src/fsm/index.ts';
import { TimerHeap, HeapTimer } from '../../src/fsm/timer-heap.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

describe('timer heap', () => {
  it('pops timers in deadline order, ties in arm order, skipping disarmed ones', () => {
    const heap = new TimerHeap();
    const fired: string[] = [];
    const make = (name: string) => new HeapTimer(() => fired.push(name));
    const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map(make) as [HeapTimer, HeapTimer, HeapTimer, HeapTimer, HeapTimer];
    heap.arm(a, 30);
    heap.arm(b, 10);
    heap.arm(c, 30);
    heap.arm(d, 20);
    heap.arm(e, 5);
    heap.disarm(d);
    heap.arm(b, 40); // lazy re-arm to a later deadline
    heap.arm(e, 30); // re-armed after c: fires after c
    for (let t = heap.popDue(100); t !== undefined; t = heap.popDue(100)) t.onExpire();
    expect(fired).toEqual(['a', 'c', 'e', 'b']);
    expect(heap.size).toBe(0);
  });

  it('re-arming to an earlier deadline moves the timer up', () => {
    const heap = new TimerHeap();
    const t = new HeapTimer(() => {});
    heap.arm(t, 100);
    expect(heap.arm(t, 50)).toBe(true);
    expect(heap.peekKey()).toBe(50);
    expect(heap.popDue(49)).toBeUndefined();
    expect(heap.popDue(50)).toBe(t);
  });
});

describe('SimulatedClock', () => {
  it('delivers due timers in deadline order with now() at each deadline', async () => {
    const clock = new SimulatedClock(1000);
    const fired: string[] = [];
    for (const [name, at] of [['late', 1300], ['early', 1100], ['middle', 1200]] as const) {
      clock.createTimer(() => fired.push(`${name}@${clock.now()}`)).arm(at);
    }
    await clock.advance(250);
    expect(fired).toEqual(['early@1100', 'middle@1200']);
    expect(clock.now()).toBe(1250);
    await clock.advance(50);
    expect(fired).toEqual(['early@1100', 'middle@1200', 'late@1300']);
  });

  it('timers armed by a firing timer within the window fire in the same advance', async () => {
    const clock = new SimulatedClock();
    const fired: number[] = [];
    const timer = clock.createTimer(() => {
      fired.push(clock.now());
      if (fired.length < 5) timer.arm(clock.now() + 10);
    });
    timer.arm(10);
    await clock.advance(100);
    expect(fired).toEqual([10, 20, 30, 40, 50]);
  });
});

describe('RealClock', () => {
  it('100,000 armed timers cost one OS timer', () => {
    const spy = vi.spyOn(globalThis, 'setTimeout');
    const clock = new RealClock();
    const base = clock.now() + 60_000;
    const timers = Array.from({ length: 100_000 }, (_, i) => {
      const t = clock.createTimer(() => {});
      t.arm(base + i);
      return t;
    });
    expect(spy).toHaveBeenCalledTimes(1);
    expect(clock.pendingTimers).toBe(100_000);
    for (const t of timers) t.disarm();
    expect(clock.pendingTimers).toBe(0);
  });

  it('10,000 machines each holding a generic timeout share one OS timer', async () => {
    const spy = vi.spyOn(globalThis, 'setTimeout');
    const clock = new RealClock();
    const machines = await Promise.all(
      Array.from({ length: 10_000 }, () =>
        startMachine(
          { name: 'idle', init: () => ({ state: 'idle', data: null, actions: [genericTimeout('expire', 60_000, 'bye')] }), handleEvent: () => keep() },
          undefined,
          { clock },
        ),
      ),
    );
    expect(clock.pendingTimers).toBe(10_000);
    expect(spy.mock.calls.length).toBeLessThanOrEqual(2);
    await Promise.all(machines.map((m) => m.stop()));
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('ring buffer', () => {
  it('keeps FIFO order across growth and front insertions', async () => {
    const { RingBuffer } = await import('../../src/fsm/ring-buffer.ts');
    const q = new RingBuffer<number>();
    for (let i = 0; i < 10; i++) q.push(i);
    expect(q.shift()).toBe(0);
    q.unshiftAll([-2, -1]);
    q.unshift(-3);
    for (let i = 10; i < 20; i++) q.push(i);
    expect(q.toArray()).toEqual([-3, -2, -1, ...Array.from({ length: 19 }, (_, i) => i + 1)]);
    expect(q.length).toBe(22);
    q.clear();
    expect(q.length).toBe(0);
    expect(q.shift()).toBeUndefined();
  });
});
