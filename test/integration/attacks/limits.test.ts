/**
 * Unbounded consumption (OWASP LLM10) through the front door: over-long messages, floods of
 * frames and messages, and one user opening session after session. Each limit answers with a
 * typed error naming it, nothing over the limit is stored, and other users are served
 * meanwhile. (Tool calls per turn and the LLM token budget are attacked in
 * compromised-model.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../../support/cleanups.js';
import { connect, isReplyTo, openChat } from '../server/support/keel-harness.js';
import { secureKeelPerTest } from './support/secure-keel.js';

const defer = useCleanups();

const keel = secureKeelPerTest(defer);

describe('limits', () => {
  it('refuses an over-long message with too_large and stores nothing of it', async () => {
    const k = await keel({ server: { maxTextChars: 500 } });
    const c = await openChat(k, { token: await k.token() });
    defer(() => c.close());
    c.send({ type: 'message', id: 'long', text: `Quixotic ${'a'.repeat(600)}` });
    expect(await c.next((f) => f.type === 'error' && f.id === 'long')).toMatchObject({ code: 'too_large', message: expect.stringMatching(/500/) });
    expect(k.runtime.replay(c.sessionId, 0)).toEqual([]);
    c.send({ type: 'message', id: 'ok', text: 'hello' });
    await c.next(isReplyTo('ok'), 20_000);
  });

  it('rate-limits a flood per connection and per user, while another user is served', async () => {
    const k = await keel({ server: { messagesPerSecondPerConnection: 1, messageBurstPerConnection: 5, messagesPerSecondPerUser: 1000, messageBurstPerUser: 1000 } });
    const c = await openChat(k, { token: await k.token({ user: 'flooder' }) });
    defer(() => c.close());
    for (let i = 0; i < 40; i++) c.send({ type: 'message', id: `f${i}`, text: 'hello' });
    // Every message is answered exactly once: a reply, or a refusal naming the limit.
    const answers = await c.waitFor((f) => (f.type === 'reply' && String(f.replyTo).startsWith('f')) || (f.type === 'error' && String(f.id).startsWith('f')), 40, 30_000);
    const limited = answers.filter((f) => f.type === 'error');
    expect(limited.length).toBeGreaterThanOrEqual(20);
    expect(limited.every((f) => f.code === 'rate_limited' && /this connection/.test(String(f.message)))).toBe(true);
    const bob = await openChat(k, { token: await k.token({ user: 'bob' }) });
    defer(() => bob.close());
    bob.send({ type: 'message', id: 'b1', text: 'hello' });
    await bob.next(isReplyTo('b1'), 20_000);
    // Only what was accepted is stored.
    const acked = k.runtime.replay(c.sessionId, 0).filter((f) => f.type === 'ack').length;
    expect(acked).toBe(40 - limited.length);

    // Per user, across connections.
    const k2 = await keel({ server: { messagesPerSecondPerUser: 2, messageBurstPerUser: 3 } });
    const a = await openChat(k2, { token: await k2.token({ user: 'eve' }) });
    const b = await openChat(k2, { token: await k2.token({ user: 'eve' }) });
    defer(() => a.close(), () => b.close());
    for (let i = 0; i < 4; i++) {
      a.send({ type: 'message', id: `a${i}`, text: 'hi' });
      b.send({ type: 'message', id: `b${i}`, text: 'hi' });
    }
    const both = [...(await a.waitFor((f) => f.type === 'error' && f.code === 'rate_limited', 1, 20_000)), ...b.frames.filter((f) => f.type === 'error')];
    expect(both.every((f) => /for this user/.test(String(f.message)))).toBe(true);
  });

  it('caps the sessions one user may hold: one more is refused with budget_exceeded, resuming still works, others are not affected', async () => {
    const k = await keel({ runtime: { maxSessionsPerUser: 3 } });
    const token = await k.token({ user: 'hoarder' });
    const sessions: string[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await openChat(k, { token });
      sessions.push(c.sessionId);
      c.close();
      await c.closed;
    }
    const extra = connect(k.wsUrl, { token });
    defer(() => extra.close());
    await extra.opened;
    extra.send({ type: 'hello' });
    expect(await extra.next((f) => f.type === 'error' || f.type === 'ready')).toMatchObject({
      type: 'error', code: 'budget_exceeded', message: expect.stringMatching(/at most 3 sessions per user/),
    });
    expect(k.runtime.listSessions({}).length).toBe(3);
    // Resuming one of them is not limited; another user opens their own.
    const resumed = await openChat(k, { token, sessionId: sessions[0]!, lastSeq: 0 });
    defer(() => resumed.close());
    expect(resumed.sessionId).toBe(sessions[0]);
    const other = await openChat(k, { token: await k.token({ user: 'bob' }) });
    defer(() => other.close());
    // After an erasure the user starts again from zero.
    await k.runtime.forget({ tenant: 'acme' as never, user: 'hoarder' as never }, { tenant: 'acme' as never, user: 'root' as never, role: 'admin' });
    const fresh = await openChat(k, { token });
    defer(() => fresh.close());
    expect(sessions).not.toContain(fresh.sessionId);
  });
});
