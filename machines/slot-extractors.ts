/**
 * Building blocks for slots: extractors read a value from a message, validators check it. All
 * pure. When the agent just asked for a slot (`asked`), extractors accept a looser answer
 * ("the blue one", a bare address); otherwise they need a clear marker, so that a sentence about
 * something else does not fill a slot by accident.
 */
import type { Json } from '../src/types.js';
import type { SlotExtractContext } from './agent-spec.js';

/** An extractor, as {@link SlotSpec.extract} expects. */
export type SlotExtractor = (text: string, context: SlotExtractContext) => Json | undefined;

/**
 * Reads a record number of `minDigits`-`maxDigits` digits (optionally after `#`): order numbers,
 * ticket numbers. Unless the agent asked for it, the message must name it ("order 1042",
 * "I meant 1043", "#1042") or be little more than the number, so a postcode in an address is not
 * taken for an order. In "I meant 1043, not 1042" the meant one wins.
 *
 * @example
 * ```ts
 * const orderNumber = extractDigitsId({ minDigits: 4, maxDigits: 6 });
 * orderNumber('where is order #1042?', { slots: {}, asked: false }); // '1042'
 * ```
 */
export function extractDigitsId(
  options: { readonly minDigits?: number; readonly maxDigits?: number; readonly markers?: readonly string[] } = {},
): SlotExtractor {
  const min = options.minDigits ?? 4;
  const max = options.maxDigits ?? 8;
  const pattern = new RegExp(`(?:^|[^\\d.,:/-])#?(\\d{${min},${max}})(?!\\d)(?![.,:/]\\d)`, 'g');
  const markers = new RegExp(`#|\\b(?:${(options.markers ?? ['order', 'orders', 'number', 'meant', 'mean', 'ref', 'reference', 'id']).map(escape).join('|')})\\b`, 'i');
  return (text, { asked }) => {
    const found = [...text.matchAll(pattern)].map((m) => m[1] as string);
    if (found.length === 0) return undefined;
    if (!asked && !markers.test(text) && text.trim().split(/\s+/).length > 3) return undefined;
    const meant = /\b(?:meant|mean|is|it's|its|use|try)\s+(?:order\s+|number\s+|#)?(\d+)/i.exec(text)?.[1];
    return meant !== undefined && found.includes(meant) ? meant : found[0];
  };
}

/**
 * Reads one of a fixed set of values by keywords; with `asked`, free text becomes `otherValue`
 * when given.
 *
 * @example
 * ```ts
 * const reason = extractChoice({ damaged: ['broken', 'damaged'], wrong_item: ['wrong item'] }, { otherValue: 'other' });
 * reason('it arrived broken', { slots: {}, asked: true }); // 'damaged'
 * ```
 */
export function extractChoice(
  choices: Readonly<Record<string, readonly string[]>>,
  options: { readonly otherValue?: string; readonly minChars?: number } = {},
): SlotExtractor {
  const entries = Object.entries(choices).map(([value, words]) => ({ value, pattern: new RegExp(`\\b(?:${words.map(escape).join('|')})\\b`, 'i') }));
  return (text, { asked }) => {
    const hit = entries.find((e) => e.pattern.test(text));
    if (hit) return hit.value;
    if (asked && options.otherValue !== undefined && text.trim().length >= (options.minChars ?? 3)) return options.otherValue;
    return undefined;
  };
}

/**
 * Reads free text: when asked, the whole answer; otherwise only what follows a marker
 * ("because ...", "reason: ...").
 *
 * @example
 * ```ts
 * const note = extractFreeText({ markers: ['because', 'reason is'] });
 * note('refund 1042 because it is too small', { slots: {}, asked: false }); // 'it is too small'
 * ```
 */
export function extractFreeText(options: { readonly markers?: readonly string[]; readonly minChars?: number; readonly maxChars?: number } = {}): SlotExtractor {
  const min = options.minChars ?? 3;
  const max = options.maxChars ?? 300;
  const marker = options.markers?.length ? new RegExp(`\\b(?:${options.markers.map(escape).join('|')})\\s*:?\\s+(.+)$`, 'i') : undefined;
  return (text, { asked }) => {
    const fromMarker = marker?.exec(text)?.[1]?.trim();
    const value = fromMarker ?? (asked ? text.trim() : undefined);
    if (value === undefined || value.length < min) return undefined;
    return value.slice(0, max);
  };
}

const STREET = /\b\d{1,5}[a-z]?\s+(?:[A-Za-z'.-]+\s+){0,4}(?:street|st|road|rd|avenue|ave|lane|ln|way|drive|dr|close|place|pl|square|sq|court|ct|crescent|terrace|gardens|hill|row|walk|boulevard|blvd|strasse|straße|rue|via|weg|gasse)\b[^\n]*/i;

/**
 * Reads a postal address: a street line with a house number ("12 High Street, Bristol BS1 4DJ").
 * When asked, any answer with a number and two words counts; otherwise the street pattern or a
 * marker ("the address is ...", "ship it to ...") is needed.
 *
 * @example
 * ```ts
 * extractAddress('please send it to 5 Elm Road, Leeds', { slots: {}, asked: false }); // '5 Elm Road, Leeds'
 * ```
 */
export const extractAddress: SlotExtractor = (text, { asked }) => {
  const marked = /\b(?:address(?: is| to)?|send it to|ship it to|deliver(?: it)? to|change it to|to)\s*:?\s+(\d.+)$/i.exec(text)?.[1];
  const street = STREET.exec(text)?.[0];
  let value = marked ?? street;
  if (value === undefined && asked && /\d/.test(text) && text.trim().split(/\s+/).length >= 3) value = text;
  if (value === undefined) return undefined;
  const cleaned = value.trim().replace(/^(?:to|is)\s+/i, '').replace(/[.!?]+$/, '').trim();
  return cleaned.length >= 8 ? cleaned.slice(0, 200) : undefined;
};

/**
 * Reads a whole number in a range, e.g. a party size ("a table for 4", "four people").
 *
 * @example
 * ```ts
 * const people = extractInteger({ min: 1, max: 12, near: ['people', 'persons', 'guests', 'for'] });
 * people('a table for four', { slots: {}, asked: false }); // 4
 * ```
 */
export function extractInteger(options: { readonly min: number; readonly max: number; readonly near?: readonly string[] }): SlotExtractor {
  const words: Record<string, number> = { one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, seven: 7, eight: 8, nine: 9, ten: 10, eleven: 11, twelve: 12 };
  const near = options.near?.length ? new RegExp(`\\b(?:${options.near.map(escape).join('|')})\\b`, 'i') : undefined;
  return (text, { asked }) => {
    if (!asked && near && !near.test(text)) return undefined;
    const m = /\b(\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)\b/i.exec(text)?.[1]?.toLowerCase();
    if (m === undefined) return undefined;
    const n = words[m] ?? Number(m);
    return Number.isInteger(n) && n >= options.min && n <= options.max ? n : undefined;
  };
}

/**
 * Reads an e-mail address.
 *
 * @example
 * ```ts
 * extractEmail('reach me at ada@example.com', { slots: {}, asked: false }); // 'ada@example.com'
 * ```
 */
export const extractEmail: SlotExtractor = (text) => /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/.exec(text)?.[0]?.toLowerCase();

/**
 * Validates a string's length; returns the problem to tell the user.
 *
 * @example
 * ```ts
 * const check = validateLength(8, 200, 'That address looks too short.');
 * ```
 */
export function validateLength(min: number, max: number, problem: string): (value: Json) => string | undefined {
  return (value) => (typeof value === 'string' && value.length >= min && value.length <= max ? undefined : problem);
}

function escape(word: string): string {
  return word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\s+/g, '\\s+');
}
