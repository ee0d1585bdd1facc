import { describe, expect, it } from 'vitest';
import {
  type Action,
  cancelEventTimeout,
  cancelGenericTimeout,
  cancelStateTimeout,
  type EnterResult,
  eventTimeout,
  genericTimeout,
  keep,
  type MachineEvent,
  type MachineRef,
  next,
  nextEvent,
  postpone,
  repeat,
  type Result,
  type SimulatedClock,
  startMachine,
  stateTimeout,
  updateEventTimeout,
  updateGenericTimeout,
  updateStateTimeout,
} from '../../src/fsm/index.ts';
import { settle, show, simClock } from './helpers.ts';

/**
 * A scripted machine: each cast's msg is a command; `script[msg]` says what to return. Every
 * delivered event is logged as `time state type:msg`.
 */
type Script = Record<string, (state: string) => Result<string, null, string>>;
async function scripted(
  clock: SimulatedClock,
  script: Script,
  options: { enter?: (old: string, state: string) => EnterResult<null, string>; init?: readonly Action<string>[] } = {},
): Promise<{ m: MachineRef<string, string>; log: string[] }> {
  const log: string[] = [];
  const m = await startMachine<string, null, string>(
    {
      name: 'scripted',
      init: () => ({ state: 'a', data: null, actions: (options.init ?? []) as never }),
      ...(options.enter ? { enter: options.enter } : {}),
      handleEvent(event: MachineEvent<string>, state) {
        log.push(`${clock.now()} ${state} ${show(event)}`);
        const step = script[event.msg];
        return step === undefined ? keep() : step(state);
      },
    },
    undefined,
    { clock },
  );
  return { m, log };
}

describe('A.10 event timeout', () => {
  it('A.10 the event timeout fires when no event arrives for its duration', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, { arm: () => keep(undefined, [eventTimeout(100, 'idle')]) });
    m.cast('arm');
    await clock.advance(99);
    expect(log).toEqual(['0 a cast:arm']);
    await clock.advance(1);
    expect(log).toEqual(['0 a cast:arm', '100 a eventTimeout:idle']);
  });

  it('A.10 any external event cancels it', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, { arm: () => keep(undefined, [eventTimeout(100, 'idle')]) });
    m.cast('arm');
    await clock.advance(50);
    m.cast('other');
    await clock.advance(200);
    expect(log).toEqual(['0 a cast:arm', '50 a cast:other']);
  });

  it('A.10 an inserted event cancels it', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, { arm: () => keep(undefined, [eventTimeout(100, 'idle'), nextEvent('inserted')]) });
    m.cast('arm');
    await clock.advance(200);
    expect(log).toEqual(['0 a cast:arm', '0 a internal:inserted']);
  });

  it('A.10 a re-delivered postponed event cancels it', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, {
      hold: () => keep(undefined, [postpone()]),
      go: (state) => (state === 'a' ? next('b', undefined, [eventTimeout(100, 'idle')]) : keep()),
    });
    m.cast('hold');
    m.cast('go');
    await clock.advance(200);
    expect(log).toEqual(['0 a cast:hold', '0 a cast:go', '0 b cast:hold']);
  });

  it('A.10 a timeout event cancels it too', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, { arm: () => keep(undefined, [genericTimeout('g', 50, 'g'), eventTimeout(100, 'idle')]) });
    m.cast('arm');
    await clock.advance(200);
    expect(log).toEqual(['0 a cast:arm', '50 a genericTimeout(g):g']);
  });

  it('A.10 a zero event timeout is cancelled by events queued internally ahead of it, not by mailbox events', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, {
      queued: () => keep(undefined, [eventTimeout(0, 'cancelled'), nextEvent('inserted')]),
      empty: () => keep(undefined, [eventTimeout(0, 'fires')]),
    });
    m.cast('queued');
    await settle();
    m.cast('empty');
    m.cast('later'); // already in the mailbox: not yet received, so the zero timeout comes first
    await settle();
    expect(log).toEqual(['0 a cast:queued', '0 a internal:inserted', '0 a cast:empty', '0 a eventTimeout:fires', '0 a cast:later']);
  });

  it('A.10 a zero-time timeout queued ahead of a zero event timeout cancels it; one queued after it does not', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, {
      before: () => keep(undefined, [genericTimeout('g', 0, 'g1'), eventTimeout(0, 'cancelled')]),
      after: () => keep(undefined, [eventTimeout(0, 'fires'), genericTimeout('g', 0, 'g2')]),
    });
    m.cast('before');
    await settle();
    m.cast('after');
    await settle();
    expect(log).toEqual(['0 a cast:before', '0 a genericTimeout(g):g1', '0 a cast:after', '0 a eventTimeout:fires', '0 a genericTimeout(g):g2']);
  });

  it('A.10 at most one event timeout: starting it again restarts it', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, { arm: () => keep(undefined, [eventTimeout(100, 'idle')]) }, { init: [eventTimeout(30, 'first')] });
    await clock.advance(20);
    m.cast('arm');
    await clock.advance(200);
    expect(log).toEqual(['20 a cast:arm', '120 a eventTimeout:idle']);
  });
});

describe('A.11 state timeout', () => {
  const script: Script = {
    arm: () => keep(undefined, [stateTimeout(100, 'st')]),
    keep: () => keep(),
    repeat: () => repeat(),
    change: () => next('b'),
    'change-and-arm': () => next('b', undefined, [stateTimeout(100, 'new state')]),
  };

  it('A.11 keep and repeat do not cancel the state timeout', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, script);
    m.cast('arm');
    await clock.advance(40);
    m.cast('keep');
    m.cast('repeat');
    await clock.advance(60);
    expect(log).toEqual(['0 a cast:arm', '40 a cast:keep', '40 a cast:repeat', '100 a stateTimeout:st']);
  });

  it('A.11 a state change cancels it', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, script);
    m.cast('arm');
    await clock.advance(40);
    m.cast('change');
    await clock.advance(200);
    expect(log).toEqual(['0 a cast:arm', '40 a cast:change']);
  });

  it('A.11 set together with a state change, it runs in the new state', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, script);
    m.cast('change-and-arm');
    await clock.advance(100);
    expect(log).toEqual(['0 a cast:change-and-arm', '100 b stateTimeout:new state']);
  });

  it('A.11 at most one state timeout: setting it again restarts it', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, script);
    m.cast('arm');
    await clock.advance(50);
    m.cast('arm');
    await clock.advance(100);
    expect(log).toEqual(['0 a cast:arm', '50 a cast:arm', '150 a stateTimeout:st']);
  });
});

describe('A.12 generic timeouts', () => {
  it('A.12 any number of named timeouts, surviving state changes', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, {
      arm: () => keep(undefined, [genericTimeout('t1', 100, 'one'), genericTimeout('t2', 50, 'two'), genericTimeout('t3', 150, 'three')]),
      change: () => next('b'),
    });
    m.cast('arm');
    await clock.advance(10);
    m.cast('change');
    await clock.advance(200);
    expect(log).toEqual(['0 a cast:arm', '10 a cast:change', '50 b genericTimeout(t2):two', '100 b genericTimeout(t1):one', '150 b genericTimeout(t3):three']);
  });

  it('A.12 setting the same name restarts it', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, { arm: () => keep(undefined, [genericTimeout('t', 100, 'x')]) });
    m.cast('arm');
    await clock.advance(60);
    m.cast('arm');
    await clock.advance(200);
    expect(log).toEqual(['0 a cast:arm', '60 a cast:arm', '160 a genericTimeout(t):x']);
  });
});

describe('A.13 cancel and update', () => {
  it('A.13 each timeout can be cancelled', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, {
      arm: () => keep(undefined, [stateTimeout(100, 's'), genericTimeout('g', 100, 'g'), genericTimeout('h', 100, 'h')]),
      cancel: () => keep(undefined, [cancelStateTimeout(), cancelGenericTimeout('g'), eventTimeout(100, 'e'), cancelEventTimeout()]),
    });
    m.cast('arm');
    m.cast('cancel');
    await clock.advance(300);
    expect(log).toEqual(['0 a cast:arm', '0 a cast:cancel', '100 a genericTimeout(h):h']);
  });

  it('A.13 update changes the content and keeps the deadline', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, {
      arm: () => keep(undefined, [stateTimeout(100, 'old s'), genericTimeout('g', 100, 'old g')]),
      update: () => keep(undefined, [updateStateTimeout('new s'), updateGenericTimeout('g', 'new g')]),
    });
    m.cast('arm');
    await clock.advance(30);
    m.cast('update');
    await clock.advance(100);
    expect(log).toEqual(['0 a cast:arm', '30 a cast:update', '100 a stateTimeout:new s', '100 a genericTimeout(g):new g']);
  });

  it('A.13 updating a timeout that is not running fires it at once', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, {
      update: () => keep(undefined, [updateStateTimeout('s now'), updateGenericTimeout('g', 'g now'), updateEventTimeout('e now')]),
    });
    m.cast('update');
    await settle();
    expect(log).toEqual(['0 a cast:update', '0 a stateTimeout:s now', '0 a genericTimeout(g):g now']);
    // the zero event timeout was cancelled by the state timeout event delivered before it
  });

  it('A.13 a cancelled timer whose expiry is already queued is never delivered', async () => {
    const clock = simClock();
    // both expire at t=100; g was armed first, so its expiry is handled first and cancels s,
    // whose expiry is already in the mailbox
    const { m, log } = await scripted(clock, {
      arm: () => keep(undefined, [genericTimeout('g', 100, 'cancel s'), stateTimeout(100, 'never')]),
      'cancel s': () => keep(undefined, [cancelStateTimeout()]),
    });
    m.cast('arm');
    await clock.advance(500);
    expect(log).toEqual(['0 a cast:arm', '100 a genericTimeout(g):cancel s']);
  });

  it('A.13 a restarted timer whose old expiry is already queued delivers only the new one', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, {
      arm: () => keep(undefined, [genericTimeout('g', 100, 'restart s'), stateTimeout(100, 'old')]),
      'restart s': () => keep(undefined, [stateTimeout(50, 'new')]),
    });
    m.cast('arm');
    await clock.advance(500);
    expect(log).toEqual(['0 a cast:arm', '100 a genericTimeout(g):restart s', '150 a stateTimeout:new']);
  });
});

describe('A.14 zero-time timeouts', () => {
  it('A.14 zero-time state and generic timeouts are delivered after already queued events, before later external events', async () => {
    const clock = simClock();
    const self: { ref?: MachineRef<string, string> } = {};
    const { m, log } = await scripted(clock, {
      go: () => {
        self.ref?.cast('external');
        return keep(undefined, [genericTimeout('g', 0, 'g0'), stateTimeout(0, 's0'), nextEvent('i1'), nextEvent('i2')]);
      },
    });
    self.ref = m;
    m.cast('go');
    await settle();
    expect(log).toEqual(['0 a cast:go', '0 a internal:i1', '0 a internal:i2', '0 a genericTimeout(g):g0', '0 a stateTimeout:s0', '0 a cast:external']);
  });
});

describe('A.15 last action of a kind wins', () => {
  it('A.15 several timeouts of one kind in one result: the last wins', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, {
      arm: () =>
        keep(undefined, [
          stateTimeout(10, 'first'),
          stateTimeout(30, 'last'),
          genericTimeout('g', 5, 'first g'),
          genericTimeout('g', 40, 'last g'),
          eventTimeout(1, 'e'),
          cancelEventTimeout(),
        ]),
    });
    m.cast('arm');
    await clock.advance(100);
    expect(log).toEqual(['0 a cast:arm', '30 a stateTimeout:last', '40 a genericTimeout(g):last g']);
  });

  it("A.15 the enter call's actions come after the callback's, so they win", async () => {
    const clock = simClock();
    const { m, log } = await scripted(
      clock,
      { go: () => next('b', undefined, [stateTimeout(10, 'from callback')]) },
      { enter: (_old, state) => (state === 'b' ? keep(undefined, [stateTimeout(20, 'from enter')]) : keep()) },
    );
    m.cast('go');
    await clock.advance(100);
    expect(log).toEqual(['0 a cast:go', '20 b stateTimeout:from enter']);
  });
});

describe('timeout edge cases', () => {
  it('an Infinity timeout cancels, as OTP infinity does', async () => {
    const clock = simClock();
    const { m, log } = await scripted(clock, {
      arm: () => keep(undefined, [stateTimeout(100, 's')]),
      forever: () => keep(undefined, [stateTimeout(Infinity, 's')]),
    });
    m.cast('arm');
    m.cast('forever');
    await clock.advance(1000);
    expect(log).toEqual(['0 a cast:arm', '0 a cast:forever']);
  });

  it('status() lists armed timers with the time left', async () => {
    const clock = simClock();
    const { m } = await scripted(clock, { arm: () => keep(undefined, [stateTimeout(100, 's'), genericTimeout('g', 250, 'g')]) });
    m.cast('arm');
    await clock.advance(40);
    expect(m.status().timers).toEqual([
      { timeout: 'stateTimeout', name: '', remainingMs: 60 },
      { timeout: 'genericTimeout', name: 'g', remainingMs: 210 },
    ]);
  });

  it('stopping a machine disarms its timers on the clock', async () => {
    const clock = simClock();
    const { m } = await scripted(clock, { arm: () => keep(undefined, [stateTimeout(100, 's'), genericTimeout('g', 250, 'g'), eventTimeout(10, 'e')]) });
    m.cast('arm');
    await settle();
    expect(clock.pendingTimers).toBe(3);
    await m.stop();
    expect(clock.pendingTimers).toBe(0);
  });
});
