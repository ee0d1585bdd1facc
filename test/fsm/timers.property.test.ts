/**
 * Property: with random arms, restarts, cancels, updates, state changes and time advances, the
 * machine's event, state and generic timeouts expire exactly as a reference model says: right
 * deadline, right content, and a cancelled or restarted timer's old expiry is never delivered.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Action,
  cancelEventTimeout,
  cancelGenericTimeout,
  cancelStateTimeout,
  eventTimeout,
  genericTimeout,
  keep,
  next,
  SimulatedClock,
  startMachine,
  stateTimeout,
  updateEventTimeout,
  updateGenericTimeout,
  updateStateTimeout,
} from '../../src/fsm/index.ts';
import { settle } from './helpers.ts';

type Key = 'g1' | 'g2' | 'g3' | 'state' | 'event';
type Cmd =
  | { op: 'arm'; key: Key; ms: number }
  | { op: 'cancel'; key: Key }
  | { op: 'update'; key: Key }
  | { op: 'change' }
  | { op: 'advance'; ms: number };

const keyArb = fc.constantFrom<Key>('g1', 'g2', 'g3', 'state', 'event');
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('arm' as const), key: keyArb, ms: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 100 })) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cancel' as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('update' as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('change' as const) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 120 }) }) },
);

type Pending = { deadline: number; token: string; seq: number };

/**
 * Reference model. Every command is an event, and so is every delivered timeout: each cancels the
 * event timeout (SPEC A.10). Extra rule: when g1 expires, the machine cancels g2.
 */
function model(cmds: Cmd[]): string[] {
  let now = 0;
  let seq = 0;
  let tokens = 0;
  const timers = new Map<Key, Pending>();
  const log: string[] = [];
  const deliver = (key: Key, token: string) => {
    log.push(`${now} ${key}:${token}`);
    timers.delete('event');
    if (key === 'g1') timers.delete('g2');
  };
  for (const cmd of cmds) {
    const token = `t${tokens++}`;
    if (cmd.op !== 'advance') timers.delete('event'); // the command itself is an event
    switch (cmd.op) {
      case 'arm':
        timers.delete(cmd.key);
        if (cmd.ms === 0) deliver(cmd.key, token);
        else timers.set(cmd.key, { deadline: now + cmd.ms, token, seq: seq++ });
        break;
      case 'cancel':
        timers.delete(cmd.key);
        break;
      case 'update': {
        const t = timers.get(cmd.key);
        if (t !== undefined) t.token = token;
        else deliver(cmd.key, token);
        break;
      }
      case 'change':
        timers.delete('state');
        break;
      case 'advance': {
        const target = now + cmd.ms;
        for (;;) {
          const due = [...timers.entries()].filter(([, t]) => t.deadline <= target).sort(([, x], [, y]) => x.deadline - y.deadline || x.seq - y.seq)[0];
          if (due === undefined) break;
          const [key, t] = due;
          now = t.deadline;
          timers.delete(key);
          deliver(key, t.token);
        }
        now = target;
      }
    }
  }
  return log;
}

function actionFor(cmd: Cmd, token: string): Action<string> | undefined {
  if (cmd.op === 'change' || cmd.op === 'advance') return undefined;
  const key = cmd.key;
  switch (cmd.op) {
    case 'arm':
      return key === 'state' ? stateTimeout(cmd.ms, token) : key === 'event' ? eventTimeout(cmd.ms, token) : genericTimeout(key, cmd.ms, token);
    case 'cancel':
      return key === 'state' ? cancelStateTimeout() : key === 'event' ? cancelEventTimeout() : cancelGenericTimeout(key);
    case 'update':
      return key === 'state' ? updateStateTimeout(token) : key === 'event' ? updateEventTimeout(token) : updateGenericTimeout(key, token);
  }
}

describe('timer property', () => {
  it('A.13 a cancelled or restarted timer’s old expiry is never delivered; expiries match the reference model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(cmdArb, { minLength: 1, maxLength: 40 }), async (cmds) => {
        const clock = new SimulatedClock();
        const log: string[] = [];
        type Msg = { cmd: Cmd; token: string } | string;
        const m = await startMachine<'x' | 'y', null, Msg>(
          {
            name: 'timer-model',
            init: () => ({ state: 'x', data: null }),
            handleEvent(event, state) {
              if (event.type === 'cast' && typeof event.msg === 'object') {
                const { cmd, token } = event.msg;
                if (cmd.op === 'change') return next(state === 'x' ? 'y' : 'x');
                const action = actionFor(cmd, token);
                return keep(undefined, action ? [action] : []);
              }
              const key = event.type === 'genericTimeout' ? event.name : event.type === 'stateTimeout' ? 'state' : 'event';
              log.push(`${clock.now()} ${key}:${String(event.msg)}`);
              return key === 'g1' ? keep(undefined, [cancelGenericTimeout('g2')]) : keep();
            },
          },
          undefined,
          { clock },
        );
        let tokens = 0;
        for (const cmd of cmds) {
          const token = `t${tokens++}`;
          if (cmd.op === 'advance') await clock.advance(cmd.ms);
          else {
            m.cast({ cmd, token });
            await settle();
          }
        }
        expect(log).toEqual(model(cmds));
        await m.stop();
        expect(clock.pendingTimers).toBe(0);
      }),
      { numRuns: 200 },
    );
  });
});
