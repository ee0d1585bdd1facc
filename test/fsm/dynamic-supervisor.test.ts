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
