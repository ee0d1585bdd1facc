/** Type-level checks: specs infer without annotations, and the public types say what they mean. */
import { describe, expectTypeOf, it } from 'vitest';
import {
  type Child,
  type ExitReason,
  keep,
  type MachineRef,
  next,
  reply,
  startMachine,
  type SupervisorRef,
  type DynamicSupervisorRef,
} from '../../src/fsm/index.ts';

describe('types', () => {
  it('a state-functions spec infers its state, data and args types', async () => {
    const m = await startMachine(
      {
        name: 'inferred',
        init: (n: number) => ({ state: 'a' as 'a' | 'b', data: n }),
        states: {
          a: (event, data) => (event.type === 'call' ? keep(data + 1, [reply(event.from, 1)]) : next('b')),
          b: () => keep(),
        },
      },
      5,
    );
    expectTypeOf(m.status().state).toEqualTypeOf<'a' | 'b'>();
    await m.stop();
  });

  it('a handle-event spec accepts any state value', async () => {
    const m = await startMachine(
      { name: 'any-state', init: () => ({ state: { n: 1 }, data: 'd' }), handleEvent: (_e, state, data) => next({ n: state.n + 1 }, `${data}!`) },
      undefined,
    );
    expectTypeOf(m.status().state).toEqualTypeOf<{ n: number }>();
    await m.stop();
  });

  it('machines and supervisors are children; exit reasons are a closed union', () => {
    expectTypeOf<MachineRef>().toExtend<Child>();
    expectTypeOf<SupervisorRef>().toExtend<Child>();
    expectTypeOf<DynamicSupervisorRef<number, MachineRef>>().toExtend<Child>();
    expectTypeOf<ExitReason>().toEqualTypeOf<'normal' | 'shutdown' | 'killed' | { readonly shutdown: unknown } | { readonly error: unknown }>();
  });

  it('call resolves with the reply type', () => {
    expectTypeOf<MachineRef<'s', string, number>['call']>().returns.toEqualTypeOf<Promise<number>>();
  });
});
