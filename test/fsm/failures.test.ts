import { describe, expect, it } from 'vitest';
import {
  type ExitReason,
  InvalidResultError,
  InvalidSpecError,
  isCleanExit,
  keep,
  type MachineSpec,
  next,
  NotRunningError,
  type Result,
  startMachine,
} from '../../src/fsm/index.ts';


type Terminated = { reason: ExitReason; state: unknown; data: unknown };

function crashable(terminated: Terminated[], onEvent: (msg: string) => Result<string, { secret: string; n: number }, string, string>) {
  const spec: MachineSpec<string, { secret: string; n: number }, string, string> = {
    name: 'crashable',
    init: () => ({ state: 'running', data: { secret: 'hunter2', n: 1 } }),
    terminate(reason, state, data) {
      terminated.push({ reason, state, data });
    },
    formatStatus: (status) => ({ ...status, data: { ...status.data, secret: '[redacted]' } }),
    handleEvent: (event) => onEvent(event.msg),
  };
  return spec;
}

describe('A.16 failures, terminate and status', () => {
  it('A.16 a callback that throws stops the machine with that error as reason; terminate runs', async () => {
    const terminated: Terminated[] = [];
    const boom = new Error('boom');
    const m = await startMachine(
      crashable(terminated, () => {
        throw boom;
      }),
      undefined,
    );
    const pending = m.call('crash');
    await expect(m.exited).resolves.toEqual({ error: boom });
    await expect(pending).rejects.toBeInstanceOf(NotRunningError);
    expect(terminated).toEqual([{ reason: { error: boom }, state: 'running', data: { secret: 'hunter2', n: 1 } }]);
    expect(isCleanExit(await m.exited)).toBe(false);
  });

  it.each([
    ['undefined', () => undefined],
    ['an unknown result type', () => ({ type: 'teleport' })],
    ['an unknown action', () => keep(undefined, [{ type: 'dance' } as never])],
    ['a negative timeout', () => keep(undefined, [{ type: 'startTimeout', timeout: 'stateTimeout', name: '', ms: -1, msg: 'x' } as never])],
    ['a state with no handler', () => next('nowhere')],
    ['a reply without a call handle', () => keep(undefined, [{ type: 'reply', from: {}, value: 1 } as never])],
  ])('A.16 an invalid result (%s) stops the machine with an invalid-result error; terminate runs', async (_what, result) => {
    const terminated: Terminated[] = [];
    const spec = {
      name: 'invalid',
      init: () => ({ state: 'a' as const, data: null }),
      terminate: (reason: ExitReason) => void terminated.push({ reason, state: null, data: null }),
      states: { a: result as () => Result<'a', null> },
    };
    const m = await startMachine(spec, undefined);
    m.cast('x');
    const reason = await m.exited;
    expect(reason).toEqual({ error: expect.any(InvalidResultError) });
    expect((reason as { error: InvalidResultError }).error).toMatchObject({ code: 'TANDEM_ERR_FSM_INVALID_RESULT', status: 500, details: [] });
    expect(terminated).toHaveLength(1);
  });

  it('A.16 terminate runs on a stop request, with the state and data at that point', async () => {
    const terminated: Terminated[] = [];
    const m = await startMachine(
      crashable(terminated, () => keep()),
      undefined,
    );
    await m.stop({ shutdown: 'reload' });
    expect(terminated).toEqual([{ reason: { shutdown: 'reload' }, state: 'running', data: { secret: 'hunter2', n: 1 } }]);
    expect(isCleanExit(await m.exited)).toBe(true);
  });

  it('A.16 a kill skips terminate and exits with killed', async () => {
    const terminated: Terminated[] = [];
    const m = await startMachine(
      crashable(terminated, () => keep()),
      undefined,
    );
    m.kill();
    await expect(m.exited).resolves.toBe('killed');
    expect(terminated).toEqual([]);
  });

  it('A.16 a machine that kills itself finishes the transition, then exits with killed, without terminate', async () => {
    const terminated: Terminated[] = [];
    const self: { ref?: { kill(): void } } = {};
    const m = await startMachine<string, null, string>(
      {
        name: 'self-killer',
        init: () => ({ state: 'a', data: null }),
        terminate: (reason) => void terminated.push({ reason, state: null, data: null }),
        handleEvent: () => {
          self.ref?.kill();
          return next('b');
        },
      },
      undefined,
    );
    self.ref = m;
    m.cast('die');
    m.cast('never handled');
    await expect(m.exited).resolves.toBe('killed');
    expect(m.status()).toMatchObject({ state: 'b', exitReason: 'killed', queueLength: 0 });
    expect(terminated).toEqual([]);
  });

  it('A.16 an exception in terminate becomes the exit reason (as in OTP)', async () => {
    const oops = new Error('cleanup failed');
    const m = await startMachine(
      {
        name: 'bad-terminate',
        init: () => ({ state: 's', data: null }),
        terminate() {
          throw oops;
        },
        handleEvent: () => keep(),
      },
      undefined,
    );
    await m.stop();
    await expect(m.exited).resolves.toEqual({ error: oops });
  });

  it('A.16 a status formatter redacts data for the admin API', async () => {
    const m = await startMachine(
      crashable([], () => keep()),
      undefined,
    );
    expect(m.status()).toMatchObject({ name: 'crashable', state: 'running', data: { secret: '[redacted]', n: 1 }, queueLength: 0, postponedCount: 0 });
    expect(m.describe()).toMatchObject({ name: 'crashable', state: 'running', running: true });
  });

  it('A.16 an invalid spec is rejected before anything runs, with one detail per problem', async () => {
    const spec = { name: '', init: 42, states: { a: 'nope' }, handleEvent: () => keep() };
    const error = await startMachine(spec as never, undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidSpecError);
    expect((error as InvalidSpecError).details.map((d) => d.path)).toEqual(['name', 'init', 'states']);
  });

  it('a failing init rejects startMachine with its error', async () => {
    const failure = new Error('no config');
    await expect(
      startMachine(
        {
          name: 'no-init',
          init: async () => {
            throw failure;
          },
          handleEvent: () => keep(),
        },
        undefined,
      ),
    ).rejects.toBe(failure);
  });

  it('stop() is queued behind the events already sent, and is idempotent', async () => {
    const handled: string[] = [];
    const m = await startMachine<string, null, string>(
      { name: 'orderly', init: () => ({ state: 's', data: null }), handleEvent: (e) => (handled.push(e.msg), keep()) },
      undefined,
    );
    m.cast('1');
    m.cast('2');
    const first = m.stop('normal', { timeoutMs: 1000 });
    m.cast('after stop'); // still accepted into the mailbox, dropped at exit
    await first;
    await m.stop();
    expect(handled).toEqual(['1', '2']);
    await expect(m.exited).resolves.toBe('normal');
  });

  it('casts and infos to a stopped machine are dropped silently', async () => {
    const m = await startMachine({ name: 'gone', init: () => ({ state: 's', data: null }), handleEvent: () => keep() }, undefined);
    await m.stop();
    expect(() => m.cast('x')).not.toThrow();
    expect(() => m.info('x')).not.toThrow();
    expect(m.status().exitReason).toBe('normal');
  });
});
