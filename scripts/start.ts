/**
 * `npm start`: runs the demo upstream (examples/whoami on 127.0.0.1:9001) and `tandem start` on the
 * embedded default config (config/tandem.yaml, or $TANDEM_CONFIG), side by side. SIGINT/SIGTERM stop both (SIGHUP is passed to the gateway);
 * when the gateway exits, the demo stops and this script exits with the gateway's status.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../src/node-flags.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const run = (script: string, args: string[], nodeFlags: readonly string[] = []): ChildProcess =>
  // Each child in its own process group: a terminal's Ctrl-C reaches only this script, which passes the
  // signal on once (a second SIGINT would cut the gateway's drain short).
  spawn(process.execPath, [...nodeFlags, script, ...args], { cwd: root, stdio: 'inherit', detached: true });

const demo = run('examples/whoami/server.ts', []);
const gateway = run('src/cli.ts', ['start', ...process.argv.slice(2)], NODE_FLAGS);

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    gateway.kill(signal);
  });
}
gateway.on('exit', (code, signal) => {
  demo.kill('SIGTERM');
  process.exitCode = code ?? (signal === null ? 1 : 0);
});
