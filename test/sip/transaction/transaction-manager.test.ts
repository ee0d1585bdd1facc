import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../../src/fsm/index.ts';
import { createResponse, isRfc3261Branch } from '../../../src/sip/index.ts';
import { newBranch, TransactionManager, transactionTimers } from '../../../src/sip/transaction/index.ts';
import { RecordingClientTU, RecordingServerTU, RecordingTransport, request, response, simulated } from './helpers.ts';

let manager: TransactionManager | undefined;
afterEach(async () => {
  await manager?.stop();
  manager = undefined;
});

async function setup() {
  const sim = await simulated();
  manager = sim.manager;
  return { ...sim, transport: new RecordingTransport(sim.clock), reliable: new RecordingTransport(sim.clock, true), ctu: new RecordingClientTU(sim.clock), stu: new RecordingServerTU(sim.clock) };
}

describe('transaction manager: client matching (RFC 3261 §17.1.3)', () => {
  it('a response MUST match by top Via branch and CSeq method: CANCEL shares the INVITE branch but is its own transaction', async () => {
    const { clock, transport, ctu } = await setup();
    const branch = manager!.newBranch();
    const invite = request({ branch });
    const cancel = request({ method: 'CANCEL', branch });
    const inviteTx = await manager!.sendRequest(invite, transport, ctu);
    const cancelTx = await manager!.sendRequest(cancel, transport, ctu);
    expect(manager!.counts()).toMatchObject({ inviteClient: 1, nonInviteClient: 1, total: 2 });
    const r1 = manager!.receiveResponse(response(cancel, 200));
    const r2 = manager!.receiveResponse(response(invite, 487));
    expect(r1).toEqual({ type: 'matched', transaction: cancelTx });
    expect(r2).toEqual({ type: 'matched', transaction: inviteTx });
    await clock.advance(0);
    expect(cancelTx.state).toBe('completed');
    expect(inviteTx.state).toBe('completed');
  });

  it('a response with an unknown branch, or another CSeq method, is stray (for the core to forward statelessly)', async () => {
    const { transport, ctu } = await setup();
    const invite = request({ branch: 'z9hG4bKknown' });
    await manager!.sendRequest(invite, transport, ctu);
    expect(manager!.receiveResponse(response(request({ branch: 'z9hG4bKother' }), 200)).type).toBe('stray');
    expect(manager!.receiveResponse(response(request({ branch: 'z9hG4bKknown', method: 'BYE' }), 200)).type).toBe('stray');
  });

  it('responses arriving while the machine starts are kept and delivered in order', async () => {
    const { clock, transport, ctu } = await setup();
    const invite = request({ branch: 'z9hG4bKearly' });
    const sending = manager!.sendRequest(invite, transport, ctu);
    manager!.receiveResponse(response(invite, 100));
    manager!.receiveResponse(response(invite, 180));
    const tx = await sending;
    await clock.advance(0);
    expect(ctu.labels()).toEqual(['response:100', 'response:180']);
    expect(tx.state).toBe('proceeding');
  });

  it('refuses an ACK, a request without an RFC 3261 branch, and a duplicate branch+method', async () => {
    const { transport, ctu } = await setup();
    await expect(manager!.sendRequest(request({ method: 'ACK', branch: 'z9hG4bKa' }), transport, ctu)).rejects.toThrow(TypeError);
    await expect(manager!.sendRequest(request({ branch: '1234' }), transport, ctu)).rejects.toThrow(TypeError);
    await manager!.sendRequest(request({ branch: 'z9hG4bKdup' }), transport, ctu);
    await expect(manager!.sendRequest(request({ branch: 'z9hG4bKdup' }), transport, ctu)).rejects.toThrow(/already exists/);
  });

  it('newBranch() MUST begin with the magic cookie z9hG4bK and be unique', () => {
    const branches = new Set(Array.from({ length: 10_000 }, () => newBranch()));
    expect(branches.size).toBe(10_000);
    for (const b of [...branches].slice(0, 10)) expect(isRfc3261Branch(b)).toBe(true);
  });
});

describe('transaction manager: server matching (RFC 3261 §17.2.3)', () => {
  it('a request MUST match by branch, sent-by and method: another sent-by or method is a new transaction', async () => {
    const { transport, stu } = await setup();
    const first = manager!.receiveRequest(request({ branch: 'z9hG4bKs1' }), transport, stu);
    expect(first.type).toBe('new');
    expect(manager!.receiveRequest(request({ branch: 'z9hG4bKs1' }), transport, stu)).toEqual({ type: 'retransmission', transaction: (first as { transaction: unknown }).transaction });
    expect(manager!.receiveRequest(request({ branch: 'z9hG4bKs1', sentBy: 'CLIENT.atlanta.example.com:5060' }), transport, stu).type).toBe('retransmission');
    expect(manager!.receiveRequest(request({ branch: 'z9hG4bKs1', sentBy: 'other.example.com:5060' }), transport, stu).type).toBe('new');
    expect(manager!.receiveRequest(request({ branch: 'z9hG4bKs1', sentBy: 'client.atlanta.example.com:5070' }), transport, stu).type).toBe('new');
    expect(manager!.receiveRequest(request({ branch: 'z9hG4bKs2' }), transport, stu).type).toBe('new');
    expect(manager!.counts()).toMatchObject({ inviteServer: 4, total: 4 });
  });

  it('an ACK for a non-2xx MUST match the INVITE server transaction; CANCEL MUST be a transaction of its own, and finds its INVITE (§9.2)', async () => {
    const { clock, transport, stu } = await setup();
    const created = manager!.receiveRequest(request({ branch: 'z9hG4bKinv' }), transport, stu);
    if (created.type !== 'new') throw new Error('expected new');
    const invite = created.transaction;
    await clock.advance(0);
    const cancel = request({ method: 'CANCEL', branch: 'z9hG4bKinv' });
    const c = manager!.receiveRequest(cancel, transport, stu);
    expect(c.type).toBe('new');
    expect(c.type === 'new' && c.transaction.kind).toBe('nonInviteServer');
    expect(manager!.findCancelTarget(cancel)).toBe(invite);
    expect(manager!.findCancelTarget(request({ method: 'CANCEL', branch: 'z9hG4bKnone' }))).toBeUndefined();
    invite.respond(createResponse(invite.request, 487, { toTag: 'uas1' }));
    await clock.advance(0);
    expect(manager!.receiveRequest(request({ method: 'ACK', branch: 'z9hG4bKinv', toTag: 'uas1' }), transport, stu)).toEqual({ type: 'ack', transaction: invite });
    await clock.advance(0);
    expect(invite.state).toBe('confirmed');
  });

  it('an ACK matching no transaction (the ACK for a 2xx, with its own branch) is reported for end-to-end forwarding', async () => {
    const { transport, stu } = await setup();
    manager!.receiveRequest(request({ branch: 'z9hG4bKinv2' }), transport, stu);
    expect(manager!.receiveRequest(request({ method: 'ACK', branch: 'z9hG4bKnewack', toTag: 'uas1' }), transport, stu)).toEqual({ type: 'strayAck' });
    expect(manager!.counts().total).toBe(1);
  });

  it('a request whose branch lacks the magic cookie MUST be matched by the RFC 2543 rules (Request-URI, tags, Call-ID, CSeq, top Via)', async () => {
    const { clock, transport, stu } = await setup();
    const old = { branch: '7a3b', callId: 'rfc2543@host' };
    const created = manager!.receiveRequest(request(old), transport, stu);
    if (created.type !== 'new') throw new Error('expected new');
    expect(manager!.receiveRequest(request(old), transport, stu).type).toBe('retransmission');
    expect(manager!.receiveRequest(request({ ...old, via: 'SIP/2.0/UDP client.atlanta.example.com:5060' }), transport, stu).type).toBe('new');
    expect(manager!.receiveRequest(request({ ...old, cseq: 2 }), transport, stu).type).toBe('new');
    expect(manager!.receiveRequest(request({ ...old, uri: 'sip:carol@chicago.example.com' }), transport, stu).type).toBe('new');
    const cancel = request({ ...old, method: 'CANCEL' });
    expect(manager!.receiveRequest(cancel, transport, stu).type).toBe('new');
    expect(manager!.findCancelTarget(cancel)).toBe(created.transaction);
    await clock.advance(0);
    created.transaction.respond(createResponse(created.transaction.request, 486, { toTag: 'busy' }));
    await clock.advance(0);
    // the ACK's To tag MUST equal the tag of the response the transaction sent
    expect(manager!.receiveRequest(request({ ...old, method: 'ACK', toTag: 'other' }), transport, stu).type).toBe('strayAck');
    expect(manager!.receiveRequest(request({ ...old, method: 'ACK', toTag: 'busy' }), transport, stu)).toEqual({ type: 'ack', transaction: created.transaction });
    await clock.advance(0);
    expect(created.transaction.state).toBe('confirmed');
  });
});

describe('transaction manager: lifecycle and supervision', () => {
  it('transactions MUST be removed once Terminated; counts follow', async () => {
    const { clock, reliable, ctu, stu } = await setup();
    manager!.receiveRequest(request({ method: 'OPTIONS', branch: 'z9hG4bKo1' }), reliable, stu);
    const req = request({ method: 'OPTIONS', branch: manager!.newBranch() });
    await manager!.sendRequest(req, reliable, ctu);
    await clock.advance(0);
    expect(manager!.size).toBe(2);
    expect(manager!.tree().children).toHaveLength(2);
    stu.transactions[0]!.respond(createResponse(stu.transactions[0]!.request, 200));
    manager!.receiveResponse(response(req, 200));
    await clock.advance(0);
    expect(manager!.size).toBe(0); // Timer J = Timer K = 0 on a reliable transport
    expect(manager!.tree().children).toEqual([]);
    expect(clock.pendingTimers).toBe(0); // a Terminated transaction leaves no timer behind
    // a request with the same key now starts a new transaction
    expect(manager!.receiveRequest(request({ method: 'OPTIONS', branch: 'z9hG4bKo1' }), reliable, stu).type).toBe('new');
  });

  it('the supervisor MUST keep going when one transaction machine crashes: the crashed one is removed, the others run on', async () => {
    const { clock, transport, ctu } = await setup();
    const crashingTu = new RecordingClientTU(clock);
    crashingTu.throwOnResponse = true;
    const a = request({ branch: 'z9hG4bKcrash' });
    const b = request({ branch: 'z9hG4bKfine' });
    const txA = await manager!.sendRequest(a, transport, crashingTu);
    const txB = await manager!.sendRequest(b, transport, ctu);
    manager!.receiveResponse(response(a, 180)); // the TU throws inside the machine: it crashes
    await clock.advance(0);
    const reason = await txA.terminated;
    expect(reason).toMatchObject({ error: expect.any(Error) });
    expect(manager!.size).toBe(1);
    expect(manager!.tree().status).toBe('running');
    manager!.receiveResponse(response(b, 486));
    await clock.advance(0);
    expect(txB.state).toBe('completed');
    expect(ctu.labels()).toEqual(['response:486']);
    // and new transactions still start
    await manager!.sendRequest(request({ branch: 'z9hG4bKafter' }), transport, ctu);
    expect(manager!.size).toBe(2);
  });

  it('a killed transaction machine is removed too, and not restarted (temporary)', async () => {
    const { clock, transport, ctu } = await setup();
    const tx = await manager!.sendRequest(request({ branch: 'z9hG4bKkill' }), transport, ctu);
    tx.machine!.kill();
    await clock.advance(0);
    expect(await tx.terminated).toBe('killed');
    expect(manager!.size).toBe(0);
    expect(manager!.tree().children).toEqual([]);
  });

  it('stop() stops every transaction; the manager is a supervisable Child', async () => {
    const { clock, transport, ctu } = await setup();
    const tx = await manager!.sendRequest(request({ branch: 'z9hG4bKstop' }), transport, ctu);
    expect(clock.pendingTimers).toBeGreaterThan(0); // Timers A and B
    await manager!.stop();
    expect(await tx.terminated).toBe('shutdown');
    expect(clock.pendingTimers).toBe(0); // stopping clears every timer
    expect(await manager!.exited).toBe('shutdown');
    await expect(manager!.sendRequest(request({ branch: 'z9hG4bKlate' }), transport, ctu)).rejects.toThrow();
    manager = undefined;
  });
});

describe('timers from configuration and transport reliability', () => {
  it('derives D/I/J/K from reliability, A/E/G only on unreliable transports, B/F/H/L/M = 64·T1', () => {
    const config = { T1: 10, T2: 40, T4: 50, timerD: 320 };
    expect(transactionTimers(config, false)).toMatchObject({ A: 10, B: 640, D: 320, E: 10, F: 640, G: 10, H: 640, I: 50, J: 640, K: 50, L: 640, M: 640, trying100: 200 });
    expect(transactionTimers(config, true)).toMatchObject({ A: undefined, B: 640, D: 0, E: undefined, F: 640, G: undefined, H: 640, I: 0, J: 0, K: 0, L: 640, M: 640 });
    expect(transactionTimers({ T1: 500, T2: 4000, T4: 5000 }, false).D).toBe(32_000);
  });

  it('refuses invalid timer values', async () => {
    await expect(TransactionManager.start({ clock: new SimulatedClock(), T1: 0 })).rejects.toThrow(RangeError);
    await expect(TransactionManager.start({ clock: new SimulatedClock(), T1: 500, T2: 100 })).rejects.toThrow(RangeError);
  });
});
