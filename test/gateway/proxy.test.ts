import { connect } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { closedPort, proxyConfig, startBackend, type Backend } from '../helpers/backend.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';

/** Sends raw bytes to the gateway and returns everything it answers until it closes (or 3 s). */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (out += d));
    socket.on('error', reject);
    socket.on('close', () => resolve(out));
    socket.setTimeout(3000, () => socket.destroy());
    socket.write(bytes);
  });
}

function jsonBody(response: string): { code: string; message: string } {
  return JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as { code: string; message: string };
}

// One gateway and its backends per test, torn down after it.
let gw: RunningGateway | undefined;
let backends: Backend[] = [];
afterEach(async () => {
  await gw?.stop();
  await Promise.all(backends.map((b) => b.close()));
  gw = undefined;
  backends = [];
});

describe('HTTP proxying (RFC 9110 §7.6, SPEC §E)', () => {

  async function withBackend(handler?: Parameters<typeof startBackend>[0], doc?: Record<string, unknown>): Promise<Backend> {
    const be = await startBackend(handler);
    backends.push(be);
    gw = await startGateway(doc ?? proxyConfig([be.url]));
    return be;
  }

  it('MUST NOT forward hop-by-hop request fields, including those Connection names, and sets X-Forwarded-*, Via, X-Request-Id', async () => {
    const be = await withBackend();
    const answer = await raw(
      gw!.port,
      'GET /p?q=1 HTTP/1.1\r\nHost: shop.example\r\nConnection: keep-alive, X-Secret-Hop\r\nX-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nX-Forwarded-For: 203.0.113.7\r\nX-Kept: yes\r\nConnection: close\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1.1 200/);
    const h = be.requests[0]!.headers;
    expect(be.requests[0]!.url).toBe('/p?q=1');
    for (const name of ['x-secret-hop', 'keep-alive', 'te', 'proxy-connection']) expect(h[name]).toBeUndefined();
    expect(h['x-kept']).toBe('yes');
    expect(h['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-host']).toBe('shop.example');
    expect(h['host']).toBe('shop.example');
    expect(h['via']).toBe('1.1 tandem');
    expect(h['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('MUST NOT forward hop-by-hop response fields', async () => {
    await withBackend((req, res) => {
      res.writeHead(200, { connection: 'x-backend-hop', 'x-backend-hop': 'v', 'keep-alive': 'timeout=9', 'x-end': 'kept' }).end('ok');
    });
    const res = await request(`${gw!.url}/`);
    await res.body.text();
    expect(res.headers['x-backend-hop']).toBeUndefined();
    expect(res.headers['keep-alive']).not.toBe('timeout=9');
    expect(res.headers['x-end']).toBe('kept');
  });

  it('propagates a client X-Request-Id to the upstream and the response', async () => {
    const be = await withBackend();
    const res = await request(`${gw!.url}/`, { headers: { 'x-request-id': 'abc-123' } });
    await res.body.text();
    expect(be.requests[0]!.headers['x-request-id']).toBe('abc-123');
    expect(res.headers['x-request-id']).toBe('abc-123');
  });

  it('stripPrefix removes the route prefix; hostRewrite sets Host; preserveHost: false sends the target host', async () => {
    const be = await startBackend();
    backends.push(be);
    gw = await startGateway({
      upstreams: [{ name: 'app', targets: [{ url: be.url }] }],
      routes: [
        { name: 'strip', match: { pathPrefix: '/api' }, upstream: 'app', stripPrefix: true, hostRewrite: 'internal.svc' },
        { name: 'target-host', match: { pathPrefix: '/t' }, upstream: 'app', preserveHost: false },
      ],
    });
    await (await request(`${gw.url}/api/v1/users?x=1`)).body.text();
    await (await request(`${gw.url}/api`)).body.text();
    await (await request(`${gw.url}/t/1`)).body.text();
    expect(be.requests.map((r) => r.url)).toEqual(['/v1/users?x=1', '/', '/t/1']);
    expect(be.requests[0]!.headers.host).toBe('internal.svc');
    expect(be.requests[2]!.headers.host).toBe(`127.0.0.1:${be.port}`);
  });

  it('normalizes dot segments before matching, so a prefix cannot be escaped', async () => {
    const be = await startBackend();
    backends.push(be);
    gw = await startGateway({
      upstreams: [{ name: 'app', targets: [{ url: be.url }] }],
      routes: [{ name: 'public', match: { pathPrefix: '/public' }, upstream: 'app' }],
    });
    const res = await raw(gw.port, 'GET /public/../private HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(res).toMatch(/^HTTP\/1.1 404/);
    expect(be.requests).toHaveLength(0);
  });

  it('404 with TANDEM_ERR_NO_ROUTE when no route matches', async () => {
    await withBackend(undefined, { upstreams: [{ name: 'app', targets: [{ url: 'http://127.0.0.1:1' }] }], routes: [{ name: 'a', match: { path: '/a' }, upstream: 'app' }] });
    const res = await request(`${gw!.url}/b`);
    expect(res.statusCode).toBe(404);
    expect(await res.body.json()).toEqual({ code: 'TANDEM_ERR_NO_ROUTE', message: 'no route for GET /b' });
  });

  it('502 with TANDEM_ERR_UPSTREAM_CONNECT when the target refuses connections', async () => {
    const port = await closedPort();
    gw = await startGateway(proxyConfig([`http://127.0.0.1:${port}`]));
    const res = await request(`${gw.url}/`);
    expect(res.statusCode).toBe(502);
    expect(await res.body.json()).toMatchObject({ code: 'TANDEM_ERR_UPSTREAM_CONNECT' });
  });

  it('502 with TANDEM_ERR_UPSTREAM_RESPONSE when the target resets the connection', async () => {
    await withBackend((req) => req.socket.destroy());
    const res = await request(`${gw!.url}/`, { method: 'POST', body: 'x' });
    expect(res.statusCode).toBe(502);
    expect(await res.body.json()).toMatchObject({ code: 'TANDEM_ERR_UPSTREAM_RESPONSE' });
  });

  it('504 with TANDEM_ERR_UPSTREAM_TIMEOUT when the target does not answer within timeouts.requestMs', async () => {
    const be = await startBackend(() => {
      /* never answers */
    });
    backends.push(be);
    gw = await startGateway(proxyConfig([be.url], {}, { timeouts: { requestMs: 200 } }));
    const res = await request(`${gw.url}/`);
    expect(res.statusCode).toBe(504);
    expect(await res.body.json()).toMatchObject({ code: 'TANDEM_ERR_UPSTREAM_TIMEOUT' });
  });

  it('431 with TANDEM_ERR_HEADERS_TOO_LARGE when the request head exceeds limits.headerBytes', async () => {
    const be = await withBackend(undefined, { ...proxyConfig(['http://127.0.0.1:1']), limits: { headerBytes: 4096 } });
    const answer = await raw(gw!.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1.1 431/);
    expect(jsonBody(answer).code).toBe('TANDEM_ERR_HEADERS_TOO_LARGE');
    expect(be.requests).toHaveLength(0);
  });

  it('refuses Content-Length with Transfer-Encoding (request smuggling) with 400, never forwarding it', async () => {
    const be = await withBackend();
    const answer = await raw(
      gw!.port,
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1.1 400/);
    expect(jsonBody(answer).code).toBe('TANDEM_ERR_AMBIGUOUS_FRAMING');
    await new Promise((r) => setTimeout(r, 100));
    expect(be.requests).toHaveLength(0);
  });

  it('refuses two different Content-Lengths with 400, never forwarding it', async () => {
    const be = await withBackend();
    const answer = await raw(gw!.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde');
    expect(answer).toMatch(/^HTTP\/1.1 400/);
    expect(be.requests).toHaveLength(0);
  });

  it('answers 400 TANDEM_ERR_BAD_REQUEST to a malformed request line', async () => {
    await withBackend();
    const answer = await raw(gw!.port, 'GET / HTTP/1.1 extra\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1.1 400/);
    expect(jsonBody(answer).code).toBe('TANDEM_ERR_BAD_REQUEST');
  });
});

describe('retries (only where safe, RFC 9110 §9.2.2)', () => {

  it('a connect failure is retried on another target', async () => {
    const dead = await closedPort();
    const be = await startBackend();
    backends.push(be);
    gw = await startGateway(proxyConfig([`http://127.0.0.1:${dead}`, be.url], {}, { retries: { attempts: 1, on: ['connectFailure'], backoffMs: 0, budgetPercent: 100 } }));
    for (let i = 0; i < 4; i++) {
      const res = await request(`${gw.url}/`);
      expect(res.statusCode).toBe(200);
      await res.body.text();
    }
    expect(gw.logs.filter((l) => l.msg === 'request').some((l) => l['attempts'] === 2)).toBe(true);
  });

  it('a GET answered 503 is retried when 503 is listed; a POST with a body is not', async () => {
    const failing = await startBackend((req, res) => {
      req.resume();
      res.writeHead(503, { 'x-backend': 'failing' }).end('down');
    });
    const ok = await startBackend(undefined, 'ok');
    backends.push(failing, ok);
    gw = await startGateway(proxyConfig([failing.url, ok.url], {}, { retries: { attempts: 1, on: [503], backoffMs: 1, budgetPercent: 100 } }));
    for (let i = 0; i < 4; i++) {
      const res = await request(`${gw.url}/`);
      expect(res.statusCode).toBe(200);
      await res.body.text();
    }
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await request(`${gw.url}/`, { method: 'POST', body: 'payload' });
      statuses.push(res.statusCode);
      await res.body.text();
    }
    expect(statuses).toContain(503);
  });
});

describe('access log', () => {

  it('writes one line per request with route, target, status, duration and bytes, and never the Authorization or Cookie values', async () => {
    const be = await startBackend((req, res) => {
      req.resume();
      req.on('end', () => res.end('0123456789'));
    });
    backends.push(be);
    gw = await startGateway(proxyConfig([be.url]));
    const res = await request(`${gw.url}/x`, { method: 'POST', body: 'abcde', headers: { authorization: 'Bearer s3cret', cookie: 'sid=s3cret' } });
    await res.body.text();
    await new Promise((r) => setTimeout(r, 20));
    const lines = gw.logs.filter((l) => l.msg === 'request');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ route: 'app', upstream: 'app', target: `127.0.0.1:${be.port}`, status: 200, bytesIn: 5, bytesOut: 10, method: 'POST', path: '/x' });
    expect(typeof lines[0]!['durationMs']).toBe('number');
    expect(JSON.stringify(gw.logs)).not.toContain('s3cret');
  });
});
