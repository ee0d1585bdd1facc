/**
 * The state machine of one route: `active` while it takes traffic, `draining` once it is being removed
 * or replaced (new requests go elsewhere; requests in flight finish). Supervised per route together
 * with the route's breakers, so a route that crashes is restarted without touching any other route;
 * a route whose supervisor gives up (restart intensity exceeded) is quarantined: it answers 503 while
 * the others keep serving.
 *
 * The data plane reads the route's state through its {@link RouteGate}.
 */
import { keep, next, type MachineSpec } from '../fsm/index.ts';

export type RouteMachineState = 'active' | 'draining';

export type RouteMsg = { readonly type: 'drain' } | { readonly type: 'crash' };

/** The synchronous face of a route machine. */
export class RouteGate {
  state: RouteMachineState = 'active';
  /** Set when the route's supervisor gave up: the route answers 503 TANDEM_ERR_ROUTE_QUARANTINED. */
  quarantined = false;
  /** Times the route machine was (re)started; the first start is not a restart. */
  starts = 0;
  requests = 0;

  get restarts(): number {
    return Math.max(0, this.starts - 1);
  }
}

export interface RouteArgs {
  readonly gate: RouteGate;
}

export const routeMachine: MachineSpec<RouteMachineState, RouteArgs, RouteMsg, never, RouteArgs> = {
  name: 'route',
  init(args) {
    args.gate.starts++;
    args.gate.state = 'active';
    return { state: 'active', data: args };
  },
  states: {
    active(event, data) {
      if (event.type !== 'cast') return keep();
      // A test and fault-injection hook: the supervisor's restart path, exercised for real.
      if (event.msg.type === 'crash') throw new Error('route machine crash requested');
      data.gate.state = 'draining';
      return next('draining');
    },
    draining(event) {
      if (event.type === 'cast' && event.msg.type === 'crash') throw new Error('route machine crash requested');
      return keep();
    },
  },
  formatStatus(status) {
    return { ...status, data: { requests: status.data.gate.requests } };
  },
};
