/**
 * Tandem as an OPTIONS pinging UAC (what Kamailio's dispatcher calls "ping"): one {@link TargetProber}
 * per SIP server probed, each with its own Call-ID and From tag and a CSeq that goes up by one per
 * probe; every probe has a fresh branch, so it is a new non-INVITE client transaction.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { TransportAddress } from '../transport/index.ts';
import { createOptionsRequest } from './options-request.ts';
import { type OptionsPingDeps, pingOptions, type ProbeOutcome } from './options-ping.ts';

/** One probe of one target: resolves with its outcome within `timeoutMs` (ms); never rejects. */
export type TargetProber = (timeoutMs: number, signal?: AbortSignal) => Promise<ProbeOutcome>;

/** A SIP target to probe (`sip:` targets are UDP or TCP). */
export type ProbeTarget = TransportAddress & { readonly transport: 'udp' | 'tcp' };

export interface OptionsProberOptions extends OptionsPingDeps {
  /** Tandem's address towards the targets (the first `sip` listener), as written in Via and From. */
  readonly local: { readonly host: string; readonly port: number };
  /** A fresh RFC 3261 branch per request (the transaction manager's `newBranch`). */
  readonly newBranch: () => string;
}

export class OptionsProber {
  readonly #options: OptionsProberOptions;

  constructor(options: OptionsProberOptions) {
    this.#options = options;
  }

  /** The prober of one target: its own Call-ID and From tag, CSeq 1, 2, 3 … */
  forTarget(target: ProbeTarget): TargetProber {
    const options = this.#options;
    const callId = `${randomBytes(9).toString('base64url')}@${options.local.host}`;
    const fromTag = randomBytes(6).toString('hex');
    let seq = 0;
    return (timeoutMs, signal) => {
      seq = seq >= 2 ** 31 - 1 ? 1 : seq + 1;
      const request = createOptionsRequest({ target, local: options.local, branch: options.newBranch(), callId, fromTag, seq });
      return pingOptions(options, request, target, timeoutMs, signal);
    };
  }
}
