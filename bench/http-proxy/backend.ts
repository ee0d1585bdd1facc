/**
 * Benchmark backend: a plain node:http server answering every request with the same ~100-byte body,
 * keep-alive. Prints `{"port":N,"pid":N}` on stdout once listening; exits on SIGTERM/SIGINT.
 *
 * Usage: node bench/http-proxy/backend.ts [--port N]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { argValue, announce, onShutdown } from './child.ts';

/** 100 bytes of JSON, always the same. */
const BODY = Buffer.from(JSON.stringify({ service: 'bench-backend', ok: true, padding: 'x'.repeat(49) }) + '\n');
if (BODY.length !== 100) throw new Error(`backend body is ${BODY.length} bytes, expected 100`);

const server = createServer({ keepAliveTimeout: 75_000 }, (req, res) => {
  // Drain any request body before answering (benchmark requests have none).
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length });
  res.end(BODY);
});
server.keepAliveTimeout = 75_000;
server.headersTimeout = 80_000;

server.listen(Number(argValue('--port') ?? 0), '127.0.0.1', () => {
  announce({ port: (server.address() as AddressInfo).port });
});

onShutdown(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
