/**
 * Steps of the planner: a request that needs several tasks becomes a plan run in order, each
 * step a task with its own fallback ladder. A failed step drops the steps that depend on it
 * (re-planning); a cancel abandons the plan; a new request suspends it with its task (P7); a
 * correction of a shared slot carries to later steps. Every change is a `plan` decision.
 */
import type { Json } from '../src/types.js';
import type { PlanInput, PlanOutput } from './actor-contracts.js';
import type { AgentContext, Plan, PlanStep, TaskOutcome } from './agent-context.js';
import type { AgentEvent } from './agent-events.js';
import { outputOf } from './agent-setup.js';
import { taskNamed, type ResolvedAgentSpec } from './resolve-agent-spec.js';
import { extractInitialSlots, triage } from './route-triage.js';
import { step, type StepResult } from './step.js';
import type { TaskSteps } from './task-steps.js';
import { renderTemplate } from './template.js';

const OUTCOME_WORDS: Readonly<Record<TaskOutcome, string>> = {
  done: 'done',
  rejected: 'not possible',
  degraded: 'could not be completed',
  failed: 'failed',
  denied: 'not allowed',
  cancelled: 'cancelled',
  pending_approval: 'waiting for approval',
  handed_off: 'handed to a colleague',
};

function statusOf(outcome: TaskOutcome | undefined): PlanStep['status'] {
  if (outcome === 'done' || outcome === 'pending_approval') return 'done';
  if (outcome === 'cancelled') return 'cancelled';
  return 'failed';
}

/** A step's short title: "order cancellation 1042". */
function stepTitle(spec: ResolvedAgentSpec, st: Pick<PlanStep, 'task' | 'slots'>): string {
  const task = taskNamed(spec, st.task);
  const first = task?.slots[0] ? st.slots[task.slots[0].name] : undefined;
  return `${task?.title ?? st.task}${typeof first === 'string' || typeof first === 'number' ? ` ${first}` : ''}`;
}

/**
 * Creates the planner steps of an agent.
 *
 * @example
 * ```ts
 * const plans = createPlanSteps(spec, createTaskSteps(spec));
 * invoke: { src: 'planTasks', input: ({ context }) => plans.planInput(context) }
 * ```
 */
export function createPlanSteps(spec: ResolvedAgentSpec, tasks: TaskSteps) {
  const p = spec.policies;
  const max = p.maxTranscriptEntries;
  const r = spec.replies;
  /** The tasks a plan may use, as the planner sees them: the same for every turn of the agent. */
  const plannable: PlanInput['tasks'] = spec.tasks.map((t) => {
    const recordSlot = t.slots.find((s) => s.lookup)?.name;
    return { name: t.name, intent: t.intent, ...(recordSlot ? { recordSlot } : {}) };
  });

  return {
    /** Input of the planner actor. */
    planInput(ctx: AgentContext): PlanInput {
      const turn = ctx.turn;
      return {
        text: turn?.text ?? '',
        clauses: ctx.route?.clauses ?? [],
        topIntent: ctx.route?.ranked[0]?.intent ?? null,
        tasks: plannable,
        key: `${turn?.key ?? ctx.session}:plan`,
        identity: ctx.identity,
        session: ctx.session,
        callsThisTurn: turn?.toolCalls ?? 0,
        ...(spec.listTool ? { listTool: spec.listTool } : {}),
      };
    },
    /** Accepts a plan (P7-suspending a task in progress), or falls back to the single-request reading. */
    planned(ctx: AgentContext, event: AgentEvent): StepResult {
      const out = outputOf<PlanOutput | undefined>(event);
      const s = step(ctx, max).notes(out?.decisions);
      const drafts = (Array.isArray(out?.steps) ? out.steps : []).filter((d) => taskNamed(spec, d?.task) !== undefined).slice(0, p.maxPlanSteps);
      if (drafts.length === 0) {
        const verdict = ctx.route ? triage(ctx, ctx.route, spec, { plan: false }) : { kind: 'outOfScope' as const, reason: 'router_failed' };
        return s.set({ verdict }).decide('plan', 'no_plan', { source: out?.source ?? 'none', reason: out?.reason ?? 'no steps', next: verdict.kind }).done();
      }
      if (ctx.turn && typeof out?.toolCalls === 'number') s.set({ turn: { ...ctx.turn, toolCalls: ctx.turn.toolCalls + out.toolCalls } });
      tasks.suspendActive(s, 'plan');
      const steps: PlanStep[] = drafts.map((d, i) => ({
        task: d.task,
        // Values a step's own clause names ("and refund order 1044") win over those shared by earlier steps.
        slots: extractInitialSlots(taskNamed(spec, d.task)!, typeof d.text === 'string' ? d.text : '', typeof d.slots === 'object' && d.slots !== null ? d.slots : {}),
        ...(typeof d.text === 'string' ? { text: d.text } : {}),
        ...(typeof d.dependsOn === 'number' && d.dependsOn >= 0 && d.dependsOn < i ? { dependsOn: d.dependsOn } : {}),
        status: 'pending' as const,
      }));
      const plan: Plan = { id: `plan-${ctx.plans + 1}`, source: out?.source ?? 'local', steps, summary: [] };
      s.set({ plan, plans: ctx.plans + 1, awaiting: null });
      s.decide('plan', 'planned', {
        plan: plan.id, source: plan.source, reason: out?.reason ?? '',
        steps: steps.map((st) => ({ task: st.task, slots: Object.keys(st.slots), dependsOn: st.dependsOn ?? null })),
      });
      if (steps.length > 1) s.say(renderTemplate(r.planIntro, { steps: steps.map((st) => stepTitle(spec, st)) }));
      return s.done();
    },
    /** Starts the next pending step, seeded with the shared slots of the steps before it. */
    startPlanStep(ctx: AgentContext): StepResult {
      const s = step(ctx, max);
      const plan = ctx.plan;
      const index = plan?.steps.findIndex((st) => st.status === 'pending') ?? -1;
      const next = plan?.steps[index];
      if (!plan || !next) return s.done();
      const task = taskNamed(spec, next.task);
      if (!task) {
        const steps = plan.steps.map((st, i) => (i === index ? { ...st, status: 'skipped' as const } : st));
        return s.set({ plan: { ...plan, steps } }).decide('plan', 'step_skipped', { plan: plan.id, index, why: 'unknown task' }).done();
      }
      const seed: Record<string, Json> = {};
      for (const earlier of plan.steps.slice(0, index)) {
        for (const slot of task.slots) {
          if (slot.shared && earlier.slots[slot.name] !== undefined && seed[slot.name] === undefined) seed[slot.name] = earlier.slots[slot.name] as Json;
        }
      }
      Object.assign(seed, next.slots);
      const steps = plan.steps.map((st, i) => (i === index ? { ...st, status: 'running' as const } : st));
      s.set({ plan: { ...plan, steps } }).decide('plan', 'step_started', { plan: plan.id, index, task: task.name, of: plan.steps.length });
      tasks.begin(s, task, next.text ?? '', seed, index);
      return s.done();
    },
    /** Closes the finished task: records its plan step, drops dependents of a failure (re-plan). */
    settleTask(ctx: AgentContext): StepResult {
      const s = step(ctx, max);
      const active = ctx.active;
      if (!active || active.outcome === undefined) return s.done();
      s.set({ active: null, awaiting: null });
      const plan = ctx.plan;
      if (!plan || active.planStep === undefined || !plan.steps[active.planStep]) return s.done();
      const index = active.planStep;
      const status = statusOf(active.outcome);
      const summary = [...plan.summary, `${stepTitle(spec, { task: active.task, slots: active.slots })}: ${OUTCOME_WORDS[active.outcome]}`];
      let steps = plan.steps.map((st, i) => (i === index ? { ...st, status, outcome: active.outcome, slots: active.slots } : st));
      s.decide('plan', 'step_finished', { plan: plan.id, index, outcome: active.outcome });
      if (status !== 'done') {
        const dropped = new Set<number>([index]);
        steps = steps.map((st, i) => {
          if (st.status === 'pending' && st.dependsOn !== undefined && dropped.has(st.dependsOn)) {
            dropped.add(i);
            return { ...st, status: 'skipped' as const };
          }
          return st;
        });
        dropped.delete(index);
        if (dropped.size > 0) {
          s.decide('plan', 'replanned', { plan: plan.id, why: 'step_failed', failed: index, skipped: [...dropped] });
          s.say(renderTemplate(r.planStepFailed, { task: taskNamed(spec, active.task)?.title ?? active.task }));
        }
      }
      return s.set({ plan: { ...plan, steps, summary } }).done();
    },
    /** Ends a plan with nothing left to run, with its summary. */
    finishPlan(ctx: AgentContext): StepResult {
      const s = step(ctx, max);
      const plan = ctx.plan;
      if (!plan || plan.steps.some((st) => st.status === 'pending' || st.status === 'running')) return s.done();
      s.set({ plan: null }).decide('plan', 'completed', { plan: plan.id, steps: plan.steps.map((st) => st.status), summary: plan.summary });
      if (plan.steps.length > 1) s.say(renderTemplate(r.planDone, { summary: plan.summary, allDone: plan.steps.every((st) => st.status === 'done') }));
      return s.done();
    },
  };
}
