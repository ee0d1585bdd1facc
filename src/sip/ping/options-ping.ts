/**
 * One OPTIONS probe of a SIP server through the transaction layer: a non-INVITE client transaction
 * (RFC 3261 §17.1.2, so on UDP Timer E retransmits the request), ended early for the caller by its own
 * deadline.
 *
 * What counts (Tandem's choice, like Kamailio's dispatcher with `ds_ping_reply_codes` left alone,
 * plus 503):
 * - success: any final response other than 408 and 503 — 200 is typical, but 404, 405, 481, 500 …
 *   still show a SIP stack that parses and answers (§11);
 * - failure: 503 (Service Unavailable: the server says it takes no requests, §21.5.4), 408 (from the
 *   server, or Timer F: no final response within 64·T1), a transport error (connection refused,
 *   ICMP unreachable, no `sip` listener), or no final response within the probe's `timeoutMs`.
 *
 * Provisional responses (1xx) are waited through. When the deadline passes first (or the probe is
 * aborted), the caller gets its failure at once and the probe's transaction is stopped: the probe's
 * own deadline shortens its Timer F, as Kamailio's `t_set_fr()` does for a transaction, so a dead UDP
 * target sees no retransmissions after `timeoutMs` and probe transactions do not pile up over 64·T1. A
 * late response then matches no transaction and, with no Via left below Tandem's, is dropped.
 *
 * @module
 */
import type { Clock } from '../../fsm/index.ts';
import type { SipRequest, SipResponse } from '../index.ts';
import type { ClientTransaction, ClientTransactionUser, TransactionManager } from '../transaction/index.ts';
import { type MessageSender, requestTransport, type TransportAddress } from '../transport/index.ts';

/** Final responses that count as a failed probe: 408 Request Timeout and 503 Service Unavailable. */
export const PROBE_FAILURE_STATUSES: ReadonlySet<number> = new Set([408, 503]);

/** The result of one probe; `detail` says why, for logs (`status 200`, `timeout after 200 ms`, …). */
export interface ProbeOutcome {
  readonly ok: boolean;
  /** The final response's status, when there was one (Timer F reports 408). */
  readonly status?: number;
  readonly detail: string;
}

/** What a probe needs: the shared transaction layer, the sender of the `sip` listener, a clock. */
export interface OptionsPingDeps {
  readonly transactions: Pick<TransactionManager, 'sendRequest'>;
  readonly sender: MessageSender;
  readonly clock: Clock;
}

/** Is a final response to an OPTIONS probe a sign of a live server? See the module documentation. */
export function probeSucceeded(status: number): boolean {
  return status >= 200 && !PROBE_FAILURE_STATUSES.has(status);
}

/**
 * Sends `request` (an OPTIONS with Tandem's Via and a fresh branch, see `createOptionsRequest`) to
 * `destination` and resolves with the outcome: on the first final response, on Timer F, on a
 * transport error, at `timeoutMs` (ms), or when `signal` aborts (a failure with detail `aborted`).
 * Never rejects.
 */
export function pingOptions(deps: OptionsPingDeps, request: SipRequest, destination: TransportAddress, timeoutMs: number, signal?: AbortSignal): Promise<ProbeOutcome> {
  return new Promise<ProbeOutcome>((resolve) => {
    let settled = false;
    /** Set when the probe gave up before its transaction ended: stop the transaction once it exists. */
    let abandon = false;
    let transaction: ClientTransaction | undefined;
    const stopTransaction = (): void => {
      void transaction?.machine?.stop().catch(() => undefined);
    };
    const finish = (outcome: ProbeOutcome, giveUp = false): void => {
      if (settled) return;
      settled = true;
      timer.disarm();
      signal?.removeEventListener('abort', onAbort);
      if (giveUp) {
        abandon = true;
        stopTransaction();
      }
      resolve(outcome);
    };
    const onAbort = (): void => finish({ ok: false, detail: 'aborted' }, true);
    const timer = deps.clock.createTimer(() => finish({ ok: false, detail: `no final response within ${timeoutMs} ms` }, true));
    if (signal?.aborted === true) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    timer.arm(deps.clock.now() + timeoutMs);
    const tu: ClientTransactionUser = {
      onResponse(response: SipResponse) {
        if (response.status < 200) return;
        finish({ ok: probeSucceeded(response.status), status: response.status, detail: `status ${response.status}` });
      },
      onTimeout() {
        finish({ ok: false, status: 408, detail: 'Timer F: no final response' });
      },
      onTransportError(failure) {
        finish({ ok: false, detail: `transport error: ${describe(failure.error)}` });
      },
    };
    deps.transactions.sendRequest(request, requestTransport(deps.sender, destination), tu).then(
      (started) => {
        transaction = started;
        if (abandon) stopTransaction();
      },
      (error: unknown) => finish({ ok: false, detail: `not sent: ${describe(error)}` }),
    );
  });
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code} ${error.message}` : error.message;
  }
  return String(error);
}
