/**
 * SIP through a running gateway with real peers: sipp's built-in UAC → Tandem's `sip` listener → sipp's
 * built-in UAS, over UDP and over TCP (Debian's `sip-tester`, installed by .ci/run).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../../helpers/gateway.ts';
import { freePort } from './helpers.ts';
import { hasSipp, sipp } from './sipp-runner.ts';

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
