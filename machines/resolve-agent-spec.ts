/**
 * Checks an {@link AgentSpec} once, when the machine is built, so that a typo fails at start-up
 * naming the bad field instead of misbehaving in a conversation.
 */
import { defaultReplies } from './agent-replies.js';
import { resolvePolicies } from './agent-spec.js';
import type { AgentPolicies, AgentReplies, AgentSpec, ControlIntents, SlotSpec, TaskSpec } from './agent-spec.js';
import type { Template } from './template.js';

/** A task with its defaults filled in. */
export interface ResolvedTask extends TaskSpec {
  readonly title: string;
  readonly escalateOnFailure: boolean;
}

/** An agent spec with defaults filled in, checked and frozen. */
export interface ResolvedAgentSpec {
  readonly id: string;
  readonly tasks: readonly ResolvedTask[];
  readonly questionIntents: readonly string[];
  readonly smalltalk: Readonly<Record<string, Template>>;
  readonly control: Readonly<ControlIntents>;
  readonly labels: Readonly<Record<string, string>>;
  readonly replies: Readonly<AgentReplies>;
  readonly policies: Readonly<AgentPolicies>;
  readonly answerTools: readonly string[];
  readonly ticketTool: string | undefined;
  readonly callbackTool: string | undefined;
  readonly listTool: string | undefined;
  /** What the agent can do, for the out-of-scope reply ("orders, refunds and store policies"). */
  readonly capabilities: string;
}

/** The default names of the control intents (they match the demo's intents file). */
export const defaultControlIntents: Readonly<ControlIntents> = Object.freeze({
  affirm: 'affirm',
  deny: 'deny',
  cancel: 'cancel',
  correct: 'correct',
  resume: 'resume',
  human: 'human_agent',
});

const NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

function isTemplate(value: unknown): value is Template {
  return typeof value === 'string' || typeof value === 'function';
}

/**
 * Fills defaults and validates; throws a TypeError naming the bad field.
 *
 * @example
 * ```ts
 * resolveAgentSpec({ tasks: [{ name: '', ... }] }); // TypeError: spec.tasks[0].name must be ...
 * ```
 */
export function resolveAgentSpec(spec: AgentSpec): ResolvedAgentSpec {
  if (typeof spec !== 'object' || spec === null) throw new TypeError('spec must be an object');
  const id = spec.id ?? 'agent';
  if (typeof id !== 'string' || !NAME.test(id)) throw new TypeError('spec.id must be 1-64 characters [A-Za-z0-9_.-] starting with a letter');
  if (!Array.isArray(spec.tasks)) throw new TypeError('spec.tasks must be an array of task specs');
  const names = new Set<string>();
  const intents = new Set<string>();
  const taskList: readonly TaskSpec[] = spec.tasks;
  const tasks = taskList.map((task, i): ResolvedTask => {
    const at = `spec.tasks[${i}]`;
    if (typeof task?.name !== 'string' || !NAME.test(task.name)) throw new TypeError(`${at}.name must be 1-64 characters [A-Za-z0-9_.-]`);
    if (names.has(task.name)) throw new TypeError(`${at}.name repeats the task "${task.name}"`);
    names.add(task.name);
    if (typeof task.intent !== 'string' || task.intent === '') throw new TypeError(`${at}.intent must name an intent`);
    if (intents.has(task.intent)) throw new TypeError(`${at}.intent "${task.intent}" already starts another task`);
    intents.add(task.intent);
    if (typeof task.tool !== 'string' || task.tool === '') throw new TypeError(`${at}.tool must name a tool`);
    if (typeof task.args !== 'function') throw new TypeError(`${at}.args must be a function (slots, facts) => arguments`);
    if (task.alternativeTool !== undefined && (typeof task.alternativeTool !== 'string' || task.alternativeTool === task.tool)) {
      throw new TypeError(`${at}.alternativeTool must name a different tool`);
    }
    if (task.confirm !== undefined && !isTemplate(task.confirm)) throw new TypeError(`${at}.confirm must be a template`);
    if (!isTemplate(task.replies?.done)) throw new TypeError(`${at}.replies.done must be a template`);
    for (const key of ['rejected', 'degraded', 'cancelled', 'approval'] as const) {
      const value = task.replies[key];
      if (value !== undefined && !isTemplate(value)) throw new TypeError(`${at}.replies.${key} must be a template`);
    }
    if (!Array.isArray(task.slots)) throw new TypeError(`${at}.slots must be an array`);
    const slotNames = new Set<string>();
    const slotList: readonly SlotSpec[] = task.slots;
    slotList.forEach((slot, j) => {
      const sat = `${at}.slots[${j}]`;
      if (typeof slot?.name !== 'string' || !NAME.test(slot.name)) throw new TypeError(`${sat}.name must be 1-64 characters [A-Za-z0-9_.-]`);
      if (slotNames.has(slot.name)) throw new TypeError(`${sat}.name repeats the slot "${slot.name}"`);
      slotNames.add(slot.name);
      if (!isTemplate(slot.prompt)) throw new TypeError(`${sat}.prompt must be a template`);
      if (slot.reprompt !== undefined && !isTemplate(slot.reprompt)) throw new TypeError(`${sat}.reprompt must be a template`);
      if (typeof slot.extract !== 'function') throw new TypeError(`${sat}.extract must be a function`);
      if (slot.validate !== undefined && typeof slot.validate !== 'function') throw new TypeError(`${sat}.validate must be a function`);
      if (slot.lookup !== undefined && (typeof slot.lookup.tool !== 'string' || typeof slot.lookup.args !== 'function' || typeof slot.lookup.fact !== 'string')) {
        throw new TypeError(`${sat}.lookup must be { tool, args, fact }`);
      }
    });
    return Object.freeze({
      ...task,
      title: task.title ?? task.name.replace(/[_.-]+/g, ' '),
      escalateOnFailure: task.escalateOnFailure ?? task.replies.degraded === undefined,
    });
  });
  const questionIntents = spec.questionIntents ?? [];
  if (!Array.isArray(questionIntents) || questionIntents.some((q) => typeof q !== 'string')) throw new TypeError('spec.questionIntents must be an array of intent names');
  const smalltalk = spec.smalltalk ?? {};
  for (const [intent, template] of Object.entries(smalltalk)) {
    if (!isTemplate(template)) throw new TypeError(`spec.smalltalk.${intent} must be a template`);
  }
  const control = { ...defaultControlIntents, ...(spec.controlIntents ?? {}) };
  for (const [key, value] of Object.entries(control)) {
    if (typeof value !== 'string' || value === '') throw new TypeError(`spec.controlIntents.${key} must name an intent`);
  }
  const replies = { ...defaultReplies, ...(spec.replies ?? {}) };
  for (const [key, value] of Object.entries(replies)) {
    if (!isTemplate(value)) throw new TypeError(`spec.replies.${key} must be a template`);
  }
  const tools = (name: string, value: unknown): string | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') throw new TypeError(`spec.${name} must name a tool`);
    return value;
  };
  const answerTools = spec.answerTools ?? [];
  if (!Array.isArray(answerTools) || answerTools.some((t) => typeof t !== 'string')) throw new TypeError('spec.answerTools must be an array of tool names');
  const labels: Record<string, string> = {};
  for (const task of tasks) labels[task.intent] = task.title;
  Object.assign(labels, spec.intentLabels ?? {});
  const capabilityList = [...tasks.map((t) => labels[t.intent] ?? t.title), ...(questionIntents.length > 0 ? ['questions about our policies'] : [])];
  const capabilities =
    capabilityList.length <= 1 ? capabilityList.join('') : `${capabilityList.slice(0, -1).join(', ')} and ${capabilityList[capabilityList.length - 1]}`;
  return Object.freeze({
    id,
    tasks: Object.freeze(tasks),
    questionIntents: Object.freeze([...questionIntents]),
    smalltalk: Object.freeze({ ...smalltalk }),
    control: Object.freeze(control),
    labels: Object.freeze(labels),
    replies: Object.freeze(replies),
    policies: resolvePolicies(spec.policies),
    answerTools: Object.freeze([...answerTools]),
    ticketTool: tools('ticketTool', spec.ticketTool),
    callbackTool: tools('callbackTool', spec.callbackTool),
    listTool: tools('listTool', spec.listTool),
    capabilities,
  });
}

/** The label of an intent for replies ("check an order's status"). */
export function labelOf(spec: ResolvedAgentSpec, intent: string): string {
  return spec.labels[intent] ?? intent.replace(/[_.-]+/g, ' ');
}

/** The task an intent starts, if any. */
export function taskForIntent(spec: ResolvedAgentSpec, intent: string | undefined): ResolvedTask | undefined {
  return intent === undefined ? undefined : spec.tasks.find((t) => t.intent === intent);
}

/** The task with this name, if any. */
export function taskNamed(spec: ResolvedAgentSpec, name: string | undefined): ResolvedTask | undefined {
  return name === undefined ? undefined : spec.tasks.find((t) => t.name === name);
}
