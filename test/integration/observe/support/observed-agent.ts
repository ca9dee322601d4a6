/**
 * The demo support agent built from its spec with the real actors (offline router, guarded demo
 * tools, knowledge base, planner, local hand-off desk), and tools that can be made to fail, so a
 * test controls exactly which rungs of the fallback ladder a conversation takes.
 */
import type { AnyStateMachine } from 'xstate';
import { createHandoffActor } from '../../../../actors/handoff.actor.js';
import { createKnowledgeIndex, type KnowledgeArticle } from '../../../../actors/knowledge-index.js';
import { createKnowledgeSearchActor } from '../../../../actors/knowledge-search.actor.js';
import { createLlmReplyActor } from '../../../../actors/llm-reply.actor.js';
import { createPlannerActor } from '../../../../actors/planner.actor.js';
import { createRouterActor } from '../../../../actors/router.actor.js';
import { createToolCallActor } from '../../../../actors/tool-call.actor.js';
import { createToolRunner, type ToolDefinition } from '../../../../actors/tool-runner.js';
import type { AgentPolicies } from '../../../../machines/agent-spec.js';
import { createAgentMachine } from '../../../../machines/agent.machine.js';
import { trainDemoRouter } from '../../../../src/agent/default-agent.js';
import { createDemoAgentSpec } from '../../../../src/agent/demo-agent-spec.js';
import { openDemoStore } from '../../../../src/agent/demo-store.js';
import { createDemoToolGuard, createDemoTools } from '../../../../src/agent/demo-tools.js';
import { createLocalHandoffDesk } from '../../../../src/agent/local-handoff-desk.js';
import knowledgeJson from '../../../../src/demo/knowledge-base.json' with { type: 'json' };
import type { LlmClient, Router } from '../../../../src/ports.js';
import type { RuntimePorts } from '../../../../src/runtime/runtime.js';

export interface ObservedAgentOptions {
  readonly dataDir: string;
  /** Tool names whose calls throw (a technical failure the ladder handles). */
  readonly failing?: ReadonlySet<string>;
  readonly policies?: Partial<AgentPolicies>;
  /** Milliseconds each tool call takes before answering. Default 2. */
  readonly toolDelayMs?: number;
  /** A language model that rephrases the grounded replies. Default none: templates only. */
  readonly llm?: LlmClient;
}

export interface ObservedAgent {
  readonly machine: (ports: RuntimePorts) => AnyStateMachine;
  /** Tool names whose calls throw; change it between turns. */
  readonly failing: Set<string>;
  /** Calls made per tool (attempts included). */
  readonly calls: Map<string, number>;
}

export async function createObservedAgent(options: ObservedAgentOptions): Promise<ObservedAgent> {
  const router = await trainDemoRouter();
  const store = openDemoStore({ dataDir: options.dataDir, persist: false });
  const failing = new Set(options.failing ?? []);
  const calls = new Map<string, number>();
  const delayMs = options.toolDelayMs ?? 2;
  const tools: Record<string, ToolDefinition> = {};
  for (const [name, tool] of Object.entries(createDemoTools(store))) {
    tools[name] = {
      ...tool,
      async run(args, context) {
        calls.set(name, (calls.get(name) ?? 0) + 1);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        if (failing.has(name)) throw new Error(`${name} is down`);
        return tool.run(args, context);
      },
    };
  }
  const guard = createDemoToolGuard(store);
  const knowledge = createKnowledgeIndex((knowledgeJson as { articles: KnowledgeArticle[] }).articles);
  const desk = createLocalHandoffDesk();
  const spec = createDemoAgentSpec({ ...(options.policies ? { policies: options.policies } : {}) });
  const machine = (ports: RuntimePorts): AnyStateMachine => {
    const runner = createToolRunner({ tools, guard, effects: ports.effects, baseDelayMs: 5, maxDelayMs: 20, breakerFailures: 50 });
    return createAgentMachine(spec).provide({
      actors: {
        routeMessage: createRouterActor({ router: router as Router }),
        callTool: createToolCallActor(runner),
        searchKnowledge: createKnowledgeSearchActor({ index: knowledge }),
        draftReply: createLlmReplyActor({ runner, ...(options.llm ? { llm: options.llm, stream: false } : {}) }),
        planTasks: createPlannerActor({ runner }),
        requestHandoff: createHandoffActor({ desk }),
      },
    }) as unknown as AnyStateMachine;
  };
  return { machine, failing, calls };
}
