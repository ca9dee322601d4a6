/**
 * The inspector's live endpoint (`/inspector/ws`) under attack: tokens that are forged or of the
 * wrong role, a second tenant's engineer asking for the first tenant's sessions and trace, and an
 * engineer trying an admin's operator signals. Every attempt is refused and audited; what an
 * engineer sees of a customer's conversation, live and queried, is redacted.
 */
import { describe, expect, it } from 'vitest';
import { CLOSE_CODES } from '../../../src/server/close-codes.js';
import { useCleanups } from '../../support/cleanups.js';
import { connect, isReplyTo, openChat, type Frame, type TestClient } from '../server/support/keel-harness.js';
import { eventually, secureKeelPerTest, type SecureKeel } from './support/secure-keel.js';

const defer = useCleanups();

const keel = secureKeelPerTest(defer);

const EMAIL = 'alice.private@example.org';
const PHONE = '+44 20 7946 0958';

async function inspector(k: SecureKeel, token: string): Promise<TestClient> {
  const c = connect(k.inspectorUrl, { token });
  defer(() => c.close());
  await c.opened;
  return c;
}

/** Alice of acme types personal data into a flow that sends it to a tool (traced with its arguments). */
async function aliceTalks(k: SecureKeel): Promise<string> {
  const alice = await openChat(k, { token: await k.token({ tenant: 'acme', user: 'alice' }) });
  defer(() => alice.close());
  for (const [id, text] of [['a1', `please change the delivery address of order 1043 to 99 Quay Street, Frobtown; mail ${EMAIL}, call ${PHONE}`], ['a2', 'yes']] as const) {
    alice.send({ type: 'message', id, text });
    await alice.next(isReplyTo(id), 20_000);
  }
  return alice.sessionId;
}

describe('the inspector endpoint', () => {
  it('refuses forged tokens and roles without inspector.view; both audited', async () => {
    const k = await keel();
    const forged = await inspector(k, 'eyJhbGciOiJub25lIn0.eyJyb2xlIjoiYWRtaW4ifQ.');
    expect((await forged.closed).code).toBe(CLOSE_CODES.unauthorized);
    for (const role of ['customer', 'agent'] as const) {
      const c = await inspector(k, await k.token({ role, user: `${role}-1` }));
      const closed = await c.closed;
      expect(closed.code, role).toBe(CLOSE_CODES.forbidden);
      expect(c.frames.some((f) => f.type === 'welcome' || f.type === 'sessions')).toBe(false);
    }
    const audited = await eventually(() => {
      const r = k.audit().filter((a) => a.target === 'endpoint:inspector' && a.outcome === 'denied');
      return r.length >= 3 ? r : undefined;
    }, 5000, 'audited inspector refusals');
    expect(audited.map((a) => a.actor.role).sort()).toEqual(['agent', 'anonymous', 'customer']);
  });

  it("a second tenant's engineer sees none of the first tenant's sessions, details or trace", async () => {
    const k = await keel();
    const acmeSession = await aliceTalks(k);
    const g = await inspector(k, await k.token({ tenant: 'globex', role: 'engineer', user: 'gus' }));
    const sessions = await g.next((f) => f.type === 'sessions');
    expect(sessions.sessions).toEqual([]);
    g.send({ type: 'watch', sessionId: acmeSession });
    expect(await g.next((f) => f.type === 'error')).toMatchObject({ code: 'unknown_session' });
    g.send({ type: 'query', id: 'q1', since: 0, session: acmeSession, limit: 1000 });
    expect((await g.next((f) => f.type === 'query.result')).events).toEqual([]);
    g.send({ type: 'query', id: 'q2', since: 0, user: 'alice', limit: 1000 });
    expect((await g.next((f) => f.type === 'query.result' && f.id === 'q2')).events).toEqual([]);
    g.send({ type: 'signal', id: 's1', sessionId: acmeSession, event: { type: 'operator.handoff', reason: 'hijack' } });
    expect(await g.next((f) => f.type === 'error' && f.id === 's1')).toMatchObject({ code: 'forbidden' });
    expect(JSON.stringify(g.frames)).not.toContain('alice');
  });

  it('an engineer sees the conversation redacted, live and queried, and cannot send operator signals; an admin can', async () => {
    const k = await keel();
    const eng = await inspector(k, await k.token({ role: 'engineer', user: 'eve' }));
    await eng.next((f) => f.type === 'welcome');
    // Watch the first session alice opens, from its first event on.
    const alice = await openChat(k, { token: await k.token({ user: 'alice' }) });
    defer(() => alice.close());
    eng.send({ type: 'watch', sessionId: alice.sessionId });
    await eng.next((f) => f.type === 'session.detail');
    for (const [id, text] of [['a1', `please change the delivery address of order 1043 to 99 Quay Street, Frobtown; mail ${EMAIL}, call ${PHONE}`], ['a2', 'yes'], ['a3', 'what did I ask you to change earlier?']] as const) {
      alice.send({ type: 'message', id, text });
      await alice.next(isReplyTo(id), 20_000);
    }
    const live = await eventually(() => {
      const events = eng.frames.filter((f) => f.type === 'event').map((f) => f.event as { kind: string; data: Record<string, unknown> });
      return events.some((e) => e.kind === 'tool' && JSON.stringify(e.data).includes('change_address')) ? events : undefined;
    }, 10_000, 'the traced tool call');
    expect(live.length).toBeGreaterThan(3);
    eng.send({ type: 'query', id: 'q1', since: 0, session: alice.sessionId, limit: 1000 });
    const queried = await eng.next((f) => f.type === 'query.result');
    expect((queried.events as unknown[]).length).toBeGreaterThan(3);
    const seen = JSON.stringify(eng.frames);
    expect(seen).not.toContain(EMAIL);
    expect(seen).not.toContain('7946 0958');

    eng.send({ type: 'signal', id: 's1', sessionId: alice.sessionId, event: { type: 'operator.handoff', reason: 'testing' } });
    expect(await eng.next((f) => f.type === 'error' && f.id === 's1')).toMatchObject({ code: 'forbidden' });
    const admin = await inspector(k, await k.token({ role: 'admin', user: 'root' }));
    await admin.next((f) => f.type === 'welcome' && (f as Frame & { canSignal: boolean }).canSignal === true);
    admin.send({ type: 'signal', id: 's2', sessionId: alice.sessionId, event: { type: 'operator.handoff', reason: 'taking over' } });
    expect(await admin.next((f) => f.type === 'signal.result' || (f.type === 'error' && f.id === 's2'))).toMatchObject({ type: 'signal.result', ok: true });
    await eventually(() => k.audit().some((a) => a.action === 'inspector.operator.handoff' && a.actor.role === 'admin' && a.outcome === 'ok'), 5000, 'the audited signal');
  });
});
