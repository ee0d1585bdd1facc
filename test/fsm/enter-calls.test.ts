import { describe, expect, it } from 'vitest';
import {
  type EnterResult,
  InvalidResultError,
  keep,
  next,
  nextEvent,
  postpone,
  reply,
  repeat,
  startMachine,
  stateTimeout,
  genericTimeout,
} from '../../src/fsm/index.ts';
import { settle, show, simClock } from './helpers.ts';

describe('A.4 enter calls', () => {
  it('A.4 enter runs on the initial state (old = initial), after every state change and on repeat', async () => {
    const log: string[] = [];
    const m = await startMachine<string, null, string>(
      {
        name: 'enters',
        init: () => ({ state: 'a', data: null }),
        enter(old, state) {
          log.push(`enter ${old}->${state}`);
          return keep();
        },
        handleEvent(event, state) {
          log.push(`${state} ${show(event)}`);
          if (event.msg === 'repeat') return repeat();
          if (event.msg === 'keep') return keep();
          return next(event.msg);
        },
      },
      undefined,
    );
    m.cast('b');
    m.cast('keep');
    m.cast('repeat');
    m.cast('b'); // same state: no enter call
    m.cast('a');
    await settle();
    expect(log).toEqual([
      'enter a->a',
      'a cast:b',
      'enter a->b',
      'b cast:keep',
      'b cast:repeat',
      'enter b->b',
      'b cast:b',
      'b cast:a',
      'enter b->a',
    ]);
  });

  it('A.4 the enter call runs before any other event in the new state', async () => {
    const log: string[] = [];
    const m = await startMachine<string, null, string>(
      {
        name: 'enter-first',
        init: () => ({ state: 'a', data: null }),
        enter(_old, state) {
          log.push(`enter ${state}`);
          return keep();
        },
        handleEvent(event, state) {
          log.push(`${state} ${show(event)}`);
          return event.msg === 'go' ? next('b', undefined, [nextEvent('inserted')]) : keep();
        },
      },
      undefined,
    );
    m.cast('go');
    m.cast('later');
    await settle();
    expect(log).toEqual(['enter a', 'a cast:go', 'enter b', 'b internal:inserted', 'b cast:later']);
  });

  it('A.4 an enter call may set timeouts and reply', async () => {
    const clock = simClock();
    const log: string[] = [];
    type D = { from?: unknown };
    const m = await startMachine<string, D, string, string>(
      {
        name: 'enter-actions',
        init: () => ({ state: 'idle', data: {} }),
        enter(_old, state, data): EnterResult<D, string, string> {
          if (state === 'working' && data.from !== undefined) {
            return keep({}, [reply(data.from as never, 'started'), stateTimeout(100, 'too slow'), genericTimeout('tick', 50, 'tick')]);
          }
          return keep();
        },
        handleEvent(event, state) {
          log.push(`${state} ${show(event)}`);
          if (event.type === 'call') return next('working', { from: event.from });
          return keep();
        },
      },
      undefined,
      { clock },
    );
    await expect(m.call('start')).resolves.toBe('started');
    await clock.advance(100);
    expect(log).toEqual(['idle call:start', 'working genericTimeout(tick):tick', 'working stateTimeout:too slow']);
  });

  // Type-level: the @ts-expect-error lines are checked by tsc (`npm run lint`), not by vitest; the
  // run-time counterpart is the it.each below.
  it('A.4 (type-level, checked by tsc in npm run lint) the types forbid an enter call to change state, postpone, insert events or repeat', () => {
    type R = EnterResult<null, string>;
    // @ts-expect-error an enter call cannot change state
    const a: R = next('elsewhere');
    // @ts-expect-error an enter call cannot postpone
    const b: R = keep(null, [postpone()]);
    // @ts-expect-error an enter call cannot insert events
    const c: R = keep(null, [nextEvent('x')]);
    // @ts-expect-error an enter call cannot repeat
    const d: R = repeat();
    const ok: R = keep(null, [stateTimeout(10, 'x')]);
    void [a, b, c, d, ok];
  });

  it.each([
    ['change state', () => next('elsewhere')],
    ['postpone', () => keep(undefined, [postpone()])],
    ['insert events', () => keep(undefined, [nextEvent('x')])],
    ['repeat', () => repeat()],
  ])('A.4 at run time (spec cast past the types), an enter call that tries to %s stops the machine with TANDEM_ERR_FSM_INVALID_RESULT', async (_what, result) => {
    let entered = 0;
    const m = await startMachine<string, null, string>(
      {
        name: 'bad-enter',
        init: () => ({ state: 'a', data: null }),
        // deliberately untyped: simulates JavaScript callers
        enter: ((): unknown => (entered++ === 0 ? keep() : result())) as () => EnterResult<null, string>,
        handleEvent: () => next('b'),
      },
      undefined,
    );
    m.cast('go');
    const reason = await m.exited;
    expect(reason).toMatchObject({ error: expect.any(InvalidResultError) });
    expect((reason as { error: InvalidResultError }).error.code).toBe('TANDEM_ERR_FSM_INVALID_RESULT');
  });
});
