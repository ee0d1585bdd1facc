/**
 * The timeout actions of the transaction machines: RFC 3261's timers as `src/fsm` generic timeouts
 * named `TimerA` … `TimerM` (and `Trying100`, the INVITE server's 200 ms 100 Trying), each delivering
 * `{ type: 'timer', timer }`. Names and events are made once per timer, not per arm: an armed
 * timeout keeps its event for as long as it is armed, by every live transaction.
 *
 * @module
 */
import { genericTimeout, type TimeoutAction } from '../../fsm/index.ts';
import type { ClientTimerName, ClientTransactionMsg } from './client-transaction.ts';
import type { ServerTimerName, ServerTransactionMsg } from './server-transaction.ts';

function table<N extends string, M>(names: readonly N[], nameOf: (n: N) => string): { name: Record<N, string>; msg: Record<N, M> } {
  const name = {} as Record<N, string>;
  const msg = {} as Record<N, M>;
  for (const n of names) {
    name[n] = nameOf(n);
    msg[n] = Object.freeze({ type: 'timer', timer: n }) as M;
  }
  return { name, msg };
}

const CLIENT = table<ClientTimerName, ClientTransactionMsg>(['A', 'B', 'D', 'E', 'F', 'K', 'M'], (n) => `Timer${n}`);
const SERVER = table<ServerTimerName, ServerTransactionMsg>(['G', 'H', 'I', 'J', 'L', 'Trying100'], (n) => (n === 'Trying100' ? n : `Timer${n}`));

/** Arms client transaction timer `name` (Timer A, B, D, E, F, K, M) to fire in `ms`. */
export function clientTimer(name: ClientTimerName, ms: number): TimeoutAction<ClientTransactionMsg> {
  return genericTimeout(CLIENT.name[name], ms, CLIENT.msg[name]);
}

/** Arms server transaction timer `name` (Timer G, H, I, J, L, or Trying100) to fire in `ms`. */
export function serverTimer(name: ServerTimerName, ms: number): TimeoutAction<ServerTransactionMsg> {
  return genericTimeout(SERVER.name[name], ms, SERVER.msg[name]);
}
