/**
 * The INVITE server transaction (RFC 3261 §17.2.1, with the Accepted state of RFC 6026 §7.1), as an
 * `src/fsm` machine spec.
 *
 * ```
 *                                |INVITE
 *                                |pass INV to TU
 *             INVITE             V send 100 if TU won't in 200ms
 *             send response+-----------+
 *                 +--------|           |--------+101-199 from TU
 *                 |        | Proceeding|        |send response
 *                 +------->|           |<-------+
 *                          |           |          Transport Err.
 *                          |           |          Inform TU
 *                          |           |--------------->+
 *                          +-----------+                |
 *             300-699 from TU |     |2xx from TU        |
 *             send response   |     |send response      |
 *                             |     +------------------>+------+
 *             INVITE          V          Timer G fires  |      |
 *             send response+-----------+ send response  |      |
 *                 +--------|           |--------+       |      |
 *                 |        | Completed |        |       |      |
 *                 +------->|           |<-------+       |      |
 *                          +-----------+                |      |
 *                             |     |                   |      |
 *                         ACK |     |                   |      |
 *                         -   |     +------------------>+      |
 *                             |        Timer H fires    |      |
 *                             V        or Transport Err.|      |
 *                          +-----------+  Inform TU     |      |
 *                          |           |                |      |
 *                          | Confirmed |                |      |
 *                          |           |                |      |
 *                          +-----------+                |      |
 *                                |                      |      |
 *                                |Timer I fires         |      |
 *                                |-                     |      |
 *                                V                      |      |
 *                          +-----------+                |      |
 *                          | Terminated|<---------------+      |
 *                          +-----------+                       |
 *                                ^    Timer L fires  +-----------+
 *                                +-------------------|  Accepted |  INVITE: absorbed;
 *                                                    |           |  2xx from TU: sent;
 *                                                    +-----------+  ACK: to TU
 * ```
 * Timers are generic timeouts named `TimerG`, `TimerH`, `TimerI`, `TimerL`, and `Trying100` for the
 * 200 ms after which the transaction answers 100 Trying itself.
 *
 * @module
 */
import { cancelGenericTimeout, type EnterResult, keep, type MachineSpec, next, type Result, stop } from '../../fsm/index.ts';
import { createResponse, type SipResponse } from '../index.ts';
import type { ServerTransaction, ServerTransactionArgs, ServerTransactionMsg } from './server-transaction.ts';
import { serverTimer as timer } from './timer-actions.ts';
import type { ServerTransactionUser } from './transaction-user.ts';
import { WireCopy } from './wire-copy.ts';

/** The states of RFC 3261 Figure 7, with Accepted from RFC 6026 Figure 7. */
export type InviteServerState = 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

/** Machine data. */
export interface InviteServerData {
  readonly tx: ServerTransaction;
  readonly tu: ServerTransactionUser;
  /** The most recent provisional response sent (by the TU, or the transaction's own 100 Trying). */
  readonly provisional: SipResponse | null;
  /** The status of the most recent provisional response sent (kept when `provisional` is released). */
  readonly provisionalStatus: number | null;
  /** The non-2xx final response, retransmitted until the ACK comes. */
  readonly final: WireCopy<SipResponse> | null;
  /** The current Timer G interval. */
  readonly timerG: number;
}

type R = Result<InviteServerState, InviteServerData, ServerTransactionMsg, never>;

const CANCEL_TRYING = cancelGenericTimeout('Trying100');

/**
 * "If there is a transport failure [...] the server transaction [...] informs the TU of the failure,
 * and transitions to the Terminated state" (RFC 3261 §17.2.1, Figure 7; §17.2.4).
 */
function transportFailed(data: InviteServerData, error: unknown): R {
  data.tu.onTransportError?.(error, data.tx);
  return next('terminated');
}

function send(data: InviteServerData, response: SipResponse, then: () => R): R {
  const failure = data.tx.transmit(response);
  return failure === undefined ? then() : transportFailed(data, failure.error);
}

/** A response from the TU in Proceeding. */
function respondInProceeding(response: SipResponse, data: InviteServerData): R {
  const status = response.status;
  // "The TU passes any number of provisional responses to the server transaction. So long as the
  // server transaction is in the "Proceeding" state, each of these MUST be passed to the transport
  // layer for transmission." (§17.2.1)
  if (status < 200) return send(data, response, () => keep({ ...data, provisional: response, provisionalStatus: status }, [CANCEL_TRYING]));
  // RFC 6026 §8.5: "If, while in the "Proceeding" state, the TU passes a 2xx response to the server
  // transaction, the server transaction MUST pass this response to the transport layer for
  // transmission [...]. The server transaction MUST then transition to the "Accepted" state."
  if (status < 300) return send(data, response, () => next('accepted'));
  // "While in the "Proceeding" state, if the TU passes a response with status code from 300 to 699 to
  // the server transaction, the response MUST be passed to the transport layer for transmission, and
  // the state machine MUST enter the "Completed" state." (§17.2.1)
  return send(data, response, () => next('completed', { ...data, final: new WireCopy(response) }));
}

/** The INVITE server transaction spec. */
export const inviteServerTransaction: MachineSpec<InviteServerState, InviteServerData, ServerTransactionMsg, never, ServerTransactionArgs> = {
  name: 'sip-invite-server-transaction',
  init: ({ transaction, tu }) => ({
    state: 'proceeding',
    data: { tx: transaction, tu, provisional: null, provisionalStatus: null, final: null, timerG: transaction.timers.G ?? 0 },
    actions: [{ type: 'nextEvent', msg: { type: 'start' } }],
  }),

  enter(_old, state, data): EnterResult<InviteServerData, ServerTransactionMsg, never> {
    const t = data.tx.timers;
    switch (state) {
      case 'proceeding':
        return keep();
      case 'completed': {
        // "When the "Completed" state is entered, timer H MUST be set to fire in 64*T1 seconds for all
        // transports. [...] If an unreliable transport is being used, timer G is set to fire in T1
        // seconds, and is not set to fire for reliable transports." (§17.2.1)
        const actions = [CANCEL_TRYING, timer('H', t.H)];
        // Completed re-sends only the final response: the request and the last provisional go.
        data.tx.releaseRequest();
        return keep({ ...data, provisional: null }, t.G === undefined ? actions : [...actions, timer('G', t.G)]);
      }
      case 'confirmed':
        // "When this state is entered, timer I is set to fire in T4 seconds for unreliable
        // transports, and zero seconds for reliable transports." (§17.2.1) Timer G stops: "the
        // purpose of the Confirmed state is to absorb any additional ACK messages".
        return keep(undefined, [cancelGenericTimeout('TimerG'), cancelGenericTimeout('TimerH'), timer('I', t.I)]);
      case 'accepted':
        // "The server transaction MUST [...] start Timer L to fire in 64*T1 seconds" (RFC 6026 §8.5)
        // Accepted re-sends nothing of its own (the TU re-sends its 2xx): the request and the last
        // provisional go.
        data.tx.releaseRequest();
        return keep({ ...data, provisional: null }, [CANCEL_TRYING, timer('L', t.L)]);
      case 'terminated':
        // "the server transaction MUST be destroyed the instant it enters the Terminated state" (§17.2.1)
        return stop('normal');
    }
  },

  states: {
    proceeding(event, data): R {
      const msg = event.msg;
      switch (msg.type) {
        case 'start':
          // "When a server transaction is constructed for a request, it enters the "Proceeding" state.
          // The server transaction MUST generate a 100 (Trying) response unless it knows that the TU
          // will generate a provisional or final response within 200 ms" (§17.2.1). The request goes
          // up to the TU once; the 100 goes out if the TU has not answered within 200 ms.
          data.tu.onRequest(data.tx.request, data.tx);
          return keep(undefined, [timer('Trying100', data.tx.timers.trying100)]);
        case 'timer':
          return msg.timer === 'Trying100' && data.provisional === null ? sendTrying(data) : keep();
        case 'request':
          // "If a request retransmission is received while in the "Proceeding" state, the most recent
          // provisional response that was received from the TU MUST be passed to the transport layer
          // for retransmission." (§17.2.1) With none yet, the 100 Trying goes out now (it is due anyway).
          if (msg.request.method === 'ACK') return keep();
          return data.provisional === null ? sendTrying(data) : send(data, data.provisional, () => keep());
        case 'respond':
          return respondInProceeding(msg.response, data);
        case 'transportError':
          return transportFailed(data, msg.error);
      }
    },

    completed(event, data): R {
      const msg = event.msg;
      switch (msg.type) {
        case 'timer':
          if (msg.timer === 'G' && data.final !== null) {
            // "If timer G fires, the response is passed to the transport layer once more for
            // retransmission, and timer G is set to fire in MIN(2*T1, T2) seconds. From then on, when
            // timer G fires, the response is passed to the transport again for transmission, and timer
            // G is reset with a value that doubles, unless that value exceeds T2, in which case it is
            // reset with the value of T2." (§17.2.1)
            const interval = Math.min(2 * data.timerG, data.tx.timers.T2);
            return send(data, data.final.message, () => keep({ ...data, timerG: interval }, [timer('G', interval)]));
          }
          if (msg.timer === 'H') {
            // "If timer H fires while in the "Completed" state, it implies that the ACK was never
            // received. In this case, the server transaction MUST transition to the "Terminated"
            // state, and MUST indicate to the TU that a transaction failure has occurred." (§17.2.1)
            data.tu.onTimeout?.(data.tx);
            return next('terminated');
          }
          return keep();
        case 'request':
          // "If an ACK is received while the server transaction is in the "Completed" state, the server
          // transaction MUST transition to the "Confirmed" state." "Furthermore, while in the
          // "Completed" state, if a request retransmission is received, the server SHOULD pass the
          // response to the transport for retransmission." (§17.2.1)
          if (msg.request.method === 'ACK') return next('confirmed');
          return data.final === null ? keep() : send(data, data.final.message, () => keep());
        case 'transportError':
          return transportFailed(data, msg.error);
        case 'respond':
        case 'start':
          return keep();
      }
    },

    confirmed(event): R {
      // Absorbs ACKs (and request retransmissions); "If timer I fires while in the "Confirmed" state,
      // the transaction MUST transition to the "Terminated" state." (§17.2.1)
      const msg = event.msg;
      return msg.type === 'timer' && msg.timer === 'I' ? next('terminated') : keep();
    },

    accepted(event, data): R {
      const msg = event.msg;
      switch (msg.type) {
        case 'request':
          // RFC 6026 §8.7: "the server transaction MUST NOT pass [retransmissions of the INVITE] to the
          // TU"; they are absorbed, nothing is retransmitted (2xx retransmission is the TU's job).
          // "an ACK [...] received while in the Accepted state MUST be passed to the TU".
          if (msg.request.method === 'ACK') data.tu.onAck?.(msg.request, data.tx);
          return keep();
        case 'respond':
          // RFC 6026 §8.6: "while in the "Accepted" state, any 2xx responses passed to the server
          // transaction by the TU MUST be passed to the transport layer for transmission" (the UAS core
          // retransmitting its 2xx, or a proxy forwarding 2xx from several branches).
          if (msg.response.status >= 200 && msg.response.status < 300) {
            const failure = data.tx.transmit(msg.response);
            if (failure !== undefined) data.tu.onTransportError?.(failure.error, data.tx);
          }
          return keep();
        case 'timer':
          // "If Timer L fires while the state machine is in the "Accepted" state, the machine MUST
          // transition to the "Terminated" state." (RFC 6026 §8.7)
          return msg.timer === 'L' ? next('terminated') : keep();
        case 'transportError':
          // Reported; the state machine stays until Timer L, absorbing retransmissions of the INVITE.
          data.tu.onTransportError?.(msg.error, data.tx);
          return keep();
        case 'start':
          return keep();
      }
    },

    terminated(): R {
      return keep();
    },
  },

  formatStatus: (status) => ({
    ...status,
    data: {
      provisional: status.data.provisionalStatus,
      final: status.data.final?.status ?? null,
      timerG: status.data.timerG,
    },
  }),
};

/** Sends 100 Trying (RFC 3261 §8.2.6.1: copies Timestamp; no To tag) as the last provisional response. */
function sendTrying(data: InviteServerData): R {
  const trying = createResponse(data.tx.request, 100);
  return send(data, trying, () => keep({ ...data, provisional: trying, provisionalStatus: 100 }, [CANCEL_TRYING]));
}
