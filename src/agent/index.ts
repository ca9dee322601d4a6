/**
 * keel's agent building blocks, for programs that run the default agent or describe their own:
 * the statechart factory and its spec types, slot extractors, the actors the chart needs (router,
 * guarded tool runner, knowledge search, LLM reply, planner, hand-off), the tool guard, the local
 * router and the intents every agent shares.
 *
 * @example
 * ```ts
 * import { createAgentMachine, createRouterActor, createToolRunner, createToolCallActor } from 'keel';
 * const machine = (ports) => createAgentMachine(spec).provide({ actors: { routeMessage: createRouterActor({ router }), ... } });
 * ```
 */
export { createDefaultAgent, trainDemoRouter, isLocalHandoffDesk } from './default-agent.js';
export type { RuntimePorts } from '../runtime/runtime.js';
export type { DefaultAgent, DefaultAgentOptions } from './default-agent.js';
export { createDemoAgentSpec } from './demo-agent-spec.js';
export { openDemoStore } from './demo-store.js';
export type { DemoStore, DemoOrder } from './demo-store.js';
export { createDemoTools, createDemoToolGuard, DEMO_TOOL_NAMES } from './demo-tools.js';
export { controlIntents, smalltalkIntents, CONTROL_INTENT_NAMES, SMALLTALK_INTENT_NAMES } from './control-intents.js';

export { createAgentMachine, AGENT_ACTORS } from '../../machines/agent.machine.js';
export type { AgentMachine } from '../../machines/agent.machine.js';
export { defaultPolicies, resolvePolicies } from '../../machines/agent-spec.js';
export type { AgentSpec, TaskSpec, SlotSpec, TaskReplies, AgentReplies, AgentPolicies, ControlIntents, SlotExtractContext } from '../../machines/agent-spec.js';
export { defaultReplies } from '../../machines/agent-replies.js';
export { PATTERNS } from '../../machines/pattern-catalogue.js';
export type { PatternEntry, PatternId } from '../../machines/pattern-catalogue.js';
export { extractDigitsId, extractChoice, extractFreeText, extractAddress, extractInteger, extractEmail, validateLength } from '../../machines/slot-extractors.js';
export type { SlotExtractor } from '../../machines/slot-extractors.js';
export { renderTemplate } from '../../machines/template.js';
export type { Template, TemplateVars } from '../../machines/template.js';
export type * from '../../machines/actor-contracts.js';
export type { AgentEvent, HandoffEvent, OperatorEvent, SignalEvent } from '../../machines/agent-events.js';

export { createRouterActor } from '../../actors/router.actor.js';
export type { RouterActorOptions } from '../../actors/router.actor.js';
export { createToolRunner, resolveToolRunnerOptions, defaultToolRunnerOptions } from '../../actors/tool-runner.js';
export type { ToolDefinition, ToolRegistry, ToolRunner, ToolRunnerOptions, ToolRunContext, ToolOutcomeListener } from '../../actors/tool-runner.js';
export { createToolCallActor } from '../../actors/tool-call.actor.js';
export { createKnowledgeIndex } from '../../actors/knowledge-index.js';
export type { KnowledgeArticle, KnowledgeIndex } from '../../actors/knowledge-index.js';
export { createKnowledgeSearchActor } from '../../actors/knowledge-search.actor.js';
export type { KnowledgeSource } from '../../actors/knowledge-search.actor.js';
export { createLlmReplyActor } from '../../actors/llm-reply.actor.js';
export type { LlmReplyActorOptions } from '../../actors/llm-reply.actor.js';
export { createPlannerActor } from '../../actors/planner.actor.js';
export type { PlannerActorOptions } from '../../actors/planner.actor.js';
export { createHandoffActor } from '../../actors/handoff.actor.js';
export type { HandoffDesk } from '../../actors/handoff.actor.js';

export { createToolGuard } from '../security/tool-guard.js';
export type { ToolPolicy, PolicyToolGuard } from '../security/tool-guard.js';
export { createLocalRouter, parseIntentDefinitions, parseValidationSet, routeConfidence } from '../routing/index.js';
export type { LocalRouter, IntentDefinition, IntentDefinitions, ValidationExample } from '../routing/index.js';
