/**
 * The first steps of reading a client frame, the same for every WebSocket protocol of the server
 * (`/chat`, `/desk`): JSON text holding an object, own properties only, and the `auth` frame's
 * token. Pure, and never throws on client input.
 */

/** A frame's JSON object, or what is wrong with the text. */
export type FrameObject =
  | { readonly ok: true; readonly obj: Record<string, unknown> }
  | { readonly ok: false; readonly message: string };

/**
 * Reads one text frame as a JSON object.
 *
 * @example
 * ```ts
 * readFrameObject('{"type":"ping"}'); // { ok: true, obj: { type: 'ping' } }
 * readFrameObject('[1]'); // { ok: false, message: 'frame must be a JSON object' }
 * ```
 */
export function readFrameObject(data: string): FrameObject {
  if (typeof data !== 'string') return { ok: false, message: 'frames are JSON text' };
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return { ok: false, message: 'frame is not valid JSON' };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, message: 'frame must be a JSON object' };
  return { ok: true, obj: value as Record<string, unknown> };
}

/**
 * Reads a property only when the object itself has it: `__proto__` and inherited keys never count.
 *
 * @example
 * ```ts
 * own(JSON.parse('{"__proto__":{"admin":true}}'), 'admin'); // undefined
 * ```
 */
export function own(obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/**
 * The token of an `auth` frame, or why it is refused: missing, empty, not a string, or longer
 * than `maxTokenChars` (a real token is far shorter).
 *
 * @example
 * ```ts
 * authToken({ type: 'auth', token: 'eyJ...' }, 4096); // { ok: true, token: 'eyJ...' }
 * ```
 */
export function authToken(obj: Record<string, unknown>, maxTokenChars: number): { readonly ok: true; readonly token: string } | { readonly ok: false; readonly message: string } {
  const token = own(obj, 'token');
  if (typeof token !== 'string' || token === '') return { ok: false, message: 'auth.token must be a non-empty string' };
  if (token.length > maxTokenChars) return { ok: false, message: 'auth.token is too long' };
  return { ok: true, token };
}

/**
 * Names a client's `type` field in an error message without converting it: a JSON object such as
 * `{"toString":""}` makes `String(value)` throw.
 *
 * @example
 * ```ts
 * typeLabel('say'); // 'say'
 * typeLabel({ toString: '' }); // 'object'
 * ```
 */
export function typeLabel(value: unknown): string {
  return typeof value === 'string' ? value : value === null ? 'null' : typeof value;
}
