/**
 * Tandem's SIP message layer (RFC 3261 §7, §20, §25): parse, inspect, edit and serialize SIP
 * messages; frame them on streams. Transports, transactions and the proxy core build on this.
 *
 * ```ts
 * const result = parseMessage(datagram);
 * if (!result.ok) {
 *   if (result.error.canRespond) send(errorResponseBytes(result.error.partial!, result.error.status, result.error.reason));
 *   return;
 * }
 * const msg = result.message;
 * if (msg.kind === 'request') { msg.decrementMaxForwards(); msg.prependVia(`SIP/2.0/UDP ${me};branch=${b}`); send(serialize(msg)); }
 * ```
 *
 * @module
 */
export { parseMessage, PROXY_EAGER, type ParseError, type ParseOptions, type ParseResult, type PartialHeaders } from './parse.ts';
export { serialize } from './serialize.ts';
export {
  type HeaderField,
  headerField,
  SipHeaderError,
  type SipMessage,
  SipMessageBase,
  SipRequest,
  SipResponse,
  TYPED_HEADERS,
  type TypedHeader,
} from './message.ts';
export {
  type CSeq,
  isRfc3261Branch,
  MAGIC_COOKIE,
  type MediaType,
  type NameAddr,
  type Via,
} from './header-values.ts';
export { type HostKind, type OtherUri, type Params, parseUri, type SipUri, type TelUri, type Uri } from './sip-uri.ts';
export { canonicalName, COMPACT_FORMS, headerKey } from './header-names.ts';
export { createResponse, errorResponseBytes, REASON_PHRASES, type ResponseOptions } from './response.ts';
export { DEFAULT_MAX_MESSAGE_BYTES, type FramerEvent, StreamFramer, type StreamFramerOptions } from './stream-framer.ts';
