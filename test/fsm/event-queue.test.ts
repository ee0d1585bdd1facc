import { describe, expect, it } from 'vitest';
import {
  type EnterResult,
  keep,
  type MachineRef,
  next,
  nextEvent,
  postpone,
  reply,
  startMachine,
  stateTimeout,
  genericTimeout,
  stop,
} from '../../src/fsm/index.ts';
import { settle, show, simClock } from './helpers.ts';

describe('A.7 next-event', () => {
  it('A.7 inserted events run before anything already queued, in the order given', async () => {
    const log: string[] = [];
    const m = await startMachine<string, null, string>(
      {
        name: 'inserter',
        init: () => ({ state: 's', data: null }),
        handleEvent(event) {
          log.push(show(event));
          if (event.msg === 'first') return keep(undefined, [nextEvent('i1'), nextEvent('i2'), nextEvent('i3')]);
          if (event.msg === 'i2') return keep(undefined, [nextEvent('i2.1')]);
          return keep();
        },
      },
      undefined,
    );
    m.cast('first');
    m.cast('second');
    await settle();
    expect(log).toEqual(['cast:first', 'internal:i1', 'internal:i2', 'internal:i2.1', 'internal:i3', 'cast:second']);
  });
});

describe('A.8 postpone', () => {
  type S = 'closed' | 'open';
  async function gate(log: string[]): Promise<MachineRef<S, string>> {
    return startMachine<S, null, string>(
      {
        name: 'gate',
        init: () => ({ state: 'closed', data: null }),
        states: {
          closed(event) {
            log.push(`closed ${event.msg}`);
            if (event.msg === 'open') return next('open');
            if (event.msg === 'keep') return keep();
            return keep(undefined, [postpone()]);
          },
          open(event) {
            log.push(`open ${event.msg}`);
            if (event.msg === 'close') return next('closed');
            if (event.msg.startsWith('again')) return keep(undefined, [postpone()]);
            return keep();
          },
        },
      },
      undefined,
    );
  }

  it('A.8 postpone: the event is held until the next state change, then re-delivered oldest first, before newer queued events', async () => {
    const log: string[] = [];
    const m = await gate(log);
    for (const msg of ['p1', 'p2', 'keep', 'open', 'newer']) m.cast(msg);
    await settle();
    expect(log).toEqual(['closed p1', 'closed p2', 'closed keep', 'closed open', 'open p1', 'open p2', 'open newer']);
    expect(m.status().postponedCount).toBe(0);
  });

  it('A.8 keep never re-delivers postponed events', async () => {
    const log: string[] = [];
    const m = await gate(log);
    for (const msg of ['p1', 'keep', 'keep']) m.cast(msg);
    await settle();
    expect(log).toEqual(['closed p1', 'closed keep', 'closed keep']);
    expect(m.status().postponedCount).toBe(1);
  });

  it('A.8 an event postponed again stays postponed: never lost, never duplicated', async () => {
    const log: string[] = [];
    const m = await gate(log);
    for (const msg of ['again1', 'open', 'close', 'open']) m.cast(msg);
    await settle();
    // again1: postponed in closed, re-delivered in open and postponed again, re-delivered in closed
    // (postponed there too), and again in open.
    expect(log).toEqual(['closed again1', 'closed open', 'open again1', 'open close', 'closed again1', 'closed open', 'open again1']);
    expect(m.status().postponedCount).toBe(1);
  });

  it('A.8 a postponed call is answered later, in another state', async () => {
    const m = await startMachine<'busy' | 'ready', null, string, string>(
      {
        name: 'postponed-call',
        init: () => ({ state: 'busy', data: null }),
        states: {
          busy: (event) => (event.type === 'call' ? keep(undefined, [postpone()]) : next('ready')),
          ready: (event) => (event.type === 'call' ? keep(undefined, [reply(event.from, `ready for ${event.msg}`)]) : keep()),
        },
      },
      undefined,
    );
    const answer = m.call('q');
    await settle();
    m.cast('warmed up');
    await expect(answer).resolves.toBe('ready for q');
  });
});

describe('A.9 the order within one transition', () => {
  it('A.9 actions → enter call → postpone → retry postponed → insert next-events → timeouts → oldest queued event', async () => {
    const clock = simClock();
    const log: string[] = [];
    const self: { ref?: MachineRef<string, string> } = {};
    type S = 'a' | 'b';
    const m = await startMachine<S, null, string>(
      {
        name: 'order',
        init: () => ({ state: 'a', data: null }),
        enter(old, state): EnterResult<null, string> {
          log.push(`enter ${old}->${state}`);
          // enter's zero-time timeout is queued after the inserted and postponed events (step 6)
          return state === 'b' ? keep(undefined, [genericTimeout('g0', 0, 'from enter')]) : keep();
        },
        states: {
          a(event) {
            log.push(`a ${show(event)}`);
            if (event.msg === 'go') {
              self.ref?.cast('external, sent during the transition');
              return next('b', undefined, [
                stateTimeout(0, 'zero state timeout'),
                nextEvent('n1'),
                postpone(), // the current event 'go' is postponed, then retried in b
                nextEvent('n2'),
              ]);
            }
            return keep(undefined, [postpone()]);
          },
          b(event) {
            log.push(`b ${show(event)}`);
            return keep();
          },
        },
      },
      undefined,
      { clock },
    );
    self.ref = m;
    m.cast('p1');
    m.cast('p2');
    m.cast('go');
    await clock.advance(0);
    expect(log).toEqual([
      'enter a->a',
      'a cast:p1', // postponed
      'a cast:p2', // postponed
      'a cast:go', // step 1: actions recorded; step 2: enter; step 3: postpone 'go'
      'enter a->b',
      'b internal:n1', // step 5: inserted events first, in order
      'b internal:n2',
      'b cast:p1', // step 4: postponed events, oldest first (the current event last)
      'b cast:p2',
      'b cast:go',
      'b stateTimeout:zero state timeout', // step 6: zero-time timeouts after queued events, in order
      'b genericTimeout(g0):from enter',
      'b cast:external, sent during the transition', // then the mailbox
    ]);
  });

  it('A.9 step 1 before step 2: replies are sent even if the enter call then stops the machine', async () => {
    const m = await startMachine<string, null, string, string>(
      {
        name: 'reply-then-enter',
        init: () => ({ state: 'a', data: null }),
        enter: (_old, state) => (state === 'b' ? stop({ shutdown: 'enter stopped' }) : keep()),
        handleEvent: (event) => (event.type === 'call' ? next('b', undefined, [reply(event.from, 'replied')]) : keep()),
      },
      undefined,
    );
    await expect(m.call('go')).resolves.toBe('replied');
    await expect(m.exited).resolves.toEqual({ shutdown: 'enter stopped' });
  });

  it('A.9 the enter call sees the data the state callback returned, and its own data wins', async () => {
    const seen: number[] = [];
    const m = await startMachine<string, number, string>(
      {
        name: 'enter-data',
        init: () => ({ state: 'a', data: 0 }),
        enter: (_old, _state, data) => {
          seen.push(data);
          return keep(data * 10);
        },
        handleEvent: (_event, _state, data) => next('b', data + 1),
      },
      undefined,
    );
    m.cast('go');
    await settle();
    expect(seen).toEqual([0, 1]);
    expect(m.status().data).toBe(10);
  });
});
