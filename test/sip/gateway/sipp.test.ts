/**
 * SIP through a running gateway with real peers: sipp's built-in UAC → Tandem's `sip` listener → sipp's
 * built-in UAS, over UDP and over TCP (Debian's `sip-tester`, installed by .ci/run).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../../helpers/gateway.ts';

const hasSipp = spawnSync('sipp', ['-v']).error === undefined;
if (!hasSipp && process.env['CI'] !== undefined) throw new Error('sipp is required in CI (.ci/run installs sip-tester)');

/** A port free for both UDP and TCP on 127.0.0.1. */
async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer();
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
    await new Promise((r) => server.close(r));
    const udp = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((r) => udp.close(() => r()));
    if (ok) return port;
  }
}

interface SippRun {
  code: number | null;
  successful: number;
  failed: number;
  errors: string;
}

function sipp(args: string[], timeoutMs: number): { done: Promise<SippRun>; kill(): void } {
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

let gw: RunningGateway | undefined;
const killers: (() => void)[] = [];
afterEach(async () => {
  for (const k of killers.splice(0)) k();
  await gw?.stop(200);
  gw = undefined;
});

describe.skipIf(!hasSipp)('SIP proxying with sipp (uac → Tandem → uas)', () => {
  for (const transport of ['udp', 'tcp'] as const) {
    it(`100 calls/s for 10 s over ${transport.toUpperCase()}: 0 failed calls, 0 unexpected messages`, async () => {
      const uasPort = await freePort();
      const uacPort = await freePort();
      gw = await startGateway({
        log: { level: 'warn' },
        listeners: [{ name: 'sip', protocol: 'sip', address: '127.0.0.1:0' }],
        upstreams: [{ name: 'pbx', targets: [{ url: `sip:127.0.0.1:${uasPort};transport=${transport}` }] }],
        routes: [{ name: 'pbx', match: { sip: { domain: '127.0.0.1' } }, upstream: 'pbx' }],
      });
      const port = gw.port;
      const mode = transport === 'tcp' ? ['-t', 't1'] : [];
      const uas = sipp(['-sn', 'uas', '-i', '127.0.0.1', '-p', String(uasPort), ...mode], 60_000);
      killers.push(uas.kill);
      await new Promise((r) => setTimeout(r, 300));
      const uac = sipp(['-sn', 'uac', `127.0.0.1:${port}`, '-i', '127.0.0.1', '-p', String(uacPort), ...mode, '-r', '100', '-m', '1000', '-timeout', '40'], 60_000);
      killers.push(uac.kill);
      const result = await uac.done;
      console.info(`sipp over ${transport}: exit ${result.code}, ${result.successful} successful, ${result.failed} failed`);
      expect(result.errors).toBe('');
      expect(result.code).toBe(0);
      expect(result.successful).toBe(1000);
      expect(result.failed).toBe(0);
    }, 60_000);
  }
});
