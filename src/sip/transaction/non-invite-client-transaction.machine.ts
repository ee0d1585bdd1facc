/**
 * The non-INVITE client transaction (RFC 3261 §17.1.2), as an `src/fsm` machine spec.
 *
 * ```
 *                         |Request from TU
 *                         |send request
 *     Timer E             V
 *     send request  +-----------+
 *         +---------|           |-------------------+
 *         |         |  Trying   |  Timer F          |
 *         +-------->|           |  or Transport Err.|
 *                   +-----------+  inform TU        |
 *      200-699         |  |                         |
 *      resp. to TU     |  |1xx                      |
 *      +---------------+  |resp. to TU              |
 *      |                  |                         |
 *      |   Timer E        V       Timer F           |
 *      |   send req +-----------+ or Transport Err. |
 *      |  +---------|           | inform TU         |
 *      |  |         |Proceeding |------------------>|
 *      |  +-------->|           |-----+             |
 *      |            +-----------+     |1xx          |
 *      |              |      ^        |resp to TU   |
 *      | 200-699      |      +--------+             |
 *      | resp. to TU  |                             |
 *      |              |                             |
 *      |              V                             |
 *      |            +-----------+                   |
 *      |            |           |                   |
 *      |            | Completed |                   |
 *      |            |           |                   |
 *      |            +-----------+                   |
 *      |              ^   |                         |
 *      |              |   | Timer K                 |
 *      +--------------+   | -                       |
 *                         |                         |
 *                         V                         |
 *   NOTE:           +-----------+                   |
 *                   |           |                   |
 *   transitions     | Terminated|<------------------+
 *   labeled with    |           |
 *   the event       +-----------+
 *   over the action
 *   to take
 * ```
 * (RFC 3261 Figure 6.) Timers are generic timeouts named `TimerE`, `TimerF`, `TimerK`.
 *
 * @module
 */
import { cancelGenericTimeout, type EnterResult, keep, type MachineSpec, next, type Result, stop } from '../../fsm/index.ts';
import { createResponse, type SipResponse } from '../index.ts';
import type { ClientTransaction, ClientTransactionArgs, ClientTransactionMsg } from './client-transaction.ts';
import { clientTimer as timer } from './timer-actions.ts';
import type { ClientTransactionUser } from './transaction-user.ts';

/** The states of RFC 3261 Figure 6. */
export type NonInviteClientState = 'trying' | 'proceeding' | 'completed' | 'terminated';

/** Machine data. */
export interface NonInviteClientData {
  readonly tx: ClientTransaction;
  readonly tu: ClientTransactionUser;
  /** The current Timer E interval. */
  readonly timerE: number;
}

type R = Result<NonInviteClientState, NonInviteClientData, ClientTransactionMsg, never>;


/**
 * > If a fatal transport error is reported by the transport layer (generally, due to fatal ICMP
 * > errors in UDP or connection failures in TCP), the condition MUST be treated as a 503 (Service
 * > Unavailable) status code. (RFC 3261 §8.1.3.1; §17.1.2.2: "inform TU")
 */
function transportFailed(data: NonInviteClientData, error: unknown): R {
  data.tu.onTransportError({ error, response: createResponse(data.tx.request, 503) }, data.tx);
  return next('terminated');
}

/** A response in Trying or Proceeding. */
function onResponse(state: NonInviteClientState, response: SipResponse, data: NonInviteClientData): R {
  // "If a provisional response is received while in the "Trying" state, the response MUST be passed
  // to the TU, and then the client transaction SHOULD move to the "Proceeding" state. If a final
  // response (status codes 200-699) is received while in the "Trying" state, the response MUST be
  // passed to the TU, and the client transaction MUST transition to the "Completed" state." The same
  // holds in "Proceeding". (§17.1.2.2)
  data.tu.onResponse(response, data.tx);
  if (response.status < 200) return state === 'proceeding' ? keep() : next('proceeding');
  return next('completed');
}

/**
 * Timer E: in Trying, "the timer is reset, but this time with a value of MIN(2*T1, T2). When the timer
 * fires again, it is reset to a MIN(4*T1, T2)"; "If Timer E fires while in the "Proceeding" state,
 * the request MUST be passed to the transport layer for retransmission, and Timer E MUST be reset
 * with a value of T2 seconds." (§17.1.2.2)
 */
function retransmit(state: NonInviteClientState, data: NonInviteClientData): R {
  const failure = data.tx.transmit(data.tx.request);
  if (failure !== undefined) return transportFailed(data, failure.error);
  const { T2 } = data.tx.timers;
  const interval = state === 'proceeding' ? T2 : Math.min(2 * data.timerE, T2);
  return keep({ ...data, timerE: interval }, [timer('E', interval)]);
}

/** Trying and Proceeding differ only in the interval after Timer E and in where a 1xx leads. */
function active(state: 'trying' | 'proceeding') {
  return (event: { readonly msg: ClientTransactionMsg }, data: NonInviteClientData): R => {
    const msg = event.msg;
    switch (msg.type) {
      case 'start': {
        // "the client transaction MUST set timer F to fire in 64*T1 seconds"; "If an unreliable
        // transport is in use, the client transaction MUST set timer E to fire in T1 seconds." (§17.1.2.2)
        const failure = data.tx.transmit(data.tx.request);
        if (failure !== undefined) return transportFailed(data, failure.error);
        const t = data.tx.timers;
        return keep(undefined, t.E === undefined ? [timer('F', t.F)] : [timer('F', t.F), timer('E', t.E)]);
      }
      case 'timer':
        if (msg.timer === 'E') return retransmit(state, data);
        if (msg.timer === 'F') {
          // "If Timer F fires while the client transaction is still in the "Trying" state, the client
          // transaction SHOULD inform the TU about the timeout, and then it SHOULD enter the
          // "Terminated" state." (also in "Proceeding") — as a 408 (§8.1.3.1).
          data.tu.onTimeout(createResponse(data.tx.request, 408), data.tx);
          return next('terminated');
        }
        return keep();
      case 'response':
        return onResponse(state, msg.response, data);
      case 'transportError':
        return transportFailed(data, msg.error);
    }
  };
}

/** The non-INVITE client transaction spec. */
export const nonInviteClientTransaction: MachineSpec<NonInviteClientState, NonInviteClientData, ClientTransactionMsg, never, ClientTransactionArgs> = {
  name: 'sip-non-invite-client-transaction',
  init: ({ transaction, tu }) => ({
    state: 'trying',
    data: { tx: transaction, tu, timerE: transaction.timers.E ?? 0 },
    actions: [{ type: 'nextEvent', msg: { type: 'start' } }],
  }),

  enter(_old, state, data): EnterResult<NonInviteClientData, ClientTransactionMsg, never> {
    switch (state) {
      case 'trying':
      case 'proceeding':
        return keep();
      case 'completed':
        // "Once the client transaction enters the "Completed" state, it MUST set Timer K to fire in T4
        // seconds for unreliable transports, and zero seconds for reliable transports." (§17.1.2.2)
        // Completed only absorbs response retransmissions: the request is no longer needed.
        data.tx.releaseRequest();
        return keep(undefined, [cancelGenericTimeout('TimerE'), cancelGenericTimeout('TimerF'), timer('K', data.tx.timers.K)]);
      case 'terminated':
        return stop('normal');
    }
  },

  states: {
    trying: active('trying'),
    proceeding: active('proceeding'),
    completed(event): R {
      // "The "Completed" state exists to buffer any additional response retransmissions that may be
      // received [...]. If Timer K fires while in this state, the client transaction MUST transition
      // to the "Terminated" state." (§17.1.2.2)
      const msg = event.msg;
      return msg.type === 'timer' && msg.timer === 'K' ? next('terminated') : keep();
    },
    terminated(): R {
      return keep();
    },
  },

  formatStatus: (status) => ({ ...status, data: { branch: status.data.tx.branch, method: status.data.tx.method, timerE: status.data.timerE } }),
};
