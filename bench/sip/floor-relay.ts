/**
 * The floor of the SIP benchmark: the least a Node.js process can do to carry sipp's `uac` → `uas` calls
 * on the same path as Tandem, so the benchmark can show what the runtime and the kernel cost before any
 * SIP work. It is NOT a SIP proxy: no parsing beyond finding line ends, no validation, no transactions,
 * no retransmissions, no routing; it handles exactly the messages of sipp's built-in scenarios.
 *
 * Per message it does what a proxy must at the least, as string splices: a request gets a Via (and an
 * INVITE a Record-Route and a 100 Trying back, as Tandem sends them) and loses its first Route; a
 * response loses its top Via and goes to the sent-by of the next one. Requests all go to one target.
 *
 *   node bench/sip/floor-relay.ts LISTEN_PORT TARGET_PORT      # both on 127.0.0.1
 */
import { createSocket } from 'node:dgram';

const [listenPort, targetPort] = process.argv.slice(2).map(Number);
if (!Number.isInteger(listenPort) || !Number.isInteger(targetPort)) {
  console.error('usage: node bench/sip/floor-relay.ts LISTEN_PORT TARGET_PORT');
  process.exit(2);
}

const socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
const me = `127.0.0.1:${listenPort}`;
let branch = 0;

/** The text between `from` and the next CRLF (a header line without its CRLF). */
function lineAt(text: string, from: number): string {
  return text.slice(from, text.indexOf('\r\n', from));
}

/** Start of the first header line named `name` (with its colon, e.g. `Via:`), or -1. */
function headerAt(text: string, name: string): number {
  const i = text.indexOf(`\r\n${name}`);
  return i < 0 ? -1 : i + 2;
}

function send(text: string, port: number): void {
  socket.send(Buffer.from(text, 'latin1'), port, '127.0.0.1');
}

function onResponse(text: string): void {
  const via = headerAt(text, 'Via:');
  if (via < 0) return;
  const end = text.indexOf('\r\n', via);
  // Our Via is the first value: alone on its line, or before a comma (`Via: ours, theirs`).
  const comma = text.indexOf(',', via);
  const rest = comma >= 0 && comma < end ? `${text.slice(0, via)}Via: ${text.slice(comma + 1, end).trimStart()}${text.slice(end)}` : text.slice(0, via) + text.slice(end + 2);
  // The next Via's sent-by: `Via: SIP/2.0/UDP host:port;…`
  const next = headerAt(rest, 'Via:');
  if (next < 0) return;
  const line = lineAt(rest, next);
  const sentBy = line.slice(line.indexOf(' ', line.indexOf('SIP/2.0/')) + 1).split(';')[0]!;
  const port = Number(sentBy.slice(sentBy.lastIndexOf(':') + 1));
  send(rest, Number.isInteger(port) && port > 0 ? port : 5060);
}

function onRequest(text: string): void {
  const firstEnd = text.indexOf('\r\n') + 2;
  let rest = text.slice(firstEnd);
  const route = rest.startsWith('Route:') ? 0 : headerAt(rest, 'Route:');
  if (route >= 0) rest = rest.slice(0, route) + rest.slice(rest.indexOf('\r\n', route) + 2);
  let added = `Via: SIP/2.0/UDP ${me};branch=z9hG4bKfloor${(branch++).toString(36)}\r\n`;
  if (text.startsWith('INVITE ')) {
    added += `Record-Route: <sip:${me};lr>\r\n`;
    // 100 Trying to the caller, with the request's Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6).
    let trying = 'SIP/2.0 100 Trying\r\n';
    for (const name of ['Via:', 'From:', 'To:', 'Call-ID:', 'CSeq:']) {
      const at = name === 'Via:' && rest.startsWith('Via:') ? 0 : headerAt(rest, name);
      if (at >= 0) trying += `${lineAt(rest, at)}\r\n`;
    }
    const via = rest.startsWith('Via:') ? 0 : headerAt(rest, 'Via:');
    const line = via < 0 ? '' : lineAt(rest, via);
    const sentBy = line.slice(line.indexOf(' ', line.indexOf('SIP/2.0/')) + 1).split(';')[0] ?? '';
    send(`${trying}Content-Length: 0\r\n\r\n`, Number(sentBy.slice(sentBy.lastIndexOf(':') + 1)));
  }
  send(text.slice(0, firstEnd) + added + rest, targetPort!);
}

socket.on('message', (data) => {
  const text = data.toString('latin1');
  if (text.startsWith('SIP/2.0 ')) onResponse(text);
  else onRequest(text);
});
socket.on('error', (err) => {
  console.error(`floor relay: ${err.message}`);
});
socket.bind(listenPort, '127.0.0.1');
process.on('SIGTERM', () => socket.close(() => process.exit(0)));
