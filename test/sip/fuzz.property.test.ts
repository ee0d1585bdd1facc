/**
 * Property: for messages mutated from valid ones (byte flips, truncation, insertion of CR, LF,
 * commas, quotes, NUL and other separators, header-line duplication and deletion), parsing never
 * throws; whatever parses re-serializes (rebuilt from its parts) and re-parses to the same model;
 * proxy edits on whatever parses produce a message that parses with the edits visible; and the stream
 * framer, fed any chunking, never throws.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseMessage, serialize, type SipMessage, StreamFramer, TYPED_HEADERS } from '../../src/sip/index.ts';
import { TYPICAL } from './fixtures.ts';
import { mutate, mutationArbitrary } from './mutations.ts';

const DIR = new URL('../../../shared/testdata/rfc4475/', import.meta.url);
const TORTURE = ['wsinv', 'intmeth', 'esc01', 'escnull', 'esc02', 'longreq', 'semiuri', 'transports', 'mpart01', 'unreason', 'bext01', 'cparam01', 'regescrt', 'inv2543', 'dblreq'];
const SEEDS: Buffer[] = [...Object.values(TYPICAL), ...TORTURE.map((n) => readFileSync(new URL(`${n}.sip`, DIR)))];

const INSERTS = ['\r', '\n', '\r\n', '\r\n ', ',', '"', '\u0000', ';', '<', '>', ' ', '\\', '%', ':', '=', '@', '[', ']', '\r\n\r\n', ', ,', '%00', 'é'];
const mutation = mutationArbitrary({ inserts: INSERTS, maxAt: 1_000_000, maxDeleteLength: 8, maxLine: 60 });

const input = fc.tuple(fc.constantFrom(...SEEDS), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([seed, ms]) => mutate(seed, ms));

/** Everything a caller can observe of a message, typed headers included (or the header that fails). */
function model(m: SipMessage): unknown {
  const typed: Record<string, unknown> = {};
  for (const key of TYPED_HEADERS) {
    const checked = m.check([key]);
    typed[key] = checked.ok ? JSON.stringify(getTyped(m, key), replacer) : `error: ${checked.reason}`;
  }
  return {
    start: m.kind === 'request' ? [m.method, m.uri.raw, m.version] : [m.status, m.reason, m.version],
    headers: m.headers.map((h) => [h.name, h.key, h.value]),
    body: Buffer.from(m.body).toString('hex'),
    typed,
  };
}

function getTyped(m: SipMessage, key: (typeof TYPED_HEADERS)[number]): unknown {
  switch (key) {
    case 'via': return m.via;
    case 'max-forwards': return m.maxForwards;
    case 'from': return m.from;
    case 'to': return m.to;
    case 'call-id': return m.callId;
    case 'cseq': return m.cseq;
    case 'contact': return m.contact;
    case 'route': return m.route;
    case 'record-route': return m.recordRoute;
    case 'path': return m.path;
    case 'content-length': return m.contentLength;
    case 'content-type': return m.contentType;
    case 'supported': return m.supported;
    case 'require': return m.require;
    case 'proxy-require': return m.proxyRequire;
  }
}

function replacer(_key: string, value: unknown): unknown {
  return value instanceof Map ? [...value] : value;
}

/** Forces serialization from the parts instead of returning the source bytes. */
function rebuilt(m: SipMessage): Uint8Array {
  m.addHeader('X-Fuzz', '1');
  m.removeHeader('X-Fuzz');
  return serialize(m);
}

describe('fuzz: mutated messages', () => {
  it('parse never throws; what parses re-serializes and re-parses to the same model (60,000 runs)', () => {
    let accepted = 0;
    fc.assert(
      fc.property(input, (bytes) => {
        const first = parseMessage(bytes);
        if (!first.ok) {
          expect(first.error.canRespond).toBe(first.error.partial !== undefined);
          return;
        }
        accepted++;
        const before = model(first.message);
        const again = parseMessage(rebuilt(first.message));
        if (!again.ok) throw new Error(`re-parse refused: ${again.error.reason}`);
        expect(model(again.message)).toEqual(before);
      }),
      { numRuns: 60_000 },
    );
    expect(accepted).toBeGreaterThan(1_000);
  });

  it('proxy edits on whatever parses yield a message that parses with the edits in place (20,000 runs)', () => {
    fc.assert(
      fc.property(input, (bytes) => {
        const first = parseMessage(bytes);
        if (!first.ok || first.message.kind !== 'request') return;
        const m = first.message;
        const mf = m.maxForwards;
        const routes = m.route.length;
        m.prependVia('SIP/2.0/TCP proxy.example.com:5060;branch=z9hG4bKfuzz');
        if (mf !== 0) m.decrementMaxForwards();
        m.popRoute();
        m.prependRecordRoute('<sip:proxy.example.com;lr>');
        const again = parseMessage(serialize(m));
        if (!again.ok) throw new Error(`edited message refused: ${again.error.reason}`);
        const e = again.message;
        expect(e.topVia?.branch).toBe('z9hG4bKfuzz');
        expect(e.maxForwards).toBe(mf === 0 ? 0 : mf === undefined ? 70 : mf - 1);
        expect(e.route.length).toBe(Math.max(0, routes - 1));
        expect(e.recordRoute[0]?.uri.raw).toBe('sip:proxy.example.com;lr');
      }),
      { numRuns: 20_000 },
    );
  });

  it('the stream framer never throws, whatever the bytes and chunking (20,000 runs)', () => {
    fc.assert(
      fc.property(input, fc.array(fc.nat({ max: 2_000 }), { maxLength: 6 }), (bytes, cuts) => {
        const framer = new StreamFramer({ maxMessageBytes: 4096 });
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        let from = 0;
        for (const p of [...points, bytes.length]) {
          for (const event of framer.push(bytes.subarray(from, p))) {
            if (event.type === 'message') parseMessage(event.bytes);
          }
          from = p;
        }
      }),
      { numRuns: 20_000 },
    );
  });
});
