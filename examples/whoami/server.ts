/**
 * whoami: the demo upstream Tandem's default config proxies to. HTTP: any path answers a JSON description
 * of the request as it arrived (method, path, headers, peer), so you can see what the gateway forwarded;
 * `/healthz` answers `ok`. WebSocket: `/echo` sends every message back as it came (text stays text,
 * binary stays binary).
 *
 * Run: `node examples/whoami/server.ts [--port 9001] [--host 127.0.0.1]`.
 */
import { createServer } from 'node:http';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

const { values } = parseArgs({ options: { port: { type: 'string', default: process.env['WHOAMI_PORT'] ?? '9001' }, host: { type: 'string', default: '127.0.0.1' } } });

const server = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  let bytes = 0;
  req.on('data', (chunk: Buffer) => (bytes += chunk.length));
  req.on('end', () => {
    const body = JSON.stringify(
      { service: 'whoami', hostname: hostname(), method: req.method, url: req.url, headers: req.headers, remote: `${req.socket.remoteAddress}:${req.socket.remotePort}`, bodyBytes: bytes },
      null,
      2,
    );
    res.writeHead(200, { 'content-type': 'application/json' }).end(`${body}\n`);
  });
});

const wss = new WebSocketServer({ server, path: '/echo' });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

server.listen(Number(values.port), values.host, () => {
  process.stdout.write(`whoami listening on http://${values.host}:${values.port} (WebSocket echo on /echo)\n`);
});

const stop = (): void => {
  for (const c of wss.clients) c.close(1001, 'demo stopping');
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
