import { describe, expect, it } from 'vitest';
import {
  type Child,
  ChildStartError,
  type ExitReason,
  InvalidChildSpecError,
  keep,
  type MachineRef,
  MaxIntensityError,
  SimulatedClock,
  startDynamicSupervisor,
  startMachine,
  startSupervisor,
  stop,
} from '../../src/fsm/index.ts';
import { settleAll } from './supervisor-helpers.ts';

type Conn = { remote: string };

async function connection(log: string[], args: Conn): Promise<MachineRef<string, string>> {
  return startMachine<string, Conn, string, unknown, Conn>(
    {
      name: 'connection',
      init: (conn) => {
        log.push(`open ${conn.remote}`);
        return { state: 'open', data: conn };
      },
      terminate: (reason, _state, data) => void log.push(`close ${data.remote} ${typeof reason === 'string' ? reason : 'error' in reason ? 'error' : 'shutdown'}`),
      handleEvent(event) {
        if (event.msg === 'crash') throw new Error('connection reset');
        if (event.msg === 'hangup') return stop('normal');
        return keep();
      },
    },
    args,
  );
}

describe('B.6 dynamic children', () => {
  it('B.6 children of one template are started on demand with their own args', async () => {
    const log: string[] = [];
    const sup = await startDynamicSupervisor({ start: (args: Conn) => connection(log, args), restart: 'temporary' }, { name: 'connections' });
    const a = await sup.startChild({ remote: '10.0.0.1:5060' });
    await sup.startChild({ remote: '10.0.0.2:5060' });
    expect(sup.countChildren()).toBe(2);
    expect(log).toEqual(['open 10.0.0.1:5060', 'open 10.0.0.2:5060']);
    a.cast('hangup');
    await settleAll();
    expect(sup.countChildren()).toBe(1); // temporary: forgotten after it exits
    expect(sup.whichChildren()).toEqual([{ id: '2', type: 'worker', restart: 'temporary', status: 'running', restarts: 0 }]);
  });

  it('B.6 children are stopped in parallel on shutdown', async () => {
    const clock = new SimulatedClock();
    const log: string[] = [];
    const exits = new Map<string, PromiseWithResolvers<ExitReason>>();
    const slow = (id: string): Promise<Child> => {
      const exit = Promise.withResolvers<ExitReason>();
      exits.set(id, exit);
      return Promise.resolve({
        exited: exit.promise,
        stop: () => {
          log.push(`stop requested ${id}`);
          return exit.promise.then(() => undefined);
        },
        kill: () => {
          log.push(`killed ${id}`);
          exit.resolve('killed');
        },
      });
    };
    const sup = await startDynamicSupervisor({ start: slow, shutdown: 1000 }, { clock });
    await Promise.all(['x', 'y', 'z'].map((id) => sup.startChild(id)));
    const stopped = sup.stop();
    await settleAll();
    // all three were asked before any of them finished
    expect(log).toEqual(['stop requested x', 'stop requested y', 'stop requested z']);
    exits.get('y')?.resolve('shutdown');
    await clock.advance(1000); // the others hit the shared deadline together
    await stopped;
    expect(log).toEqual(['stop requested x', 'stop requested y', 'stop requested z', 'killed x', 'killed z']);
    await expect(sup.exited).resolves.toBe('shutdown');
  });

  it('B.6 a failed permanent child is restarted with the same args, within the intensity', async () => {
    const clock = new SimulatedClock();
    const log: string[] = [];
    const current: MachineRef<string, string>[] = [];
    const sup = await startDynamicSupervisor(
      {
        start: async (args: Conn) => {
          const ref = await connection(log, args);
          current.push(ref);
          return ref;
        },
      },
      { clock, intensity: 1, periodMs: 1000 },
    );
    await sup.startChild({ remote: 'pbx' });
    current.at(-1)?.cast('crash');
    await settleAll();
    expect(log).toEqual(['open pbx', 'close pbx error', 'open pbx']);
    expect(sup.whichChildren()[0]).toMatchObject({ status: 'running', restarts: 1 });
    current.at(-1)?.cast('crash');
    await settleAll();
    const reason = await sup.exited;
    expect((reason as { shutdown: unknown }).shutdown).toBeInstanceOf(MaxIntensityError);
  });

  it('B.6 a dynamic supervisor nests under a static one, and terminateChild stops one child', async () => {
    const log: string[] = [];
    const top = await startSupervisor({}, [
      { id: 'connections', type: 'supervisor', start: () => startDynamicSupervisor({ start: (a: Conn) => connection(log, a), restart: 'temporary' }) },
    ]);
    expect(top.tree().children[0]).toMatchObject({ id: 'connections', detail: { strategy: 'dynamic', children: [] } });
    await top.stop();
    expect(top.whichChildren()[0]).toMatchObject({ status: 'stopped' });
  });

  it('B.6 terminateChild stops one child by the template shutdown policy', async () => {
    const log: string[] = [];
    const sup = await startDynamicSupervisor({ start: (a: Conn) => connection(log, a) });
    const a = await sup.startChild({ remote: 'a' });
    expect(await sup.terminateChild(a)).toBe(true);
    expect(await sup.terminateChild(a)).toBe(false);
    await settleAll();
    expect(log).toEqual(['open a', 'close a shutdown']);
    expect(sup.countChildren()).toBe(0);
  });

  it('B.6 a failed start rejects startChild with ChildStartError; bad templates are refused up front', async () => {
    const sup = await startDynamicSupervisor({ start: () => Promise.reject(new Error('no route')) });
    await expect(sup.startChild(undefined)).rejects.toBeInstanceOf(ChildStartError);
    expect(sup.countChildren()).toBe(0);
    await expect(startDynamicSupervisor({ start: 'x' } as never)).rejects.toBeInstanceOf(InvalidChildSpecError);
    await expect(startDynamicSupervisor({ start: async () => ({}) as Child, restart: 'never' as never })).rejects.toBeInstanceOf(InvalidChildSpecError);
  });
});

/** A machine whose initial enter call stops it: its start resolves with a machine that has already exited. */
function diesOnEnter(clock: SimulatedClock, reason: ExitReason): Promise<MachineRef<string, string>> {
  return startMachine<string, null, string>({ name: 'dies', init: () => ({ state: 'a', data: null }), enter: () => stop(reason), handleEvent: () => keep() }, undefined, { clock });
}

/** A custom child that ignores stop requests until killed. */
function stubborn(): Child & { alive: boolean } {
  const exit = Promise.withResolvers<ExitReason>();
  const child = {
    alive: true,
    exited: exit.promise,
    stop: () => exit.promise.then(() => undefined),
    kill: () => {
      child.alive = false;
      exit.resolve('killed');
    },
  };
  return child;
}

describe('B.6 dynamic children: races with start, terminate and stop', () => {
  it('B.6 a temporary child that has already exited when its start resolves is forgotten, not leaked', async () => {
    const clock = new SimulatedClock();
    const sup = await startDynamicSupervisor({ start: () => diesOnEnter(clock, 'normal'), restart: 'temporary' }, { clock });
    const children = await Promise.all([sup.startChild(undefined), sup.startChild(undefined), sup.startChild(undefined)]);
    await settleAll();
    for (const child of children) await expect(child.exited).resolves.toBe('normal');
    expect(sup.countChildren()).toBe(0);
    expect(sup.whichChildren()).toEqual([]);
  });

  it('B.6 a permanent child that has already exited when its start resolves is restarted (a failed restart retried) and tracked', async () => {
    const clock = new SimulatedClock();
    let starts = 0;
    const live: MachineRef<string, string>[] = [];
    const sup = await startDynamicSupervisor(
      {
        start: async () => {
          if (++starts === 1) return diesOnEnter(clock, { error: 'boom' });
          if (starts === 2) throw new Error('not yet');
          const ref = await connection([], { remote: 'pbx' });
          live.push(ref);
          return ref;
        },
      },
      { clock, intensity: 5 },
    );
    const first = await sup.startChild(undefined);
    await settleAll();
    await expect(first.exited).resolves.toEqual({ error: 'boom' });
    expect(sup.whichChildren()).toEqual([expect.objectContaining({ id: '1', status: 'running', restarts: 1 })]);
    // The restarted instance is a new handle (OTP: a new pid); the dead one is no longer a child.
    expect(await sup.terminateChild(first)).toBe(false);
    expect(await sup.terminateChild(live[0] as MachineRef<string, string>)).toBe(true);
    expect(sup.countChildren()).toBe(0);
  });

  it('B.6 stop() waits for a child that terminateChild is still stopping', async () => {
    const clock = new SimulatedClock();
    const sup = await startDynamicSupervisor({ start: async () => stubborn(), shutdown: 1000 }, { clock });
    const child = (await sup.startChild(undefined)) as ReturnType<typeof stubborn>;
    const terminated = sup.terminateChild(child);
    let stopped = false;
    const stopping = sup.stop().then(() => (stopped = true));
    await settleAll();
    expect(stopped).toBe(false); // the child ignores stop: shutdown waits for its deadline
    await clock.advance(1000);
    await stopping;
    expect(child.alive).toBe(false);
    await expect(terminated).resolves.toBe(true);
  });

  it('B.6 kill() also kills a child that terminateChild is still stopping', async () => {
    const sup = await startDynamicSupervisor({ start: async () => stubborn(), shutdown: 'infinity' });
    const child = (await sup.startChild(undefined)) as ReturnType<typeof stubborn>;
    const terminated = sup.terminateChild(child);
    await settleAll();
    sup.kill();
    expect(child.alive).toBe(false);
    await expect(sup.exited).resolves.toBe('killed');
    await expect(terminated).resolves.toBe(true);
  });

  it('B.6 stop() during a restart waits for the restarted child, which is killed as it starts', async () => {
    const first = stubborn();
    const second = stubborn();
    const release = Promise.withResolvers<void>();
    let starts = 0;
    const sup = await startDynamicSupervisor({
      start: async () => {
        if (++starts === 1) return first;
        await release.promise;
        return second;
      },
    });
    await sup.startChild(undefined);
    first.kill(); // a permanent child exits: restarted, the start pending
    await settleAll();
    expect(sup.whichChildren()).toEqual([expect.objectContaining({ status: 'restarting' })]);
    let stopped = false;
    const stopping = sup.stop().then(() => (stopped = true));
    await settleAll();
    expect(stopped).toBe(false);
    release.resolve();
    await stopping;
    expect(second.alive).toBe(false);
    await expect(sup.exited).resolves.toBe('shutdown');
  });

  it('B.6 a custom child whose exited rejects is treated as an { error } exit and restarted', async () => {
    const instances: { reject: (error: Error) => void }[] = [];
    const sup = await startDynamicSupervisor(
      {
        start: async (): Promise<Child> => {
          const exit = Promise.withResolvers<ExitReason>();
          instances.push(exit);
          return { exited: exit.promise, stop: async () => exit.reject(new Error('stop')), kill: () => exit.reject(new Error('kill')) };
        },
        restart: 'transient',
      },
      { intensity: 5 },
    );
    await sup.startChild(undefined);
    instances[0]?.reject(new Error('boom'));
    await settleAll();
    expect(sup.whichChildren()).toEqual([expect.objectContaining({ status: 'running', restarts: 1 })]);
    await sup.stop();
    await expect(sup.exited).resolves.toBe('shutdown');
  });
});
