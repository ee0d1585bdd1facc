/**
 * The comparison proxy, in its own process: fastify 5 + @fastify/http-proxy 11 with its default settings
 * (reply-from over an undici pool) in front of the benchmark backend. fastify's request logging is ON at
 * level info (its default two lines per request, "incoming request" and "request completed") through pino
 * to `--access-log` (default /dev/null), so both Node proxies pay for a request log.
 *
 * fastify's default request logging at info is four lines per proxied request: "incoming request", reply-from's
 * "fetching from remote server" and "response received", and "request completed". `--no-log` turns the logger
 * off (to show what that logging costs).
 *
 * Usage: node bench/http-proxy/fastify-proxy-server.ts --upstream http://127.0.0.1:PORT [--port N] [--access-log PATH | --no-log]
 * Prints `{"port":N,"pid":N}` once listening; exits on SIGTERM/SIGINT.
 */
import proxy from '@fastify/http-proxy';
import fastify from 'fastify';
import pino from 'pino';
import { announce, argValue, onShutdown } from './child.ts';

const upstream = argValue('--upstream');
if (upstream === undefined) throw new Error('--upstream http://127.0.0.1:PORT is required');
const port = Number(argValue('--port') ?? 0);
const accessLog = argValue('--access-log') ?? '/dev/null';

const destination = pino.destination({ dest: accessLog, sync: false });
const app = fastify({ logger: process.argv.includes('--no-log') ? false : { level: 'info', stream: destination } });
await app.register(proxy, { upstream });
await app.listen({ host: '127.0.0.1', port });
const address = app.server.address();
announce({ port: typeof address === 'object' && address !== null ? address.port : port, accessLog });

onShutdown(async () => {
  await app.close();
  destination.flushSync();
});
