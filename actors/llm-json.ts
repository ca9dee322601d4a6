/**
 * Reads the JSON object a model was asked to answer with. Models wrap it in prose or code fences
 * now and then, so the outermost `{...}` is taken; anything unparsable is `undefined`, and the
 * caller falls back to its local rung.
 */

/**
 * The outermost JSON object in `text`, parsed, or `undefined`.
 *
 * @example
 * ```ts
 * firstJsonObject('Sure: {"intent": "refund_request"}'); // { intent: 'refund_request' }
 * firstJsonObject('no idea'); // undefined
 * ```
 */
export function firstJsonObject(text: string): unknown {
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start < 0 || end <= start) return undefined;
  try {
    return JSON.parse(text.slice(start, end + 1));
  } catch {
    return undefined;
  }
}
