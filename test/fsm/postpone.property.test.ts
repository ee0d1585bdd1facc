/**
 * Property: across random sequences of events, state changes, postpones and inserted events, the
 * engine delivers exactly what a tiny reference model of SPEC A.7–A.9 delivers, in the same order;
 * no postponed event is lost or delivered twice.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keep, nextEvent, next, postpone, startMachine, type Action } from '../../src/fsm/index.ts';
import { settle } from './helpers.ts';

type StateName = 'a' | 'b' | 'c';
type Ev = { id: string; postponeIn: StateName[]; goTo: StateName | null; inserts: Ev[] };

const stateArb = fc.constantFrom<StateName>('a', 'b', 'c');
const leafArb = (id: string): fc.Arbitrary<Ev> =>
  fc.record({ postponeIn: fc.subarray<StateName>(['a', 'b', 'c']), goTo: fc.option(stateArb, { nil: null }) }).map((r) => ({ id, ...r, inserts: [] }));
const eventsArb = fc.array(fc.tuple(leafArb(''), fc.array(leafArb(''), { maxLength: 2 })), { minLength: 1, maxLength: 25 }).map((list) =>
  list.map(([e, inserts], i) => ({ ...e, id: `e${i}`, inserts: inserts.map((x, k) => ({ ...x, id: `e${i}.${k}` })) })),
);

/** The reference model: two queues and a postponed list, per the gen_statem transition order. */
function model(events: Ev[]): { log: string[]; postponed: string[] } {
  let state: StateName = 'a';
  const mailbox = [...events];
  let queue: Ev[] = [];
  let postponed: Ev[] = [];
  const log: string[] = [];
  for (;;) {
    const e = queue.shift() ?? mailbox.shift();
    if (e === undefined) break;
    log.push(`${e.id}@${state}`);
    if (e.postponeIn.includes(state)) {
      postponed.push(e); // a postponed event inserts nothing (it has not been consumed)
    } else if (e.goTo !== null && e.goTo !== state) {
      state = e.goTo;
      queue = [...e.inserts, ...postponed, ...queue];
      postponed = [];
    } else {
      queue = [...e.inserts, ...queue];
    }
  }
  return { log, postponed: postponed.map((e) => e.id) };
}

let runs = 0;

describe('postpone property', () => {
  it('A.8 no postponed event is lost or delivered twice, and delivery order matches the reference model', async () => {
    await fc.assert(
      fc.asyncProperty(eventsArb, fc.integer({ min: 1, max: 5 }), async (events, batch) => {
        const log: string[] = [];
        const m = await startMachine<StateName, null, Ev>(
          {
            name: 'postpone-model',
            init: () => ({ state: 'a', data: null }),
            handleEvent(event, state) {
              const e = event.msg;
              log.push(`${e.id}@${state}`);
              const inserts: Action<Ev>[] = e.inserts.map((x) => nextEvent(x));
              if (e.postponeIn.includes(state)) return keep(undefined, [postpone()]);
              if (e.goTo !== null) return next(e.goTo, undefined, inserts);
              return keep(undefined, inserts);
            },
          },
          undefined,
        );
        // external events arrive in batches; arrival timing must not change the outcome
        for (let i = 0; i < events.length; i += batch) {
          for (const e of events.slice(i, i + batch)) m.cast(e);
          await settle();
        }
        const expected = model(events);
        expect(log).toEqual(expected.log);
        expect(m.status().postponedCount).toBe(expected.postponed.length);
        // never lost: every event was delivered at least once; never duplicated: each event is
        // delivered once more than the times it was postponed (it is consumed exactly once,
        // unless it is still postponed at the end)
        const all = events.flatMap((e) => [e, ...e.inserts]);
        const delivered = new Set(log.map((l) => l.split('@')[0]));
        for (const e of all) {
          const deliveries = log.filter((l) => l.startsWith(`${e.id}@`));
          const postponements = deliveries.filter((l) => e.postponeIn.includes(l.split('@')[1] as StateName)).length;
          const stillPostponed = expected.postponed.includes(e.id) ? 1 : 0;
          if (deliveries.length > 0) expect(deliveries.length - postponements).toBe(1 - stillPostponed);
        }
        for (const e of events) expect(delivered.has(e.id)).toBe(true);
        runs++;
        await m.stop();
      }),
      { numRuns: 200 },
    );
    expect(runs).toBe(200);
  });
});
