/**
 * The demo store's intents and their validation set (src/demo), as the router's tests train on
 * them: the validation labels are checked against the intents' names.
 */
import { fileURLToPath } from 'node:url';
import { loadIntentDefinitions, loadValidationSet, type IntentDefinitions, type ValidationExample } from '../../../src/routing/index.js';

const demoFile = (name: string): string => fileURLToPath(new URL(`../../../src/demo/${name}`, import.meta.url));

/**
 * Loads the demo intents and validation set.
 *
 * @example
 * ```ts
 * const { intents, validation } = await loadDemoDataset();
 * const router = await createLocalRouter({ intents, validation });
 * ```
 */
export async function loadDemoDataset(): Promise<{ intents: IntentDefinitions; validation: ValidationExample[] }> {
  const intents = await loadIntentDefinitions(demoFile('intents.json'));
  const validation = await loadValidationSet(demoFile('intents.validation.json'), intents.intents.map((i) => i.name));
  return { intents, validation };
}
