/**
 * An edge registrar (RFC 3261 §10.3, without authentication): REGISTER requests for a SIP route in
 * `registrar: edge` mode are answered here, and each binding remembers the flow (RFC 5626 §3.1) the
 * REGISTER came on — for a WebSocket client (RFC 7118 §5) the only way to reach it again. Requests
 * whose Request-URI is a registered address-of-record are then retargeted to the bound Contact
 * (§16.5, the location service) and sent over that flow.
 *
 * What it does (RFC 3261 §10.3 steps 5–8): the AOR is the To URI (`sip:user@host`, host lower-cased);
 * each Contact is bound for its `expires` parameter, else the Expires header, else 3600 s, at most
 * `maxExpiresS`; `expires=0` removes that Contact, `Contact: *` with `Expires: 0` removes them all
 * (400 otherwise); the 200 lists every current binding with its remaining `expires`. A REGISTER
 * without Contact is a query. A binding ends when it expires or its flow closes (RFC 5626 §5.3: the
 * flow is gone, so is the way to the client).
 *
 * Not done: authentication (put Tandem's edge registrar only where clients are trusted, or use
 * `registrar: upstream` with a registrar that authenticates), the Call-ID/CSeq ordering check of
 * §10.3 step 7, GRUU, and forking to several bindings: a request goes to the most recent binding.
 *
 * @module
 */
import type { Clock } from '../../fsm/index.ts';
import type { SipRequest, Uri } from '../index.ts';
import type { Flow } from '../transport/index.ts';

/** One Contact bound to an address-of-record. */
export interface Binding {
  /** `sip:user@host` (host lower-cased). */
  readonly aor: string;
  /** The Contact URI as registered (the new Request-URI of requests to the AOR). */
  readonly contact: string;
  /** The flow the REGISTER came on: where requests to this binding go. */
  readonly flow: Flow;
  /** Expiry on the registrar's clock (ms). */
  readonly expiresAt: number;
}

/** The answer to a REGISTER: a status and the header fields to add to it. */
export interface RegisterAnswer {
  readonly status: number;
  readonly reason?: string;
  readonly headers: readonly (readonly [string, string])[];
}

export interface EdgeRegistrarOptions {
  readonly clock: Clock;
  /** Longest binding granted (s); default 3600. */
  readonly maxExpiresS?: number;
  /** Most Contacts bound to one AOR (default 10); a REGISTER that would exceed it gets 403. */
  readonly maxBindingsPerAor?: number;
}

const DEFAULT_EXPIRES_S = 3600;

export class EdgeRegistrar {
  readonly #clock: Clock;
  readonly #maxExpiresS: number;
  readonly #maxPerAor: number;
  /** Bindings by AOR, in registration order (the last is the most recent). */
  readonly #bindings = new Map<string, Binding[]>();
  /** AORs with a binding on each flow, to drop them when the flow closes. */
  readonly #byFlow = new Map<Flow, Set<string>>();

  constructor(options: EdgeRegistrarOptions) {
    this.#clock = options.clock;
    this.#maxExpiresS = options.maxExpiresS ?? DEFAULT_EXPIRES_S;
    this.#maxPerAor = options.maxBindingsPerAor ?? 10;
  }

  /** Live bindings (for status and metrics): expired ones and those on closed flows are pruned first. */
  get size(): number {
    const now = this.#clock.now();
    let n = 0;
    for (const [aor, list] of this.#bindings) {
      const live = list.filter((b) => b.expiresAt > now && !b.flow.closed);
      if (live.length !== list.length) this.#store(aor, live);
      n += live.length;
    }
    return n;
  }

  /** Flows with at least one binding. */
  get flows(): number {
    return this.#byFlow.size;
  }

  /** Handles one REGISTER that came on `flow` (RFC 3261 §10.3). Never throws. */
  register(request: SipRequest, flow: Flow): RegisterAnswer {
    const aor = aorOf(request.to.uri);
    if (aor === undefined) return { status: 404, reason: 'Not Found (not a sip: address-of-record)', headers: [] };
    const now = this.#clock.now();
    let contact: SipRequest['contact'];
    try {
      contact = request.contact;
    } catch {
      return { status: 400, reason: 'Bad Request (malformed Contact)', headers: [] };
    }
    const expiresHeader = parseExpires(request.get('expires'));
    if (contact === '*') {
      if (expiresHeader !== 0) return { status: 400, reason: 'Bad Request (Contact: * needs Expires: 0)', headers: [] };
      for (const b of this.#bindings.get(aor) ?? []) this.#unlinkFlow(b.flow, aor);
      this.#bindings.delete(aor);
      return { status: 200, headers: [] };
    }
    let list = (this.#bindings.get(aor) ?? []).filter((b) => b.expiresAt > now && !b.flow.closed);
    for (const c of contact) {
      // A Contact becomes a Request-URI: no URI headers or method parameter there (RFC 3261 §19.1.5).
      if (c.uri.kind === 'sip' && (c.uri.headers.size > 0 || c.uri.params.has('method'))) return { status: 400, reason: 'Bad Request (Contact URI with headers or method)', headers: [] };
      const param = c.params.get('expires');
      const asked = typeof param === 'string' ? parseExpires(param) : expiresHeader;
      const seconds = Math.min(asked ?? DEFAULT_EXPIRES_S, this.#maxExpiresS);
      const uri = c.uri.raw;
      list = list.filter((b) => b.contact !== uri);
      if (seconds > 0) list.push({ aor, contact: uri, flow, expiresAt: now + seconds * 1000 });
    }
    if (list.length > this.#maxPerAor) return { status: 403, reason: `Forbidden (more than ${this.#maxPerAor} contacts for ${aor})`, headers: [] };
    this.#store(aor, list);
    const headers = list.map((b) => ['Contact', `<${b.contact}>;expires=${Math.max(0, Math.round((b.expiresAt - now) / 1000))}`] as const);
    return { status: 200, headers };
  }

  /** The most recent live binding of the AOR a Request-URI names, or undefined. */
  lookup(uri: Uri): Binding | undefined {
    const aor = aorOf(uri);
    if (aor === undefined) return undefined;
    const list = this.#bindings.get(aor);
    if (list === undefined) return undefined;
    const now = this.#clock.now();
    const live = list.filter((b) => b.expiresAt > now && !b.flow.closed);
    if (live.length !== list.length) this.#store(aor, live);
    return live.at(-1);
  }

  /** Was this AOR registered here at some point and still has bindings (live or not)? */
  known(uri: Uri): boolean {
    const aor = aorOf(uri);
    return aor !== undefined && this.#bindings.has(aor);
  }

  /** Drops every binding made through `flow` (it closed). */
  dropFlow(flow: Flow): void {
    const aors = this.#byFlow.get(flow);
    if (aors === undefined) return;
    this.#byFlow.delete(flow);
    for (const aor of aors) {
      const list = (this.#bindings.get(aor) ?? []).filter((b) => b.flow !== flow);
      if (list.length === 0) this.#bindings.delete(aor);
      else this.#bindings.set(aor, list);
    }
  }

  #store(aor: string, list: Binding[]): void {
    for (const b of this.#bindings.get(aor) ?? []) if (!list.some((x) => x.flow === b.flow)) this.#unlinkFlow(b.flow, aor);
    if (list.length === 0) {
      this.#bindings.delete(aor);
      return;
    }
    this.#bindings.set(aor, list);
    for (const b of list) {
      let aors = this.#byFlow.get(b.flow);
      if (aors === undefined) this.#byFlow.set(b.flow, (aors = new Set()));
      aors.add(aor);
    }
  }

  #unlinkFlow(flow: Flow, aor: string): void {
    const aors = this.#byFlow.get(flow);
    if (aors === undefined) return;
    aors.delete(aor);
    if (aors.size === 0) this.#byFlow.delete(flow);
  }
}

/** `sip:user@host` of a SIP URI (RFC 3261 §10.3 step 5, without URI parameters), or undefined. */
export function aorOf(uri: Uri): string | undefined {
  if (uri.kind !== 'sip') return undefined;
  return `${uri.scheme}:${uri.user === undefined ? '' : `${uri.user}@`}${uri.host.toLowerCase()}`;
}

function parseExpires(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d{1,10}\s*$/.test(value)) return undefined;
  return Number(value.trim());
}
