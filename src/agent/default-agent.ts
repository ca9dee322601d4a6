/**
 * The default agent: the demo store's support agent (`createDemoAgentSpec`) with real actors — the
 * offline router (or an LLM first when one is configured), the guarded demo tools, the knowledge
 * base, the planner and the local hand-off desk. It is what `keel serve` runs, and it is useful
 * with no LLM at all: every reply is grounded in a tool result or a knowledge-base passage.
 */
import type { AnyStateMachine } from 'xstate';
import { createHandoffActor, type HandoffDesk } from '../../actors/handoff.actor.js';
import { createKnowledgeIndex, type KnowledgeArticle, type KnowledgeIndex } from '../../actors/knowledge-index.js';
import { createKnowledgeSearchActor } from '../../actors/knowledge-search.actor.js';
import { createLlmReplyActor } from '../../actors/llm-reply.actor.js';
import { createPlannerActor } from '../../actors/planner.actor.js';
import { createRouterActor } from '../../actors/router.actor.js';
import { createToolCallActor } from '../../actors/tool-call.actor.js';
import { withMemoryLearning } from '../../actors/memory-learning.js';
import { createRecallActor } from '../../actors/recall.actor.js';
import { createToolRunner, type ToolDefinition, type ToolOutcomeListener, type ToolRunner, type ToolRunnerOptions } from '../../actors/tool-runner.js';
import type { AgentPolicies } from '../../machines/agent-spec.js';
import { createAgentMachine } from '../../machines/agent.machine.js';
import knowledgeJson from '../demo/knowledge-base.json' with { type: 'json' };
import intentsJson from '../demo/intents.json' with { type: 'json' };
import validationJson from '../demo/intents.validation.json' with { type: 'json' };
import { createConfiguredLlm } from '../llm/llm-chain.js';
import { readLlmConfig } from '../llm/llm-config.js';
import type { LlmDecisionListener } from '../llm/resilient-llm.js';
import type { LlmClient, Router } from '../ports.js';
import { createLocalRouter, parseIntentDefinitions, parseValidationSet, type LocalRouter } from '../routing/index.js';
import type { RuntimePorts } from '../runtime/runtime.js';
import { createDemoAgentSpec } from './demo-agent-spec.js';
import { openDemoStore, type DemoStore } from './demo-store.js';
import { DEMO_TOOL_NAMES, createDemoToolGuard, createDemoTools } from './demo-tools.js';
import { createLocalHandoffDesk, type LocalHandoffDesk } from './local-handoff-desk.js';
import { createLocalLlm } from './local-llm.js';

/** Options of {@link createDefaultAgent}. */
export interface DefaultAgentOptions {
  /** Where the demo store keeps its per-tenant files. Required (the runtime's data directory). */
  readonly dataDir: string;
  /**
   * Environment read for the LLM chain (`OPENAI_BASE_URL`, `OPENAI_API_KEY`, `KEEL_MODEL`,
   * `KEEL_LLM_CHAIN`). Default `{}`: the local provider only. The CLI passes `process.env`.
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** A ready LLM client; wins over `env`. Default none. */
  readonly llm?: LlmClient;
  /** Receives the LLM ladder's decisions (retries, failovers, breaker changes). Default none. */
  readonly onLlmDecision?: LlmDecisionListener;
  /** Time budget of one LLM attempt, in milliseconds. Default 10 000. */
  readonly llmTimeoutMs?: number;
  /**
   * Time budget of one LLM call over all its attempts and providers, in milliseconds; then the
   * local rung answers. A turn makes up to three calls: keep three budgets inside the runtime's
   * `turnTimeoutMs`. Default 15 000.
   */
  readonly llmDeadlineMs?: number;
  /** A trained router to reuse (tests and benchmarks train once). Default: trained from the demo intents. */
  readonly router?: LocalRouter;
  /** Where hand-off requests go. Default: a local desk that queues them for human agents. */
  readonly desk?: HandoffDesk;
  /** The demo store; default: opened under `dataDir`. */
  readonly store?: DemoStore;
  /** Pattern thresholds and timers. Default: the spec's defaults. */
  readonly policies?: Partial<AgentPolicies>;
  /** Tool runner limits: per-attempt timeout, breaker, backoff and its jitter. Default: the runner's defaults. */
  readonly tools?: Pick<ToolRunnerOptions, 'timeoutMs' | 'breakerFailures' | 'halfOpenAfterMs' | 'baseDelayMs' | 'maxDelayMs' | 'jitterRatio' | 'random'>;
  /**
   * Tool implementations that replace demo tools of the same name (a real carrier API instead of
   * the demo's `track_order`). Their guard policies stay the demo's. Default none.
   */
  readonly toolOverrides?: Readonly<Record<string, ToolDefinition>>;
  /** Called after every tool call (allowed, refused or failed), e.g. to audit it. Default: audit through the runtime. */
  readonly onToolOutcome?: ToolOutcomeListener;
  /** LLM tokens one session may spend on replies; past it, replies are the grounded drafts. Default 100 000. */
  readonly maxSessionTokens?: number;
}

/** The assembled default agent. */
export interface DefaultAgent {
  /** The machine factory the runtime takes as `machine`. */
  readonly machine: (ports: RuntimePorts) => AnyStateMachine;
  readonly router: LocalRouter;
  readonly store: DemoStore;
  readonly knowledge: KnowledgeIndex;
  /** The hand-off desk; a {@link LocalHandoffDesk} unless one was passed. */
  readonly desk: HandoffDesk;
  /** The LLM in use, or undefined on the local provider. */
  readonly llm: LlmClient | undefined;
  /** The tool runner of the last machine built (breaker states for the inspector). */
  runner(): ToolRunner | undefined;
}

let sharedRouter: Promise<LocalRouter> | undefined;

/**
 * Trains the router of the demo intents (once per process; training takes well under a second).
 *
 * @example
 * ```ts
 * const router = await trainDemoRouter();
 * (await router.route('where is my parcel')).ranked[0]; // { intent: 'order_status', ... }
 * ```
 */
export function trainDemoRouter(): Promise<LocalRouter> {
  sharedRouter ??= (async () => {
    const intents = parseIntentDefinitions(intentsJson, 'src/demo/intents.json');
    const validation = parseValidationSet(validationJson, intents.intents.map((i) => i.name), 'src/demo/intents.validation.json');
    return createLocalRouter({ intents, validation });
  })();
  return sharedRouter;
}

/** What the demo agent learns from tool calls: order numbers and addresses as facts, completed requests as tickets. */
const DEMO_LEARNING = Object.freeze({
  factArgs: ['orderId', 'address'],
  ticketTools: ['request_refund', 'change_address', 'cancel_order', 'create_ticket', 'schedule_callback'],
});

/** Knowledge-base phrasings customers use for the same thing. */
const KNOWLEDGE_SYNONYMS: Readonly<Record<string, readonly string[]>> = {
  refund: ['money back', 'reimburse', 'reimbursement'],
  return: ['send back', 'send it back', 'take back'],
  delivery: ['shipping', 'postage', 'courier'],
  cost: ['price', 'fee', 'charge', 'how much'],
};

/** Tool names the audit trail takes as part of an action name (`tool.<name>`). */
const TOOL_ACTION_NAME = /^[a-z][a-z0-9_]{0,58}$/;

/**
 * Builds the default agent.
 *
 * @example
 * ```ts
 * const agent = await createDefaultAgent({ dataDir: './.keel', env: process.env });
 * const runtime = createRuntime({ dataDir: './.keel', machine: agent.machine });
 * ```
 */
export async function createDefaultAgent(options: DefaultAgentOptions): Promise<DefaultAgent> {
  if (typeof options?.dataDir !== 'string' || options.dataDir === '') throw new TypeError('option dataDir must be a non-empty path');
  const router = options.router ?? (await trainDemoRouter());
  const store = options.store ?? openDemoStore({ dataDir: options.dataDir });
  const knowledge = createKnowledgeIndex((knowledgeJson as { articles: KnowledgeArticle[] }).articles, { synonyms: KNOWLEDGE_SYNONYMS });
  const desk: HandoffDesk = options.desk ?? createLocalHandoffDesk();
  const config = readLlmConfig(options.env ?? {});
  const llm: LlmClient | undefined =
    options.llm ??
    (config.chain.length > 0
      ? createConfiguredLlm(config, {
          local: createLocalLlm(),
          ...(options.llmTimeoutMs !== undefined ? { timeoutMs: options.llmTimeoutMs } : {}),
          ...(options.llmDeadlineMs !== undefined ? { deadlineMs: options.llmDeadlineMs } : {}),
          ...(options.onLlmDecision ? { onDecision: options.onLlmDecision } : {}),
        })
      : undefined);
  const tools = { ...createDemoTools(store), ...resolveToolOverrides(options.toolOverrides) };
  const guard = createDemoToolGuard(store);
  const spec = createDemoAgentSpec({ ...(options.policies ? { policies: options.policies } : {}), storeName: store.info.name });
  const intents = (intentsJson as { intents: { name: string; description?: string }[] }).intents.map((i) => ({ name: i.name, description: i.description ?? i.name }));
  let lastRunner: ToolRunner | undefined;
  const maxSessionTokens = options.maxSessionTokens ?? 100_000;
  if (!Number.isSafeInteger(maxSessionTokens) || maxSessionTokens < 1) throw new TypeError('option maxSessionTokens must be a positive integer');

  const machine = (ports: RuntimePorts): AnyStateMachine => {
    const audit: ToolOutcomeListener = (input, outcome) => {
      const actor = { tenant: input.identity.tenant, user: input.identity.user, role: input.identity.role } as const;
      // A name the audit trail cannot take as an action (a model proposing `Refund-All-Orders`) is
      // still recorded, as `tool.unknown` with the name's safe characters: every refusal is audited.
      const named = TOOL_ACTION_NAME.test(input.tool);
      // Held for a human: pending. Another call of the conversation already waits, so the chart
      // refuses this one (one held call at a time): denied.
      const held = outcome.status === 'denied' && outcome.code === 'approval_required';
      const busy = held && input.approvalWaiting === true;
      const denial = outcome.status !== 'denied' ? {}
        : busy ? { code: outcome.code, reason: 'another call of this conversation is waiting for approval', rule: 'approval_busy' }
        : { code: outcome.code, reason: outcome.reason, ...(outcome.rule !== undefined ? { rule: outcome.rule } : {}) };
      void ports.audit
        ?.append({
          actor: actor as never,
          action: named ? `tool.${input.tool}` : 'tool.unknown',
          target: `session:${input.session}`,
          outcome: outcome.status === 'ok' ? 'ok' : outcome.status === 'denied' ? (held && !busy ? 'pending' : 'denied') : 'failed',
          details: {
            key: input.key,
            attempt: input.attempt,
            ...(named ? {} : { tool: String(input.tool).slice(0, 64).replace(/[^A-Za-z0-9_.-]/g, '?') }),
            ...denial,
            ...(outcome.status === 'failed' ? { reason: outcome.reason } : {}),
            ...(input.approver ? { approver: `${input.approver.role}:${input.approver.user}` } : {}),
          },
        })
        .catch(() => undefined);
    };
    const runner = createToolRunner({
      tools,
      guard,
      effects: ports.effects,
      ...(options.tools ?? {}),
      onOutcome: options.onToolOutcome ?? audit,
    });
    lastRunner = runner;
    // What successful tool calls confirm is learnt into the user's memory, whichever actor called.
    // One budget per session for every model call: routing, planning and drafting replies.
    const tokenBudget = ports.llmTokens ? { meter: ports.llmTokens, maxSessionTokens } : undefined;
    const logWriteError = (what: string) => (err: unknown) => ports.logger?.warn({ err, what }, 'a background memory write failed');
    const acting = ports.memory
      ? withMemoryLearning(runner, { memory: ports.memory, effects: ports.effects, ...DEMO_LEARNING, onError: logWriteError('learn_from_tool') })
      : runner;
    return createAgentMachine(spec).provide({
      actors: {
        routeMessage: createRouterActor({ router: router as Router, ...(llm ? { llm, intents } : {}), ...(tokenBudget ? { tokenBudget } : {}) }),
        callTool: createToolCallActor(acting),
        searchKnowledge: createKnowledgeSearchActor({ index: knowledge }),
        draftReply: createLlmReplyActor({
          ...(llm ? { llm } : {}),
          runner: acting,
          persona: `the support assistant of ${store.info.name}, an online outdoor clothing store`,
          ...(tokenBudget ? { tokenBudget } : {}),
        }),
        planTasks: createPlannerActor({ runner: acting, ...(llm ? { llm } : {}), ...(tokenBudget ? { tokenBudget } : {}) }),
        requestHandoff: createHandoffActor({ desk }),
        ...(ports.memory
          ? { recallMemory: createRecallActor({ memory: ports.memory, effects: ports.effects, onWriteError: (what, err) => logWriteError(what)(err) }) }
          : {}),
      },
    }) as unknown as AnyStateMachine;
  };

  return { machine, router, store, knowledge, desk, llm, runner: () => lastRunner };
}

/** Checks tool overrides: only demo tools can be replaced, since only they have guard policies. */
function resolveToolOverrides(overrides: Readonly<Record<string, ToolDefinition>> | undefined): Record<string, ToolDefinition> {
  if (overrides === undefined) return {};
  if (typeof overrides !== 'object' || overrides === null) throw new TypeError('option toolOverrides must be an object of tool definitions');
  const known = new Set<string>(DEMO_TOOL_NAMES);
  for (const [name, tool] of Object.entries(overrides)) {
    if (!known.has(name)) throw new TypeError(`option toolOverrides.${name} does not name a demo tool (${DEMO_TOOL_NAMES.join(', ')})`);
    if (typeof tool?.run !== 'function') throw new TypeError(`option toolOverrides.${name}.run must be a function`);
  }
  return { ...overrides };
}

/** True when the desk is keel's in-process one (the agent desk page and `handoff.*` frames use it). */
export function isLocalHandoffDesk(desk: HandoffDesk): desk is LocalHandoffDesk {
  return typeof (desk as LocalHandoffDesk).queue === 'function' && typeof (desk as LocalHandoffDesk).take === 'function';
}
