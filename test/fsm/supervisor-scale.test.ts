import { describe, expect, it, vi } from 'vitest';
import { type Child, type ChildSpec, DuplicateChildError, type ExitReason, NoChildError, startSupervisor } from '../../src/fsm/index.ts';

const N = 20_000;

/** Light children (no machine each) that log their starts and can be crashed. */
class Stubs {
  readonly starts: string[] = [];
  readonly current = new Map<string, { child: Child; exit: (reason: ExitReason) => void }>();

  spec(id: string): ChildSpec {
    return {
      id,
      start: () => {
        const exit = Promise.withResolvers<ExitReason>();
        let done = false;
        const finish = (reason: ExitReason): void => {
          if (done) return;
          done = true;
          exit.resolve(reason);
        };
        const child: Child = {
          exited: exit.promise,
          stop: (reason = 'shutdown') => {
            finish(reason);
            return exit.promise.then(() => undefined);
          },
          kill: () => finish('killed'),
        };
        this.starts.push(id);
        this.current.set(id, { child, exit: finish });
        return Promise.resolve(child);
      },
    };
  }

  crash(id: string): void {
    this.current.get(id)?.exit({ error: new Error(`${id} crashed`) });
  }
}

describe('supervisor with many children', () => {
  it(`starts ${N} children with startChild and deletes them all, keeping order and the tree consistent`, { timeout: 60_000 }, async () => {
    const stubs = new Stubs();
    const sup = await startSupervisor({ strategy: 'rest_for_one', intensity: 10 }, [], { name: 'many' });
    const ids = Array.from({ length: N }, (_, i) => `c${i}`);
    for (const id of ids) await sup.startChild(stubs.spec(id));

    expect(sup.whichChildren().map((c) => c.id)).toEqual(ids);
    await expect(sup.startChild(stubs.spec('c123'))).rejects.toBeInstanceOf(DuplicateChildError);

    // Remove every other child, from the end back, so removals hit the middle of the list.
    const even = ids.filter((_, i) => i % 2 === 0);
    const odd = ids.filter((_, i) => i % 2 === 1);
    for (const id of [...even].reverse()) {
      await sup.terminateChild(id);
      await sup.deleteChild(id);
    }
    expect(sup.whichChildren().map((c) => c.id)).toEqual(odd);
    expect(sup.whichChildren().every((c) => c.status === 'running')).toBe(true);
    expect(sup.tree().children.map((c) => c.id)).toEqual(odd);
    await expect(sup.terminateChild('c0')).rejects.toBeInstanceOf(NoChildError);

    // rest_for_one still follows start order: the crashed child and the ones after it restart, in order.
    stubs.starts.length = 0;
    stubs.crash(odd.at(-3)!);
    await vi.waitFor(() => expect(stubs.starts).toEqual(odd.slice(-3)));
    await vi.waitFor(() => expect(sup.whichChildren().every((c) => c.status === 'running')).toBe(true));
    expect(sup.whichChildren().map((c) => c.id)).toEqual(odd);
    expect(sup.whichChildren().filter((c) => c.restarts > 0).map((c) => c.id)).toEqual(odd.slice(-3));

    for (const id of odd) {
      await sup.terminateChild(id);
      await sup.deleteChild(id);
    }
    expect(sup.whichChildren()).toEqual([]);
    expect(sup.tree().children).toEqual([]);
    await expect(sup.deleteChild('c1')).rejects.toBeInstanceOf(NoChildError);

    // A deleted id can be started again; it is the only child.
    await sup.startChild(stubs.spec('c1'));
    expect(sup.whichChildren().map((c) => [c.id, c.status])).toEqual([['c1', 'running']]);
    await sup.stop();
    await expect(sup.exited).resolves.toBe('shutdown');
  });
});
