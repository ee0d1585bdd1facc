/** Typical SIP messages (RFC 3665-style call flows) and helpers shared by the SIP tests. */
import { parseMessage, type SipMessage, type SipRequest, type SipResponse } from '../../src/sip/index.ts';

/** Joins lines with CRLF and ends the header section; `body` follows the empty line. */
export function sip(lines: readonly string[], body = ''): Buffer {
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'utf8');
}

export const SDP = [
  'v=0',
  'o=alice 2890844526 2890844526 IN IP4 192.0.2.101',
  's=-',
  'c=IN IP4 192.0.2.101',
  't=0 0',
  'm=audio 49172 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
  '',
].join('\r\n');

export const INVITE = sip(
  [
    'INVITE sip:bob@biloxi.example.com SIP/2.0',
    'Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;rport',
    'Max-Forwards: 70',
    'Route: <sip:ss1.atlanta.example.com;lr>, <sip:ss2.biloxi.example.com;lr>',
    'From: "Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
    'To: Bob <sip:bob@biloxi.example.com>',
    'Call-ID: 3848276298220188511@atlanta.example.com',
    'CSeq: 1 INVITE',
    'Contact: <sip:alice@client.atlanta.example.com;transport=udp>',
    'Supported: replaces, 100rel',
    'X-Custom:   keep   me  exactly ',
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(SDP)}`,
  ],
  SDP,
);

export const REGISTER = sip([
  'REGISTER sip:registrar.biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/TCP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7',
  'Max-Forwards: 70',
  'From: Bob <sip:bob@biloxi.example.com>;tag=456248',
  'To: Bob <sip:bob@biloxi.example.com>',
  'Call-ID: 843817637684230@998sdasdh09',
  'CSeq: 1826 REGISTER',
  'Contact: <sip:bob@192.0.2.4>;expires=7200, "Bob mobile" <sip:bob@[2001:db8::4]:5080;transport=tcp>;q=0.5',
  'Path: <sip:edge.biloxi.example.com;lr>',
  'Expires: 7200',
  'Content-Length: 0',
]);

export const OK_200 = sip(
  [
    'SIP/2.0 200 OK',
    'Via: SIP/2.0/UDP ss1.atlanta.example.com;branch=z9hG4bK2d4790.1;received=192.0.2.111',
    'Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;received=192.0.2.101;rport=5060',
    'Record-Route: <sip:ss1.atlanta.example.com;lr>',
    'From: "Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
    'To: Bob <sip:bob@biloxi.example.com>;tag=8321234356',
    'Call-ID: 3848276298220188511@atlanta.example.com',
    'CSeq: 1 INVITE',
    'Contact: <sip:bob@client.biloxi.example.com>',
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(SDP)}`,
  ],
  SDP,
);

export const ACK = sip([
  'ACK sip:bob@client.biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bd5',
  'Max-Forwards: 70',
  'Route: <sip:ss1.atlanta.example.com;lr>',
  'From: "Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
  'To: Bob <sip:bob@biloxi.example.com>;tag=8321234356',
  'Call-ID: 3848276298220188511@atlanta.example.com',
  'CSeq: 1 ACK',
  'Content-Length: 0',
]);

export const CANCEL = sip([
  'CANCEL sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9',
  'Max-Forwards: 70',
  'From: "Alice" <sip:alice@atlanta.example.com>;tag=9fxced76sl',
  'To: Bob <sip:bob@biloxi.example.com>',
  'Call-ID: 3848276298220188511@atlanta.example.com',
  'CSeq: 1 CANCEL',
  'Content-Length: 0',
]);

export const BYE = sip([
  'BYE sip:alice@client.atlanta.example.com SIP/2.0',
  'Via: SIP/2.0/TCP client.biloxi.example.com:5060;branch=z9hG4bKnashds7',
  'Max-Forwards: 70',
  'From: Bob <sip:bob@biloxi.example.com>;tag=8321234356',
  'To: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl',
  'Call-ID: 3848276298220188511@atlanta.example.com',
  'CSeq: 1 BYE',
  'Content-Length: 0',
]);

export const OPTIONS = sip([
  'OPTIONS sip:carol@chicago.example.com SIP/2.0',
  'Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKhjhs8ass877',
  'Max-Forwards: 70',
  'To: <sip:carol@chicago.example.com>',
  'From: Alice <sip:alice@atlanta.example.com>;tag=1928301774',
  'Call-ID: a84b4c76e66710',
  'CSeq: 63104 OPTIONS',
  'Accept: application/sdp',
  'Content-Length: 0',
]);

export const TYPICAL = { INVITE, REGISTER, OK_200, ACK, CANCEL, BYE, OPTIONS } as const;

/** Parses and fails the test when the message is refused. */
export function parsed(bytes: Uint8Array): SipMessage {
  const result = parseMessage(bytes);
  if (!result.ok) throw new Error(`expected a valid message: ${result.error.reason}`);
  return result.message;
}

export function request(bytes: Uint8Array): SipRequest {
  const m = parsed(bytes);
  if (m.kind !== 'request') throw new Error('expected a request');
  return m;
}

export function response(bytes: Uint8Array): SipResponse {
  const m = parsed(bytes);
  if (m.kind !== 'response') throw new Error('expected a response');
  return m;
}

export function text(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1');
}
