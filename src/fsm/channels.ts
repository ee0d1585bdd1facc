/**
 * `node:diagnostics_channel` channels published by the engine and the supervisors. Subscribe with
 * `diagnostics_channel.subscribe(FSM_CHANNELS.stateChange, (message) => ...)`. Publishing costs a
 * `hasSubscribers` check when nobody listens.
 *
 * Messages carry the machine's (or supervisor's) `name` and `id`:
 * - `tandem:fsm:state-change` {@link StateChangeMessage}
 * - `tandem:fsm:timeout` {@link TimeoutMessage}
 * - `tandem:fsm:exit` {@link ExitMessage}
 * - `tandem:sup:restart` {@link RestartMessage}
 * - `tandem:sup:escalation` {@link EscalationMessage}
 *
 * @module
 */
import diagnostics from 'node:diagnostics_channel';
import type { TimeoutType } from './actions.ts';
import type { ExitReason } from './exit-reason.ts';

/** Channel names, stable. */
export const FSM_CHANNELS = {
  stateChange: 'tandem:fsm:state-change',
  timeout: 'tandem:fsm:timeout',
  exit: 'tandem:fsm:exit',
  supRestart: 'tandem:sup:restart',
  supEscalation: 'tandem:sup:escalation',
} as const;

/** A machine changed state (not published for keep or repeat). */
export interface StateChangeMessage {
  readonly name: string;
  readonly id: number;
  readonly from: unknown;
  readonly to: unknown;
}
/** A timeout is being delivered to a machine. */
export interface TimeoutMessage {
  readonly name: string;
  readonly id: number;
  readonly timeout: TimeoutType;
  /** Generic timeout name, `''` for event and state timeouts. */
  readonly timeoutName: string;
  readonly state: unknown;
}
/** A machine terminated. */
export interface ExitMessage {
  readonly name: string;
  readonly id: number;
  readonly reason: ExitReason;
  readonly state: unknown;
}
/** A supervisor restarted a child. */
export interface RestartMessage {
  readonly name: string;
  readonly id: number;
  readonly childId: string;
  readonly reason: ExitReason;
}
/** A supervisor exceeded its restart intensity and is shutting down. */
export interface EscalationMessage {
  readonly name: string;
  readonly id: number;
  readonly childId: string;
  readonly restarts: number;
  readonly intensity: number;
  readonly periodMs: number;
}

export const stateChangeChannel = diagnostics.channel(FSM_CHANNELS.stateChange);
export const timeoutChannel = diagnostics.channel(FSM_CHANNELS.timeout);
export const exitChannel = diagnostics.channel(FSM_CHANNELS.exit);
export const supRestartChannel = diagnostics.channel(FSM_CHANNELS.supRestart);
export const supEscalationChannel = diagnostics.channel(FSM_CHANNELS.supEscalation);
