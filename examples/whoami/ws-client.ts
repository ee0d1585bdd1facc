/**
 * A tiny WebSocket client for trying the demo: connects, sends one text message, prints what comes back,
 * closes. `npm run demo:ws -- [URL] [MESSAGE]` (default ws://127.0.0.1:8080/echo, "hello tandem").
 */
import WebSocket from 'ws';

const url = process.argv[2] ?? 'ws://127.0.0.1:8080/echo';
const message = process.argv[3] ?? 'hello tandem';
const ws = new WebSocket(url);
const timer = setTimeout(() => {
  process.stderr.write('no answer within 5 s\n');
  process.exit(1);
}, 5000);
ws.on('open', () => ws.send(message));
ws.on('message', (data) => {
  process.stdout.write(`${String(data)}\n`);
  clearTimeout(timer);
  ws.close(1000);
});
ws.on('error', (err) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
});
