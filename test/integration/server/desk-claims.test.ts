/**
 * The desk under contention and absence: two agents racing for one conversation, an agent who
 * disconnects (and one who comes back in time), nobody on duty, a full queue, queue positions,
 * and a customer who leaves the queue. Real server, default agent, real sockets.
 */
import { describe, expect, it } from 'vitest';
import { createLocalHandoffDesk } from '../../../src/agent/local-handoff-desk.js';
import { useCleanups } from '../../support/cleanups.js';
import { isReplyTo, keelPerTest, openChat, openDesk, type Frame, type Harness, type TestClient } from './support/keel-harness.js';

/** Generous: the CPU is shared with other tests. */
const POLL = { timeout: 8000, interval: 25 };

const defer = useCleanups();
const start = keelPerTest(defer, { defaultAgent: true });
const joinDesk = (h: Harness, user: string) => openDesk(h, { user }, defer);

async function customer(h: Harness, user: string): Promise<TestClient & { sessionId: string; say(id: string, text: string): Promise<Frame> }> {
  const c = await openChat(h, { token: await h.token({ user }) });
  defer(() => c.close());
  return Object.assign(c, {
    async say(id: string, text: string) {
      c.send({ type: 'message', id, text });
      return c.next(isReplyTo(id), 8000);
    },
  });
}

const lastQueue = (desk: TestClient) => (desk.frames.filter((f) => f.type === 'queue').at(-1)?.entries ?? []) as Array<Record<string, unknown>>;
const handoffs = (c: TestClient, status: string) => c.frames.filter((f) => f.type === 'handoff' && f.status === status);

describe('/desk claims and availability', () => {
  it('gives a conversation to exactly one of two agents who take it at the same moment', async () => {
    const h = await start();
    const sam = await joinDesk(h, 'sam');
    const kim = await joinDesk(h, 'kim');
    const customers = await Promise.all(['ann', 'ben', 'cid'].map((u) => customer(h, u)));
    for (const c of customers) await c.say('h1', 'I want to talk to a human');
    await expect.poll(() => lastQueue(kim).length, POLL).toBe(3);

    for (const c of customers) {
      sam.send({ type: 'take', sessionId: c.sessionId, id: `t-${c.sessionId}` });
      kim.send({ type: 'take', sessionId: c.sessionId, id: `t-${c.sessionId}` });
    }
    const answers = async (desk: TestClient) => desk.waitFor((f) => (f.type === 'taken' || f.type === 'error') && typeof f.id === 'string' && f.id.startsWith('t-'), 3, 10_000);
    const [bySam, byKim] = await Promise.all([answers(sam), answers(kim)]);
    for (const c of customers) {
      const outcomes = [...bySam, ...byKim].filter((f) => f.sessionId === c.sessionId);
      expect(outcomes.map((f) => f.type).sort()).toEqual(['error', 'taken']);
      expect(outcomes.find((f) => f.type === 'error')).toMatchObject({ code: 'forbidden', reason: 'taken' });
      await c.next((f) => f.type === 'handoff' && f.status === 'with_agent');
    }
    // Each customer was accepted once, by whoever won.
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const c of customers) expect(handoffs(c, 'accepted')).toHaveLength(1);
    const accepted = h.runtime.audit.read({ limit: 1000 }).filter((r) => r.action === 'handoff.accepted' && r.actor.role === 'agent');
    expect(accepted).toHaveLength(3);
  });

  it('gives the conversation back to the assistant when the agent disconnects and does not return, and the customer gets a ticket', async () => {
    const h = await start({ server: { deskReconnectGraceMs: 300 } });
    const sam = await joinDesk(h, 'sam');
    const ann = await customer(h, 'ann');
    await ann.say('h1', 'I want to talk to a human');
    await expect.poll(() => lastQueue(sam).length, POLL).toBe(1);
    sam.send({ type: 'take', sessionId: ann.sessionId });
    await sam.next((f) => f.type === 'taken');
    sam.close();

    const unavailable = await ann.next((f) => f.type === 'handoff' && f.status === 'unavailable', 8000);
    expect(unavailable.text).toBe('agent_disconnected');
    expect((await ann.next((f) => f.type === 'reply' && f.replyTo === undefined)).text).toMatch(/ticket/);
    expect(h.runtime.describe(ann.sessionId)?.state).toContain('offeringAlternatives');
    expect((await ann.say('h2', 'please open a ticket')).text).toMatch(/ticket T-\d+/);
    expect(h.runtime.audit.read({ limit: 1000 }).find((r) => r.action === 'handoff.released' && r.actor.role === 'agent')).toMatchObject({
      actor: { user: 'sam' }, details: { why: 'agent_disconnected' },
    });
  });

  it('drops the commands an agent had queued when their socket closes: nobody is taken by an agent who is gone', async () => {
    const h = await start({ server: { deskReconnectGraceMs: 5000 } });
    const kim = await joinDesk(h, 'kim');
    const customers = await Promise.all(['ann', 'ben', 'cid', 'dee'].map((u) => customer(h, u)));
    for (const c of customers) await c.say('h1', 'I want to talk to a human');
    await expect.poll(() => lastQueue(kim).length, POLL).toBe(4);
    const sam = await joinDesk(h, 'sam');
    // Four takes in one burst, then the socket is cut: the first may be under way when the close
    // arrives (and is then released with the agent); the others were only queued.
    for (const c of customers) sam.send({ type: 'take', sessionId: c.sessionId, id: `t-${c.sessionId}` });
    const gone = new Promise((resolve) => sam.ws.once('close', resolve));
    sam.ws.terminate();
    await gone;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const accepted = customers.filter((c) => handoffs(c, 'accepted').length > 0);
    expect(accepted.length).toBeLessThanOrEqual(1);
    // The others are still waiting for an agent who is here.
    await expect.poll(() => lastQueue(kim).length, POLL).toBeGreaterThanOrEqual(3);
    expect(h.runtime.audit.read({ limit: 1000 }).filter((r) => r.action === 'handoff.accepted' && r.actor.user === 'sam').length).toBeLessThanOrEqual(1);
  });

  it('keeps the conversation for an agent who reconnects in time, with what the customer said meanwhile', async () => {
    const h = await start({ server: { deskReconnectGraceMs: 20_000 } });
    const first = await joinDesk(h, 'sam');
    const ann = await customer(h, 'ann');
    await ann.say('h1', 'I want to talk to a human');
    await expect.poll(() => lastQueue(first).length, POLL).toBe(1);
    first.send({ type: 'take', sessionId: ann.sessionId });
    await first.next((f) => f.type === 'taken');
    first.close();
    await first.closed;
    await ann.say('h2', 'hello? are you still there?');

    const again = await joinDesk(h, 'sam');
    expect(again.ready.held).toEqual([ann.sessionId]);
    // Nobody else can take it meanwhile.
    const kim = await joinDesk(h, 'kim');
    kim.send({ type: 'take', sessionId: ann.sessionId });
    expect(await kim.next((f) => f.type === 'error')).toMatchObject({ reason: 'taken' });

    again.send({ type: 'take', sessionId: ann.sessionId, id: 'back' });
    const taken = await again.next((f) => f.type === 'taken');
    expect((taken.transcript as Array<{ role: string; text: string }>).filter((l) => l.role === 'customer').map((l) => l.text)).toContain('hello? are you still there?');
    again.send({ type: 'say', sessionId: ann.sessionId, id: 's1', text: 'Sorry, I am back.' });
    await again.next((f) => f.type === 'sent');
    expect((await ann.next((f) => f.type === 'reply' && f.text === 'Sorry, I am back.')).meta).toMatchObject({ from: 'human' });
    expect(handoffs(ann, 'unavailable')).toHaveLength(0);
    expect(handoffs(ann, 'accepted')).toHaveLength(1);
  });

  it('answers unavailable when no agent is on duty: the assistant offers a ticket or a callback and keeps the session', async () => {
    const h = await start();
    const ann = await customer(h, 'ann');
    const reply = await ann.say('h1', 'I want to talk to a human');
    const unavailable = handoffs(ann, 'unavailable');
    expect(unavailable).toHaveLength(1);
    expect(unavailable[0]).toMatchObject({ text: 'no_agent_online', meta: { offered: ['ticket', 'callback'] } });
    expect(handoffs(ann, 'queued')).toHaveLength(0);
    expect(reply.text).toMatch(/ticket.*callback/s);
    expect((await ann.say('h2', 'please open a ticket')).text).toMatch(/ticket T-\d+/);
    expect((await ann.say('h3', 'what is your return policy?')).text).toMatch(/return/i);
  });

  it('answers the queue when the last agent leaves, and updates positions as the queue moves', async () => {
    const h = await start({ server: { deskReconnectGraceMs: 300 } });
    const sam = await joinDesk(h, 'sam');
    const ann = await customer(h, 'ann');
    const ben = await customer(h, 'ben');
    await ann.say('h1', 'I want to talk to a human');
    await ben.say('h1', 'I want to talk to a human');
    expect(handoffs(ben, 'queued').at(-1)!.meta).toEqual({ position: 2 });
    await expect.poll(() => lastQueue(sam).map((e) => [e.user, e.position]), POLL).toEqual([['ann', 1], ['ben', 2]]);

    // Ann changes her mind: she leaves the queue, and Ben moves up.
    await ann.say('h2', 'never mind');
    await expect.poll(() => lastQueue(sam).map((e) => e.user), POLL).toEqual(['ben']);
    expect((await ben.next((f) => f.type === 'handoff' && f.status === 'queued' && (f.meta as { position?: number }).position === 1)).meta).toEqual({ position: 1 });

    sam.close();
    expect(await ben.next((f) => f.type === 'handoff' && f.status === 'unavailable', 8000)).toMatchObject({ text: 'no_agent_online' });
    expect(h.runtime.describe(ben.sessionId)?.state).toContain('offeringAlternatives');
  });

  it('answers unavailable when the queue is full', async () => {
    const h = await start({ defaultAgent: { desk: createLocalHandoffDesk({ maxQueue: 1 }) } });
    await joinDesk(h, 'sam');
    const ann = await customer(h, 'ann');
    const ben = await customer(h, 'ben');
    await ann.say('h1', 'I want to talk to a human');
    await ben.say('h1', 'I want to talk to a human');
    expect(handoffs(ann, 'queued')).toHaveLength(1);
    expect(handoffs(ben, 'unavailable')[0]).toMatchObject({ text: 'queue_full' });
  });
});
