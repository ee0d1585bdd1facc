/**
 * Benchmark of src/fsm. Run: `node --expose-gc bench/fsm/run.ts` (`npm run bench:fsm`).
 *
 * 1. Events/s through a machine that answers every event with `keep` and re-arms an event timeout.
 * 2. The same workload on an xstate v5 actor (an `after` timer re-armed by re-entering the state on
 *    every event), and xstate with no timer at all, for scale.
 * 3. Heap per idle machine holding one generic timeout, over 100,000 machines started within 1 s.
 *
 * Bounded: well under 60 s.
 */
import { createActor, createMachine } from 'xstate';
import { eventTimeout, genericTimeout, keep, type MachineRef, RealClock, startMachine } from '../../src/fsm/index.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('Run with --expose-gc: node --expose-gc bench/fsm/run.ts');
  process.exit(1);
}

const EVENTS = 2_000_000;
const BATCH = 1000;
const MACHINES = 100_000;
const clock = new RealClock();

function format(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Best of `rounds` runs of `fn(events)`, in events per second. */
async function rate(rounds: number, events: number, fn: (events: number) => Promise<void> | void): Promise<number> {
  let best = 0;
  for (let i = 0; i < rounds; i++) {
    gc?.();
    const start = performance.now();
    await fn(events);
    const seconds = (performance.now() - start) / 1000;
    best = Math.max(best, events / seconds);
  }
  return best;
}

async function tandemEvents(freshActions: boolean): Promise<number> {
  const REARM = [eventTimeout(30_000, 'idle')] as const;
  let handled = 0;
  const m = await startMachine<'ready', null, number | string>(
    {
      name: 'bench',
      init: () => ({ state: 'ready', data: null }),
      handleEvent() {
        handled++;
        return keep(undefined, freshActions ? [eventTimeout(30_000, 'idle')] : REARM);
      },
    },
    undefined,
    { clock },
  );
  const send = async (events: number) => {
    for (let sent = 0; sent < events; sent += BATCH) {
      for (let i = 0; i < BATCH; i++) m.cast(i);
      await undefined; // the machine drains its mailbox in the microtask queued by the first cast
    }
  };
  await send(100_000); // warm-up
  const result = await rate(3, EVENTS, send);
  await m.stop();
  if (handled !== 100_000 + 3 * EVENTS) throw new Error(`lost events: ${handled}`);
  return result;
}

function xstateEvents(withTimer: boolean, events: number): number {
  const machine = withTimer
    ? createMachine({
        id: 'bench',
        initial: 'ready',
        states: { ready: { after: { 30_000: { target: 'ready', reenter: true } }, on: { EV: { target: 'ready', reenter: true } } } },
      })
    : createMachine({ id: 'bench', initial: 'ready', states: { ready: { on: { EV: {} } } } });
  const actor = createActor(machine).start();
  const event = { type: 'EV' } as const;
  const run = (n: number) => {
    for (let i = 0; i < n; i++) actor.send(event);
  };
  run(20_000); // warm-up
  let best = 0;
  for (let r = 0; r < 3; r++) {
    gc?.();
    const start = performance.now();
    run(events);
    best = Math.max(best, events / ((performance.now() - start) / 1000));
  }
  actor.stop();
  return best;
}

async function memoryPerMachine(): Promise<{ bytes: number; startMs: number }> {
  const spec = {
    name: 'idle-session',
    init: (id: number) => ({ state: 'idle', data: id, actions: [genericTimeout('expire', 600_000, 'expire')] }),
    handleEvent: () => keep(),
  };
  const machines: MachineRef[] = new Array(MACHINES);
  gc?.();
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const start = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < MACHINES; i++) {
    pending.push(
      startMachine(spec, i, { clock }).then((m) => {
        machines[i] = m;
      }),
    );
  }
  await Promise.all(pending);
  const startMs = performance.now() - start;
  pending.length = 0;
  gc?.();
  gc?.();
  const after = process.memoryUsage().heapUsed;
  if (clock.pendingTimers !== MACHINES) throw new Error(`expected ${MACHINES} armed timers, got ${clock.pendingTimers}`);
  const bytes = (after - before) / MACHINES;
  for (const m of machines) m.kill();
  return { bytes, startMs };
}

const t0 = performance.now();
const constant = await tandemEvents(false);
const fresh = await tandemEvents(true);
const xTimer = xstateEvents(true, 200_000);
const xPlain = xstateEvents(false, 1_000_000);
const memory = await memoryPerMachine();

console.log('src/fsm benchmark (Node ' + process.version + ')');
console.log('');
console.log('Events/s, keep + re-armed event timeout (best of 3 × ' + format(EVENTS) + ' events):');
console.log(`  tandem, constant action list        ${format(constant).padStart(12)}   target >= 1,000,000   ${constant >= 1_000_000 ? 'OK' : 'MISSED'}`);
console.log(`  tandem, fresh action list per event ${format(fresh).padStart(12)}`);
console.log(`  xstate v5, after-timer re-armed     ${format(xTimer).padStart(12)}`);
console.log(`  xstate v5, no timer at all          ${format(xPlain).padStart(12)}`);
console.log('');
console.log('Ratios (same workload: an event re-arms an idle timer):');
console.log(`  tandem / xstate                     ${(constant / xTimer).toFixed(1).padStart(12)}×  target >= 3×   ${constant / xTimer >= 3 ? 'OK' : 'MISSED'}`);
console.log(`  tandem (fresh actions) / xstate     ${(fresh / xTimer).toFixed(1).padStart(12)}×`);
console.log(`  tandem / xstate without any timer   ${(constant / xPlain).toFixed(1).padStart(12)}×`);
console.log('');
console.log(`Memory per idle machine holding one generic timeout (${format(MACHINES)} machines):`);
console.log(`  heapUsed delta / machine            ${format(memory.bytes).padStart(12)} B   target < 2048 B   ${memory.bytes < 2048 ? 'OK' : 'MISSED'}`);
console.log(`  started in                          ${format(memory.startMs).padStart(12)} ms  target < 1000 ms  ${memory.startMs < 1000 ? 'OK' : 'MISSED'}`);
console.log(`  OS timers for them                  ${'1'.padStart(12)}`);
console.log('');
console.log(`Total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
