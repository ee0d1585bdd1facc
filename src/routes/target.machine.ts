/**
 * The state machine of one upstream target: its health (active checks: HTTP GETs, or SIP OPTIONS from
 * `src/gateway/sip-health.ts`; the probe is the caller's side effect) and its outlier status
 * (passive ejection), the two things that decide whether the target is in the rotation.
 *
 * - Active health (when `healthCheck` is configured): a probe every `intervalMs` (generic timeout
 *   `probe`); `unhealthyThreshold` failures in a row make the target `unhealthy`, `healthyThreshold`
 *   successes in a row make it `healthy` again. A target starts `healthy`.
 * - Outlier detection (when `outlierDetection` is configured): `consecutive5xx` 5xx answers or
 *   `consecutiveGatewayFailures` connect failures, resets or timeouts in a row eject the target for
 *   `baseEjectionMs × ejections` (capped at `maxEjectionMs`; generic timeout `ejection`), unless
 *   that would eject more than `maxEjectionPercent` of the upstream's targets (one may always be
 *   ejected). It comes back by itself when the time is up.
 *
 * The machine's state is `{ health, outlier }` (handle-event style, compared structurally). The data
 * plane reads it through the {@link TargetGate}; the probes are side effects whose results come back as
 * casts.
 */
import { genericTimeout, keep, next, type MachineSpec, type Result } from '../fsm/index.ts';
import type { HealthCheck, OutlierDetection } from './config.ts';

export interface TargetMachineState {
  readonly health: 'healthy' | 'unhealthy';
  readonly outlier: 'active' | 'ejected';
}

/** The outcome of one request to the target, as outlier detection counts it. */
export type OutcomeKind = 'ok' | 'http5xx' | 'gatewayFailure';

export type TargetMsg =
  | { readonly type: 'outcome'; readonly kind: OutcomeKind }
  | { readonly type: 'probe' }
  | { readonly type: 'probeResult'; readonly ok: boolean; readonly detail: string }
  | { readonly type: 'uneject' }
  | { readonly type: 'crash' };

/** The synchronous face of a target machine for the data plane and the load balancer. */
export class TargetGate {
  healthy = true;
  ejected = false;
  ejections = 0;

  /** In the rotation? */
  get available(): boolean {
    return this.healthy && !this.ejected;
  }
}

/** Decisions worth a log line and a metric. */
export type TargetDecision =
  | { readonly type: 'health'; readonly healthy: boolean; readonly detail: string }
  | { readonly type: 'ejected'; readonly ejectionMs: number; readonly ejections: number; readonly reason: OutcomeKind }
  | { readonly type: 'ejectionRefused'; readonly reason: OutcomeKind }
  | { readonly type: 'returned' }
  | { readonly type: 'probe'; readonly ok: boolean };

export interface TargetArgs {
  readonly gate: TargetGate;
  readonly healthCheck: HealthCheck | undefined;
  readonly outlierDetection: OutlierDetection | undefined;
  /** Starts one health probe; its result must come back as `probeResult`. */
  readonly probe: () => void;
  /** May this target be ejected now, given how many of the upstream's targets already are? */
  readonly mayEject: () => boolean;
  readonly onDecision: (decision: TargetDecision) => void;
}

interface TargetData {
  readonly args: TargetArgs;
  readonly consecutive5xx: number;
  readonly consecutiveGatewayFailures: number;
  readonly probeSuccesses: number;
  readonly probeFailures: number;
  readonly ejections: number;
}

type TargetResult = Result<TargetMachineState, TargetData, TargetMsg, never>;

const PROBE: TargetMsg = { type: 'probe' };
const UNEJECT: TargetMsg = { type: 'uneject' };

export const targetMachine: MachineSpec<TargetMachineState, TargetData, TargetMsg, never, TargetArgs> = {
  name: 'target',
  init(args) {
    args.gate.healthy = true;
    args.gate.ejected = false;
    const data: TargetData = { args, consecutive5xx: 0, consecutiveGatewayFailures: 0, probeSuccesses: 0, probeFailures: 0, ejections: args.gate.ejections };
    // The first probe goes out at once, so a target that is down at start leaves the rotation early.
    return { state: { health: 'healthy', outlier: 'active' }, data, actions: args.healthCheck === undefined ? [] : [genericTimeout('probe', 0, PROBE)] };
  },
  handleEvent(event, state, data): TargetResult {
    const msg = event.msg;
    if (msg.type === 'crash') throw new Error('target machine crash requested');
    if (msg.type === 'probe') {
      data.args.probe();
      return keep();
    }
    if (msg.type === 'probeResult') return probeResult(state, data, msg.ok, msg.detail);
    if (msg.type === 'uneject') {
      data.args.gate.ejected = false;
      data.args.onDecision({ type: 'returned' });
      return next({ ...state, outlier: 'active' }, { ...data, consecutive5xx: 0, consecutiveGatewayFailures: 0 });
    }
    return outcome(state, data, msg.kind);
  },
  formatStatus(status) {
    const { args: _args, ...counters } = status.data;
    return { ...status, data: counters };
  },
};

function probeResult(state: TargetMachineState, data: TargetData, ok: boolean, detail: string): TargetResult {
  const hc = data.args.healthCheck!;
  const again = [genericTimeout('probe', hc.intervalMs, PROBE)];
  data.args.onDecision({ type: 'probe', ok });
  const probeSuccesses = ok ? data.probeSuccesses + 1 : 0;
  const probeFailures = ok ? 0 : data.probeFailures + 1;
  const counted = { ...data, probeSuccesses, probeFailures };
  if (state.health === 'healthy' && probeFailures >= hc.unhealthyThreshold) {
    data.args.gate.healthy = false;
    data.args.onDecision({ type: 'health', healthy: false, detail });
    return next({ ...state, health: 'unhealthy' }, counted, again);
  }
  if (state.health === 'unhealthy' && probeSuccesses >= hc.healthyThreshold) {
    data.args.gate.healthy = true;
    data.args.onDecision({ type: 'health', healthy: true, detail });
    return next({ ...state, health: 'healthy' }, counted, again);
  }
  return keep(counted, again);
}

function outcome(state: TargetMachineState, data: TargetData, kind: OutcomeKind): TargetResult {
  const od = data.args.outlierDetection;
  if (od === undefined || state.outlier === 'ejected') return keep();
  if (kind === 'ok') {
    return data.consecutive5xx === 0 && data.consecutiveGatewayFailures === 0 ? keep() : keep({ ...data, consecutive5xx: 0, consecutiveGatewayFailures: 0 });
  }
  const consecutive5xx = kind === 'http5xx' ? data.consecutive5xx + 1 : 0;
  const consecutiveGatewayFailures = kind === 'gatewayFailure' ? data.consecutiveGatewayFailures + 1 : 0;
  const counted = { ...data, consecutive5xx, consecutiveGatewayFailures };
  if (consecutive5xx < od.consecutive5xx && consecutiveGatewayFailures < od.consecutiveGatewayFailures) return keep(counted);
  if (!data.args.mayEject()) {
    data.args.onDecision({ type: 'ejectionRefused', reason: kind });
    return keep({ ...counted, consecutive5xx: 0, consecutiveGatewayFailures: 0 });
  }
  const ejections = data.ejections + 1;
  const ejectionMs = Math.min(od.baseEjectionMs * ejections, od.maxEjectionMs);
  data.args.gate.ejected = true;
  data.args.gate.ejections = ejections;
  data.args.onDecision({ type: 'ejected', ejectionMs, ejections, reason: kind });
  return next({ ...state, outlier: 'ejected' }, { ...counted, ejections, consecutive5xx: 0, consecutiveGatewayFailures: 0 }, [genericTimeout('ejection', ejectionMs, UNEJECT)]);
}
