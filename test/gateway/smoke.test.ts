import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend, proxyConfig, type Backend } from '../helpers/backend.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';

describe('proxy smoke', () => {
  let gw: RunningGateway | undefined;
  let be: Backend | undefined;
  afterEach(async () => {
    await gw?.stop();
    await be?.close();
  });

  it('forwards a GET to the backend and returns its answer', async () => {
    be = await startBackend();
    gw = await startGateway(proxyConfig([be.url]));
    const res = await request(`${gw.url}/hello`);
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe('backend');
    expect(be.requests[0]?.url).toBe('/hello');
  });
});
