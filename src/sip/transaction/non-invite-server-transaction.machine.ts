/**
 * The non-INVITE server transaction (RFC 3261 §17.2.2), as an `src/fsm` machine spec.
 *
 * ```
 *                         |Request received
 *                         |pass to TU
 *                         V
 *                   +-----------+
 *                   |           |
 *                   | Trying    |-------------+
 *                   |           |             |
 *                   +-----------+             |200-699 from TU
 *                         |                   |send response
 *                         |1xx from TU        |
 *                         |send response      |
 *                         |                   |
 *      Request            V      1xx from TU  |
 *      send response+-----------+send response|
 *          +--------|           |--------+    |
 *          |        | Proceeding|        |    |
 *          +------->|           |<-------+    |
 *   +<--------------|           |             |
 *   |Trnsprt Err    +-----------+             |
 *   |Inform TU            |                   |
 *   |                     |                   |
 *   |                     |200-699 from TU    |
 *   |                     |send response      |
 *   |  Request            V                   |
 *   |  send response+-----------+             |
 *   |      +--------|           |             |
 *   |      |        | Completed |<------------+
 *   |      +------->|           |
 *   +<--------------|           |
 *   |Trnsprt Err    +-----------+
 *   |Inform TU            |
 *   |                     |Timer J fires
 *   |                     |-
 *   |                     |
 *   |                     V
 *   |               +-----------+
 *   |               |           |
 *   +-------------->| Terminated|
 *                   |           |
 *                   +-----------+
 * ```
 * (RFC 3261 Figure 8.) Timer J is a generic timeout named `TimerJ`.
 *
 * @module
 */
import { type EnterResult, keep, type MachineSpec, next, type Result, stop } from '../../fsm/index.ts';
import type { SipResponse } from '../index.ts';
import type { ServerTransaction, ServerTransactionArgs, ServerTransactionMsg } from './server-transaction.ts';
import { serverTimer } from './timer-actions.ts';
import type { ServerTransactionUser } from './transaction-user.ts';
import { WireCopy } from './wire-copy.ts';

/** The states of RFC 3261 Figure 8. */
export type NonInviteServerState = 'trying' | 'proceeding' | 'completed' | 'terminated';

/** Machine data. */
export interface NonInviteServerData {
  readonly tx: ServerTransaction;
  readonly tu: ServerTransactionUser;
  /** The last response sent: re-sent for each retransmission of the request in Proceeding and Completed. */
  readonly last: WireCopy<SipResponse> | null;
}

/** Timer J's event, made once (it is kept while the timer is armed). */

type R = Result<NonInviteServerState, NonInviteServerData, ServerTransactionMsg, never>;

/**
 * "If the transport layer indicates an error [...] while in the Proceeding or Completed state, the
 * server transaction SHOULD inform the TU and move to the Terminated state" (Figure 8; §17.2.4).
 */
/** Passes the last response sent to the transport again (a request retransmission arrived). */
function resendLast(data: NonInviteServerData): R {
  if (data.last === null) return keep();
  const failure = data.tx.transmit(data.last.message);
  return failure === undefined ? keep() : transportFailed(data, failure.error);
}

function transportFailed(data: NonInviteServerData, error: unknown): R {
  data.tu.onTransportError?.(error, data.tx);
  return next('terminated');
}

/** A response from the TU in Trying or Proceeding. */
function respond(state: NonInviteServerState, response: SipResponse, data: NonInviteServerData): R {
  const failure = data.tx.transmit(response);
  if (failure !== undefined) return transportFailed(data, failure.error);
  // "While in the "Trying" state, if the TU passes a provisional response to the server transaction,
  // the server transaction MUST enter the "Proceeding" state. [...] Any further provisional responses
  // that are received from the TU while in the "Proceeding" state MUST be passed to the transport
  // layer for transmission. If the TU passes a final response (status codes 200-699) to the server
  // while in the "Proceeding" state, the transaction MUST enter the "Completed" state" (§17.2.2)
  if (response.status < 200) return state === 'proceeding' ? keep({ ...data, last: new WireCopy(response) }) : next('proceeding', { ...data, last: new WireCopy(response) });
  return next('completed', { ...data, last: new WireCopy(response) });
}

/** The non-INVITE server transaction spec. */
export const nonInviteServerTransaction: MachineSpec<NonInviteServerState, NonInviteServerData, ServerTransactionMsg, never, ServerTransactionArgs> = {
  name: 'sip-non-invite-server-transaction',
  init: ({ transaction, tu }) => ({
    state: 'trying',
    data: { tx: transaction, tu, last: null },
    actions: [{ type: 'nextEvent', msg: { type: 'start' } }],
  }),

  enter(_old, state, data): EnterResult<NonInviteServerData, ServerTransactionMsg, never> {
    switch (state) {
      case 'trying':
      case 'proceeding':
        return keep();
      case 'completed':
        // "When the server transaction enters the "Completed" state, it MUST set Timer J to fire in
        // 64*T1 seconds for unreliable transports, and zero seconds for reliable transports." (§17.2.2)
        // Completed only re-sends the last response: the request is no longer needed.
        data.tx.releaseRequest();
        return keep(undefined, [serverTimer('J', data.tx.timers.J)]);
      case 'terminated':
        // "The server transaction MUST be destroyed the instant it enters the "Terminated" state." (§17.2.2)
        return stop('normal');
    }
  },

  states: {
    trying(event, data): R {
      const msg = event.msg;
      switch (msg.type) {
        case 'start':
          // "The state machine is initialized in the "Trying" state and is passed a request other than
          // INVITE or ACK when initialized. This request is passed up to the TU." (§17.2.2)
          data.tu.onRequest(data.tx.request, data.tx);
          return keep();
        case 'respond':
          return respond('trying', msg.response, data);
        case 'transportError':
          return transportFailed(data, msg.error);
        case 'request': // "Once in the "Trying" state, any further request retransmissions are discarded."
        case 'timer':
          return keep();
      }
    },

    proceeding(event, data): R {
      const msg = event.msg;
      switch (msg.type) {
        case 'request': {
          // "If a retransmission of the request is received while in the "Proceeding" state, the most
          // recently sent provisional response MUST be passed to the transport layer for retransmission." (§17.2.2)
          return resendLast(data);
        }
        case 'respond':
          return respond('proceeding', msg.response, data);
        case 'transportError':
          return transportFailed(data, msg.error);
        case 'start':
        case 'timer':
          return keep();
      }
    },

    completed(event, data): R {
      const msg = event.msg;
      switch (msg.type) {
        case 'request': {
          // "While in the "Completed" state, the server transaction MUST pass the final response to the
          // transport layer for retransmission whenever a retransmission of the request is received.
          // Any other final responses passed by the TU to the server transaction MUST be discarded
          // while in the "Completed" state." (§17.2.2)
          return resendLast(data);
        }
        case 'timer':
          // "The server transaction remains in this state until Timer J fires, at which point it MUST
          // transition to the "Terminated" state." (§17.2.2)
          return msg.timer === 'J' ? next('terminated') : keep();
        case 'transportError':
          return transportFailed(data, msg.error);
        case 'respond':
        case 'start':
          return keep();
      }
    },

    terminated(): R {
      return keep();
    },
  },

  formatStatus: (status) => ({ ...status, data: { method: status.data.tx.method, last: status.data.last?.status ?? null } }),
};
