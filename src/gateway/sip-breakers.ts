/**
 * Circuit breakers of SIP upstream targets: the same breaker machine as HTTP routes use
 * (`src/routes/breaker.machine.ts`, opossum's rolling window, open → halfOpen → closed on the
 * gateway clock), one per target of each SIP upstream that configures `circuitBreaker`, started on
 * first use. A branch that times out (Timer B/C), fails at the transport, gets 503 or a status its
 * upstream's `retries.on` lists counts as a failure; any other final response as a success. Each try
 * of a serial failover takes and reports its own target's place. While a target's breaker is open, new requests go
 * to the upstream's other targets; when every one is open the caller gets 503 with Retry-After
 * (SPEC D.9).
 *
 * @module
 */
import { type Clock, type MachineRef, startMachine } from '../fsm/index.ts';
import { BreakerGate, breakerMachine, type BreakerMsg, type BreakerState } from '../routes/breaker.machine.ts';
import type { Upstream } from '../routes/config.ts';

export interface SipBreakersOptions {
  readonly clock: Clock;
  /** Every breaker state change. */
  readonly onTransition?: (upstream: string, target: string, from: BreakerState, to: BreakerState, openMs: number) => void;
}

interface UpstreamBreakers {
  /** The targets and breaker settings they were made for: a reload that keeps them keeps the breakers. */
  readonly signature: string;
  readonly gates: readonly BreakerGate[];
  readonly machines: Promise<MachineRef<BreakerState, BreakerMsg, unknown>>[];
}

export class SipBreakers {
  readonly #options: SipBreakersOptions;
  /** By upstream name (a reload builds new Upstream objects for unchanged upstreams too). */
  readonly #byUpstream = new Map<string, UpstreamBreakers>();

  constructor(options: SipBreakersOptions) {
    this.#options = options;
  }

  /**
   * The gates of `upstream`'s targets (index = target index), or undefined when it has no breaker;
   * started on first use. `upstream` must be the running config's: breakers made for another version
   * of it (other targets or settings) are replaced. Lookups for an upstream object that may be stale
   * (a request routed before a reload) use {@link peek}.
   */
  gates(upstream: Upstream): readonly BreakerGate[] | undefined {
    const cb = upstream.circuitBreaker;
    if (cb === undefined) return undefined;
    const signature = signatureOf(upstream);
    let entry = this.#byUpstream.get(upstream.name);
    if (entry !== undefined && entry.signature !== signature) {
      void this.#stopEntry(entry);
      entry = undefined;
    }
    if (entry === undefined) {
      const clock = this.#options.clock;
      const gates = upstream.targets.map(() => new BreakerGate(clock));
      const machines = gates.map((gate, i) => {
        const target = upstream.targets[i]!.authority;
        const mailbox: { target?: MachineRef<BreakerState, BreakerMsg, unknown>; cast(msg: BreakerMsg): void } = {
          cast(msg) {
            this.target?.cast(msg);
          },
        };
        return startMachine(
          breakerMachine,
          { gate, options: cb, clock, mailbox, onTransition: (from, to, openMs) => this.#options.onTransition?.(upstream.name, target, from, to, openMs) },
          { clock },
        ).then((ref) => {
          mailbox.target = ref;
          return ref;
        });
      });
      entry = { signature, gates, machines };
      this.#byUpstream.set(upstream.name, entry);
    }
    return entry.gates;
  }

  /**
   * The gates of `upstream`'s targets when breakers for this version of it exist, else undefined:
   * no side effect (a stale upstream object never replaces the running config's breakers).
   */
  peek(upstream: Upstream): readonly BreakerGate[] | undefined {
    if (upstream.circuitBreaker === undefined) return undefined;
    const entry = this.#byUpstream.get(upstream.name);
    return entry !== undefined && entry.signature === signatureOf(upstream) ? entry.gates : undefined;
  }

  /** Breaker states for `/status`: by target authority, of the upstream object in the running config. */
  states(upstream: Upstream): ReadonlyMap<string, BreakerGate> {
    const entry = this.#byUpstream.get(upstream.name);
    if (entry === undefined || entry.signature !== signatureOf(upstream)) return new Map();
    return new Map(upstream.targets.map((t, i) => [t.authority, entry.gates[i]!]));
  }

  /** Stops the breakers of upstreams no longer in `live`, or whose targets or breaker settings changed. */
  async retire(live: readonly Upstream[]): Promise<void> {
    const keep = new Map(live.map((u) => [u.name, signatureOf(u)]));
    const stops: Promise<void>[] = [];
    for (const [name, entry] of this.#byUpstream) {
      if (keep.get(name) === entry.signature) continue;
      this.#byUpstream.delete(name);
      stops.push(this.#stopEntry(entry));
    }
    await Promise.all(stops);
  }

  #stopEntry(entry: UpstreamBreakers): Promise<void> {
    return Promise.all(entry.machines.map((m) => m.then((ref) => ref.stop()).catch(() => undefined))).then(() => undefined);
  }

  /** Stops every breaker. */
  stop(): Promise<void> {
    return this.retire([]);
  }
}

const SIGNATURES = new WeakMap<Upstream, string>();

/** What a reload must keep for the breakers to be kept: target authorities and breaker settings (made once per config object). */
function signatureOf(upstream: Upstream): string {
  let signature = SIGNATURES.get(upstream);
  if (signature === undefined) {
    signature = JSON.stringify([upstream.targets.map((t) => t.authority), upstream.circuitBreaker ?? null]);
    SIGNATURES.set(upstream, signature);
  }
  return signature;
}
