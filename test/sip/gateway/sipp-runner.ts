/**
 * Running sipp (Debian's `sip-tester`, installed by .ci/run) from gateway tests: whether it is
 * installed (required in CI), and one run with its statistics and error log read back from files.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const hasSipp = spawnSync('sipp', ['-v']).error === undefined;
if (!hasSipp && process.env['CI'] !== undefined) throw new Error('sipp is required in CI (.ci/run installs sip-tester)');

export interface SippRun {
  readonly code: number | null;
  /** SuccessfulCall(C) of the last statistics line; -1 without statistics. */
  readonly successful: number;
  /** FailedCall(C) of the last statistics line; -1 without statistics. */
  readonly failed: number;
  /** The start of the error log ('' when nothing was logged). */
  readonly errors: string;
}

/** Runs sipp (stats to a file) and resolves when it exits; killed after `timeoutMs`. */
export function sipp(args: string[], timeoutMs: number): { done: Promise<SippRun>; kill(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-sipp-'));
  const child = spawn('sipp', [...args, '-nostdin', '-trace_err', '-error_file', join(dir, 'err.log'), '-trace_stat', '-stf', join(dir, 'stat.csv'), '-fd', '1'], { stdio: 'ignore' });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<SippRun>((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(timer);
      let successful = -1;
      let failed = -1;
      try {
        const lines = readFileSync(join(dir, 'stat.csv'), 'utf8').trim().split('\n');
        const head = lines[0]!.split(';');
        const last = lines.at(-1)!.split(';');
        successful = Number(last[head.indexOf('SuccessfulCall(C)')]);
        failed = Number(last[head.indexOf('FailedCall(C)')]);
      } catch {
        // no stats: the run failed early; the exit code says so
      }
      let errors = '';
      try {
        errors = readFileSync(join(dir, 'err.log'), 'utf8').slice(0, 2000);
      } catch {
        // no errors logged
      }
      resolve({ code, successful, failed, errors });
    });
  });
  return { done, kill: () => child.kill('SIGKILL') };
}
