/**
 * A full human hand-off over real WebSockets, with the default agent on a real server: a customer
 * asks for a person, a human agent takes the conversation from the `/desk` queue, they talk both
 * ways in real time, the agent hands back to the assistant, and the assistant answers again.
 */
import { describe, expect, it } from 'vitest';
import { tenantId, userId } from '../../../src/types.js';
import { useCleanups } from '../../support/cleanups.js';
import { isReplyTo, keelPerTest, openChat, openDesk, type Frame } from './support/keel-harness.js';

/** Generous: the CPU is shared with other tests. */
const POLL = { timeout: 8000, interval: 25 };

const defer = useCleanups();
const start = keelPerTest(defer, { defaultAgent: true });

const queueOf = (f: Frame) => f.entries as Array<Record<string, unknown>>;

/** The agent waits for the one queued conversation and takes it. */
async function takeQueued(agent: Awaited<ReturnType<typeof openDesk>>, sessionId: string): Promise<void> {
  await agent.next((f) => f.type === 'queue' && queueOf(f).length === 1);
  agent.send({ type: 'take', sessionId });
  await agent.next((f) => f.type === 'taken');
}

describe('human hand-off over /chat and /desk', () => {
  it('a customer asks for a human, an agent takes it, they talk both ways, and the assistant takes over again', async () => {
    const h = await start();
    const sam = await openDesk(h, { user: 'sam' }, defer);
    expect(sam.ready.agent).toEqual({ tenant: 'acme', user: 'sam', role: 'agent', name: 'Sam' });
    expect(queueOf(await sam.next((f) => f.type === 'queue'))).toEqual([]);

    const ann = await openChat(h, { token: await h.token({ user: 'ann' }) });
    defer(() => ann.close());
    ann.send({ type: 'message', id: 'm1', text: 'where is my order?' });
    await ann.next(isReplyTo('m1'));
    ann.send({ type: 'message', id: 'm2', text: 'I want to talk to a human' });
    const queued = await ann.next((f) => f.type === 'handoff' && f.status === 'queued');
    expect(queued.meta).toEqual({ position: 1 });
    await ann.next(isReplyTo('m2'));

    // The agent's queue shows the request, live.
    const waiting = await sam.next((f) => f.type === 'queue' && queueOf(f).length === 1);
    expect(queueOf(waiting)[0]).toMatchObject({ sessionId: ann.sessionId, user: 'ann', reason: 'user_asked', position: 1, preview: 'I want to talk to a human' });
    expect(waiting.agentsOnline).toBe(1);

    sam.send({ type: 'take', sessionId: ann.sessionId, id: 't1' });
    const taken = await sam.next((f) => f.type === 'taken' || f.type === 'error');
    expect(taken).toMatchObject({ type: 'taken', id: 't1', sessionId: ann.sessionId, user: 'ann', reason: 'user_asked' });
    // The transcript, the structured context and the reason travel with the conversation.
    const transcript = taken.transcript as Array<{ role: string; text: string; seq: number }>;
    expect(transcript.filter((l) => l.role === 'customer').map((l) => l.text)).toEqual(['where is my order?', 'I want to talk to a human']);
    expect(transcript.some((l) => l.role === 'assistant' && /queue/.test(l.text))).toBe(true);
    expect(taken.summary).toMatchObject({ task: 'order_status', channel: 'ws' });
    expect(typeof taken.waitedMs).toBe('number');
    expect(taken.lastSeq).toBe(transcript.at(-1)!.seq);

    // The customer sees the acceptance with the agent's name, then that a person is with them.
    expect(await ann.next((f) => f.type === 'handoff' && f.status === 'accepted')).toMatchObject({ meta: { agent: 'Sam' } });
    expect((await ann.next((f) => f.type === 'reply' && f.replyTo === undefined)).text).toBe('Sam has joined the conversation.');
    await ann.next((f) => f.type === 'handoff' && f.status === 'with_agent');
    await expect.poll(() => queueOf(sam.frames.filter((f) => f.type === 'queue').at(-1)!), POLL).toEqual([]);

    // Agent → customer, journaled like every frame.
    sam.send({ type: 'say', sessionId: ann.sessionId, id: 's1', text: 'Hi Ann, Sam here. Let me look at your order.' });
    const sent = await sam.next((f) => f.type === 'sent');
    const fromSam = await ann.next((f) => f.type === 'reply' && (f.meta as { from?: string } | undefined)?.from === 'human');
    expect(fromSam).toMatchObject({ text: 'Hi Ann, Sam here. Let me look at your order.', meta: { from: 'human', agent: 'Sam' }, seq: sent.seq });
    expect(h.runtime.replay(ann.sessionId, (sent.seq as number) - 1)[0]).toMatchObject({ type: 'reply', text: 'Hi Ann, Sam here. Let me look at your order.' });

    // Customer → agent, live; the customer's own reply frame is a silent relay.
    ann.send({ type: 'message', id: 'm3', text: 'It was due on Monday' });
    expect(await ann.next(isReplyTo('m3'))).toMatchObject({ text: '', meta: { silent: true } });
    expect(await sam.next((f) => f.type === 'line' && f.role === 'customer')).toMatchObject({ sessionId: ann.sessionId, text: 'It was due on Monday' });
    // The agent's own message also reaches the desk as a line, once.
    expect(sam.frames.filter((f) => f.type === 'line' && f.role === 'human')).toHaveLength(1);

    // A resent say (same id) is not said twice.
    sam.send({ type: 'say', sessionId: ann.sessionId, id: 's1', text: 'Hi Ann, Sam here. Let me look at your order.' });
    expect((await sam.next((f) => f.type === 'sent')).seq).toBe(sent.seq);

    sam.send({ type: 'release', sessionId: ann.sessionId, id: 'r1' });
    expect(await sam.next((f) => f.type === 'ended')).toMatchObject({ id: 'r1', sessionId: ann.sessionId, status: 'released' });
    await ann.next((f) => f.type === 'handoff' && f.status === 'completed');
    expect((await ann.next((f) => f.type === 'reply' && f.replyTo === undefined)).text).toMatch(/ended/);

    // The assistant answers again.
    ann.send({ type: 'message', id: 'm4', text: 'what is your return policy?' });
    const back = await ann.next(isReplyTo('m4'));
    expect(back.text).toMatch(/return/i);
    expect(back.meta).toBeUndefined();
    // Once released, the agent no longer hears the customer nor speaks for the session.
    sam.send({ type: 'say', sessionId: ann.sessionId, id: 's2', text: 'still here?' });
    expect(await sam.next((f) => f.type === 'error')).toMatchObject({ code: 'forbidden', reason: 'not_held', id: 's2' });
    expect(sam.frames.some((f) => f.type === 'line' && f.text === 'what is your return policy?')).toBe(false);

    const audit = h.runtime.audit.read({ limit: 1000 }).filter((r) => r.action.startsWith('handoff.') && r.actor.role === 'agent');
    expect(audit.map((r) => [r.action, r.actor.user, r.actor.role, r.target, r.outcome])).toEqual([
      ['handoff.accepted', 'sam', 'agent', `session:${ann.sessionId}`, 'ok'],
      ['handoff.released', 'sam', 'agent', `session:${ann.sessionId}`, 'ok'],
    ]);
    await h.runtime.audit.assertIntact();
  });

  it('closing completes the hand-off with a summary, and is audited as completed', async () => {
    const h = await start();
    const sam = await openDesk(h, { user: 'sam' }, defer);
    const ann = await openChat(h, { token: await h.token({ user: 'ann' }) });
    defer(() => ann.close());
    ann.send({ type: 'message', id: 'm1', text: 'I want to talk to a human' });
    await ann.next(isReplyTo('m1'));
    await takeQueued(sam, ann.sessionId);
    sam.send({ type: 'close', sessionId: ann.sessionId, id: 'c1', summary: 'refund explained' });
    expect(await sam.next((f) => f.type === 'ended')).toMatchObject({ id: 'c1', status: 'completed' });
    expect(await ann.next((f) => f.type === 'handoff' && f.status === 'completed')).toMatchObject({ meta: { summary: 'refund explained' } });
    const record = h.runtime.audit.read({ limit: 1000 }).find((r) => r.action === 'handoff.completed' && r.actor.role === 'agent');
    expect(record).toMatchObject({ actor: { user: 'sam', role: 'agent' }, target: `session:${ann.sessionId}`, details: { summary: 'refund explained' } });
  });

  it('a human agent reads a conversation only while it is handed to humans', async () => {
    const h = await start();
    const sam = await openDesk(h, { user: 'sam' }, defer);
    const samAs = { tenant: tenantId('acme'), user: userId('sam'), role: 'agent' as const };
    const ann = await openChat(h, { token: await h.token({ user: 'ann' }) });
    defer(() => ann.close());
    ann.send({ type: 'message', id: 'm1', text: 'where is my order?' });
    await ann.next(isReplyTo('m1'));
    expect(() => h.runtime.replay(ann.sessionId, 0, samAs)).toThrow(/handed to humans/);

    ann.send({ type: 'message', id: 'm2', text: 'I want to talk to a human' });
    await ann.next((f) => f.type === 'handoff' && f.status === 'queued');
    expect(h.runtime.replay(ann.sessionId, 0, samAs).some((f) => f.type === 'ack' && f.id === 'm1')).toBe(true);
    await takeQueued(sam, ann.sessionId);
    await ann.next((f) => f.type === 'handoff' && f.status === 'with_agent');
    expect(h.runtime.replay(ann.sessionId, 0, samAs).length).toBeGreaterThan(0);

    sam.send({ type: 'close', sessionId: ann.sessionId, id: 'c1', summary: 'done' });
    await ann.next((f) => f.type === 'handoff' && f.status === 'completed');
    expect(() => h.runtime.replay(ann.sessionId, 0, samAs)).toThrow(/handed to humans/);
    // Approvals and hand-off events are signals: they stay open to agents whatever the state.
    await expect(h.runtime.send(ann.sessionId, { type: 'operator.approve' }, { as: samAs })).resolves.toMatchObject({ sessionId: ann.sessionId });
  });

  it('once one agent has taken a conversation, another agent of the tenant neither reads it nor speaks in it', async () => {
    const h = await start();
    const sam = await openDesk(h, { user: 'sam' }, defer);
    await openDesk(h, { user: 'kim' }, defer);
    const samAs = { tenant: tenantId('acme'), user: userId('sam'), role: 'agent' as const };
    const kimAs = { tenant: tenantId('acme'), user: userId('kim'), role: 'agent' as const };
    const ann = await openChat(h, { token: await h.token({ user: 'ann' }) });
    defer(() => ann.close());
    ann.send({ type: 'message', id: 'm1', text: 'I want to talk to a human' });
    await ann.next((f) => f.type === 'handoff' && f.status === 'queued');
    // Queued, it is the whole desk's to pick.
    expect(h.runtime.replay(ann.sessionId, 0, kimAs).some((f) => f.type === 'ack' && f.id === 'm1')).toBe(true);

    await takeQueued(sam, ann.sessionId);
    const withAgent = await ann.next((f) => f.type === 'handoff' && f.status === 'with_agent');
    // The customer learns the agent's name, not their user id.
    expect(withAgent.meta).not.toHaveProperty('agentUser');

    // Taken, it is sam's: kim is refused reading, writing and speaking through hand-off signals.
    expect(h.runtime.replay(ann.sessionId, 0, samAs).length).toBeGreaterThan(0);
    expect(() => h.runtime.replay(ann.sessionId, 0, kimAs)).toThrow(/another agent has taken/);
    await expect(h.runtime.send(ann.sessionId, { type: 'handoff.message', text: 'kim here, ignore sam', agent: 'Kim' }, { as: kimAs })).rejects.toMatchObject({ code: 'forbidden' });
    await expect(h.runtime.send(ann.sessionId, { type: 'user.message', id: 'k1', text: 'hello' }, { as: kimAs })).rejects.toMatchObject({ code: 'forbidden' });
    await expect(h.runtime.send(ann.sessionId, { type: 'handoff.accepted', agent: 'Kim' }, { as: kimAs })).rejects.toMatchObject({ code: 'forbidden' });
    const kimChat = await openChat(h, { token: await h.token({ role: 'agent', user: 'kim' }), sessionId: ann.sessionId, lastSeq: 0 }).then(
      (c) => (c.close(), 'opened'),
      (err: unknown) => String(err),
    );
    expect(kimChat).toMatch(/forbidden|another agent/);
    // A decision on a held tool call is not a hand-off signal: any agent of the tenant may make it.
    await expect(h.runtime.send(ann.sessionId, { type: 'operator.approve' }, { as: kimAs })).resolves.toMatchObject({ sessionId: ann.sessionId });
    // sam's words still reach ann; kim's never did.
    await expect(h.runtime.send(ann.sessionId, { type: 'handoff.message', text: 'sam here', agent: 'Sam' }, { as: samAs })).resolves.toMatchObject({ sessionId: ann.sessionId });
    const said = h.runtime.replay(ann.sessionId, 0).map((f) => String(f.text ?? ''));
    expect(said).toContain('sam here');
    expect(said.join('\n')).not.toContain('kim here');
    // Five refusals (replay, two writes, the second acceptance, the chat hello), each audited.
    await expect.poll(() => h.runtime.audit.read({ limit: 10_000 }).filter((r) => r.outcome === 'denied' && r.actor.user === 'kim').length, POLL).toBeGreaterThanOrEqual(5);
    const rules = h.runtime.audit.read({ limit: 10_000 }).filter((r) => r.outcome === 'denied' && r.actor.user === 'kim').map((r) => r.details?.rule);
    expect(new Set(rules)).toEqual(new Set(['handoff_taken']));
  });
});
