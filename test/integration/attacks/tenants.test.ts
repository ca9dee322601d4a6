/**
 * Tenant boundaries: a second tenant tries every path into the first one's data — resuming its
 * session ids, replaying their journals, querying its trace and audit trail, reaching its records
 * through tools that use the same order numbers, and reading what is left after the first
 * tenant's key is deleted. Every attempt is refused (and audited), and nothing crosses.
 */
import { describe, expect, it } from 'vitest';
import { createRuntime } from '../../../src/runtime/runtime.js';
import { createScopedReads } from '../../../src/security/scoped-reads.js';
import { createTenantKeyStore } from '../../../src/security/tenant-keys.js';
import { tenantId, userId, type Identity } from '../../../src/types.js';
import { useCleanups } from '../../support/cleanups.js';
import { connect, isReplyTo, openChat } from '../server/support/keel-harness.js';
import { eventually, secureKeelPerTest, type SecureKeel } from './support/secure-keel.js';

const defer = useCleanups();

const keel = secureKeelPerTest(defer);

const who = (role: Identity['role'], user: string, tenant: string): Identity => ({ tenant: tenantId(tenant), user: userId(user), role });
const ACME_SECRET = '42 Acme Private Road, Springfield';

/** Alice of acme changes an address and leaves a trail; returns her session id. */
async function acmeConversation(k: SecureKeel): Promise<string> {
  const alice = await openChat(k, { token: await k.token({ tenant: 'acme', user: 'alice' }) });
  defer(() => alice.close());
  for (const [id, text] of [['a1', `please change the delivery address of order 1043 to ${ACME_SECRET}`], ['a2', 'yes']] as const) {
    alice.send({ type: 'message', id, text });
    await alice.next(isReplyTo(id), 20_000);
  }
  expect(k.agent.store.order('acme', '1043')?.address).toBe(ACME_SECRET);
  return alice.sessionId;
}

describe('tenant boundaries', () => {
  it("a customer, an engineer, an agent and an admin of another tenant cannot resume or replay the first tenant's session", async () => {
    const k = await keel();
    const acmeSession = await acmeConversation(k);
    for (const role of ['customer', 'engineer', 'agent', 'admin'] as const) {
      const c = connect(k.wsUrl, { token: await k.token({ tenant: 'globex', user: 'alice', role }) });
      defer(() => c.close());
      await c.opened;
      c.send({ type: 'hello', sessionId: acmeSession, lastSeq: 0 });
      const answer = await c.next((f) => f.type === 'error' || f.type === 'ready');
      expect(answer, role).toMatchObject({ type: 'error', code: 'forbidden' });
      // Same user id, same session id: the tenant in the token decides.
      expect(JSON.stringify(c.frames)).not.toContain('Acme Private');
      expect(() => k.runtime.replay(acmeSession, 0, who(role, 'alice', 'globex')), role).toThrow(/another user/);
      await expect(k.runtime.send(acmeSession, { type: 'user.message', id: `x-${role}`, text: 'hi' }, { as: who(role, 'alice', 'globex') })).rejects.toMatchObject({ code: 'forbidden' });
    }
    const refusals = await eventually(() => {
      const r = k.audit().filter((a) => a.actor.tenant === 'globex' && a.outcome === 'denied');
      return r.length >= 10 ? r : undefined;
    }, 5000, "globex's audited refusals");
    expect(new Set(refusals.map((r) => r.details.rule))).toEqual(new Set(['tenant']));
    expect(k.runtime.replay(acmeSession, 0).filter((f) => f.type === 'ack')).toHaveLength(2);
  });

  it("the same order numbers in another tenant are another tenant's orders: tools reach only the caller's tenant", async () => {
    const k = await keel();
    await acmeConversation(k);
    const gAlice = await openChat(k, { token: await k.token({ tenant: 'globex', user: 'alice' }) });
    defer(() => gAlice.close());
    gAlice.send({ type: 'message', id: 'g1', text: 'where is my order 1043?' });
    const reply = await gAlice.next(isReplyTo('g1'), 20_000);
    expect(reply.text).not.toContain('Acme Private');
    expect(k.agent.store.order('globex', '1043')?.address).not.toBe(ACME_SECRET);
    // A globex customer asking for an order only acme has is refused like any order not theirs.
    gAlice.send({ type: 'message', id: 'g2', text: 'where is order 2001?' });
    expect((await gAlice.next(isReplyTo('g2'), 20_000)).text).toMatch(/couldn't find "2001"/);
    const tools = k.audit().filter((a) => a.action.startsWith('tool.') && a.actor.tenant === 'globex');
    expect(tools.map((a) => a.outcome)).toContain('denied');
  });

  it("trace and audit queries of one tenant never return the other's, whatever the query names", async () => {
    const k = await keel();
    await acmeConversation(k);
    const g = await openChat(k, { token: await k.token({ tenant: 'globex', user: 'gina' }) });
    defer(() => g.close());
    g.send({ type: 'message', id: 'g1', text: 'hello' });
    await g.next(isReplyTo('g1'), 20_000);
    await eventually(() => k.runtime.events.query({ tenant: tenantId('globex') }).length > 0, 5000, 'globex events');
    const reads = createScopedReads(k.runtime);
    for (const role of ['engineer', 'admin'] as const) {
      const me = who(role, 'ops', 'globex');
      const events = await reads.events(me, { user: 'alice', limit: 1000 });
      expect(events, role).toEqual([]);
      const all = await reads.events(me);
      expect(all.length).toBeGreaterThan(0);
      expect(all.every((e) => e.tenant === 'globex')).toBe(true);
      await expect(reads.events(me, { tenant: 'acme' })).rejects.toMatchObject({ code: 'forbidden' });
    }
    const audit = await reads.audit(who('admin', 'ops', 'globex'), { limit: 1000 });
    expect(audit.every((r) => r.actor.tenant === 'globex')).toBe(true);
    expect(JSON.stringify(audit)).not.toContain('alice');
  });

  it("recall reaches only the caller's own memories: not another tenant's same user id, not another user, not after erasure", async () => {
    const k = await keel();
    const ask = async (tenant: string, user: string, text: string, searched = true) => {
      const c = await openChat(k, { token: await k.token({ tenant, user }) });
      defer(() => c.close());
      c.send({ type: 'message', id: 'm1', text });
      const reply = await c.next(isReplyTo('m1'), 20_000);
      if (!searched) return { reply: String(reply.text), recalled: '', frames: JSON.stringify(c.frames) };
      const recalls = await eventually(() => {
        const r = k.runtime.events.query({ tenant: tenantId(tenant), session: c.sessionId as never, kinds: ['recall'] });
        return r.length > 0 ? r : undefined;
      }, 10_000, 'the recall decision');
      return { reply: String(reply.text), recalled: JSON.stringify(recalls), frames: JSON.stringify(c.frames) };
    };
    // Something about herself (kept as a memory), then a question about the past (searched).
    const memorable = "I'm allergic to wool, and my dog Marmaduke is scared of thunder on our walks in Snowdonia";
    await ask('acme', 'alice', memorable, false);
    // The memory is embedded and indexed off the turn: wait until it is recallable.
    for (let i = 0; i < 200; i++) {
      const hits = await k.runtime.memory!.memories.recall({ tenant: tenantId('acme'), user: userId('alice'), query: 'Marmaduke thunder' });
      if (hits.length > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const question = 'what did I tell you about my dog Marmaduke and thunder last time?';
    // The owner recalls it (so the check below can see a recall when there is one)...
    expect((await ask('acme', 'alice', question)).recalled).toContain('Marmaduke');
    // ...nobody else does.
    for (const [tenant, user] of [['globex', 'alice'], ['acme', 'bob']] as const) {
      const other = await ask(tenant, user, question);
      expect(other.recalled, `${tenant}/${user}`).not.toContain('Marmaduke');
      expect(other.frames, `${tenant}/${user}`).not.toContain('Marmaduke');
    }
    await k.runtime.forget({ tenant: tenantId('acme'), user: userId('alice') }, who('admin', 'root', 'acme'));
    expect((await ask('acme', 'alice', question)).recalled).not.toContain('Marmaduke');
  });

  it("deleting a tenant's key erases it: its sessions and tool results no longer open, the other tenant's do", async () => {
    const k = await keel();
    const acmeSession = await acmeConversation(k);
    const g = await openChat(k, { token: await k.token({ tenant: 'globex', user: 'gina' }) });
    defer(() => g.close());
    g.send({ type: 'message', id: 'g1', text: 'where is my order 1042?' });
    await g.next(isReplyTo('g1'), 20_000);
    const globexSession = g.sessionId;
    g.close();
    await k.stop();

    expect(createTenantKeyStore({ dir: k.dir, env: {} }).deleteTenantKey(tenantId('acme'))).toBe(true);
    const rt = createRuntime({ dataDir: k.dir, machine: k.agent.machine });
    defer(() => rt.close());
    expect(() => rt.replay(acmeSession, 0)).toThrow(/key was deleted/);
    // Its decision trace is gone with the key; the other tenant's is whole.
    expect(rt.events.query({ tenant: tenantId('acme') })).toEqual([]);
    expect(rt.events.query({ tenant: tenantId('globex') }).length).toBeGreaterThan(0);
    await expect(rt.send(acmeSession, { type: 'user.message', id: 'late', text: 'hello?' })).rejects.toMatchObject({ code: expect.stringMatching(/forbidden|session_failed|internal/) });
    expect(rt.replay(globexSession, 0).filter((f) => f.type === 'ack')).toHaveLength(1);
    const next = await rt.send(globexSession, { type: 'user.message', id: 'g2', text: 'thanks!' });
    expect(next.frames.some((f) => f.type === 'reply')).toBe(true);
  });
});
