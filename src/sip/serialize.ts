/**
 * Serialization (RFC 3261 §7): start line, header lines, empty line, body. A message that was parsed
 * and never edited serializes to exactly the bytes it was parsed from (without ignored leading CRLFs
 * or trailing datagram octets, RFC 3261 §7.5, §18.3); an edited one writes every untouched header line
 * byte-for-byte as received and only the edited lines anew.
 *
 * @module
 */
import type { SipMessage } from './message.ts';

/** The wire bytes of `message`. While unmodified, this is a view of the parsed bytes (no copy). */
export function serialize(message: SipMessage): Uint8Array {
  const source = message.source;
  if (source !== undefined) return source;
  let head = message.startLine + '\r\n';
  for (const field of message.headers) head += field.wire + '\r\n';
  head += '\r\n';
  const body = message.body;
  const out = Buffer.allocUnsafe(head.length + body.length);
  out.write(head, 0, 'latin1');
  out.set(body, head.length);
  return out;
}
