import { describe, expect, it } from 'vitest';
import {
  type HandleEventSpec,
  keep,
  type MachineEvent,
  type MachineSpec,
  next,
  NotRunningError,
  CallTimeoutError,
  reply,
  repeat,
  startMachine,
  stop,
  nextEvent,
  eventTimeout,
  stateTimeout,
  genericTimeout,
  type StateFunctionsSpec,
} from '../../src/fsm/index.ts';
import { settle, show, simClock } from './helpers.ts';

type Door = 'locked' | 'open';

describe('A.1 callback styles', () => {
  it('A.1 one handler per state: each state has its own callback', async () => {
    const log: string[] = [];
    const spec: StateFunctionsSpec<Door, number, string> = {
      name: 'door',
      init: () => ({ state: 'locked', data: 0 }),
      states: {
        locked(event, data) {
          log.push(`locked ${show(event)}`);
          return event.msg === 'unlock' ? next('open', data + 1) : keep();
        },
        open(event) {
          log.push(`open ${show(event)}`);
          return event.msg === 'lock' ? next('locked') : keep();
        },
      },
    };
    const door = await startMachine(spec, undefined);
    door.cast('push');
    door.cast('unlock');
    door.cast('lock');
    await settle();
    expect(log).toEqual(['locked cast:push', 'locked cast:unlock', 'open cast:lock']);
    expect(door.status()).toMatchObject({ state: 'locked', data: 1 });
  });

  it('A.1 one handler for all states: a state may be any value, compared structurally', async () => {
    const enters: string[] = [];
    type S = { phase: string; attempt: number };
    const spec: HandleEventSpec<S, null, S> = {
      name: 'structural',
      init: () => ({ state: { phase: 'idle', attempt: 0 }, data: null }),
      enter(old, state) {
        enters.push(`${JSON.stringify(old)} -> ${JSON.stringify(state)}`);
        return keep();
      },
      handleEvent(event) {
        // a fresh object each time: equal content is not a state change
        return next({ ...event.msg });
      },
    };
    const m = await startMachine(spec, undefined);
    m.cast({ phase: 'idle', attempt: 0 });
    m.cast({ phase: 'dialing', attempt: 1 });
    m.cast({ phase: 'dialing', attempt: 1 });
    await settle();
    expect(enters).toEqual([
      '{"phase":"idle","attempt":0} -> {"phase":"idle","attempt":0}', // initial enter call
      '{"phase":"idle","attempt":0} -> {"phase":"dialing","attempt":1}',
    ]);
  });
});

describe('A.2 results', () => {
  it('A.2 next changes state and data; keep keeps the state; omitted data is kept', async () => {
    const m = await startMachine<string, { n: number }, string>(
      {
        name: 'results',
        init: () => ({ state: 'a', data: { n: 0 } }),
        handleEvent(event, state, data) {
          if (event.msg === 'next') return next('b', { n: data.n + 1 });
          if (event.msg === 'keep') return keep({ n: data.n + 10 });
          if (event.msg === 'keep-data') return keep();
          return next(state);
        },
      },
      undefined,
    );
    m.cast('next');
    await settle();
    expect(m.status()).toMatchObject({ state: 'b', data: { n: 1 } });
    m.cast('keep');
    m.cast('keep-data');
    await settle();
    expect(m.status()).toMatchObject({ state: 'b', data: { n: 11 } });
  });

  it('A.2 repeat is like keep but re-runs the enter call', async () => {
    const enters: string[] = [];
    const m = await startMachine<string, number, string>(
      {
        name: 'repeat',
        init: () => ({ state: 's', data: 0 }),
        enter(old, state, data) {
          enters.push(`${old}->${state}@${data}`);
          return keep();
        },
        handleEvent(_e, _s, data) {
          return repeat(data + 1);
        },
      },
      undefined,
    );
    m.cast('x');
    await settle();
    expect(enters).toEqual(['s->s@0', 's->s@1']);
  });

  it('A.2 stop sends its replies first, then the machine stops with the reason', async () => {
    const terminated: unknown[] = [];
    const m = await startMachine<string, null, string, string>(
      {
        name: 'stopper',
        init: () => ({ state: 's', data: null }),
        terminate(reason) {
          terminated.push(reason);
        },
        handleEvent(event) {
          if (event.type === 'call') return stop({ shutdown: 'asked' }, undefined, [reply(event.from, 'bye')]);
          return keep();
        },
      },
      undefined,
    );
    await expect(m.call('quit')).resolves.toBe('bye');
    await expect(m.exited).resolves.toEqual({ shutdown: 'asked' });
    expect(terminated).toEqual([{ shutdown: 'asked' }]);
  });
});

describe('A.3 state change', () => {
  it('A.3 a state change happens iff the new state differs; keep and repeat are never changes', async () => {
    const enters: string[] = [];
    const clock = simClock();
    const m = await startMachine<string, null, string>(
      {
        name: 'changes',
        init: () => ({ state: 'a', data: null, actions: [stateTimeout(100, 'st')] }),
        enter(old, state) {
          enters.push(`${old}->${state}`);
          return keep();
        },
        handleEvent(event, state) {
          if (event.type === 'stateTimeout') {
            enters.push(`stateTimeout in ${state}`);
            return keep();
          }
          if (event.msg === 'same') return next(state);
          if (event.msg === 'keep') return keep();
          if (event.msg === 'repeat') return repeat();
          return next(event.msg);
        },
      },
      undefined,
      { clock },
    );
    m.cast('same');
    m.cast('keep');
    m.cast('repeat');
    await clock.advance(100); // the state timeout survives same/keep/repeat: no state change
    m.cast('b');
    await settle();
    expect(enters).toEqual(['a->a', 'a->a', 'stateTimeout in a', 'a->b']);
  });
});

describe('A.5 event origins', () => {
  it('A.5 call, cast, info, internal, event timeout, state timeout and named generic timeout', async () => {
    const clock = simClock();
    const seen: MachineEvent<string, string>[] = [];
    const m = await startMachine<string, null, string, string>(
      {
        name: 'origins',
        init: () => ({ state: 's', data: null }),
        handleEvent(event) {
          seen.push(event);
          if (event.type === 'call') return keep(undefined, [reply(event.from, 'ok'), nextEvent('inserted')]);
          if (event.type === 'cast') return keep(undefined, [stateTimeout(10, 'st'), genericTimeout('g', 20, 'gt')]);
          if (event.type === 'info') return keep(undefined, [eventTimeout(5, 'et')]);
          return keep();
        },
      },
      undefined,
      { clock },
    );
    expect(await m.call('c')).toBe('ok');
    m.cast('k');
    await settle();
    m.info('i');
    await clock.advance(30);
    expect(seen.map((e) => e.type)).toEqual(['call', 'internal', 'cast', 'info', 'eventTimeout', 'stateTimeout', 'genericTimeout']);
    expect(seen.map((e) => e.msg)).toEqual(['c', 'inserted', 'k', 'i', 'et', 'st', 'gt']);
    expect(seen[6]).toEqual({ type: 'genericTimeout', name: 'g', msg: 'gt' });
    expect(seen[0]).toHaveProperty('from');
  });
});

describe('A.6 call', () => {
  const spec: MachineSpec<'idle' | 'busy', { pending: unknown[] }, string, string> = {
    name: 'caller',
    init: () => ({ state: 'idle', data: { pending: [] } }),
    states: {
      idle(event, data) {
        if (event.type === 'call') return next('busy', { pending: [event.from] });
        return keep(data);
      },
      busy(event, data) {
        if (event.msg === 'done') return next('idle', { pending: [] }, data.pending.map((from) => reply(from as never, 'finished')));
        return keep();
      },
    },
  };

  it('A.6 the caller resolves when a later transition replies, in another state', async () => {
    const m = await startMachine(spec, undefined);
    const answer = m.call('work');
    await settle();
    expect(m.status().state).toBe('busy');
    m.cast('done');
    await expect(answer).resolves.toBe('finished');
  });

  it('A.6 a caller timeout rejects the call, and a later reply is dropped', async () => {
    const clock = simClock();
    const m = await startMachine(spec, undefined, { clock });
    const answer = m.call('work', { timeoutMs: 50 });
    const settled = expect(answer).rejects.toBeInstanceOf(CallTimeoutError);
    await clock.advance(50);
    await settled;
    m.cast('done'); // replies to a handle whose caller gave up: no effect
    await settle();
    expect(m.status().state).toBe('idle');
  });

  it('A.6 a stopped machine rejects all pending calls, and new ones', async () => {
    const m = await startMachine(spec, undefined);
    const first = m.call('work');
    const queued = m.call('work'); // still in the mailbox when the machine stops
    await settle();
    await m.stop('shutdown');
    await expect(first).rejects.toBeInstanceOf(NotRunningError);
    await expect(queued).rejects.toMatchObject({ code: 'TANDEM_ERR_FSM_NOT_RUNNING', cause: 'shutdown' });
    await expect(m.call('again')).rejects.toBeInstanceOf(NotRunningError);
  });
});

describe('A.17 run-to-completion', () => {
  it('A.17 an event a machine sends to itself is queued, not handled re-entrantly', async () => {
    const log: string[] = [];
    const self: { ref?: { cast(msg: string): void } } = {};
    const m = await startMachine<string, null, string>(
      {
        name: 'self-sender',
        init: () => ({ state: 's', data: null }),
        handleEvent(event) {
          log.push(`begin ${event.msg}`);
          if (event.msg === 'first') self.ref?.cast('second');
          log.push(`end ${event.msg}`);
          return keep();
        },
      },
      undefined,
    );
    self.ref = m;
    m.cast('first');
    expect(log).toEqual([]); // sending never runs the receiver in the sender's stack
    await settle();
    expect(log).toEqual(['begin first', 'end first', 'begin second', 'end second']);
  });
});

describe('scheduling', () => {
  it('after 50,000 machine runs in one turn, the scheduler yields to I/O, then carries on', async () => {
    let handled = 0;
    const spec = { name: 'many', init: () => ({ state: 's', data: null }), handleEvent: () => (handled++, keep()) };
    const machines = await Promise.all(Array.from({ length: 60_000 }, () => startMachine(spec, undefined)));
    for (const m of machines) m.cast('go');
    const seenByIo = await new Promise<number>((resolve) => setImmediate(() => resolve(handled)));
    expect(seenByIo).toBe(50_000);
    await settle();
    expect(handled).toBe(60_000);
  });
});
