import diagnostics from 'node:diagnostics_channel';
import { afterEach, describe, expect, it } from 'vitest';
import { FSM_CHANNELS, keep, next, startMachine, stateTimeout } from '../../src/fsm/index.ts';
import { simClock } from './helpers.ts';

const subscriptions: [string, (message: unknown) => void][] = [];
function listen(name: string): unknown[] {
  const messages: unknown[] = [];
  const handler = (message: unknown) => messages.push(message);
  diagnostics.subscribe(name, handler);
  subscriptions.push([name, handler]);
  return messages;
}
afterEach(() => {
  for (const [name, handler] of subscriptions.splice(0)) diagnostics.unsubscribe(name, handler);
});

describe('diagnostics channels', () => {
  it('channel names are stable', () => {
    expect(FSM_CHANNELS).toEqual({
      stateChange: 'tandem:fsm:state-change',
      timeout: 'tandem:fsm:timeout',
      exit: 'tandem:fsm:exit',
      supRestart: 'tandem:sup:restart',
      supEscalation: 'tandem:sup:escalation',
    });
  });

  it('state changes, timeouts and exits are published with the machine name and id', async () => {
    const changes = listen(FSM_CHANNELS.stateChange);
    const timeouts = listen(FSM_CHANNELS.timeout);
    const exits = listen(FSM_CHANNELS.exit);
    const clock = simClock();
    const m = await startMachine<'closed' | 'open', null, string>(
      {
        name: 'breaker',
        init: () => ({ state: 'closed', data: null }),
        states: {
          closed: (event) => (event.msg === 'trip' ? next('open', undefined, [stateTimeout(100, 'retry')]) : keep()),
          open: (event) => (event.type === 'stateTimeout' ? next('closed') : keep()),
        },
      },
      undefined,
      { clock },
    );
    m.cast('trip');
    m.cast('ignored'); // keep: no state-change message
    await clock.advance(100);
    await m.stop();
    expect(changes).toEqual([
      { name: 'breaker', id: m.id, from: 'closed', to: 'open' },
      { name: 'breaker', id: m.id, from: 'open', to: 'closed' },
    ]);
    expect(timeouts).toEqual([{ name: 'breaker', id: m.id, timeout: 'stateTimeout', timeoutName: '', state: 'open' }]);
    expect(exits).toEqual([{ name: 'breaker', id: m.id, reason: 'normal', state: 'closed' }]);
  });
});
