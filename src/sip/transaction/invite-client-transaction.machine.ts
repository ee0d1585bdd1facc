/**
 * The INVITE client transaction (RFC 3261 §17.1.1, with the Accepted state of RFC 6026 §7.2), as an
 * `src/fsm` machine spec.
 *
 * ```
 *                     |INVITE from TU
 *   Timer A fires     |INVITE sent          Timer B fires
 *   Reset A,          V                     or Transport Err.
 *   INVITE sent +-----------+               inform TU
 *     +---------|  Calling  |------------------------------+
 *     +-------->|           |-----------+                  |
 *               +-----------+ 2xx       |                  |
 *     300-699     |  |        2xx to TU |                  |
 *   +-------------+  |1xx               |                  |
 *   | ACK sent       |1xx to TU         |                  |
 *   | resp. to TU    V                  |                  |
 *   |  1xx   +-----------+              |                  |
 *   |  +-----|Proceeding |--------------+                  |
 *   |  +---->|           |  2xx to TU   |                  |
 *   |        +-----------+              V                  |
 *   |   300-699 |          +-----------+ 2xx to TU         |
 *   |   ACK sent|          | Accepted  |-----+             |
 *   |   to TU   V          |           |<----+             |
 *   | +-----------+        +-----------+                   |
 *   +>| Completed |--+ 300-699: ACK sent  | Timer M fires  |
 *     |           |<-+ (not to TU)        V                |
 *     +-----------+ Timer D fires   +------------+         |
 *          +----------------------->| Terminated |<--------+
 *                                   +------------+
 * ```
 *
 * Timers are generic timeouts named `TimerA`, `TimerB`, `TimerD`, `TimerM`, so `status()` shows
 * them by their RFC names.
 *
 * @module
 */
import { cancelGenericTimeout, type EnterResult, keep, type MachineSpec, next, type Result, stop } from '../../fsm/index.ts';
import { createResponse, type SipRequest, type SipResponse } from '../index.ts';
import { createAck } from './ack.ts';
import type { ClientTransaction, ClientTransactionArgs, ClientTransactionMsg } from './client-transaction.ts';
import { clientTimer as timer } from './timer-actions.ts';
import type { ClientTransactionUser } from './transaction-user.ts';
import { WireCopy } from './wire-copy.ts';

/** The states of RFC 3261 Figure 5, with Accepted from RFC 6026 Figure 5. */
export type InviteClientState = 'calling' | 'proceeding' | 'completed' | 'accepted' | 'terminated';

/** Machine data. */
export interface InviteClientData {
  readonly tx: ClientTransaction;
  readonly tu: ClientTransactionUser;
  /** The current Timer A interval: T1, doubling after each retransmission. */
  readonly timerA: number;
  /** The ACK sent for the non-2xx final response; re-sent for each of its retransmissions. */
  readonly ack: WireCopy<SipRequest> | null;
}

type R = Result<InviteClientState, InviteClientData, ClientTransactionMsg, never>;

const CANCEL_A = cancelGenericTimeout('TimerA');
const CANCEL_B = cancelGenericTimeout('TimerB');

/**
 * > If an INVITE client transaction receives a transport error in the "Calling" state [...] the
 * > client transaction SHOULD inform the TU that a transport failure has occurred, and the client
 * > transaction SHOULD transition directly to the "Terminated" state. The TU will handle the failover
 * > mechanisms described in [RFC 3263]. (RFC 3261 §17.1.1.2)
 *
 * The TU treats it as a 503 (§8.1.3.1), which is given while no final response was passed up.
 */
function transportFailed(data: InviteClientData, error: unknown, finalPassedUp: boolean): R {
  const response = finalPassedUp ? undefined : createResponse(data.tx.request, 503);
  data.tu.onTransportError({ error, response }, data.tx);
  return next('terminated');
}

/** A response in Calling or Proceeding. */
function onResponse(state: InviteClientState, response: SipResponse, data: InviteClientData): R {
  const { tx, tu } = data;
  const status = response.status;
  if (status < 200) {
    // "If the client transaction receives a provisional response while in the "Calling" state, it
    // transitions to the "Proceeding" state. [...] Furthermore, the provisional response MUST be
    // passed to the TU. Any further provisional responses MUST be passed up to the TU while in the
    // "Proceeding" state." (§17.1.1.2)
    tu.onResponse(response, tx);
    return state === 'proceeding' ? keep() : next('proceeding');
  }
  if (status < 300) {
    // RFC 6026 §8.4: "a 2xx response MUST cause the client transaction to enter the "Accepted"
    // state", and the response is passed to the TU.
    tu.onResponse(response, tx);
    return next('accepted');
  }
  // "When in either the "Calling" or "Proceeding" states, reception of a response with status code
  // from 300-699 MUST cause the client transaction to transition to "Completed". The client
  // transaction MUST pass the received response up to the TU, and the client transaction MUST
  // generate an ACK request, even if the transport is reliable" (§17.1.1.2)
  tu.onResponse(response, tx);
  const ack = createAck(tx.request, response);
  const failure = tx.transmit(ack);
  if (failure !== undefined) return transportFailed(data, failure.error, true);
  return next('completed', { ...data, ack: new WireCopy(ack) });
}

/** The INVITE client transaction spec. Start it with the transaction handle and its TU. */
export const inviteClientTransaction: MachineSpec<InviteClientState, InviteClientData, ClientTransactionMsg, never, ClientTransactionArgs> = {
  name: 'sip-invite-client-transaction',
  init: ({ transaction, tu }) => ({
    state: 'calling',
    data: { tx: transaction, tu, timerA: transaction.timers.A ?? 0, ack: null },
    actions: [{ type: 'nextEvent', msg: { type: 'start' } }],
  }),

  enter(_old, state, data): EnterResult<InviteClientData, ClientTransactionMsg, never> {
    const t = data.tx.timers;
    switch (state) {
      case 'calling':
        return keep();
      case 'proceeding':
        // "In the "Proceeding" state, the client transaction SHOULD NOT retransmit the request any longer." (§17.1.1.2)
        return keep(undefined, [CANCEL_A, CANCEL_B]);
      case 'completed':
        // "The client transaction SHOULD start timer D when it enters the "Completed" state, with a value
        // of at least 32 seconds for unreliable transports, and a value of zero seconds for reliable
        // transports." (§17.1.1.2) Completed re-sends only the ACK: the INVITE is no longer needed.
        data.tx.releaseRequest();
        return keep(undefined, [CANCEL_A, CANCEL_B, timer('D', t.D)]);
      case 'accepted':
        // "The client transaction MUST start Timer M upon entering the "Accepted" state [...] 64*T1" (RFC 6026 §8.4)
        // Accepted sends nothing: the INVITE is no longer needed.
        data.tx.releaseRequest();
        return keep(undefined, [CANCEL_A, CANCEL_B, timer('M', t.M)]);
      case 'terminated':
        // "The client transaction MUST be destroyed the instant it enters the "Terminated" state." (§17.1.1.2)
        return stop('normal');
    }
  },

  states: {
    calling(event, data): R {
      const msg = event.msg;
      switch (msg.type) {
        case 'start': {
          // "The client transaction MUST start timer B with a value of 64*T1 seconds [...]. If an
          // unreliable transport is being used, the client transaction MUST start timer A with a
          // value of T1." (§17.1.1.2)
          const failure = data.tx.transmit(data.tx.request);
          if (failure !== undefined) return transportFailed(data, failure.error, false);
          const t = data.tx.timers;
          return keep(undefined, t.A === undefined ? [timer('B', t.B)] : [timer('B', t.B), timer('A', t.A)]);
        }
        case 'timer': {
          if (msg.timer === 'A') {
            // "When timer A fires, the client transaction MUST retransmit the request by passing it to
            // the transport layer, and MUST reset the timer with a value of 2*T1." (§17.1.1.2)
            const failure = data.tx.transmit(data.tx.request);
            if (failure !== undefined) return transportFailed(data, failure.error, false);
            const interval = data.timerA * 2;
            return keep({ ...data, timerA: interval }, [timer('A', interval)]);
          }
          if (msg.timer === 'B') {
            // "If the client transaction is still in the "Calling" state when timer B fires, the client
            // transaction SHOULD inform the TU that a timeout has occurred." (§17.1.1.2) — as a 408 (§8.1.3.1).
            data.tu.onTimeout(createResponse(data.tx.request, 408), data.tx);
            return next('terminated');
          }
          return keep();
        }
        case 'response':
          return onResponse('calling', msg.response, data);
        case 'transportError':
          return transportFailed(data, msg.error, false);
      }
    },

    proceeding(event, data): R {
      const msg = event.msg;
      if (msg.type === 'response') return onResponse('proceeding', msg.response, data);
      if (msg.type === 'transportError') return transportFailed(data, msg.error, false);
      return keep();
    },

    completed(event, data): R {
      const msg = event.msg;
      switch (msg.type) {
        case 'response': {
          // "Any retransmissions of the final response that are received while in the "Completed"
          // state MUST cause the ACK to be re-passed to the transport layer for retransmission, but
          // the newly received response MUST NOT be passed up to the TU." (§17.1.1.2)
          if (msg.response.status < 300 || data.ack === null) return keep();
          const failure = data.tx.transmit(data.ack.message);
          return failure === undefined ? keep() : transportFailed(data, failure.error, true);
        }
        case 'timer':
          // "If timer D fires while the client transaction is in the "Completed" state, the client
          // transaction MUST move to the "Terminated" state." (§17.1.1.2)
          return msg.timer === 'D' ? next('terminated') : keep();
        case 'transportError':
          return transportFailed(data, msg.error, true);
        case 'start':
          return keep();
      }
    },

    accepted(event, data): R {
      const msg = event.msg;
      // "Any 2xx responses that are received while in the "Accepted" state MUST be passed up to the TU.
      // [...] If Timer M fires while the client transaction is in the "Accepted" state, the client
      // transaction MUST move to the "Terminated" state." (RFC 6026 §8.4) Other responses are absorbed;
      // the transaction sends nothing in this state (the TU sends the ACK for a 2xx), so transport
      // errors are irrelevant to it.
      if (msg.type === 'response' && msg.response.status >= 200 && msg.response.status < 300) {
        data.tu.onResponse(msg.response, data.tx);
        return keep();
      }
      if (msg.type === 'timer' && msg.timer === 'M') return next('terminated');
      return keep();
    },

    terminated(): R {
      return keep();
    },
  },

  formatStatus: (status) => ({ ...status, data: { branch: status.data.tx.branch, timerA: status.data.timerA, acked: status.data.ack !== null } }),
};
