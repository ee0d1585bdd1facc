/**
 * Active health checks of SIP upstream targets: every target of a SIP upstream that configures
 * `healthCheck` is probed with SIP OPTIONS (see `src/sip/ping`) by the same target machine HTTP
 * targets use (`src/routes/target.machine.ts`): a probe every `intervalMs` after the previous result,
 * `unhealthyThreshold` failures in a row → `unhealthy`, `healthyThreshold` successes in a row →
 * `healthy`; a target starts `healthy` and is probed at once. `healthCheck.path` is not used (an
 * OPTIONS has no path).
 *
 * One supervisor per upstream (`sip-health:<name>`, a target machine per target; a crashed machine is
 * restarted, starting `healthy`). {@link SipHealth.apply} follows the running config: an upstream whose
 * targets and `healthCheck` are unchanged keeps its machines and their state across a reload; a
 * changed one is restarted; one removed (or without `healthCheck` now) is stopped, with its probes in
 * flight.
 *
 * @module
 */
import { type Clock, startMachine, startSupervisor, type SupervisorRef } from '../fsm/index.ts';
import type { Target, Upstream } from '../routes/config.ts';
import { type TargetDecision, TargetGate, targetMachine, type TargetMsg } from '../routes/target.machine.ts';
import type { ProbeTarget, TargetProber } from '../sip/ping/options-prober.ts';

export interface SipHealthOptions {
  readonly clock: Clock;
  /** The prober of one target (its own Call-ID, From tag and CSeq sequence). */
  readonly proberFor: (target: ProbeTarget) => TargetProber;
  /** Each probe's result (`target` is the target's `host:port` authority). */
  readonly onProbe?: (upstream: string, target: string, ok: boolean) => void;
  /** A target became healthy or unhealthy; also called with `true` when its machine starts. */
  readonly onHealth?: (upstream: string, target: string, healthy: boolean, detail: string) => void;
  /** A reload stopped the checks of a target for good (its upstream, its `healthCheck` or the target is gone). */
  readonly onRemoved?: (upstream: string, target: string) => void;
}

interface UpstreamHealth {
  /** The targets and health check settings the machines were made for. */
  readonly signature: string;
  /** The targets' `host:port`. */
  readonly authorities: readonly string[];
  readonly gates: readonly TargetGate[];
  /** Aborts the probes in flight when the upstream's checks stop. */
  readonly abort: AbortController;
  readonly supervisor: Promise<SupervisorRef | undefined>;
}

/** A machine's mailbox, bound once the machine runs (probe results come back through it). */
class Mailbox {
  target: { cast(msg: TargetMsg): void } | undefined;
  cast(msg: TargetMsg): void {
    this.target?.cast(msg);
  }
}

export class SipHealth {
  readonly #options: SipHealthOptions;
  readonly #byName = new Map<string, UpstreamHealth>();
  /** The entry of each Upstream object seen (a reload makes new objects; the signature decides). */
  readonly #ofUpstream = new WeakMap<Upstream, UpstreamHealth>();
  #stopped = false;

  constructor(options: SipHealthOptions) {
    this.#options = options;
  }

  /**
   * Follows the running config's upstreams: starts the checks of SIP upstreams with `healthCheck`,
   * keeps unchanged ones, stops the rest. Resolves when stopped ones have stopped and new ones run.
   * Calls run one after another, in call order (reloads in quick succession end in the last one's state).
   */
  apply(upstreams: readonly Upstream[]): Promise<void> {
    const run = this.#applying.then(() => this.#apply(upstreams));
    this.#applying = run.catch(() => undefined);
    return run;
  }

  /** The end of the last {@link apply}. */
  #applying: Promise<void> = Promise.resolve();

  async #apply(upstreams: readonly Upstream[]): Promise<void> {
    if (this.#stopped) return;
    const wanted = new Map<string, { upstream: Upstream; signature: string }>();
    for (const u of upstreams) if (isChecked(u)) wanted.set(u.name, { upstream: u, signature: signatureOf(u) });
    const stops: Promise<void>[] = [];
    const removed: [string, string][] = [];
    for (const [name, entry] of this.#byName) {
      const next = wanted.get(name);
      if (next?.signature === entry.signature) continue;
      this.#byName.delete(name);
      stops.push(stopEntry(entry));
      const kept = new Set(next?.upstream.targets.map((t) => t.authority));
      for (const authority of entry.authorities) if (!kept.has(authority)) removed.push([name, authority]);
    }
    await Promise.all(stops);
    // Once the machines are stopped: no result of theirs comes after this.
    for (const [name, authority] of removed) this.#options.onRemoved?.(name, authority);
    if (this.#stopped) return;
    const starts: Promise<unknown>[] = [];
    for (const { upstream, signature } of wanted.values()) {
      if (this.#byName.has(upstream.name)) continue;
      const entry = this.#start(upstream, signature);
      this.#byName.set(upstream.name, entry);
      starts.push(entry.supervisor);
    }
    await Promise.all(starts);
  }

  /** Is target `index` of `upstream` in the rotation as far as health checks go (true without checks)? */
  healthy(upstream: Upstream, index: number): boolean {
    return this.#entryOf(upstream)?.gates[index]?.healthy ?? true;
  }

  /**
   * Seconds until an unhealthy target of `upstream` may be back at the soonest: `healthyThreshold`
   * probes `intervalMs` apart (at least 1), for a 503's Retry-After.
   */
  retryAfterSeconds(upstream: Upstream): number {
    const hc = upstream.healthCheck;
    return hc === undefined ? 1 : Math.max(1, Math.ceil((hc.intervalMs * hc.healthyThreshold) / 1000));
  }

  /** Stops every check (the SIP service closes). */
  async stop(): Promise<void> {
    this.#stopped = true;
    const entries = [...this.#byName.values()];
    this.#byName.clear();
    await Promise.all(entries.map(stopEntry));
  }

  #entryOf(upstream: Upstream): UpstreamHealth | undefined {
    const current = this.#byName.get(upstream.name);
    if (current === undefined) return undefined;
    // Remembered per object; an entry stopped since (a later reload) no longer counts.
    if (this.#ofUpstream.get(upstream) === current) return current;
    // Only a match is remembered: an upstream whose checks are not started yet (a reload in progress) is looked up again.
    if (!isChecked(upstream) || current.signature !== signatureOf(upstream)) return undefined;
    this.#ofUpstream.set(upstream, current);
    return current;
  }

  #start(upstream: Upstream, signature: string): UpstreamHealth {
    const options = this.#options;
    const clock = options.clock;
    const healthCheck = upstream.healthCheck!;
    const abort = new AbortController();
    const gates = upstream.targets.map(() => new TargetGate());
    const children = upstream.targets.map((target, i) => {
      const authority = target.authority;
      const prober = options.proberFor(probeTargetOf(target));
      const onDecision = (d: TargetDecision): void => {
        if (d.type === 'probe') options.onProbe?.(upstream.name, authority, d.ok);
        else if (d.type === 'health') options.onHealth?.(upstream.name, authority, d.healthy, d.detail);
      };
      return {
        id: `target:${authority}`,
        start: async () => {
          const mailbox = new Mailbox();
          const ref = await startMachine(
            targetMachine,
            {
              gate: gates[i]!,
              healthCheck,
              outlierDetection: undefined,
              probe: () => {
                // The next probe is scheduled on this one's result: a probe that throws still reports one.
                const report = (ok: boolean, detail: string): void => {
                  if (!abort.signal.aborted) mailbox.cast({ type: 'probeResult', ok, detail });
                };
                let pending: Promise<{ ok: boolean; detail: string }>;
                try {
                  pending = prober(healthCheck.timeoutMs, abort.signal);
                } catch (error) {
                  pending = Promise.reject(error);
                }
                void pending.then(
                  (outcome) => report(outcome.ok, outcome.detail),
                  (error: unknown) => report(false, `probe failed: ${error instanceof Error ? error.message : String(error)}`),
                );
              },
              mayEject: () => false,
              onDecision,
            },
            { clock },
          );
          mailbox.target = ref;
          options.onHealth?.(upstream.name, authority, gates[i]!.healthy, 'started');
          return ref;
        },
      };
    });
    const supervisor = startSupervisor({ strategy: 'one_for_one', intensity: 5, periodMs: 10_000 }, children, { name: `sip-health:${upstream.name}`, clock }).catch(() => undefined);
    return { signature, authorities: upstream.targets.map((t) => t.authority), gates, abort, supervisor };
  }
}

/** A SIP upstream (sip: targets) with `healthCheck`. */
function isChecked(upstream: Upstream): boolean {
  return upstream.healthCheck !== undefined && upstream.targets.length > 0 && upstream.targets.every((t) => t.sip !== undefined);
}

function signatureOf(upstream: Upstream): string {
  return JSON.stringify([upstream.targets.map((t) => t.url), upstream.healthCheck ?? null]);
}

function probeTargetOf(target: Target): ProbeTarget {
  const sip = target.sip!;
  return { transport: sip.transport, host: sip.host, port: sip.port };
}

async function stopEntry(entry: UpstreamHealth): Promise<void> {
  entry.abort.abort();
  const supervisor = await entry.supervisor;
  await supervisor?.stop().catch(() => undefined);
}
