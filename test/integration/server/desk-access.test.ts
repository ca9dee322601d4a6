/**
 * Who may use `/desk`, and what they may do there: only human agents (and supervising admins) of
 * the conversation's tenant; customers and engineers are refused with a typed error and close
 * 4403; the identity that acts is always the token's, never a field of a frame.
 */
import { request } from 'node:http';
import { WebSocket } from 'ws';
import { describe, expect, it } from 'vitest';
import { tenantId, userId } from '../../../src/types.js';
import { useCleanups } from '../../support/cleanups.js';
import { connect, isReplyTo, keelPerTest, openChat, openDesk, requestHeldRefund, startKeel, type Harness, type TestClient } from './support/keel-harness.js';

/** Generous: the CPU is shared with other tests. */
const POLL = { timeout: 8000, interval: 25 };

const defer = useCleanups();
const start = keelPerTest(defer, { defaultAgent: true });

/** A customer of `tenant` who has asked for a human and waits in the queue. */
async function queuedCustomer(h: Harness, user: string, text = 'I want to talk to a human', tenant = 'acme'): Promise<TestClient & { sessionId: string }> {
  const c = await openChat(h, { token: await h.token({ user, tenant }) });
  defer(() => c.close());
  c.send({ type: 'message', id: 'q1', text });
  await c.next((f) => f.type === 'handoff' && f.status === 'queued');
  await c.next(isReplyTo('q1'));
  return c;
}

const lastQueue = (desk: TestClient) => desk.frames.filter((f) => f.type === 'queue').at(-1)?.entries as Array<Record<string, unknown>>;

describe('/desk access', () => {
  for (const role of ['customer', 'engineer'] as const) {
    it(`refuses a ${role} with a forbidden error frame and close 4403, with the token in a header or in the first frame`, async () => {
      const h = await start();
      const token = await h.token({ user: `${role}-1`, role });
      const byHeader = connect(h.deskUrl, { token });
      expect(await byHeader.next()).toMatchObject({ type: 'error', code: 'forbidden', retryable: false });
      expect(await byHeader.closed).toEqual({ code: 4403, reason: `forbidden: role '${role}' may not use the agent desk` });

      const byFrame = connect(h.deskUrl, { origin: h.url });
      await byFrame.opened;
      byFrame.send({ type: 'auth', token });
      byFrame.send({ type: 'take', sessionId: 's-1' });
      expect((await byFrame.closed).code).toBe(4403);
      expect(byFrame.frames.map((f) => f.type)).toEqual(['error']);
    });
  }

  it('closes 4401 without a valid token, and refuses the upgrade when no desk is configured', async () => {
    const h = await start();
    const forged = connect(h.deskUrl, { token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzYW0ifQ.c2lnbmF0dXJl' });
    expect((await forged.closed).code).toBe(4401);
    const noAuth = connect(h.deskUrl);
    await noAuth.opened;
    noAuth.send({ type: 'take', sessionId: 's-1' });
    expect(await noAuth.closed).toMatchObject({ code: 4401, reason: expect.stringContaining('authenticate first') });

    const plain = await startKeel();
    defer(plain.remove, () => plain.stop());
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(plain.deskUrl);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => reject(new Error('a server without a desk accepted /desk')));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(404);
  });

  it('serves the desk page with the same strict content security policy as the chat page', async () => {
    const h = await start();
    const res = await new Promise<{ status: number; csp: string | undefined; body: string }>((resolve, reject) => {
      request(`${h.url}/desk`, (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, csp: r.headers['content-security-policy'] as string | undefined, body }));
      }).on('error', reject).end();
    });
    expect(res.status).toBe(200);
    expect(res.csp).toContain("script-src 'self'");
    expect(res.body).toContain('desk.js');
  });

  it('keeps tenants apart: another tenant sees none of the queue and cannot take, speak in or release a conversation', async () => {
    const h = await start();
    const sam = await openDesk(h, { user: 'sam' }, defer);
    const eve = await openDesk(h, { user: 'eve', tenant: 'globex' }, defer);
    const ann = await queuedCustomer(h, 'ann');
    await expect.poll(() => lastQueue(sam)?.length, POLL).toBe(1);
    expect(lastQueue(eve)).toEqual([]);
    expect(eve.frames.filter((f) => f.type === 'queue').every((f) => (f.entries as unknown[]).length === 0)).toBe(true);

    eve.send({ type: 'take', sessionId: ann.sessionId, id: 'e1' });
    expect(await eve.next((f) => f.type === 'error')).toMatchObject({ code: 'forbidden', reason: 'tenant', id: 'e1', sessionId: ann.sessionId });
    eve.send({ type: 'say', sessionId: ann.sessionId, id: 'e2', text: 'hello from elsewhere' });
    expect(await eve.next((f) => f.type === 'error')).toMatchObject({ code: 'forbidden', reason: 'not_held', id: 'e2' });
    eve.send({ type: 'release', sessionId: ann.sessionId, id: 'e3' });
    expect(await eve.next((f) => f.type === 'error')).toMatchObject({ code: 'forbidden', reason: 'not_held', id: 'e3' });
    // Still waiting for acme's agents, and nobody spoke to the customer.
    expect(lastQueue(sam)).toHaveLength(1);
    expect(ann.frames.some((f) => f.type === 'reply' && /elsewhere/.test(String(f.text)))).toBe(false);
    expect(h.runtime.audit.read({ limit: 1000 }).some((r) => r.action === 'handoff.take' && r.outcome === 'denied' && r.actor.user === 'eve')).toBe(true);
  });

  it("closes another agent's /chat view of a conversation with 4403 once an agent takes it, before they see anything more", async () => {
    const h = await start();
    const sam = await openDesk(h, { user: 'sam' }, defer);
    const ann = await queuedCustomer(h, 'ann');
    // Eve, another agent of the tenant, follows the waiting conversation on /chat: allowed while it waits.
    const eve = await openChat(h, { token: await h.token({ user: 'eve', role: 'agent' }), sessionId: ann.sessionId });
    defer(() => eve.close());
    const seenBefore = eve.frames.length;
    sam.send({ type: 'take', sessionId: ann.sessionId, id: 't1' });
    await sam.next((f) => f.type === 'taken');
    expect(await eve.closed).toMatchObject({ code: 4403, reason: expect.stringMatching(/another agent has taken this conversation/) });
    sam.send({ type: 'say', sessionId: ann.sessionId, id: 's1', text: 'Hi Ann, Sam here' });
    await sam.next((f) => f.type === 'sent');
    await ann.next((f) => f.type === 'reply' && f.text === 'Hi Ann, Sam here');
    // Nothing of the taken conversation reached Eve.
    expect(eve.frames.slice(seenBefore).filter((f) => f.type === 'reply' || f.type === 'handoff')).toEqual([]);
    expect(h.runtime.audit.read({ limit: 1000 }).some((r) => r.action === 'session.read' && r.outcome === 'denied' && r.actor.user === 'eve')).toBe(true);
  });

  it('lets an admin supervise with personal data masked, while an agent reads it as written', async () => {
    const h = await start();
    const sam = await openDesk(h, { user: 'sam' }, defer);
    const boss = await openDesk(h, { user: 'boss', role: 'admin' }, defer);
    const ann = await queuedCustomer(h, 'ann', 'Please call me at ann@example.com, I want a human');
    await expect.poll(() => lastQueue(boss)?.length, POLL).toBe(1);
    expect(lastQueue(boss)[0]!.preview).not.toContain('ann@example.com');
    expect(lastQueue(sam)[0]!.preview).toContain('ann@example.com');

    boss.send({ type: 'take', sessionId: ann.sessionId });
    const taken = await boss.next((f) => f.type === 'taken');
    const texts = (taken.transcript as Array<{ text: string }>).map((l) => l.text).join('\n');
    expect(texts).not.toContain('ann@example.com');
    expect(texts).toContain('[email]');
    expect(await ann.next((f) => f.type === 'handoff' && f.status === 'accepted')).toMatchObject({ meta: { agent: 'Boss' } });
  });

  it('approves a held high-impact call as the authenticated agent, whatever the frame claims', async () => {
    const h = await start();
    const sam = await openDesk(h, { user: 'sam' }, defer);
    const carol = await requestHeldRefund(h);
    defer(() => carol.close());
    const pending = await sam.next((f) => f.type === 'approvals' && (f.entries as unknown[]).length === 1);
    const entry = (pending.entries as Array<Record<string, unknown>>)[0]!;
    expect(entry).toMatchObject({ sessionId: carol.sessionId, user: 'carol', task: 'refund', tool: 'request_refund', args: { orderId: '3001', amount: 249 } });
    expect(entry.call).toMatch(/^\d+:request_refund:\d+$/);

    // An approval or a rejection naming another call decides nothing.
    for (const type of ['approve', 'reject'] as const) {
      sam.send({ type, sessionId: carol.sessionId, id: `${type}-stale`, call: '999999:request_refund:0' });
      expect(await sam.next((f) => f.id === `${type}-stale`)).toMatchObject({ type: 'error', code: 'forbidden', reason: 'another_call' });
    }
    expect(h.runtime.describe(carol.sessionId)?.state).toContain('approvals.waiting');
    expect(carol.frames.filter((f) => f.type === 'reply' && f.replyTo === undefined)).toEqual([]);

    // Another tenant's agent cannot decide on it.
    const eve = await openDesk(h, { user: 'eve', tenant: 'globex' }, defer);
    eve.send({ type: 'approve', sessionId: carol.sessionId, id: 'x1' });
    expect(await eve.next((f) => f.type === 'error')).toMatchObject({ code: 'forbidden', id: 'x1' });

    sam.send({ type: 'approve', sessionId: carol.sessionId, id: 'a1', call: entry.call, approver: { tenant: 'acme', user: 'carol', role: 'admin' } });
    expect(await sam.next((f) => f.type === 'decided' || f.type === 'error')).toMatchObject({ type: 'decided', id: 'a1', decision: 'approved' });
    expect((await carol.next((f) => f.type === 'reply' && f.replyTo === undefined)).text).toMatch(/^Done: refund R-\d+ of €249\.00/);
    await expect.poll(() => (sam.frames.filter((f) => f.type === 'approvals').at(-1)!.entries as unknown[]).length, POLL).toBe(0);
    // Nothing waits any more: a second approval is refused, not recorded as done.
    sam.send({ type: 'approve', sessionId: carol.sessionId, id: 'a2' });
    expect(await sam.next((f) => f.id === 'a2')).toMatchObject({ type: 'error', code: 'forbidden', reason: 'not_waiting' });

    const records = h.runtime.audit.read({ limit: 1000 });
    expect(records.filter((r) => r.action === 'tool.approve').map((r) => [r.actor.tenant, r.actor.user, r.outcome, r.target])).toEqual([
      ['globex', 'eve', 'denied', `session:${carol.sessionId}`],
      ['acme', 'sam', 'ok', `session:${carol.sessionId}`],
    ]);
    expect(records.find((r) => r.action === 'tool.request_refund' && r.outcome === 'ok')?.details).toMatchObject({ approver: 'agent:sam' });
  });

  it('an approval the guard refuses (an agent approving their own request) leaves the call waiting for a colleague', async () => {
    const h = await start();
    const carolAtDesk = await openDesk(h, { user: 'carol' }, defer);
    const sam = await openDesk(h, { user: 'sam' }, defer);
    const carol = await requestHeldRefund(h);
    defer(() => carol.close());
    const entry = (await sam.next((f) => f.type === 'approvals' && (f.entries as unknown[]).length === 1)).entries as Array<Record<string, unknown>>;
    carolAtDesk.send({ type: 'approve', sessionId: carol.sessionId, id: 'self', call: entry[0]!.call });
    expect(await carolAtDesk.next((f) => f.id === 'self')).toMatchObject({ type: 'error', code: 'forbidden', reason: 'approver' });
    expect(h.runtime.describe(carol.sessionId)?.state).toContain('approvals.waiting');
    expect(carol.frames.filter((f) => f.type === 'reply' && f.replyTo === undefined)).toEqual([]);
    // Still on the board for the colleagues.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((sam.frames.filter((f) => f.type === 'approvals').at(-1)!.entries as unknown[]).length).toBe(1);
    sam.send({ type: 'approve', sessionId: carol.sessionId, id: 'a1', call: entry[0]!.call });
    expect(await sam.next((f) => f.id === 'a1')).toMatchObject({ type: 'decided', decision: 'approved' });
    expect((await carol.next((f) => f.type === 'reply' && f.replyTo === undefined)).text).toMatch(/^Done: refund R-\d+ of €249\.00/);
    const approvals = h.runtime.audit.read({ limit: 1000 }).filter((r) => r.action === 'tool.approve').map((r) => [r.actor.user, r.outcome, r.details.rule ?? null]);
    expect(approvals).toEqual([['carol', 'denied', 'approver'], ['sam', 'ok', null]]);
  });

  it("takes an erased user's conversation off the desk at once: the queue, the agent's view and the approvals board", async () => {
    const h = await start();
    const sam = await openDesk(h, { user: 'sam' }, defer);
    const ann = await queuedCustomer(h, 'ann');
    const bob = await queuedCustomer(h, 'bob');
    sam.send({ type: 'take', sessionId: bob.sessionId, id: 't1' });
    expect(await sam.next((f) => f.id === 't1')).toMatchObject({ type: 'taken', sessionId: bob.sessionId });
    const carol = await requestHeldRefund(h);
    defer(() => carol.close());
    const board = () => sam.frames.filter((f) => f.type === 'approvals').at(-1)!.entries as Array<Record<string, unknown>>;
    await expect.poll(() => board().map((e) => e.user), POLL).toEqual(['carol']);
    await expect.poll(() => lastQueue(sam).map((e) => e.sessionId), POLL).toEqual([ann.sessionId]);

    for (const user of ['ann', 'bob', 'carol']) await h.runtime.forget({ tenant: tenantId('acme'), user: userId(user) });
    await expect.poll(() => lastQueue(sam), POLL).toEqual([]);
    expect(await sam.next((f) => f.type === 'ended')).toMatchObject({ sessionId: bob.sessionId, status: 'ended', reason: 'erased' });
    await expect.poll(board, POLL).toEqual([]);
    // Nothing of theirs can be acted on from the desk any more.
    sam.send({ type: 'say', sessionId: bob.sessionId, id: 's1', text: 'still there?' });
    expect(await sam.next((f) => f.id === 's1')).toMatchObject({ type: 'error' });
    sam.send({ type: 'take', sessionId: ann.sessionId, id: 't2' });
    expect(await sam.next((f) => f.id === 't2')).toMatchObject({ type: 'error', code: 'unknown_session' });
  });
});
