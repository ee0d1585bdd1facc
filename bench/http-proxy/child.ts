/**
 * Helpers for the benchmark's server processes (backend, Tandem, @fastify/http-proxy): command-line
 * arguments, the one-line readiness announcement the runner waits for, and a graceful exit on
 * SIGTERM/SIGINT (so `node --cpu-prof` can write its profile).
 */

/** The value after `name` in argv (`--port 8080` or `--port=8080`), if present. */
export function argValue(name: string): string | undefined {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === name) return argv[i + 1];
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
  }
  return undefined;
}

/** Prints the readiness line (`{"port":N,"pid":N,...}`) the runner reads from stdout. */
export function announce(info: { port: number } & Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...info, pid: process.pid })}\n`);
}

/** Runs `stop` once on SIGTERM/SIGINT, then exits 0 (a second signal, or 5 s, forces the exit). */
export function onShutdown(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (): void => {
    if (stopping) process.exit(1);
    stopping = true;
    setTimeout(() => process.exit(1), 5000).unref();
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
