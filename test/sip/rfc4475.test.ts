/**
 * RFC 4475 SIP torture tests: every message of the archive (/work/shared/testdata/rfc4475, byte-exact),
 * one table row each, with the outcome the RFC asks of a proxy. Valid messages parse, round-trip
 * byte-exact and show the values the RFC points out; invalid ones are refused with the status the RFC
 * recommends and say whether a response can be built; "valid+semantics" cases parse and expose the
 * typed values a proxy decides on (483, 416, 420, ...).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  isRfc3261Branch,
  type NameAddr,
  parseMessage,
  serialize,
  type SipMessage,
  type SipRequest,
  type SipResponse,
  type SipUri,
  type Uri,
} from '../../src/sip/index.ts';

const DIR = new URL('../../../shared/testdata/rfc4475/', import.meta.url);
const load = (file: string): Buffer => readFileSync(new URL(file, DIR));

type Row =
  | { file: string; section: string; outcome: 'accept'; check?: (m: SipMessage) => void }
  | { file: string; section: string; outcome: 'refuse'; status: 400 | 505; canRespond: boolean; reason: string };

const req = (m: SipMessage): SipRequest => {
  if (m.kind !== 'request') throw new Error('expected a request');
  return m;
};
const res = (m: SipMessage): SipResponse => {
  if (m.kind !== 'response') throw new Error('expected a response');
  return m;
};
const sipUri = (u: Uri | undefined): SipUri => {
  if (u?.kind !== 'sip') throw new Error('expected a SIP URI');
  return u;
};
const contacts = (m: SipMessage): readonly NameAddr[] => {
  const c = m.contact;
  if (c === '*') throw new Error('unexpected *');
  return c;
};

const ROWS: Row[] = [
  // §3.1.1 valid messages
  { file: 'wsinv.sip', section: '3.1.1.1', outcome: 'accept', check: (m) => {
    const r = req(m);
    expect(r.uri.raw).toBe('sip:vivekg@chair-dnrc.example.com;unknownparam');
    expect(r.to.tag).toBe('1918181833n');
    expect([r.from.displayName, r.from.tag]).toEqual(['J Rosenberg \\"', '98asjd8']);
    expect(r.maxForwards).toBe(68); // leading zeros
    expect(r.cseq).toEqual({ seq: 9, method: 'INVITE' });
    expect(r.via.map((v) => [v.transport, v.host, v.branch])).toEqual([
      ['UDP', '192.0.2.2', '390skdjuw'],
      ['TCP', 'spindle.example.com', 'z9hG4bK9ikj8'],
      ['UDP', '192.168.255.111', 'z9hG4bK30239'],
    ]);
    expect(r.get('Subject')).toBe('');
    expect(r.get('UnknownHeaderWithUnusualValue')).toBe(';;,,;;,;');
    const [c] = contacts(r);
    expect([c?.displayName, c?.params.get('newparam'), c?.params.get('secondparam'), c?.params.get('q')]).toEqual(['Quoted string ""', 'newvalue', null, '0.33']);
    expect(sipUri(r.route[0]?.uri).params.get('unknownwith')).toBe('value');
  } },
  { file: 'intmeth.sip', section: '3.1.1.2', outcome: 'accept', check: (m) => {
    const r = req(m);
    expect(r.method).toBe("!interesting-Method0123456789_*+`.%indeed'~");
    expect(r.cseq.method).toBe(r.method);
    const uri = sipUri(r.uri);
    expect([uri.user, uri.password]).toEqual(["1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*", "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"]);
    expect(r.to.displayName).toBe('BEL:\u0007 NUL:\u0000 DEL:\u007f');
    expect(r.from.displayName).toBe("token1~` token2'+_ token3*%!.-");
    expect(r.from.params.get("fromparam''~+*_!.-%")).toBe('работающий');
    expect(r.callId).toBe('intmeth.word%ZK-!.*_+\'@word`~)(><:\\/"][?}{');
    expect(r.maxForwards).toBe(255);
  } },
  { file: 'esc01.sip', section: '3.1.1.3', outcome: 'accept', check: (m) => {
    const r = req(m);
    expect(sipUri(r.uri).user).toBe('sips:user@example.com');
    expect(sipUri(r.to.uri).user).toBe('user');
    expect(sipUri(r.from.uri).user).toBe('I have spaces');
    const c = sipUri(contacts(r)[0]?.uri);
    expect([c.user, c.params.has('lr'), c.params.get('name')]).toEqual(['caller', true, 'value%41']); // no recursive unescaping
  } },
  { file: 'escnull.sip', section: '3.1.1.4', outcome: 'accept', check: (m) => {
    expect(sipUri(m.to.uri).user).toBe('null-\u0000-null');
    expect(contacts(m).map((c) => sipUri(c.uri).user)).toEqual(['\u0000', '\u0000\u0000']);
  } },
  { file: 'esc02.sip', section: '3.1.1.5', outcome: 'accept', check: (m) => {
    const r = req(m);
    expect(r.method).toBe('RE%47IST%45R'); // % is not an escape in a method: unknown, not REGISTER
    expect(r.to.displayName).toBe('%Z%45');
    expect(contacts(r)).toHaveLength(2); // C%6Fntact is another header
    expect(r.get('C%6Fntact')).toBe('<sip:alias2@host2.example.com>');
  } },
  { file: 'lwsdisp.sip', section: '3.1.1.6', outcome: 'accept', check: (m) => expect(m.from.displayName).toBe('caller') },
  { file: 'longreq.sip', section: '3.1.1.7', outcome: 'accept', check: (m) => {
    expect(m.via).toHaveLength(34);
    expect(m.to.displayName).toHaveLength(103);
    expect(m.from.tag).toHaveLength(155);
    expect(m.callId).toHaveLength(141);
    expect(sipUri(m.to.uri).port).toBe(6000);
  } },
  { file: 'dblreq.sip', section: '3.1.1.8', outcome: 'accept', check: (m) => {
    expect(req(m).method).toBe('REGISTER');
    expect(m.body).toHaveLength(0);
    expect(Buffer.from(serialize(m)).toString('latin1')).not.toContain('INVITE'); // trailing octets never forwarded
  } },
  { file: 'semiuri.sip', section: '3.1.1.9', outcome: 'accept', check: (m) => {
    const uri = sipUri(req(m).uri);
    expect([uri.user, uri.host, uri.params.size]).toEqual(['user;par=u@example.net', 'example.com', 0]);
  } },
  { file: 'transports.sip', section: '3.1.1.10', outcome: 'accept', check: (m) =>
    expect(m.via.map((v) => v.transport)).toEqual(['UDP', 'SCTP', 'TLS', 'UNKNOWN', 'TCP']) },
  { file: 'mpart01.sip', section: '3.1.1.11', outcome: 'accept', check: (m) => {
    expect(m.body).toHaveLength(m.contentLength ?? -1);
    expect(m.body.includes(0)).toBe(true);
    expect(m.contentType?.params.get('boundary')).toBe('7a9cbec02ceef655');
  } },
  { file: 'unreason.sip', section: '3.1.1.12', outcome: 'accept', check: (m) => {
    const r = res(m);
    expect(r.status).toBe(200);
    expect(r.reason).toBe('= 2**3 * 5**2 но сто девяносто девять - простое');
  } },
  { file: 'noreason.sip', section: '3.1.1.13', outcome: 'accept', check: (m) => expect([res(m).status, res(m).reason]).toEqual([100, '']) },
  // §3.1.2 invalid messages
  { file: 'badinv01.sip', section: '3.1.2.1', outcome: 'refuse', status: 400, canRespond: false, reason: 'Malformed Via' },
  { file: 'clerr.sip', section: '3.1.2.2', outcome: 'refuse', status: 400, canRespond: true, reason: 'Content-Length larger than message' },
  { file: 'ncl.sip', section: '3.1.2.3', outcome: 'refuse', status: 400, canRespond: true, reason: 'Invalid Content-Length' },
  { file: 'scalar02.sip', section: '3.1.2.4', outcome: 'refuse', status: 400, canRespond: true, reason: 'Malformed CSeq' },
  { file: 'scalarlg.sip', section: '3.1.2.5', outcome: 'refuse', status: 400, canRespond: false, reason: 'Malformed CSeq' },
  { file: 'quotbal.sip', section: '3.1.2.6', outcome: 'refuse', status: 400, canRespond: true, reason: 'Malformed To' },
  { file: 'ltgtruri.sip', section: '3.1.2.7', outcome: 'refuse', status: 400, canRespond: true, reason: 'Malformed Request-URI' },
  { file: 'lwsruri.sip', section: '3.1.2.8', outcome: 'refuse', status: 400, canRespond: true, reason: 'Malformed Request-Line' },
  { file: 'lwsstart.sip', section: '3.1.2.9', outcome: 'refuse', status: 400, canRespond: true, reason: 'Malformed Request-Line' },
  { file: 'trws.sip', section: '3.1.2.10', outcome: 'refuse', status: 400, canRespond: true, reason: 'Malformed Request-Line' },
  { file: 'escruri.sip', section: '3.1.2.11', outcome: 'refuse', status: 400, canRespond: true, reason: 'Headers in Request-URI' },
  { file: 'baddate.sip', section: '3.1.2.12', outcome: 'accept', check: (m) => expect(m.get('Date')).toBe('Fri, 01 Jan 2010 16:00:00 EST') }, // Date is not used: ignored
  { file: 'regbadct.sip', section: '3.1.2.13', outcome: 'refuse', status: 400, canRespond: true, reason: 'Malformed Contact' },
  { file: 'badaspec.sip', section: '3.1.2.14', outcome: 'refuse', status: 400, canRespond: true, reason: 'Malformed To' },
  { file: 'baddn.sip', section: '3.1.2.15', outcome: 'refuse', status: 400, canRespond: true, reason: 'Malformed From' },
  { file: 'badvers.sip', section: '3.1.2.16', outcome: 'refuse', status: 505, canRespond: true, reason: 'Version Not Supported' },
  { file: 'mismatch01.sip', section: '3.1.2.17', outcome: 'refuse', status: 400, canRespond: true, reason: 'CSeq method does not match the request method' },
  { file: 'mismatch02.sip', section: '3.1.2.18', outcome: 'refuse', status: 400, canRespond: true, reason: 'CSeq method does not match the request method' },
  { file: 'bigcode.sip', section: '3.1.2.19', outcome: 'refuse', status: 400, canRespond: false, reason: 'Malformed Status-Code' },
  // §3.2 transaction layer
  { file: 'badbranch.sip', section: '3.2.1', outcome: 'accept', check: (m) => {
    expect(m.topVia?.branch).toBe('z9hG4bK');
    expect(isRfc3261Branch(m.topVia?.branch)).toBe(false); // no transaction id: 400 or RFC 2543 matching, decided above
  } },
  // §3.3 application layer
  { file: 'insuf.sip', section: '3.3.1', outcome: 'refuse', status: 400, canRespond: true, reason: 'Missing From' },
  { file: 'unkscm.sip', section: '3.3.2', outcome: 'accept', check: (m) => expect(req(m).uri).toMatchObject({ kind: 'other', scheme: 'nobodyknowsthisscheme' }) }, // → 416
  { file: 'novelsc.sip', section: '3.3.3', outcome: 'accept', check: (m) => expect(req(m).uri).toMatchObject({ kind: 'other', scheme: 'soap.beep', opaque: '//192.0.2.103:3002' }) }, // → 416
  { file: 'unksm2.sip', section: '3.3.4', outcome: 'accept', check: (m) => {
    expect([m.to.uri.scheme, m.from.uri.scheme, contacts(m)[0]?.uri.scheme]).toEqual(['isbn', 'http', 'name']);
  } },
  { file: 'bext01.sip', section: '3.3.5', outcome: 'accept', check: (m) => {
    expect(m.require).toEqual(['nothingSupportsThis', 'nothingSupportsThisEither']); // UAS → 420
    expect(m.proxyRequire).toEqual(['noProxiesSupportThis', 'norDoAnyProxiesSupportThis']); // proxy → 420
  } },
  { file: 'invut.sip', section: '3.3.6', outcome: 'accept', check: (m) => expect(m.contentType).toMatchObject({ type: 'application', subtype: 'unknownformat' }) },
  { file: 'regaut01.sip', section: '3.3.7', outcome: 'accept', check: (m) => expect(m.get('Authorization')).toBe('NoOneKnowsThisScheme opaque-data=here') },
  { file: 'multi01.sip', section: '3.3.8', outcome: 'refuse', status: 400, canRespond: true, reason: 'Multiple From values' },
  { file: 'mcl01.sip', section: '3.3.9', outcome: 'refuse', status: 400, canRespond: true, reason: 'Multiple Content-Length values' },
  { file: 'bcast.sip', section: '3.3.10', outcome: 'accept', check: (m) => expect(m.via.map((v) => [v.host, v.hostKind])).toEqual([['192.0.2.198', 'ipv4'], ['255.255.255.255', 'ipv4']]) },
  { file: 'zeromf.sip', section: '3.3.11', outcome: 'accept', check: (m) => expect(m.maxForwards).toBe(0) }, // proxy → 483
  { file: 'cparam01.sip', section: '3.3.12', outcome: 'accept', check: (m) => {
    const [c] = contacts(m);
    expect([c?.params.has('unknownparam'), sipUri(c?.uri).params.has('unknownparam')]).toEqual([true, false]);
  } },
  { file: 'cparam02.sip', section: '3.3.13', outcome: 'accept', check: (m) => {
    const [c] = contacts(m);
    expect([c?.params.has('unknownparam'), sipUri(c?.uri).params.has('unknownparam')]).toEqual([false, true]);
  } },
  { file: 'regescrt.sip', section: '3.3.14', outcome: 'accept', check: (m) => {
    const uri = sipUri(contacts(m)[0]?.uri);
    expect(uri.headers.get('Route')).toBe('<sip:sip.example.com>');
    expect(uri.raw).toBe('sip:user@example.com?Route=%3Csip:sip.example.com%3E');
  } },
  { file: 'sdp01.sip', section: '3.3.15', outcome: 'accept', check: (m) => expect(m.get('Accept')).toBe('text/nobodyKnowsThis') }, // UAS → 406
  // §3.4 backward compatibility
  { file: 'inv2543.sip', section: '3.4.1', outcome: 'accept', check: (m) => {
    expect([m.topVia?.branch, m.from.tag, m.maxForwards, m.contentLength]).toEqual([undefined, undefined, undefined, undefined]);
    expect(Buffer.from(m.body).toString('latin1')).toMatch(/^v=0\r\n[\s\S]*m=audio 49217 RTP\/AVP 0\r\n$/);
  } },
  // In the archive, described by no section: no SIP-Version on the Request-Line, and no Via.
  { file: 'test.sip', section: '—', outcome: 'refuse', status: 400, canRespond: false, reason: 'Malformed Request-Line' },
];

describe('RFC 4475 torture messages', () => {
  it('the archive files match SHA256SUMS', () => {
    const sums = readFileSync(new URL('SHA256SUMS', DIR), 'utf8').trim().split('\n');
    expect(sums).toHaveLength(50);
    for (const line of sums) {
      const [hash, file] = line.split(/\s+\*?/);
      expect(createHash('sha256').update(load(file!)).digest('hex'), file).toBe(hash);
    }
  });

  it('the table has one row per file', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.sip')).sort();
    expect(ROWS.map((r) => r.file).sort()).toEqual(files);
  });

  it.each(ROWS.map((row) => [row.file, row.section, row] as const))('%s (§%s)', (_file, _section, row) => {
    const bytes = load(row.file);
    const result = parseMessage(bytes);
    if (row.outcome === 'refuse') {
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.error).toMatchObject({ status: row.status, canRespond: row.canRespond, reason: row.reason });
      expect(result.error.partial !== undefined).toBe(row.canRespond);
      return;
    }
    if (!result.ok) throw new Error(`${row.file} refused: ${result.error.reason}`);
    // Unmodified, a valid message is forwarded byte for byte (unknown headers unchanged, RFC 3261 §16.6).
    const out = Buffer.from(serialize(result.message));
    expect(out.equals(bytes.subarray(0, out.length))).toBe(true);
    row.check?.(result.message);
  });
});
