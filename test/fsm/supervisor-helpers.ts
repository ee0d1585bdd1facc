/** Workers for supervisor tests: machines that log their start and stop, and crash or exit on demand. */
import { type ChildSpec, type ExitReason, keep, type MachineRef, startMachine, stop, type Clock } from '../../src/fsm/index.ts';

export type WorkerMsg = 'crash' | 'exit-normal' | 'exit-shutdown' | 'exit-shutdown-detail' | 'ping';

/** Lets chains of promise jobs (supervisor operations) run to quiescence. */
export async function settleAll(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Keeps the latest instance of each worker id and a log of starts and stops. */
export class Workers {
  readonly log: string[] = [];
  readonly current = new Map<string, MachineRef<string, WorkerMsg>>();
  readonly clock: Clock | undefined;

  constructor(clock?: Clock) {
    this.clock = clock;
  }

  /** A child spec whose worker logs `start <id>` and `stop <id>` (terminate). */
  spec(id: string, extra: Partial<ChildSpec> = {}): ChildSpec<MachineRef<string, WorkerMsg>> {
    return { id, start: () => this.start(id), ...extra } as ChildSpec<MachineRef<string, WorkerMsg>>;
  }

  async start(id: string): Promise<MachineRef<string, WorkerMsg>> {
    const log = this.log;
    const ref = await startMachine<string, null, WorkerMsg>(
      {
        name: id,
        init: () => {
          log.push(`start ${id}`);
          return { state: 'up', data: null };
        },
        terminate: (reason: ExitReason) =>
          void log.push(typeof reason === 'string' ? `stop ${id} (${reason})` : 'error' in reason ? `crashed ${id}` : `stop ${id} (shutdown: ${String(reason.shutdown)})`),
        handleEvent(event) {
          switch (event.msg) {
            case 'crash':
              throw new Error(`${id} crashed`);
            case 'exit-normal':
              return stop('normal');
            case 'exit-shutdown':
              return stop('shutdown');
            case 'exit-shutdown-detail':
              return stop({ shutdown: 'done' });
            default:
              return keep();
          }
        },
      },
      undefined,
      this.clock ? { clock: this.clock } : {},
    );
    this.current.set(id, ref);
    return ref;
  }

  /** Sends `msg` to the current instance of `id`. */
  send(id: string, msg: WorkerMsg): void {
    const ref = this.current.get(id);
    if (ref === undefined) throw new Error(`no worker ${id}`);
    ref.cast(msg);
  }

  clear(): void {
    this.log.length = 0;
  }
}
