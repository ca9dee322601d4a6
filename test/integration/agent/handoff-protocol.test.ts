/**
 * P8/P9 at the machine level: the hand-off is a protocol, not a message. requested → queued →
 * accepted → with agent → completed, each step a state, a `handoff` frame for the customer and a
 * decision; or unavailable / failed, where the agent offers a ticket or a callback and keeps the
 * session. The desk receives the transcript, the context and the reason.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { HandoffDesk } from '../../../actors/handoff.actor.js';
import type { HandoffInput, HandoffOutput } from '../../../machines/actor-contracts.js';
import { startAgentHarness, type AgentHarness } from './support/agent-harness.js';

let h: AgentHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A desk that records what it is handed and answers as told. */
function recordingDesk(answer: (req: HandoffInput) => HandoffOutput = () => ({ status: 'queued', position: 1 })) {
  const requests: HandoffInput[] = [];
  const desk: HandoffDesk = {
    request(req) {
      requests.push(req);
      return answer(req);
    },
  };
  return { desk, requests };
}

const statuses = (frames: readonly { type: string; status?: string }[]) => frames.filter((f) => f.type === 'handoff').map((f) => f.status);

describe('P8 hand-off protocol', () => {
  it('requested → queued → accepted → with agent → completed, with frames, states and decisions', async () => {
    const { desk, requests } = recordingDesk(() => ({ status: 'queued', position: 3 }));
    h = await startAgentHarness({ agent: { desk } });
    const c = await h.open('alice');
    await c.say('where is my order 1042?');
    const ask = await c.say('I need to talk to someone');
    expect(ask.text).toBe("I'm asking a human colleague to join.\n\nYou're number 3 in the queue; a colleague will be with you shortly. Say \"cancel\" to carry on with me instead.");
    expect(ask.state).toContain('conversation.handoff.queued.waiting');
    expect(statuses(ask.outcome.frames)).toEqual(['requested', 'queued']);
    expect(ask.outcome.frames.find((f) => f.status === 'queued')?.meta).toMatchObject({ position: 3 });
    expect(c.decisions('escalate').at(-1)).toMatchObject({ reason: 'user_asked', data: { pattern: 'P8' } });

    // The desk got the transcript, the context and the reason; identity comes from the session.
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ reason: 'user_asked', session: c.id, identity: { user: 'alice', role: 'customer' } });
    expect(requests[0]!.transcript.map((t) => t.role)).toEqual(['user', 'agent', 'user', 'agent']);
    expect(requests[0]!.transcript[0]!.text).toBe('where is my order 1042?');

    const moved = await c.send({ type: 'handoff.queued', position: 1 });
    expect(moved.frames).toEqual([expect.objectContaining({ type: 'handoff', status: 'queued', meta: expect.objectContaining({ position: 1 }) })]);

    const waiting = await c.say('hello? anyone?');
    expect(waiting.text).toBe("You're still in the queue; a colleague will be with you shortly. I've passed your message on.");
    expect(c.decisions('handoff').at(-1)).toMatchObject({ reason: 'relayed_to_queue' });

    const accepted = await c.send({ type: 'handoff.accepted', agent: 'Sam' });
    expect(statuses(accepted.frames)).toEqual(['accepted', 'with_agent']);
    expect(accepted.frames.find((f) => f.type === 'reply')?.text).toBe('Sam has joined the conversation.');
    expect(accepted.state).toContain('conversation.handoff.withAgent');

    // With a human, the agent relays and says nothing itself.
    const relayed = await c.say('my parcel is late, can you help?');
    expect(relayed.text).toBe('');
    expect(relayed.meta).toMatchObject({ relayed: true, silent: true });
    expect(c.decisions('handoff').at(-1)).toMatchObject({ reason: 'relayed_to_agent', data: { agent: 'Sam' } });
    const human = await c.send({ type: 'handoff.message', text: 'Hi, Sam here. It arrives tomorrow.', agent: 'Sam' });
    expect(human.frames).toEqual([expect.objectContaining({ type: 'reply', text: 'Hi, Sam here. It arrives tomorrow.', meta: expect.objectContaining({ from: 'human', agent: 'Sam' }) })]);

    const done = await c.send({ type: 'handoff.completed', summary: 'told ETA' });
    expect(statuses(done.frames)).toEqual(['completed']);
    expect(done.frames.find((f) => f.type === 'reply')?.text).toBe("Your conversation with our colleague has ended. I'm here if you need anything else.");
    expect(done.state).toContain('conversation.idle');
    expect(c.decisions('handoff').map((d) => d.reason)).toEqual(expect.arrayContaining(['queued', 'accepted', 'agent_message', 'completed']));
    expect((await c.say('thanks')).text).toBe("You're welcome! Anything else I can do?");
  });

  it('the task in progress goes to the human with its slots; it is theirs from then on', async () => {
    const { desk, requests } = recordingDesk();
    h = await startAgentHarness({ agent: { desk } });
    const c = await h.open('alice');
    await c.say('I want a refund for order 1044');
    await c.say('I want to speak to a human');
    expect(requests[0]!.summary).toMatchObject({ task: 'refund', taskTitle: 'refund', slots: { orderId: '1044' }, facts: { order: { orderId: '1044' } }, channel: 'test' });
    await c.send({ type: 'handoff.accepted', agent: 'Sam' });
    const done = await c.send({ type: 'handoff.completed' });
    expect(done.state).toContain('conversation.idle');
  });

  it('suspended work is listed for the human and offered back when the hand-off ends', async () => {
    const { desk, requests } = recordingDesk();
    h = await startAgentHarness({ agent: { desk } });
    const c = await h.open('alice');
    await c.say('cancel order 1043');
    expect((await c.say('where is order 1042?')).state).toContain('conversation.offeringResume');
    await c.say('I want to speak to a human');
    expect(requests[0]!.summary).toMatchObject({ task: null, suspended: ['cancel_order'] });
    await c.send({ type: 'handoff.accepted', agent: 'Sam' });
    const done = await c.send({ type: 'operator.release' });
    expect(done.frames.filter((f) => f.type === 'reply').map((f) => f.text)).toEqual([
      "Your conversation with our colleague has ended. I'm here if you need anything else.",
      'Shall we get back to your order cancellation?',
    ]);
    expect(done.state).toContain('conversation.offeringResume');
    expect((await c.say('yes')).text).toMatch(/OK, back to your order cancellation\.\n\nI'll cancel order 1043/);
  });

  it('"cancel" while queued leaves the queue and the agent carries on', async () => {
    const { desk } = recordingDesk();
    h = await startAgentHarness({ agent: { desk } });
    const c = await h.open('alice');
    await c.say('I want to speak to a human');
    const left = await c.say('cancel');
    expect(left.text).toBe("OK, I've taken you out of the queue. How can I help?");
    expect(statuses(left.outcome.frames)).toEqual(['completed']);
    expect(c.decisions('handoff').at(-1)).toMatchObject({ reason: 'withdrawn_by_customer' });
    expect((await c.say('where is order 1042?')).text).toMatch(/^Order 1042 /);
  });

  it('desk events out of protocol order are ignored, never a crash', async () => {
    const { desk } = recordingDesk();
    h = await startAgentHarness({ agent: { desk } });
    const c = await h.open('alice');
    for (const event of [{ type: 'handoff.accepted', agent: 'Sam' }, { type: 'handoff.message', text: 'hi' }, { type: 'handoff.completed' }, { type: 'handoff.queued', position: 'x' }]) {
      const out = await c.send(event);
      expect(out.frames).toEqual([]);
      expect(out.state).toContain('conversation.idle');
    }
    await c.say('I want to speak to a human');
    const empty = await c.send({ type: 'handoff.message', text: '   ' });
    expect(empty.frames).toEqual([]);
    expect(c.decisions('handoff').at(-1)).toMatchObject({ reason: 'empty_agent_message' });
  });
});

describe('P9 nobody available: offer a ticket or a callback, keep the session', () => {
  it('the desk says unavailable: the agent offers both, and schedules a callback', async () => {
    const { desk } = recordingDesk(() => ({ status: 'unavailable', reason: 'no_agent_online' }));
    h = await startAgentHarness({ agent: { desk } });
    const c = await h.open('alice');
    const offer = await c.say('I want to speak to a human');
    expect(offer.text).toBe(
      "I'm asking a human colleague to join.\n\nNo colleague can take the conversation right now. I can open a ticket so someone gets back to you by email, or arrange a callback. Which would you prefer?",
    );
    expect(statuses(offer.outcome.frames)).toEqual(['requested', 'unavailable']);
    expect(offer.outcome.frames.find((f) => f.status === 'unavailable')?.meta).toMatchObject({ offered: ['ticket', 'callback'] });
    expect(offer.state).toContain('conversation.offeringAlternatives');
    const callback = await c.say('please call me back');
    expect(callback.text).toMatch(/^I've scheduled a callback \(CB-\d{5}\); a colleague will call you\. Anything else\?$/);
    expect(callback.state).toContain('conversation.idle');
  });

  it('a desk that throws counts as failed; "no" to the alternatives carries on', async () => {
    const desk: HandoffDesk = {
      request: () => {
        throw new Error('desk database unreachable');
      },
    };
    h = await startAgentHarness({ agent: { desk } });
    const c = await h.open('alice');
    const offer = await c.say('I want to speak to a human');
    expect(statuses(offer.outcome.frames)).toEqual(['requested', 'failed']);
    expect(offer.state).toContain('conversation.offeringAlternatives');
    expect(c.decisions('handoff').at(-1)).toMatchObject({ reason: 'failed', data: { reason: 'desk_error', pattern: 'P9' } });
    const no = await c.say('no thanks');
    expect(no.text).toBe('OK, let me know if you change your mind.');
    expect(no.state).toContain('conversation.idle');
  });

  it('the desk gives up on a queued or accepted conversation: the customer is offered the alternatives', async () => {
    const { desk } = recordingDesk();
    h = await startAgentHarness({ agent: { desk } });
    const c = await h.open('alice');
    await c.say('I want to speak to a human');
    const gone = await c.send({ type: 'handoff.unavailable', reason: 'shift_ended' });
    expect(statuses(gone.frames)).toEqual(['unavailable']);
    expect(gone.state).toContain('conversation.offeringAlternatives');
    expect(c.decisions('handoff').at(-1)).toMatchObject({ data: { reason: 'shift_ended' } });

    await c.say('no');
    await c.say('I want to speak to a human');
    await c.send({ type: 'handoff.accepted', agent: 'Sam' });
    const failed = await c.send({ type: 'handoff.failed', reason: 'agent_disconnected' });
    expect(statuses(failed.frames)).toEqual(['failed']);
    expect(failed.state).toContain('conversation.offeringAlternatives');
    const ticket = await c.say('open a ticket');
    expect(ticket.text).toMatch(/^I've opened ticket T-\d{5}/);
  });
});
