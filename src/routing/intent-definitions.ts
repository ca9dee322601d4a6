/**
 * The intents file that users edit, and its validation set. Both are JSON; the format is documented
 * in docs/routing.md and checked here field by field, so that a typo fails at start-up with the
 * file and the JSON path of the problem instead of routing badly later.
 *
 * ```json
 * {
 *   "version": 1,
 *   "intents": [
 *     { "name": "order_status", "description": "Where an order is and when it arrives.",
 *       "examples": ["where is my order", "has my parcel shipped yet"] }
 *   ],
 *   "outOfScopeExamples": ["what's the weather tomorrow"]
 * }
 * ```
 *
 * Validation set: `{ "version": 1, "examples": [{ "text": "...", "intent": "order_status" },
 * { "text": "tell me a joke about cats", "intent": null }] }` (`null` = out of scope).
 */
import { readFile } from 'node:fs/promises';
import { KeelError } from '../errors.js';

/** One intent: a name the machines branch on, a description, and example utterances. */
export interface IntentDefinition {
  /** Identifier: 1-64 characters without spaces, starting with a letter or digit (e.g. `order_status`). */
  readonly name: string;
  /** One or two sentences on what the intent covers; also used as a training example. */
  readonly description: string;
  /** Example user messages (at least one; 15-40 varied phrasings work well). */
  readonly examples: readonly string[];
}

/** A parsed intents file. */
export interface IntentDefinitions {
  readonly intents: readonly IntentDefinition[];
  /** Optional messages that belong to no intent; when present they train an explicit out-of-scope class. */
  readonly outOfScopeExamples?: readonly string[];
}

/** One labelled validation message; `intent: null` marks an out-of-scope message. */
export interface ValidationExample {
  readonly text: string;
  readonly intent: string | null;
}

// Letters, digits and punctuation, no spaces: real intent sets use names like "reverted_card_payment?".
const NAME_PATTERN = /^[\p{L}\p{N}][^\s\p{Cc}]{0,63}$/u;
/** Longest accepted example text, in characters (limits are on by default). */
export const MAX_EXAMPLE_CHARS = 2000;

function invalid(source: string, path: string, problem: string): KeelError<'invalid_option'> {
  return new KeelError('invalid_option', `${source}: ${path} ${problem}`, { details: { source, path } });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkVersion(source: string, value: Record<string, unknown>): void {
  if (value.version !== undefined && value.version !== 1) throw invalid(source, 'version', 'must be 1');
}

function text(source: string, path: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim().length === 0) throw invalid(source, path, 'must be a non-empty string');
  if (value.length > MAX_EXAMPLE_CHARS) throw invalid(source, path, `is longer than ${MAX_EXAMPLE_CHARS} characters`);
  return value;
}

function texts(source: string, path: string, value: unknown): string[] {
  if (!Array.isArray(value)) throw invalid(source, path, 'must be an array of strings');
  return value.map((item, i) => text(source, `${path}[${i}]`, item));
}

/**
 * Checks and returns intent definitions from parsed JSON. Throws a KeelError `invalid_option`
 * naming the source and the JSON path of the first problem.
 *
 * @example
 * ```ts
 * const defs = parseIntentDefinitions(JSON.parse(raw), 'intents.json');
 * ```
 */
export function parseIntentDefinitions(value: unknown, source = 'intents'): IntentDefinitions {
  if (!isRecord(value)) throw invalid(source, '$', 'must be an object with an "intents" array');
  checkVersion(source, value);
  if (!Array.isArray(value.intents)) throw invalid(source, 'intents', 'must be an array');
  const seen = new Set<string>();
  const intents = value.intents.map((raw, i): IntentDefinition => {
    const path = `intents[${i}]`;
    if (!isRecord(raw)) throw invalid(source, path, 'must be an object');
    if (typeof raw.name !== 'string' || !NAME_PATTERN.test(raw.name)) {
      throw invalid(source, `${path}.name`, 'must be 1-64 characters without spaces, starting with a letter or digit');
    }
    if (seen.has(raw.name)) throw invalid(source, `${path}.name`, `repeats the intent "${raw.name}"`);
    seen.add(raw.name);
    const examples = texts(source, `${path}.examples`, raw.examples);
    if (examples.length === 0) throw invalid(source, `${path}.examples`, 'must hold at least one example');
    return Object.freeze({ name: raw.name, description: text(source, `${path}.description`, raw.description), examples: Object.freeze(examples) });
  });
  if (intents.length < 2) throw invalid(source, 'intents', 'must define at least two intents');
  const outOfScopeExamples = value.outOfScopeExamples === undefined ? undefined : texts(source, 'outOfScopeExamples', value.outOfScopeExamples);
  return Object.freeze({ intents: Object.freeze(intents), ...(outOfScopeExamples ? { outOfScopeExamples: Object.freeze(outOfScopeExamples) } : {}) });
}

/**
 * Checks and returns a validation set from parsed JSON. When `knownIntents` is given, every
 * labelled intent must be one of them.
 *
 * @example
 * ```ts
 * const validation = parseValidationSet(JSON.parse(raw), ['order_status', 'refund_request']);
 * ```
 */
export function parseValidationSet(value: unknown, knownIntents?: readonly string[], source = 'validation'): ValidationExample[] {
  if (!isRecord(value)) throw invalid(source, '$', 'must be an object with an "examples" array');
  checkVersion(source, value);
  if (!Array.isArray(value.examples)) throw invalid(source, 'examples', 'must be an array');
  const known = knownIntents ? new Set(knownIntents) : undefined;
  return value.examples.map((raw, i) => {
    const path = `examples[${i}]`;
    if (!isRecord(raw)) throw invalid(source, path, 'must be an object');
    const intent = raw.intent;
    if (intent !== null && typeof intent !== 'string') throw invalid(source, `${path}.intent`, 'must be an intent name or null (out of scope)');
    if (intent !== null && known && !known.has(intent)) throw invalid(source, `${path}.intent`, `names an unknown intent "${intent}"`);
    return Object.freeze({ text: text(source, `${path}.text`, raw.text), intent });
  });
}

async function readJson(path: string): Promise<unknown> {
  let raw: string;
  try {
    raw = await readFile(path, 'utf8');
  } catch (err) {
    throw new KeelError('invalid_option', `cannot read ${path}`, { cause: err, details: { source: path } });
  }
  try {
    return JSON.parse(raw) as unknown;
  } catch (err) {
    throw new KeelError('invalid_option', `${path}: not valid JSON (${(err as Error).message})`, { cause: err, details: { source: path } });
  }
}

/**
 * Reads and checks an intents file.
 *
 * @example
 * ```ts
 * const defs = await loadIntentDefinitions('src/demo/intents.json');
 * ```
 */
export async function loadIntentDefinitions(path: string): Promise<IntentDefinitions> {
  return parseIntentDefinitions(await readJson(path), path);
}

/**
 * Reads and checks a validation file.
 *
 * @example
 * ```ts
 * const validation = await loadValidationSet('src/demo/intents.validation.json', defs.intents.map((i) => i.name));
 * ```
 */
export async function loadValidationSet(path: string, knownIntents?: readonly string[]): Promise<ValidationExample[]> {
  return parseValidationSet(await readJson(path), knownIntents, path);
}
