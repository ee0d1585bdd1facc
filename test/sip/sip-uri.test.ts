import { describe, expect, it } from 'vitest';
import { parseUri, type SipUri } from '../../src/sip/index.ts';

function sipUri(text: string): SipUri {
  const uri = parseUri(text);
  if (uri?.kind !== 'sip') throw new Error(`expected a SIP URI: ${text}`);
  return uri;
}

describe('SIP and SIPS URIs (RFC 3261 §19.1)', () => {
  it('splits scheme, user, password, host, port, parameters and headers', () => {
    const uri = sipUri('sips:alice:secret@atlanta.example.com:5061;transport=tcp;lr;maddr=239.255.255.1?subject=project%20x&priority=urgent');
    expect(uri).toMatchObject({ scheme: 'sips', user: 'alice', password: 'secret', host: 'atlanta.example.com', hostKind: 'domain', port: 5061 });
    expect([...uri.params]).toEqual([['transport', 'tcp'], ['lr', null], ['maddr', '239.255.255.1']]);
    expect([...uri.headers]).toEqual([['subject', 'project x'], ['priority', 'urgent']]);
  });

  it('a URI without user part has only a host', () => {
    expect(sipUri('sip:proxy.example.com;lr')).toMatchObject({ user: undefined, host: 'proxy.example.com', port: undefined });
  });

  it('scheme and parameter names are case-insensitive and reported lower-case; the host keeps its case', () => {
    const uri = sipUri('SIP:Bob@BiloXi.Example.COM;Transport=TCP');
    expect(uri.scheme).toBe('sip');
    expect(uri.host).toBe('BiloXi.Example.COM');
    expect(uri.params.get('transport')).toBe('TCP');
  });

  it('IPv6 references keep their brackets and may carry a port', () => {
    expect(sipUri('sip:[2001:db8::10]:5070;transport=udp')).toMatchObject({ host: '[2001:db8::10]', hostKind: 'ipv6', port: 5070 });
    expect(sipUri('sip:alice@[::1]')).toMatchObject({ host: '[::1]', hostKind: 'ipv6', port: undefined });
    expect(sipUri('sip:192.0.2.4:5060')).toMatchObject({ hostKind: 'ipv4', port: 5060 });
    expect(sipUri('sip:host.example.com.')).toMatchObject({ hostKind: 'domain' });
    expect(parseUri('sip:1.2.3.4.')).toBeUndefined();
    expect(parseUri('sip:1.2.3')).toBeUndefined();
  });

  it('escaped characters are equivalent to the characters they encode, decoded exactly once (§19.1.4)', () => {
    const uri = sipUri('sip:%75se%72@example.com;n%61me=v%61lue%25%34%31');
    expect(uri.user).toBe('user');
    expect(uri.userRaw).toBe('%75se%72');
    expect(uri.params.get('name')).toBe('value%41');
  });

  it('an escaped NUL in the user part decodes to U+0000 and does not truncate it', () => {
    expect(sipUri('sip:null-%00-null@example.com').user).toBe('null-\u0000-null');
  });

  it('the user part may hold ; ? / and escaped @ (user-unreserved)', () => {
    const uri = sipUri('sip:user;par=u%40example.net@example.com');
    expect(uri.user).toBe('user;par=u@example.net');
    expect(uri.host).toBe('example.com');
    expect(uri.params.size).toBe(0);
  });

  it.each([
    ['sip:', 'no host'],
    ['sip:user@', 'empty host'],
    ['sip:user@example.com:99999', 'port out of range'],
    ['sip:user@example.com:50a', 'bad port'],
    ['sip:us er@example.com', 'space in user'],
    ['sip:user@exa mple.com', 'space in host'],
    ['sip:user@[::1', 'unterminated IPv6 reference'],
    ['sip:user@256.1.1.1', 'bad IPv4'],
    ['sip:user@-bad-.example.com', 'label starting with -'],
    ['sip:us%zzer@example.com', 'bad escape'],
    ['sip:user@example.com?noequals', 'header without ='],
    ['<sip:user@example.com>', 'angle brackets'],
    ['user@example.com', 'no scheme'],
    ['1sip:user@example.com', 'scheme starting with a digit'],
  ])('%s is not a valid URI (%s)', (text) => {
    expect(parseUri(text)).toBeUndefined();
  });
});

describe('tel and other URIs', () => {
  it('tel URIs keep the number with visual separators and parameters (RFC 3966)', () => {
    expect(parseUri('tel:+1-201-555-0123;phone-context=example.com')).toMatchObject({
      kind: 'tel',
      number: '+1-201-555-0123',
    });
  });

  it('an unknown scheme parses as an opaque absoluteURI, so a proxy can answer 416 (§8.2.2.1)', () => {
    expect(parseUri('nobodyKnowsThisScheme:totallyopaquecontent')).toEqual({
      kind: 'other',
      scheme: 'nobodyknowsthisscheme',
      opaque: 'totallyopaquecontent',
      raw: 'nobodyKnowsThisScheme:totallyopaquecontent',
    });
    expect(parseUri('soap.beep://192.0.2.103:3002')).toMatchObject({ kind: 'other', scheme: 'soap.beep' });
    expect(parseUri('http://www.example.com/a b')).toBeUndefined();
  });
});
