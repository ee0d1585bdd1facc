/** Test helpers for src/fsm. */
import { SimulatedClock } from '../../src/fsm/index.ts';

/** Lets every queued machine run (one macrotask turn). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A fresh simulated clock starting at 0. */
export function simClock(): SimulatedClock {
  return new SimulatedClock();
}

/** Formats an event as `type:msg` (with the name for generic timeouts) for compact logs. */
export function show(event: { type: string; msg: unknown; name?: string }): string {
  return event.type === 'genericTimeout' ? `genericTimeout(${event.name}):${String(event.msg)}` : `${event.type}:${String(event.msg)}`;
}
