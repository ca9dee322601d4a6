// The default agent uses what it learnt about a user in earlier sessions, on other channels:
// "what was my order number again?", "same address as last time", "what did I tell you about...",
// with every recall in the decision trace (memories found, their scores, what was used).
import { afterEach, describe, expect, it } from 'vitest';
import { tenantId, userId } from '../../../src/types.js';
import { startAgentFixture, type AgentFixture } from './support/agent-fixture.js';

const acme = tenantId('acme');
const alice = userId('alice');
const NEW_ADDRESS = '7 Juniper Crescent, Leeds LS6 2AB';

let fixture: AgentFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

/** Session one, on the web: an order status, an address change, something worth remembering. */
async function firstVisit(f: AgentFixture) {
  const web = await f.open('alice', 'web');
  expect(await web.say('where is my order 1042?')).toContain('1042');
  expect(await web.say(`please change the delivery address of order 1043 to ${NEW_ADDRESS}`)).toContain('Shall I go ahead?');
  expect(await web.say('yes')).toContain(NEW_ADDRESS);
  await web.say('I am allergic to wool, so please never suggest merino socks to me');
  return web;
}

describe('recall in agent turns', () => {
  it('answers "what was my order number again?" in a new session on another channel, and traces the recall', async () => {
    fixture = await startAgentFixture();
    await firstVisit(fixture);
    const phone = await fixture.open('alice', 'phone');
    const reply = await phone.say('what was my order number again?');
    expect(reply).toContain('Your order number is 1043');
    expect(reply).toContain('via web');
    const [recall] = phone.decisions('recall');
    expect(recall).toMatchObject({ reason: 'answered_from_context', tenant: acme, user: alice });
    expect(recall!.data.used).toMatchObject({ fact: 'orderId', channel: 'web' });
    expect(recall!.data.facts).toEqual(expect.arrayContaining(['orderId', 'address']));
  });

  it('fills "same address as last time" with the address learnt in the earlier session', async () => {
    fixture = await startAgentFixture();
    await firstVisit(fixture);
    const phone = await fixture.open('alice', 'phone');
    expect(await phone.say('I need to change the delivery address of order 1045')).toMatch(/new delivery address/i);
    const confirm = await phone.say('same address as last time');
    expect(confirm).toContain(`"${NEW_ADDRESS}"`);
    expect(phone.decisions('recall').at(-1)).toMatchObject({ reason: 'slot_from_context', data: { used: { slot: 'address' } } });
    expect(await phone.say('yes')).toContain(`order 1045 will be delivered to ${NEW_ADDRESS}`);
  });

  it('resolves a reference inside a new request ("to the same address as last time")', async () => {
    fixture = await startAgentFixture();
    await firstVisit(fixture);
    const app = await fixture.open('alice', 'app');
    const confirm = await app.say('please change the delivery address of order 1045 to the same address as last time');
    expect(confirm).toContain(`"${NEW_ADDRESS}"`);
    expect(app.decisions('recall').at(-1)).toMatchObject({ reason: 'reference_resolved', data: { used: { slots: ['address'] } } });
  });

  it('quotes what the user said before, with scores in the trace, and survives a restart', async () => {
    fixture = await startAgentFixture();
    await firstVisit(fixture);
    await fixture.restart();
    const phone = await fixture.open('alice', 'phone');
    const reply = await phone.say('what did I tell you about wool?');
    expect(reply).toContain('allergic to wool');
    const recall = phone.decisions('recall').at(-1)!;
    expect(recall.reason).toBe('answered_from_memories');
    const hits = recall.data.hits as Array<{ score: number; text: string; kind: string }>;
    expect(hits[0]).toMatchObject({ kind: 'message' });
    expect(hits[0]!.text).toContain('allergic to wool');
    expect(hits[0]!.score).toBeGreaterThan(0.3);
    // A user with no such memory hears so, instead of an invented answer.
    const bob = await fixture.open('bob', 'web');
    expect(await bob.say('what did I tell you about wool?')).toContain("I don't have anything about that");
  });

  it('keeps each user to their own memories: another user of the tenant recalls none of Alice’s', async () => {
    fixture = await startAgentFixture();
    await firstVisit(fixture);
    const bob = await fixture.open('bob', 'web');
    const reply = await bob.say('what was my order number again?');
    expect(reply).not.toContain('1043');
    expect(bob.decisions('recall').flatMap((d) => (d.data.hits as unknown[]) ?? [])).toEqual([]);
  });

  it('concurrent sessions of one user on two channels both land in the context', async () => {
    fixture = await startAgentFixture();
    const web = await fixture.open('alice', 'web');
    const phone = await fixture.open('alice', 'phone');
    await Promise.all([
      web.say('where is my order 1042?'),
      phone.say(`please change the delivery address of order 1043 to ${NEW_ADDRESS}`).then(() => phone.say('yes')),
      web.say('I am allergic to wool, so please never suggest merino socks to me'),
    ]);
    const context = fixture.runtime.memory!.contexts.get(acme, alice)!;
    expect(context.facts.address?.value).toBe(NEW_ADDRESS);
    expect(['1042', '1043']).toContain(context.facts.orderId?.value);
    expect(Object.keys(context.sessionsByChannel).sort()).toEqual(['phone', 'web']);
    expect(context.intentHistory.map((e) => e.intent)).toEqual(expect.arrayContaining(['order_status', 'change_address']));
    // A ticket's memory is embedded and indexed off the turn: it lands shortly after the reply.
    let tickets: Awaited<ReturnType<NonNullable<typeof fixture.runtime.memory>['memories']['recall']>> = [];
    for (let i = 0; i < 100 && tickets.length === 0; i++) {
      tickets = await fixture.runtime.memory!.memories.recall({ tenant: acme, user: alice, query: 'change address order 1043', kinds: ['ticket'] });
      if (tickets.length === 0) await new Promise((r) => setTimeout(r, 50));
    }
    expect(tickets[0]?.text).toContain('1043');
  });
});
