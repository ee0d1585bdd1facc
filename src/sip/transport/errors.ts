/**
 * Errors of the SIP transport layer (`TANDEM_ERR_SIP_*`). {@link SIP_TRANSPORT_ERROR_CODES} is a
 * registry table in the shape of the project's registry (`src/errors.ts`), to be merged into it the way
 * `FSM_ERROR_CODES` is. `status` is the SIP status the proxy core answers with when the error ends a
 * request (RFC 3261 §16.7/§16.9: a transport error on a branch is a 503; RFC 5626 §5.3: a flow that is
 * gone is 430 Flow Failed); 500 for errors no SIP peer sees.
 *
 * @module
 */

export const SIP_TRANSPORT_ERROR_CODES = {
  TANDEM_ERR_SIP_FLOW_CLOSED: {
    status: 430,
    message: 'the flow is closed',
    description: 'A message was sent on a SIP flow (connection, WebSocket or UDP association) that is already closed (RFC 5626 §5.3: 430 Flow Failed).',
  },
  TANDEM_ERR_SIP_CONNECT: {
    status: 503,
    message: 'could not open a SIP connection',
    description: 'A TCP connection to a SIP target was refused, failed, or did not open within the connect timeout (RFC 3261 §18.4: a transport error).',
  },
  TANDEM_ERR_SIP_SEND: {
    status: 503,
    message: 'a SIP message could not be sent',
    description: 'Writing a SIP message failed (socket error, datagram too large, host not resolvable) (RFC 3261 §18.4).',
  },
  TANDEM_ERR_SIP_UNROUTABLE: {
    status: 500,
    message: 'no way to send this SIP message',
    description: 'A destination the transport cannot reach by itself: a WebSocket peer whose connection is gone (RFC 7118 §5: `.invalid` hosts are never resolved), an unsupported transport, or a response without a usable Via.',
  },
  TANDEM_ERR_SIP_LISTENER_CLOSED: {
    status: 500,
    message: 'the SIP listener is closed',
    description: 'A message was sent through a SIP listener after close().',
  },
  TANDEM_ERR_SIP_LISTEN: {
    status: 500,
    message: 'a SIP listener could not bind its address',
    description: 'A SIP listener could not bind its UDP and TCP (or WebSocket) sockets on the address (in use, no permission).',
  },
} as const;

export type SipTransportErrorCode = keyof typeof SIP_TRANSPORT_ERROR_CODES;

/** A SIP transport error; `code` and `status` come from {@link SIP_TRANSPORT_ERROR_CODES}. */
export class SipTransportError extends Error {
  readonly code: SipTransportErrorCode;
  readonly status: number;

  constructor(code: SipTransportErrorCode, message?: string, options: { cause?: unknown } = {}) {
    const definition = SIP_TRANSPORT_ERROR_CODES[code];
    super(message ?? definition.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SipTransportError';
    this.code = code;
    this.status = definition.status;
  }
}
