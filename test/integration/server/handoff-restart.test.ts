/**
 * Hand-offs across a server restart: a conversation that was waiting in the queue is queued again
 * (its transcript rebuilt from the journal) and can be taken; one that was with an agent nobody
 * holds any more goes back to the assistant after the grace, never left with no one; a call held
 * for approval is on the approvals board again and can be decided.
 */
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../../support/cleanups.js';
import { isReplyTo, openChat, openDesk, requestHeldRefund, startKeel, type Harness, type TestClient } from './support/keel-harness.js';

/** Generous: the CPU is shared with other tests. */
const POLL = { timeout: 8000, interval: 25 };

const defer = useCleanups();
const joinDesk = (h: Harness, user: string) => openDesk(h, { user }, defer);

const lastQueue = (desk: TestClient) => (desk.frames.filter((f) => f.type === 'queue').at(-1)?.entries ?? []) as Array<Record<string, unknown>>;

describe('hand-offs across a restart', () => {
  it('queues waiting conversations again and hands orphaned ones back to the assistant', async () => {
    const first = await startKeel({ defaultAgent: true, server: { deskReconnectGraceMs: 400 } });
    defer(first.remove);
    const sam = await joinDesk(first, 'sam');
    const sessions: Record<string, string> = {};
    for (const user of ['ann', 'ben']) {
      const c = await openChat(first, { token: await first.token({ user }) });
      c.send({ type: 'message', id: 'h1', text: 'I want to talk to a human' });
      await c.next(isReplyTo('h1'));
      sessions[user] = c.sessionId;
      c.close();
    }
    await expect.poll(() => lastQueue(sam).length, POLL).toBe(2);
    sam.send({ type: 'take', sessionId: sessions.ann });
    await sam.next((f) => f.type === 'taken');
    await first.stop();

    const second = await startKeel({ dir: first.dir, defaultAgent: true, server: { deskReconnectGraceMs: 400 } });
    defer(() => second.stop());
    const kim = await joinDesk(second, 'kim');
    await expect.poll(() => lastQueue(kim).map((e) => e.sessionId), { timeout: 5000 }).toEqual([sessions.ben]);
    kim.send({ type: 'take', sessionId: sessions.ben! });
    const taken = await kim.next((f) => f.type === 'taken' || f.type === 'error');
    expect(taken.type).toBe('taken');
    expect((taken.transcript as Array<{ text: string }>).some((l) => l.text === 'I want to talk to a human')).toBe(true);
    expect(second.runtime.describe(sessions.ben!)?.state).toContain('handoff.withAgent');

    // Ann's agent is gone with the old process: after the grace the assistant has her back.
    await expect.poll(() => second.runtime.describe(sessions.ann!)?.state, { timeout: 8000 }).toContain('offeringAlternatives');
    const frames = second.runtime.replay(sessions.ann!, 0);
    expect(frames.filter((f) => f.type === 'handoff').map((f) => f.status)).toEqual(['requested', 'queued', 'accepted', 'with_agent', 'unavailable']);
    // Kim still holds Ben's conversation: restarts do not take it from the agent who has it now.
    expect(second.runtime.describe(sessions.ben!)?.state).toContain('handoff.withAgent');
  });

  it('shows a call held for approval on the board again after a restart, and it can be approved there', async () => {
    const first = await startKeel({ defaultAgent: true });
    defer(first.remove);
    await joinDesk(first, 'sam');
    const carol = await requestHeldRefund(first);
    await expect.poll(() => first.runtime.describe(carol.sessionId)?.state, POLL).toContain('approvals.waiting');
    carol.close();
    await first.stop();

    const second = await startKeel({ dir: first.dir, defaultAgent: true });
    defer(() => second.stop());
    const kim = await joinDesk(second, 'kim');
    const board = () => (kim.frames.filter((f) => f.type === 'approvals').at(-1)?.entries ?? []) as Array<Record<string, unknown>>;
    await expect.poll(board, POLL).toHaveLength(1);
    expect(board()[0]).toMatchObject({ sessionId: carol.sessionId, user: 'carol', task: 'refund', tool: 'request_refund', args: { orderId: '3001', amount: 249 } });
    kim.send({ type: 'approve', sessionId: carol.sessionId, id: 'a1', call: board()[0]!.call });
    expect(await kim.next((f) => f.type === 'decided' || f.type === 'error')).toMatchObject({ type: 'decided', id: 'a1', decision: 'approved' });
    await expect.poll(board, POLL).toHaveLength(0);
    const replies = second.runtime.replay(carol.sessionId, 0).filter((f) => f.type === 'reply').map((f) => f.text);
    expect(replies.at(-1)).toMatch(/^Done: refund R-\d+ of €249\.00/);
  });
});
