/**
 * Synchronous starts: `startMachineSync` (a machine running when the call returns) and a dynamic
 * supervisor's `startChildSync` (OTP start_child returns once the child's init has), as the SIP
 * transaction layer starts a machine per request.
 */
import { describe, expect, it } from 'vitest';
import {
  ChildStartError,
  InvalidResultError,
  keep,
  type MachineRef,
  type MachineSpec,
  next,
  startDynamicSupervisor,
  startMachine,
  startMachineSync,
  stop,
  SupervisorNotRunningError,
} from '../../src/fsm/index.ts';
import { settleAll } from './supervisor-helpers.ts';

type Conn = { remote: string };

function connectionSpec(log: string[]): MachineSpec<string, Conn, string, unknown, Conn> {
  return {
    name: 'connection',
    init: (conn) => {
      log.push(`open ${conn.remote}`);
      return { state: 'open', data: conn, actions: [{ type: 'nextEvent', kind: 'internal', msg: 'greet' } as never] };
    },
    handleEvent(event, state, data) {
      if (event.msg === 'greet') {
        log.push(`greet ${data.remote}`);
        return keep();
      }
      if (event.msg === 'crash') throw new Error('connection reset');
      if (event.msg === 'hangup') return stop('normal');
      if (event.msg === 'hold') return next(state === 'open' ? 'held' : 'open');
      return keep();
    },
  };
}

describe('startMachineSync', () => {
  it('returns a running machine: init and its actions have run, casts are handled as for startMachine', async () => {
    const log: string[] = [];
    const ref = startMachineSync(connectionSpec(log), { remote: '10.0.0.1:5060' });
    expect(log[0]).toBe('open 10.0.0.1:5060');
    expect(ref.status().state).toBe('open');
    expect(ref.status().exitReason).toBeUndefined();
    ref.cast('hold');
    await settleAll();
    expect(ref.status().state).toBe('held');
    expect(log).toEqual(['open 10.0.0.1:5060', 'greet 10.0.0.1:5060']);
    ref.cast('hangup');
    expect(await ref.exited).toBe('normal');
  });

  it('behaves as startMachine for the same spec (same states, same log)', async () => {
    const [a, b] = [[] as string[], [] as string[]];
    const sync = startMachineSync(connectionSpec(a), { remote: 'x' });
    const async = await startMachine(connectionSpec(b), { remote: 'x' });
    for (const ref of [sync, async] as MachineRef<string, string>[]) ref.cast('hold');
    await settleAll();
    expect(sync.status().state).toBe(async.status().state);
    expect(a).toEqual(b);
  });

  it('refuses an init that returns a promise (InvalidResultError), and lets an init throw through', () => {
    const spec = { name: 'lazy', init: () => Promise.resolve({ state: 'open', data: undefined }), handleEvent: () => keep() };
    expect(() => startMachineSync(spec as never, undefined)).toThrow(InvalidResultError);
    expect(() => startMachineSync(spec as never, undefined)).toThrow(/init returned a promise/);
    const failing = {
      name: 'failing',
      init: () => {
        throw new Error('no port');
      },
      handleEvent: () => keep(),
    };
    expect(() => startMachineSync(failing as never, undefined)).toThrow('no port');
  });

  it('a refused promise from init that rejects is not left unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const spec = { name: 'lazy', init: () => Promise.reject(new Error('late failure')), handleEvent: () => keep() };
      expect(() => startMachineSync(spec as never, undefined)).toThrow(InvalidResultError);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('DynamicSupervisorRef.startChildSync', () => {
  it('returns the child running and supervises it as startChild does (counted, temporary forgotten on exit)', async () => {
    const log: string[] = [];
    const spec = connectionSpec(log);
    const sup = await startDynamicSupervisor<Conn, MachineRef<string, string>>(
      { start: async (args) => startMachine(spec, args), startSync: (args) => startMachineSync(spec, args), restart: 'temporary' },
      { name: 'connections' },
    );
    const a = sup.startChildSync({ remote: '10.0.0.1:5060' });
    expect(a.status().state).toBe('open');
    expect(sup.countChildren()).toBe(1);
    await sup.startChild({ remote: '10.0.0.2:5060' });
    expect(sup.whichChildren().map((c) => c.id)).toEqual(['1', '2']);
    a.cast('hangup');
    await settleAll();
    expect(sup.countChildren()).toBe(1);
    await sup.stop();
  });

  it('restarts a permanent child that crashed with the template start, within the intensity', async () => {
    const log: string[] = [];
    const spec = connectionSpec(log);
    let asyncStarts = 0;
    const sup = await startDynamicSupervisor<Conn, MachineRef<string, string>>(
      {
        start: async (args) => {
          asyncStarts++;
          return startMachine(spec, args);
        },
        startSync: (args) => startMachineSync(spec, args),
        restart: 'permanent',
      },
      { name: 'connections', intensity: 3 },
    );
    const first = sup.startChildSync({ remote: 'a' });
    first.cast('crash');
    await settleAll();
    expect(asyncStarts).toBe(1);
    expect(sup.whichChildren()).toEqual([{ id: '1', type: 'worker', restart: 'permanent', status: 'running', restarts: 1 }]);
    expect(log.filter((l) => l === 'open a')).toHaveLength(2);
    await sup.stop();
  });

  it('fails with ChildStartError without startSync, when it throws or returns no child; SupervisorNotRunningError once stopped', async () => {
    const noSync = await startDynamicSupervisor<Conn, MachineRef<string, string>>({ start: async (args) => startMachine(connectionSpec([]), args) });
    expect(() => noSync.startChildSync({ remote: 'a' })).toThrow(ChildStartError);
    expect(noSync.countChildren()).toBe(0);
    await noSync.stop();
    expect(() => noSync.startChildSync({ remote: 'a' })).toThrow(SupervisorNotRunningError);

    const throwing = await startDynamicSupervisor<Conn, MachineRef<string, string>>({
      start: async (args) => startMachine(connectionSpec([]), args),
      startSync: () => {
        throw new Error('bind failed');
      },
    });
    expect(() => throwing.startChildSync({ remote: 'a' })).toThrow(/failed to start: bind failed/);
    const notAChild = await startDynamicSupervisor<Conn, MachineRef<string, string>>({
      start: async (args) => startMachine(connectionSpec([]), args),
      startSync: () => ({}) as never,
    });
    expect(() => notAChild.startChildSync({ remote: 'a' })).toThrow(ChildStartError);
    expect(throwing.countChildren() + notAChild.countChildren()).toBe(0);
    await Promise.all([throwing.stop(), notAChild.stop()]);
  });
});
