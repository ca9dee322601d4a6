/**
 * Steps of a task's dialogue: start (suspending another task, P7), resume, fill and validate
 * slots with counted misses (P4), corrections (P13), and the confirmation of high-impact tasks.
 */
import type { Json } from '../src/types.js';
import { newFrame, type AgentContext, type Plan, type PlanStep, type TaskFrame } from './agent-context.js';
import type { SlotSpec } from './agent-spec.js';
import type { ResolvedAgentSpec, ResolvedTask } from './resolve-agent-spec.js';
import { taskForIntent, taskNamed } from './resolve-agent-spec.js';
import { extractInitialSlots } from './route-triage.js';
import { step, type Step, type StepResult } from './step.js';
import { renderTemplate, type TemplateVars } from './template.js';

const SORRY = "Sorry, I didn't catch that.";

/** Template variables of a task: its slots, lookup facts, tool result and title. */
export function taskVars(task: ResolvedTask | undefined, frame: TaskFrame | null, extra: Record<string, unknown> = {}): TemplateVars {
  return { slots: frame?.slots ?? {}, facts: frame?.facts ?? {}, result: frame?.result ?? {}, task: task?.title ?? frame?.task ?? '', failure: frame?.failure ?? {}, ...extra };
}

/** The first slot still empty, in the task's order. */
export function nextMissingSlot(task: ResolvedTask, frame: TaskFrame): SlotSpec | undefined {
  return task.slots.find((s) => frame.slots[s.name] === undefined);
}

/** The first filled slot whose lookup has not run yet. */
export function slotToLookUp(task: ResolvedTask, frame: TaskFrame): SlotSpec | undefined {
  return task.slots.find((s) => s.lookup !== undefined && frame.slots[s.name] !== undefined && !frame.checked.includes(s.name));
}

/** Checks a value with the slot's validator; returns the problem, if any. */
function problemOf(task: ResolvedTask, slotName: string, value: Json, slots: Readonly<Record<string, Json>>): string | undefined {
  const slot = task.slots.find((s) => s.name === slotName);
  try {
    return slot?.validate?.(value, slots);
  } catch {
    return 'That does not look right.';
  }
}

/**
 * Creates the task dialogue steps of an agent.
 *
 * @example
 * ```ts
 * const tasks = createTaskSteps(spec);
 * kit.act(tasks.startTask);
 * ```
 */
export function createTaskSteps(spec: ResolvedAgentSpec) {
  const p = spec.policies;
  const max = p.maxTranscriptEntries;
  const r = spec.replies;
  /** After a digression (P6), the task's next prompt says where the conversation is back to. */
  const backTo = (ctx: AgentContext, task: ResolvedTask) => (ctx.interrupted ? `Now, back to your ${task.title}. ` : '');
  /** A prompt asked again after a miss the user was not told about starts with "sorry". */
  const isRetry = (ctx: AgentContext) => ctx.misses > 0 && !ctx.explained;

  /** P7: puts the active task (and its plan) on hold. */
  const suspendActive = (s: Step, by: string): void => {
    const active = s.ctx.active;
    if (!active) return;
    const task = taskNamed(spec, active.task);
    const frame = { frame: { ...active, outcome: undefined, rung: undefined }, plan: s.ctx.plan };
    const suspended = [...s.ctx.suspended, frame];
    const dropped = suspended.length > p.maxSuspendedTasks ? suspended.slice(0, suspended.length - p.maxSuspendedTasks) : [];
    s.set({ suspended: suspended.slice(dropped.length), active: null, plan: null });
    if (s.ctx.suspended.length > 0) s.say(renderTemplate(r.suspended, { task: task?.title ?? active.task }));
    s.decide('plan', 'task_suspended', {
      pattern: 'P7', task: active.task, by, suspended: s.ctx.suspended.length,
      ...(dropped.length > 0 ? { dropped: dropped.map((d) => d.frame.task) } : {}),
    });
  };

  /** Slots for a new task: what the message says, plus shared slots of earlier plan steps. */
  const begin = (s: Step, task: ResolvedTask, text: string, seed: Record<string, Json>, planStep?: number): void => {
    const slots = extractInitialSlots(task, text, seed);
    s.set({ active: newFrame(task.name, task.tool, slots, planStep), awaiting: null, interrupted: false });
    s.decide('transition', 'task_started', { task: task.name, slotsFromMessage: Object.keys(slots), ...(planStep !== undefined ? { planStep } : {}) });
  };

  return {
    begin,
    suspendActive,
    /** Starts the task of the verdict's intent; another task in progress is suspended (P7). */
    startTask(ctx: AgentContext): StepResult {
      const v = ctx.verdict;
      const task = taskForIntent(spec, v?.intent);
      const s = step(ctx, max);
      if (!task) return s.decide('error', 'no_task_for_intent', { intent: v?.intent ?? null }).done();
      if (ctx.active && ctx.active.task === task.name) {
        // The same request again: keep what we have and take any new values from the message.
        const slots = extractInitialSlots(task, v?.text ?? '', ctx.active.slots);
        return s.set({ active: { ...ctx.active, slots }, awaiting: null }).done();
      }
      suspendActive(s, task.name);
      begin(s, task, v?.text ?? '', {});
      return s.done();
    },
    /** P7: brings back the most recent suspended task, where it stood. */
    resume(ctx: AgentContext): StepResult {
      const s = step(ctx, max);
      const top = ctx.suspended[ctx.suspended.length - 1];
      if (!top) return s.say(renderTemplate(r.nothingToResume, {})).done();
      const rest = ctx.suspended.slice(0, -1);
      s.set({ suspended: rest });
      if (ctx.active && ctx.active.outcome === undefined) suspendActive(s, top.frame.task);
      const task = taskNamed(spec, top.frame.task);
      s.set({ active: { ...top.frame, confirmed: false }, plan: top.plan as Plan | null, awaiting: null, interrupted: false });
      return s
        .decide('plan', 'task_resumed', { pattern: 'P7', task: top.frame.task, suspended: s.ctx.suspended.length })
        .say(renderTemplate(r.resumed, { task: task?.title ?? top.frame.task }))
        .done();
    },
    /** Fills the slot the agent asked for, if the value passes the slot's validator. */
    fillSlot(ctx: AgentContext): StepResult {
      const v = ctx.verdict;
      const s = step(ctx, max);
      const active = ctx.active;
      const task = taskNamed(spec, active?.task);
      if (!active || !task || v?.slot === undefined || v.value === undefined) return s.done();
      const problem = problemOf(task, v.slot, v.value, active.slots);
      if (problem !== undefined) {
        return s.set({ misses: ctx.misses + 1, explained: true }).decide('fallback', 'invalid_slot', { slot: v.slot, misses: ctx.misses + 1, pattern: 'P4' }).say(problem).done();
      }
      s.set({ active: { ...active, slots: { ...active.slots, [v.slot]: v.value }, checked: active.checked.filter((c) => c !== v.slot) }, awaiting: null });
      return s.decide('transition', 'slot_filled', { task: task.name, slot: v.slot }).done();
    },
    /** P13: applies corrections ("no, I meant order 1043"); the task re-validates and re-confirms. */
    correct(ctx: AgentContext): StepResult {
      const s = step(ctx, max);
      const active = ctx.active;
      const task = taskNamed(spec, active?.task);
      const corrections = ctx.verdict?.corrections ?? {};
      if (!active || !task) return s.say(renderTemplate(r.askCorrection, {})).done();
      const slots = { ...active.slots };
      const changed: string[] = [];
      const problems: string[] = [];
      for (const [name, value] of Object.entries(corrections)) {
        const problem = problemOf(task, name, value, slots);
        if (problem === undefined) {
          slots[name] = value;
          changed.push(name);
        } else problems.push(problem);
      }
      if (changed.length === 0) {
        return s.set({ misses: ctx.misses + 1, explained: problems.length > 0 }).say(problems[0] ?? renderTemplate(r.askCorrection, {})).done();
      }
      s.set({ active: { ...active, slots, checked: active.checked.filter((c) => !changed.includes(c)), confirmed: false, rung: undefined }, awaiting: null });
      // Later plan steps that share a corrected slot follow the correction (the plan changes course).
      const plan = ctx.plan;
      const sharedChanged = changed.filter((n) => task.slots.find((sl) => sl.name === n)?.shared);
      if (plan && sharedChanged.length > 0) {
        // A value a step's own clause names ("and cancel order 1045") is the customer's for that
        // step: a correction of another step does not overwrite it.
        const ownValue = (st: PlanStep, name: string): boolean => {
          const slotSpec = taskNamed(spec, st.task)?.slots.find((sl) => sl.name === name);
          if (!slotSpec || typeof st.text !== 'string' || st.text === '') return false;
          try {
            return slotSpec.extract(st.text, { slots: st.slots, asked: false }) !== undefined;
          } catch {
            return false;
          }
        };
        const steps = plan.steps.map((st) =>
          st.status === 'pending'
            ? { ...st, slots: { ...st.slots, ...Object.fromEntries(sharedChanged.filter((n) => !ownValue(st, n)).map((n) => [n, slots[n] as Json])) } }
            : st,
        );
        s.set({ plan: { ...plan, steps } }).decide('plan', 'replanned', { plan: plan.id, why: 'correction', slots: sharedChanged });
      }
      return s.decide('transition', 'corrected', { task: task.name, slots: changed, pattern: 'P13' }).say('Got it.').done();
    },
    /** P13: asks what to change. */
    askCorrection(ctx: AgentContext): StepResult {
      const s = step(ctx, max);
      if (ctx.active) s.set({ awaiting: { kind: 'correction' } });
      return s.say(renderTemplate(r.askCorrection, {})).done();
    },
    /** The user said yes to the confirmation. */
    confirmTask(ctx: AgentContext): StepResult {
      const s = step(ctx, max);
      if (!ctx.active) return s.done();
      return s.set({ active: { ...ctx.active, confirmed: true }, awaiting: null }).decide('transition', 'confirmed', { task: ctx.active.task }).done();
    },
    /** The user said no to the confirmation: nothing is done. */
    declineTask(ctx: AgentContext): StepResult {
      const s = step(ctx, max).set({ awaiting: null });
      const active = ctx.active;
      const task = taskNamed(spec, active?.task);
      if (!active) return s.done();
      s.set({ active: { ...active, outcome: 'cancelled' } }).decide('transition', 'declined', { task: active.task });
      return s.say(renderTemplate(task?.replies.cancelled ?? r.cancelled, taskVars(task, active))).done();
    },
    /** Asks for the first missing slot (after a miss: the reprompt). */
    promptSlot(ctx: AgentContext): StepResult {
      const s = step(ctx, max);
      const active = ctx.active;
      const task = taskNamed(spec, active?.task);
      if (!active || !task) return s.done();
      const slot = nextMissingSlot(task, active);
      if (!slot) return s.done();
      const vars = taskVars(task, active);
      const retry = isRetry(ctx);
      const text = retry && slot.reprompt ? renderTemplate(slot.reprompt, vars) : `${retry ? `${SORRY} ` : ''}${renderTemplate(slot.prompt, vars)}`;
      return s.set({ awaiting: { kind: 'slot', slot: slot.name }, interrupted: false, explained: false }).say(`${backTo(ctx, task)}${text}`, { task: task.name, slot: slot.name }).done();
    },
    /** Asks to confirm a high-impact task, showing what will be done. */
    promptConfirm(ctx: AgentContext): StepResult {
      const s = step(ctx, max);
      const active = ctx.active;
      const task = taskNamed(spec, active?.task);
      if (!active || !task?.confirm) return s.done();
      const retry = isRetry(ctx) ? `${SORRY} ` : '';
      return s
        .set({ awaiting: { kind: 'confirm_task' }, interrupted: false, explained: false })
        .say(`${backTo(ctx, task)}${retry}${renderTemplate(task.confirm, taskVars(task, active))}`, { task: task.name, confirm: true })
        .done();
    },
  };
}

/** The task dialogue steps of an agent. */
export type TaskSteps = ReturnType<typeof createTaskSteps>;
