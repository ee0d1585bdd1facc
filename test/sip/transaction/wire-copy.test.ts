import { describe, expect, it } from 'vitest';
import { parseMessage, serialize, type SipRequest, type SipResponse } from '../../../src/sip/index.ts';
import { WireCopy } from '../../../src/sip/transaction/wire-copy.ts';
import { INVITE, OK_200 } from '../fixtures.ts';

function parse<T>(bytes: Uint8Array): T {
  const result = parseMessage(bytes);
  if (!result.ok) throw new Error(result.error.reason);
  return result.message as T;
}

describe('WireCopy', () => {
  it('re-parses an equal response, with its status, independent of the input buffer', () => {
    const input = Buffer.from(OK_200);
    const response = parse<SipResponse>(input);
    const copy = new WireCopy(response);
    input.fill(0);
    expect(copy.status).toBe(200);
    const again = copy.message;
    expect(again.status).toBe(200);
    expect(Buffer.from(serialize(again)).equals(Buffer.from(OK_200))).toBe(true);
  });

  it('keeps edits made before the copy (a request)', () => {
    const request = parse<SipRequest>(INVITE);
    request.prependVia('SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKcopy');
    const copy = new WireCopy(request);
    expect(copy.status).toBeUndefined();
    expect(copy.message.topVia?.branch).toBe('z9hG4bKcopy');
    expect(copy.message).not.toBe(copy.message);
  });
});

describe('detach', () => {
  it('returns an equal string (wire strings, and others unchanged)', async () => {
    const { detach } = await import('../../../src/sip/chars.ts');
    const head = 'INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK-long-branch-value';
    const branch = head.slice(head.indexOf('z9hG4bK'));
    expect(detach(branch)).toBe(branch);
    expect(detach(`${branch}\u0000h:\u0000INVITE`)).toBe(`${branch}\u0000h:\u0000INVITE`);
    expect(detach('short')).toBe('short');
    expect(detach('a non-Latin-1 string: \u20ac')).toBe('a non-Latin-1 string: \u20ac');
  });
});
