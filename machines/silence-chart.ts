/**
 * The silence region (P12), parallel to the conversation: armed whenever the agent waits for an
 * answer, it nudges, warns, then parks the session (the conversation region suspends the task so
 * "continue" resumes it). Its `after` timers are persisted by the runtime, so they survive
 * passivation and restarts.
 *
 * ```
 * silence
 * ├─ off        disarmed (nothing asked, busy, or with a human)
 * ├─ watching   → after silenceNudgeMs: nudge
 * ├─ nudged     → after silenceWarnMs: warn
 * └─ warned     → after silenceParkMs: park (raises silence.park)
 * ```
 */
import type { AgentKit } from './agent-setup.js';
import type { AgentSteps } from './agent-steps.js';

/**
 * Creates the silence region of an agent.
 *
 * @example
 * ```ts
 * states: { conversation, silence: createSilenceChart(kit, steps) }
 * ```
 */
export function createSilenceChart(kit: AgentKit, steps: AgentSteps) {
  const { s, act } = kit;
  const { dialog } = steps;
  return s.createStateConfig({
    initial: 'off',
    on: {
      'silence.disarm': { target: '.off' },
      'user.message': { target: '.off' },
    },
    states: {
      // Re-arming restarts the timers. The transition is declared on each child, never on the
      // region: a re-entering transition on the region would have the parallel root as its
      // domain and reset the conversation region too.
      off: { on: { 'silence.arm': { target: 'watching' } } },
      watching: { on: { 'silence.arm': { target: 'watching', reenter: true } }, after: { silenceNudge: { target: 'nudged', actions: act(dialog.nudge) } } },
      nudged: { on: { 'silence.arm': { target: 'watching' } }, after: { silenceWarn: { target: 'warned', actions: act(dialog.warn) } } },
      warned: { on: { 'silence.arm': { target: 'watching' } }, after: { silencePark: { target: 'off', actions: s.raise({ type: 'silence.park' }) } } },
    },
  });
}
