/**
 * Intents every agent needs besides its own tasks: yes, no, cancel, correct, resume, a human, and
 * the small talk of hello, thanks and goodbye. Their example phrasings ship with keel (the demo
 * store's intents file), so a custom agent trains its router on its own intents plus these.
 */
import intentsJson from '../demo/intents.json' with { type: 'json' };
import type { IntentDefinition } from '../routing/index.js';

/** The control intents the agent chart branches on (see `ControlIntents`). */
export const CONTROL_INTENT_NAMES = Object.freeze(['affirm', 'deny', 'cancel', 'correct', 'resume', 'human_agent'] as const);

/** Small-talk intents with phrasings shipped by keel. */
export const SMALLTALK_INTENT_NAMES = Object.freeze(['greeting', 'thanks', 'goodbye'] as const);

function pick(names: readonly string[]): IntentDefinition[] {
  const all = (intentsJson as { intents: IntentDefinition[] }).intents;
  return names.map((name) => {
    const found = all.find((i) => i.name === name);
    if (!found) throw new TypeError(`keel ships no phrasings for the intent ${name}`);
    return { name: found.name, description: found.description, examples: [...found.examples] };
  });
}

/**
 * The control intents with keel's phrasings, to train a custom agent's router with.
 *
 * @example
 * ```ts
 * const intents = parseIntentDefinitions({ intents: [...myTaskIntents, ...controlIntents(), ...smalltalkIntents()] });
 * const router = await createLocalRouter({ intents });
 * ```
 */
export function controlIntents(): IntentDefinition[] {
  return pick(CONTROL_INTENT_NAMES);
}

/**
 * The small-talk intents (greeting, thanks, goodbye) with keel's phrasings; answer them with
 * `spec.smalltalk`.
 *
 * @example
 * ```ts
 * createAgentMachine({ ...spec, smalltalk: { greeting: 'Hi! I can reset passwords.', thanks: 'Any time!', goodbye: 'Bye!' } });
 * ```
 */
export function smalltalkIntents(): IntentDefinition[] {
  return pick(SMALLTALK_INTENT_NAMES);
}
