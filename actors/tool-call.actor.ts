/**
 * The `callTool` actor: one attempt of one tool call through the {@link ToolRunner} (guard,
 * effect ledger, breaker, timeout). The chart walks the rest of the ladder in its own states.
 */
import { fromPromise } from 'xstate';
import type { ToolCallInput, ToolOutcome } from '../machines/actor-contracts.js';
import { createToolRunner, type ToolRunner, type ToolRunnerOptions } from './tool-runner.js';

/**
 * Creates the `callTool` actor logic over a runner (or runner options).
 *
 * @example
 * ```ts
 * const runner = createToolRunner({ tools, guard, effects: ports.effects });
 * machine.provide({ actors: { callTool: createToolCallActor(runner) } });
 * ```
 */
export function createToolCallActor(runner: ToolRunner | ToolRunnerOptions) {
  const r: ToolRunner = 'run' in runner && typeof runner.run === 'function' ? runner : createToolRunner(runner as ToolRunnerOptions);
  return fromPromise<ToolOutcome, ToolCallInput>(({ input, signal }) => r.run(input, signal));
}
