import diagnostics from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import {
  type Child,
  ChildRunningError,
  type ChildSpec,
  ChildStartError,
  DuplicateChildError,
  type ExitReason,
  FSM_CHANNELS,
  InvalidChildSpecError,
  InvalidFlagsError,
  isCleanExit,
  MaxIntensityError,
  NoChildError,
  SimulatedClock,
  startSupervisor,
  StopTimeoutError,
  type SupervisorRef,
} from '../../src/fsm/index.ts';
import { settleAll, Workers } from './supervisor-helpers.ts';

/** A child that ignores stop requests until killed, to observe shutdown policies. */
function stubbornChild(log: string[], id: string): Child {
  const exit = Promise.withResolvers<ExitReason>();
  return {
    exited: exit.promise,
    stop: () => {
      log.push(`asked ${id} to stop`);
      return exit.promise.then(() => undefined);
    },
    kill: () => {
      log.push(`killed ${id}`);
      exit.resolve('killed');
    },
  };
}

describe('B.1 start and stop order', () => {
  it('B.1 children start in list order and stop in reverse order', async () => {
    const w = new Workers();
    const sup = await startSupervisor({}, [w.spec('a'), w.spec('b'), w.spec('c')]);
    expect(w.log).toEqual(['start a', 'start b', 'start c']);
    await sup.stop();
    expect(w.log.slice(3)).toEqual(['stop c (shutdown)', 'stop b (shutdown)', 'stop a (shutdown)']);
    await expect(sup.exited).resolves.toBe('shutdown');
  });

  it('B.1 a child failing to start stops the ones already started, and the supervisor start fails with the reason', async () => {
    const w = new Workers();
    const cause = new Error('port in use');
    const error = await startSupervisor({}, [
      w.spec('a'),
      w.spec('b'),
      { id: 'broken', start: () => Promise.reject(cause) },
      w.spec('never'),
    ]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChildStartError);
    expect((error as ChildStartError).cause).toBe(cause);
    expect(w.log).toEqual(['start a', 'start b', 'stop b (shutdown)', 'stop a (shutdown)']);
  });
});

describe('B.2 strategies', () => {
  it('B.2 one_for_one restarts only the failed child', async () => {
    const w = new Workers();
    await startSupervisor({ strategy: 'one_for_one', intensity: 5 }, [w.spec('a'), w.spec('b'), w.spec('c')]);
    w.clear();
    w.send('b', 'crash');
    await settleAll();
    expect(w.log).toEqual(['crashed b', 'start b']);
  });

  it('B.2 one_for_all stops all others in reverse and restarts all in order', async () => {
    const w = new Workers();
    await startSupervisor({ strategy: 'one_for_all', intensity: 5 }, [w.spec('a'), w.spec('b'), w.spec('c')]);
    w.clear();
    w.send('b', 'crash');
    await settleAll();
    expect(w.log).toEqual(['crashed b', 'stop c (shutdown)', 'stop a (shutdown)', 'start a', 'start b', 'start c']);
  });

  it('B.2 rest_for_one stops and restarts the children started after the failed one', async () => {
    const w = new Workers();
    await startSupervisor({ strategy: 'rest_for_one', intensity: 5 }, [w.spec('a'), w.spec('b'), w.spec('c'), w.spec('d')]);
    w.clear();
    w.send('b', 'crash');
    await settleAll();
    expect(w.log).toEqual(['crashed b', 'stop d (shutdown)', 'stop c (shutdown)', 'start b', 'start c', 'start d']);
  });
});

describe('B.3 restart types', () => {
  it('B.3 permanent children are always restarted, even after a normal exit', async () => {
    const w = new Workers();
    const sup = await startSupervisor({ intensity: 5 }, [w.spec('p', { restart: 'permanent' })]);
    w.clear();
    w.send('p', 'exit-normal');
    await settleAll();
    expect(w.log).toEqual(['stop p (normal)', 'start p']);
    expect(sup.whichChildren()).toEqual([{ id: 'p', type: 'worker', restart: 'permanent', status: 'running', restarts: 1 }]);
  });

  it.each(['exit-normal', 'exit-shutdown', 'exit-shutdown-detail'] as const)('B.3 transient children are not restarted after a clean exit (%s)', async (msg) => {
    const w = new Workers();
    const sup = await startSupervisor({ intensity: 5 }, [w.spec('t', { restart: 'transient' })]);
    w.send('t', msg);
    await settleAll();
    expect(w.log.filter((l) => l === 'start t')).toHaveLength(1);
    expect(sup.whichChildren()[0]).toMatchObject({ id: 't', status: 'stopped' });
  });

  it('B.3 transient children are restarted after an abnormal exit (error, killed)', async () => {
    const w = new Workers();
    await startSupervisor({ intensity: 5 }, [w.spec('t', { restart: 'transient' })]);
    w.send('t', 'crash');
    await settleAll();
    w.current.get('t')?.kill();
    await settleAll();
    expect(w.log.filter((l) => l === 'start t')).toHaveLength(3);
  });

  it('B.3 temporary children are never restarted, and their spec is dropped', async () => {
    const w = new Workers();
    const sup = await startSupervisor({ intensity: 5 }, [w.spec('tmp', { restart: 'temporary' })]);
    w.send('tmp', 'crash');
    await settleAll();
    expect(w.log).toEqual(['start tmp', 'crashed tmp']);
    expect(sup.whichChildren()).toEqual([]);
  });

  it("B.3 temporary children are not restarted when a sibling's failure restarts the others", async () => {
    const w = new Workers();
    const sup = await startSupervisor({ strategy: 'one_for_all', intensity: 5 }, [w.spec('a'), w.spec('tmp', { restart: 'temporary' }), w.spec('c')]);
    w.clear();
    w.send('a', 'crash');
    await settleAll();
    expect(w.log).toEqual(['crashed a', 'stop c (shutdown)', 'stop tmp (shutdown)', 'start a', 'start c']);
    expect(sup.whichChildren().map((c) => c.id)).toEqual(['a', 'c']);
  });
});

describe('B.4 restart intensity', () => {
  it('B.4 defaults: 1 restart in 5 s is fine; a second within 5 s escalates: all children stop, the supervisor exits with shutdown', async () => {
    const clock = new SimulatedClock();
    const w = new Workers(clock);
    const escalations: unknown[] = [];
    const onEscalation = (message: unknown) => escalations.push(message);
    diagnostics.subscribe(FSM_CHANNELS.supEscalation, onEscalation);
    try {
      const sup = await startSupervisor({}, [w.spec('a'), w.spec('b')], { clock, name: 'edge' });
      w.send('a', 'crash');
      await settleAll();
      expect(w.log).toEqual(['start a', 'start b', 'crashed a', 'start a']);
      await clock.advance(4999);
      w.send('a', 'crash');
      await settleAll();
      const reason = await sup.exited;
      expect(w.log.slice(4)).toEqual(['crashed a', 'stop b (shutdown)']);
      expect(isCleanExit(reason)).toBe(true);
      expect((reason as { shutdown: unknown }).shutdown).toBeInstanceOf(MaxIntensityError);
      expect(escalations).toEqual([expect.objectContaining({ name: 'edge', childId: 'a', intensity: 1, periodMs: 5000 })]);
    } finally {
      diagnostics.unsubscribe(FSM_CHANNELS.supEscalation, onEscalation);
    }
  });

  it('B.4 the window slides: restarts further apart than the period never escalate', async () => {
    const clock = new SimulatedClock();
    const w = new Workers(clock);
    const sup = await startSupervisor({ intensity: 2, periodMs: 1000 }, [w.spec('a')], { clock });
    for (let i = 0; i < 10; i++) {
      w.send('a', 'crash');
      await settleAll();
      await clock.advance(501); // at most 2 restarts in any closed 1000 ms window
    }
    expect(sup.whichChildren()[0]).toMatchObject({ status: 'running', restarts: 10 });
  });

  it('B.4 a restart exactly periodMs ago still counts (OTP keeps R >= Now - Period); 1 ms later it has left the window', async () => {
    const clock = new SimulatedClock();
    const w = new Workers(clock);
    const sup = await startSupervisor({ intensity: 1, periodMs: 1000 }, [w.spec('a')], { clock });
    w.send('a', 'crash'); // restart at 0
    await settleAll();
    await clock.advance(1001);
    w.send('a', 'crash'); // restart at 1001: the one at 0 has left the window
    await settleAll();
    expect(sup.tree()).toMatchObject({ status: 'running', recentRestarts: 1 });
    await clock.advance(1000);
    w.send('a', 'crash'); // at 2001, the restart at 1001 is exactly periodMs ago: a second restart in the window
    await settleAll();
    const reason = await sup.exited;
    expect((reason as { shutdown: unknown }).shutdown).toBeInstanceOf(MaxIntensityError);
  });

  it('B.4 escalation: the parent sees the nested supervisor exit like any child exit, and restarts it', async () => {
    const clock = new SimulatedClock();
    const w = new Workers(clock);
    const restarts: unknown[] = [];
    const onRestart = (message: unknown) => restarts.push(message);
    diagnostics.subscribe(FSM_CHANNELS.supRestart, onRestart);
    try {
      const top = await startSupervisor(
        { intensity: 3, periodMs: 60_000 },
        [{ id: 'inner', type: 'supervisor', start: () => startSupervisor({ intensity: 0 }, [w.spec('x')], { clock, name: 'inner' }) }],
        { clock, name: 'top' },
      );
      w.send('x', 'crash'); // intensity 0: the inner supervisor escalates at once
      await settleAll();
      expect(w.log).toEqual(['start x', 'crashed x', 'start x']);
      expect(restarts).toEqual([expect.objectContaining({ name: 'top', childId: 'inner', reason: { shutdown: expect.any(MaxIntensityError) } })]);
      expect(top.whichChildren()[0]).toMatchObject({ id: 'inner', type: 'supervisor', status: 'running', restarts: 1 });
    } finally {
      diagnostics.unsubscribe(FSM_CHANNELS.supRestart, onRestart);
    }
  });

  it('B.4 a child that keeps failing to restart counts each attempt and escalates', async () => {
    const clock = new SimulatedClock();
    let starts = 0;
    const w = new Workers(clock);
    const sup = await startSupervisor(
      { intensity: 3, periodMs: 1000 },
      [{ id: 'flaky', start: () => (++starts === 1 ? w.start('flaky') : Promise.reject(new Error('still broken'))) }],
      { clock },
    );
    w.send('flaky', 'crash');
    await settleAll();
    const reason = await sup.exited;
    expect(starts).toBe(4); // the first start, then 3 allowed restart attempts; the 4th restart escalates
    expect((reason as { shutdown: unknown }).shutdown).toBeInstanceOf(MaxIntensityError);
  });
});

describe('B.5 shutdown', () => {
  it('B.5 brutal_kill kills the child without its cleanup', async () => {
    const w = new Workers();
    const sup = await startSupervisor({}, [w.spec('a', { shutdown: 'brutal_kill' })]);
    await sup.stop();
    expect(w.log).toEqual(['start a']);
    await expect(w.current.get('a')?.exited).resolves.toBe('killed');
  });

  it('B.5 a deadline asks the child to stop, then kills it when the deadline passes', async () => {
    const clock = new SimulatedClock();
    const log: string[] = [];
    const sup = await startSupervisor({}, [{ id: 's', start: async () => stubbornChild(log, 's'), shutdown: 300 }], { clock });
    const stopped = sup.stop();
    await clock.advance(299);
    expect(log).toEqual(['asked s to stop']);
    await clock.advance(1);
    await stopped;
    expect(log).toEqual(['asked s to stop', 'killed s']);
  });

  it('B.5 defaults: a worker gets 5000 ms, a supervisor child waits forever (infinity)', async () => {
    const clock = new SimulatedClock();
    const log: string[] = [];
    const sup = await startSupervisor(
      {},
      [
        { id: 'nested', type: 'supervisor', start: async () => stubbornChild(log, 'nested') },
        { id: 'worker', start: async () => stubbornChild(log, 'worker') },
      ],
      { clock },
    );
    void sup.stop();
    await clock.advance(4999);
    expect(log).toEqual(['asked worker to stop']);
    await clock.advance(1);
    expect(log).toEqual(['asked worker to stop', 'killed worker', 'asked nested to stop']);
    await clock.advance(3_600_000);
    expect(log).toHaveLength(3); // infinity: still waiting for the nested supervisor
    expect(sup.tree().status).toBe('stopping');
  });

  it('B.5 a child whose stop() throws is killed instead', async () => {
    const log: string[] = [];
    const broken = async (): Promise<Child> => {
      const exit = Promise.withResolvers<ExitReason>();
      return {
        exited: exit.promise,
        stop: () => {
          throw new Error('stop is broken');
        },
        kill: () => {
          log.push('killed');
          exit.resolve('killed');
        },
      };
    };
    const sup = await startSupervisor({}, [{ id: 'broken', start: broken }]);
    await sup.stop();
    expect(log).toEqual(['killed']);
  });

  it('B.5 stop(timeoutMs) rejects when the tree does not stop in time', async () => {
    const clock = new SimulatedClock();
    const sup = await startSupervisor({}, [{ id: 'nested', type: 'supervisor', start: async () => stubbornChild([], 'nested') }], { clock });
    const stopping = sup.stop('shutdown', { timeoutMs: 100 });
    const rejected = expect(stopping).rejects.toBeInstanceOf(StopTimeoutError);
    await clock.advance(100);
    await rejected;
  });
});

describe('B.7 terminate, restart, delete', () => {
  it('B.7 terminateChild keeps the spec, restartChild starts it again, deleteChild removes a stopped one', async () => {
    const w = new Workers();
    const sup = await startSupervisor({}, [w.spec('a'), w.spec('b')]);
    await sup.terminateChild('a');
    expect(sup.whichChildren().map((c) => [c.id, c.status])).toEqual([
      ['a', 'stopped'],
      ['b', 'running'],
    ]);
    await expect(sup.deleteChild('b')).rejects.toBeInstanceOf(ChildRunningError);
    await expect(sup.restartChild('b')).rejects.toBeInstanceOf(ChildRunningError);
    await sup.restartChild('a');
    expect(sup.whichChildren()[0]).toMatchObject({ id: 'a', status: 'running' });
    await sup.terminateChild('a');
    await sup.deleteChild('a');
    expect(sup.whichChildren().map((c) => c.id)).toEqual(['b']);
    await expect(sup.terminateChild('a')).rejects.toBeInstanceOf(NoChildError);
    await expect(sup.restartChild('zzz')).rejects.toMatchObject({ code: 'TANDEM_ERR_SUP_NO_CHILD' });
    expect(w.log).toEqual(['start a', 'start b', 'stop a (shutdown)', 'start a', 'stop a (shutdown)']);
  });

  it('B.7 startChild adds a child at the end; a duplicate id is refused', async () => {
    const w = new Workers();
    const sup = await startSupervisor({}, [w.spec('a')]);
    await sup.startChild(w.spec('b'));
    await expect(sup.startChild(w.spec('a'))).rejects.toBeInstanceOf(DuplicateChildError);
    await sup.stop();
    expect(w.log).toEqual(['start a', 'start b', 'stop b (shutdown)', 'stop a (shutdown)']);
  });
});

describe('B.8 validation', () => {
  it('B.8 specs are validated before anything starts', async () => {
    const w = new Workers();
    const error = await startSupervisor({}, [w.spec('a'), { id: '', start: 'nope', restart: 'sometimes', shutdown: -1 } as never]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidChildSpecError);
    expect((error as InvalidChildSpecError).details.map((d) => d.path)).toEqual(['children[1].id', 'children[1].start', 'children[1].restart', 'children[1].shutdown']);
    expect(w.log).toEqual([]);
  });

  it('B.8 duplicate ids are a specific error', async () => {
    const w = new Workers();
    await expect(startSupervisor({}, [w.spec('a'), w.spec('a')])).rejects.toMatchObject({ code: 'TANDEM_ERR_SUP_DUPLICATE_CHILD' });
    expect(w.log).toEqual([]);
  });

  it('B.8 bad combinations: a significant permanent child; a significant child without autoShutdown', async () => {
    const w = new Workers();
    await expect(startSupervisor({ autoShutdown: 'any_significant' }, [w.spec('a', { significant: true })])).rejects.toBeInstanceOf(InvalidChildSpecError);
    await expect(startSupervisor({}, [w.spec('a', { significant: true, restart: 'transient' })])).rejects.toBeInstanceOf(InvalidChildSpecError);
    expect(w.log).toEqual([]);
  });

  it('B.8 bad flags are a specific error', async () => {
    await expect(startSupervisor({ strategy: 'all_for_one' as never, intensity: -1, periodMs: 0 }, [])).rejects.toBeInstanceOf(InvalidFlagsError);
  });
});

describe('B.9 auto_shutdown', () => {
  it('B.9 any_significant: the supervisor shuts down when a significant child exits', async () => {
    const w = new Workers();
    const sup = await startSupervisor({ autoShutdown: 'any_significant' }, [w.spec('a'), w.spec('sig', { restart: 'transient', significant: true })]);
    w.send('sig', 'exit-normal');
    await expect(sup.exited).resolves.toBe('shutdown');
    expect(w.log).toEqual(['start a', 'start sig', 'stop sig (normal)', 'stop a (shutdown)']);
  });

  it('B.9 all_significant: only when every significant child has exited', async () => {
    const w = new Workers();
    const sup = await startSupervisor({ autoShutdown: 'all_significant' }, [
      w.spec('s1', { restart: 'temporary', significant: true }),
      w.spec('s2', { restart: 'transient', significant: true }),
      w.spec('other'),
    ]);
    w.send('s1', 'exit-normal');
    await settleAll();
    expect(sup.tree().status).toBe('running');
    w.send('s2', 'crash'); // abnormal: transient is restarted, not counted as exited
    await settleAll();
    expect(sup.tree().status).toBe('running');
    w.send('s2', 'exit-shutdown');
    await expect(sup.exited).resolves.toBe('shutdown');
  });

  it('B.9 never: significant exits do nothing (and significant children are refused, see B.8)', async () => {
    const w = new Workers();
    const sup = await startSupervisor({ autoShutdown: 'never' }, [w.spec('t', { restart: 'transient' })]);
    w.send('t', 'exit-normal');
    await settleAll();
    expect(sup.tree().status).toBe('running');
  });
});

describe('supervision tree', () => {
  it('tree() is a JSON view: each child with id, type, status, restarts, and nested supervisors', async () => {
    const w = new Workers();
    let inner: SupervisorRef | undefined;
    const top = await startSupervisor({ intensity: 5 }, [
      w.spec('a'),
      { id: 'routes', type: 'supervisor', start: async () => (inner = await startSupervisor({}, [w.spec('route-1')], { name: 'routes' })) },
    ], { name: 'tandem' });
    w.send('a', 'crash');
    await settleAll();
    const tree = JSON.parse(JSON.stringify(top.tree()));
    expect(tree).toMatchObject({
      name: 'tandem',
      type: 'supervisor',
      strategy: 'one_for_one',
      status: 'running',
      children: [
        { id: 'a', type: 'worker', status: 'running', restarts: 1, detail: { name: 'a', state: 'up', running: true } },
        {
          id: 'routes',
          type: 'supervisor',
          status: 'running',
          restarts: 0,
          detail: { name: 'routes', children: [{ id: 'route-1', type: 'worker', status: 'running', detail: { state: 'up' } }] },
        },
      ],
    });
    expect(inner).toBeDefined();
  });

  it('kill() kills every child at once and exits with killed', async () => {
    const w = new Workers();
    const sup = await startSupervisor({}, [w.spec('a'), w.spec('b')]);
    sup.kill();
    await expect(sup.exited).resolves.toBe('killed');
    await expect(w.current.get('a')?.exited).resolves.toBe('killed');
    await expect(sup.startChild(w.spec('c'))).rejects.toMatchObject({ code: 'TANDEM_ERR_SUP_NOT_RUNNING' });
  });
});

describe('restart failures, kill and broken children', () => {
  it('B.2 a one_for_all restart that fails leaves the siblings not yet started stopped (OTP), so a terminateChild of the failed child cannot strand them in restarting', async () => {
    const w = new Workers();
    let failB = false;
    const releaseB = Promise.withResolvers<void>();
    const specB: ChildSpec = {
      id: 'b',
      start: async () => {
        if (!failB) return w.start('b');
        await releaseB.promise;
        throw new Error('b cannot start');
      },
    };
    const sup = await startSupervisor({ strategy: 'one_for_all', intensity: 10 }, [w.spec('a'), specB, w.spec('c')]);
    failB = true;
    w.send('b', 'crash');
    await settleAll(); // the restart is under way: a restarted, b's start pending
    const terminated = sup.terminateChild('b'); // queued behind the restart, ahead of its retry
    releaseB.resolve();
    await terminated;
    await settleAll(); // the retry is dropped: b was terminated meanwhile
    expect(sup.whichChildren().map((c) => [c.id, c.status])).toEqual([
      ['a', 'running'],
      ['b', 'stopped'],
      ['c', 'stopped'],
    ]);
    await sup.restartChild('c');
    expect(sup.whichChildren()[2]).toMatchObject({ id: 'c', status: 'running' });
    await sup.stop();
  });

  it('B.2 a one_for_all restart that fails once is retried, and the retry starts the siblings left stopped', async () => {
    const w = new Workers();
    let bStarts = 0;
    const specB: ChildSpec = { id: 'b', start: () => (++bStarts === 2 ? Promise.reject(new Error('not yet')) : w.start('b')) };
    const sup = await startSupervisor({ strategy: 'one_for_all', intensity: 10 }, [w.spec('a'), specB, w.spec('c')]);
    w.send('b', 'crash');
    await settleAll();
    expect(sup.whichChildren().map((c) => c.status)).toEqual(['running', 'running', 'running']);
    expect(bStarts).toBe(3);
    await sup.stop();
  });

  it("B.5 kill() kills every child and exits killed even when a child's kill() throws", async () => {
    const log: string[] = [];
    const good = stubbornChild(log, 'good');
    const bad: Child = {
      exited: new Promise<ExitReason>(() => {}),
      stop: async () => {},
      kill: () => {
        throw new Error('kill is broken');
      },
    };
    const sup = await startSupervisor({}, [
      { id: 'good', start: async () => good },
      { id: 'bad', start: async () => bad },
    ]);
    expect(() => sup.kill()).not.toThrow();
    expect(log).toEqual(['killed good']);
    await expect(sup.exited).resolves.toBe('killed');
    expect(sup.tree().status).toBe('exited');
  });

  it('B.5 kill() during a graceful stop also kills the child being stopped', async () => {
    const clock = new SimulatedClock();
    const log: string[] = [];
    const sup = await startSupervisor({}, [{ id: 's', start: async () => stubbornChild(log, 's'), shutdown: 'infinity' }], { clock });
    const stopped = sup.stop();
    await settleAll();
    expect(log).toEqual(['asked s to stop']);
    sup.kill();
    expect(log).toEqual(['asked s to stop', 'killed s']);
    await expect(sup.exited).resolves.toBe('killed');
    await stopped;
  });

  it('a custom child whose exited rejects is treated as an { error } exit: restarted, no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (error: unknown) => unhandled.push(error);
    process.on('unhandledRejection', onUnhandled);
    try {
      const instances: { reject: (error: Error) => void }[] = [];
      const broken = async (): Promise<Child> => {
        const exit = Promise.withResolvers<ExitReason>();
        instances.push(exit);
        return { exited: exit.promise, stop: async () => exit.reject(new Error('exited rejected')), kill: () => exit.reject(new Error('exited rejected')) };
      };
      const restarts: unknown[] = [];
      const onRestart = (message: unknown) => restarts.push(message);
      diagnostics.subscribe(FSM_CHANNELS.supRestart, onRestart);
      try {
        const sup = await startSupervisor({ intensity: 5 }, [{ id: 'x', start: broken, restart: 'transient' }]);
        instances[0]?.reject(new Error('boom'));
        await settleAll();
        expect(restarts).toEqual([expect.objectContaining({ childId: 'x', reason: { error: expect.any(Error) } })]);
        expect(sup.whichChildren()[0]).toMatchObject({ status: 'running', restarts: 1 });
        await sup.stop(); // the graceful stop's exit rejects too
        await expect(sup.exited).resolves.toBe('shutdown');
        const killed = await startSupervisor({}, [{ id: 'y', start: broken, shutdown: 'brutal_kill' }]);
        killed.kill();
        await settleAll();
      } finally {
        diagnostics.unsubscribe(FSM_CHANNELS.supRestart, onRestart);
      }
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
