/**
 * An agent spec is checked once, when the machine is built: a bad field is a TypeError naming it.
 * A machine used without its actors fails soft: every message still gets a reply.
 */
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { createAgentMachine } from '../../../machines/agent.machine.js';
import { resolvePolicies, type AgentSpec, type TaskSpec } from '../../../machines/agent-spec.js';
import { resolveAgentSpec } from '../../../machines/resolve-agent-spec.js';
import { extractAddress, extractChoice, extractDigitsId, extractEmail, extractFreeText, extractInteger, validateLength } from '../../../machines/slot-extractors.js';
import { renderTemplate } from '../../../machines/template.js';

const task: TaskSpec = {
  name: 'reset_password',
  intent: 'reset_password',
  slots: [{ name: 'username', prompt: 'Which username?', extract: extractFreeText() }],
  tool: 'reset_password',
  args: (slots) => ({ username: slots.username ?? '' }),
  replies: { done: 'Done for {{slots.username}}.' },
};

describe('resolveAgentSpec', () => {
  it('fills defaults: id, titles, escalation, capabilities, control intents', () => {
    const spec = resolveAgentSpec({ tasks: [task], questionIntents: ['it_question'] });
    expect(spec.id).toBe('agent');
    expect(spec.tasks[0]).toMatchObject({ title: 'reset password', escalateOnFailure: true });
    expect(spec.capabilities).toBe('reset password and questions about our policies');
    expect(spec.control).toMatchObject({ affirm: 'affirm', human: 'human_agent' });
    expect(spec.policies.maxReprompts).toBe(2);
  });

  const bad: [string, Partial<AgentSpec> | ((t: TaskSpec) => Partial<AgentSpec>), RegExp][] = [
    ['an id with spaces', { id: 'my agent' }, /spec\.id/],
    ['tasks that are not an array', { tasks: 'nope' as never }, /spec\.tasks must be an array/],
    ['a repeated task name', (t) => ({ tasks: [t, { ...t, intent: 'other' }] }), /spec\.tasks\[1\]\.name repeats/],
    ['two tasks on one intent', (t) => ({ tasks: [t, { ...t, name: 'other' }] }), /spec\.tasks\[1\]\.intent "reset_password" already starts/],
    ['an alternative tool equal to the tool', (t) => ({ tasks: [{ ...t, alternativeTool: t.tool }] }), /alternativeTool/],
    ['a missing done reply', (t) => ({ tasks: [{ ...t, replies: {} as never }] }), /spec\.tasks\[0\]\.replies\.done/],
    ['a slot without an extractor', (t) => ({ tasks: [{ ...t, slots: [{ name: 'x', prompt: 'x?' } as never] }] }), /spec\.tasks\[0\]\.slots\[0\]\.extract/],
    ['a reply that is not a template', { replies: { outOfScope: 42 as never } }, /spec\.replies\.outOfScope/],
    ['an empty ticket tool', { ticketTool: '' }, /spec\.ticketTool/],
    ['an unknown policy', { policies: { maxRepromps: 3 } as never }, /option maxRepromps is not an agent policy/],
    ['a negative timer', { policies: { silenceNudgeMs: -1 } }, /option silenceNudgeMs/],
    ['a threshold out of range', { policies: { negativeSentimentThreshold: 0.5 } }, /option negativeSentimentThreshold/],
  ];
  for (const [name, patch, message] of bad) {
    it(`rejects ${name}`, () => {
      const extra = typeof patch === 'function' ? patch(task) : patch;
      expect(() => createAgentMachine({ tasks: [task], ...extra })).toThrow(TypeError);
      expect(() => createAgentMachine({ tasks: [task], ...extra })).toThrow(message);
    });
  }

  it('resolvePolicies freezes the result and takes zero reprompts', () => {
    const p = resolvePolicies({ maxReprompts: 0 });
    expect(p.maxReprompts).toBe(0);
    expect(Object.isFrozen(p)).toBe(true);
  });
});

describe('a machine without its actors', () => {
  it('answers every message anyway: the router is missing, so the message is out of scope, never guessed', async () => {
    const machine = createAgentMachine({ tasks: [task] });
    const replies: string[] = [];
    const actor = createActor(machine, { input: { sessionId: 's-1', tenant: 't', user: 'u', channel: 'test' } as never });
    actor.on('agent.reply', (e) => replies.push((e as { text: string }).text));
    actor.start();
    actor.send({ type: 'user.message', text: 'reset my password', messageId: 'm-1', turnKey: 's-1:1', at: 1 });
    await new Promise((r) => setTimeout(r, 20));
    expect(replies).toEqual(["Sorry, I can't help with that here. I can help with reset password. Would you like me to get a human colleague?"]);
    expect(actor.getSnapshot().value).toMatchObject({ conversation: 'offeringHuman' });
    actor.stop();
  });
});

describe('slot extractors and templates', () => {
  it('reads order numbers only when named or asked for', () => {
    const id = extractDigitsId({ minDigits: 4, maxDigits: 6 });
    expect(id('where is order #1042?', { slots: {}, asked: false })).toBe('1042');
    expect(id('I live at 1042 Long Road in the north', { slots: {}, asked: false })).toBeUndefined();
    expect(id('1043', { slots: {}, asked: false })).toBe('1043');
    expect(id('I meant 1043, not 1042', { slots: {}, asked: false })).toBe('1043');
    expect(id('it is 12', { slots: {}, asked: true })).toBeUndefined();
  });

  it('reads choices, free text, addresses, numbers and emails', () => {
    const reason = extractChoice({ damaged: ['broken', 'damaged'] }, { otherValue: 'other' });
    expect(reason('it arrived broken', { slots: {}, asked: false })).toBe('damaged');
    expect(reason('just because', { slots: {}, asked: true })).toBe('other');
    expect(reason('just because', { slots: {}, asked: false })).toBeUndefined();
    expect(extractFreeText({ markers: ['because'] })('refund it because it is too small', { slots: {}, asked: false })).toBe('it is too small');
    expect(extractAddress('please send it to 5 Elm Road, Leeds', { slots: {}, asked: false })).toBe('5 Elm Road, Leeds');
    expect(extractAddress('hello there', { slots: {}, asked: true })).toBeUndefined();
    expect(extractInteger({ min: 1, max: 12, near: ['people'] })('a table for four people', { slots: {}, asked: false })).toBe(4);
    expect(extractEmail('reach me at Ada@Example.com', { slots: {}, asked: false })).toBe('ada@example.com');
    expect(validateLength(8, 20, 'too short')('abc')).toBe('too short');
  });

  it('renders placeholders, and a throwing template renders its fallback', () => {
    expect(renderTemplate('Order {{slots.orderId}} is {{result.status}}.', { slots: { orderId: '1042' }, result: { status: 'late' } })).toBe('Order 1042 is late.');
    expect(renderTemplate('Hi {{missing.value}}!', {})).toBe('Hi !');
    expect(
      renderTemplate(() => {
        throw new Error('bad');
      }, {}, 'fallback'),
    ).toBe('fallback');
  });
});
