/**
 * The OPTIONS request Tandem sends as a UAC to probe a SIP server (RFC 3261 §11: "the server
 * responds to an OPTIONS request as if it were an INVITE", so any final response shows its SIP stack
 * is alive). Built from scratch, with the mandatory header fields of §8.1.1.
 *
 * @module
 */
import { type HeaderField, headerField, parseUri, SipRequest } from '../index.ts';
import type { TransportName } from '../transport/index.ts';

/** The `User-Agent` of Tandem's own requests (RFC 3261 §20.41). */
export const TANDEM_USER_AGENT = 'Tandem';

/** What one OPTIONS probe is made of. */
export interface OptionsRequestInit {
  /** The SIP server probed: its transport, host (IPv6 without brackets) and port. */
  readonly target: { readonly transport: Extract<TransportName, 'udp' | 'tcp'>; readonly host: string; readonly port: number };
  /** Tandem's address on that side (the `sip` listener), as written in Via sent-by and From. */
  readonly local: { readonly host: string; readonly port: number };
  /** A fresh RFC 3261 branch (`z9hG4bK…`, §8.1.1.7): the client transaction's id. */
  readonly branch: string;
  readonly callId: string;
  /** The From tag (§8.1.1.3). */
  readonly fromTag: string;
  /** The CSeq number (§8.1.1.5). */
  readonly seq: number;
  /** Default {@link TANDEM_USER_AGENT}. */
  readonly userAgent?: string;
}

/**
 * `OPTIONS sip:host:port[;transport=tcp] SIP/2.0` with Via (Tandem's address, the branch),
 * `Max-Forwards: 70`, From `<sip:tandem@local>;tag=…`, To = the target URI (no tag: outside a
 * dialog), Call-ID, `CSeq: n OPTIONS`, `Accept: application/sdp` (§11.1), User-Agent and
 * `Content-Length: 0`.
 */
export function createOptionsRequest(init: OptionsRequestInit): SipRequest {
  const { target, local } = init;
  const targetUri = `sip:${hostPart(target.host)}:${target.port}${target.transport === 'tcp' ? ';transport=tcp' : ''}`;
  const uri = parseUri(targetUri);
  if (uri === undefined) throw new TypeError(`not a SIP URI: ${targetUri}`);
  const headers: HeaderField[] = [
    headerField('Via', `SIP/2.0/${target.transport.toUpperCase()} ${hostPart(local.host)}:${local.port};branch=${init.branch}`),
    headerField('Max-Forwards', '70'),
    headerField('From', `<sip:tandem@${hostPart(local.host)}>;tag=${init.fromTag}`),
    headerField('To', `<${targetUri}>`),
    headerField('Call-ID', init.callId),
    headerField('CSeq', `${init.seq} OPTIONS`),
    headerField('Accept', 'application/sdp'),
    headerField('User-Agent', init.userAgent ?? TANDEM_USER_AGENT),
    headerField('Content-Length', '0'),
  ];
  return new SipRequest({ startLine: `OPTIONS ${uri.raw} SIP/2.0`, headers, body: new Uint8Array(0), method: 'OPTIONS', uri, version: 'SIP/2.0' });
}

function hostPart(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
