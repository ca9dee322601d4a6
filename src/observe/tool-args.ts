/**
 * Tool arguments as the decision trace keeps them: the shape and the harmless values, never the
 * personal ones. The runtime's redactor later masks emails, phone numbers, cards and IBANs in any
 * string; this step also drops what no pattern recognises (an address, a name) by its key, and
 * bounds the size so that a model proposing a huge argument cannot bloat the trace.
 */
import type { Json } from '../types.js';

/** Keys whose values are personal or secret whatever they look like (compared without case, `-`, `_`). */
const SENSITIVE_ARG_KEYS: readonly string[] = Object.freeze([
  'address', 'street', 'city', 'postcode', 'zip', 'name', 'firstname', 'lastname', 'fullname', 'email', 'phone', 'mobile',
  'card', 'cardnumber', 'iban', 'account', 'password', 'secret', 'token', 'apikey', 'dob', 'birthdate', 'ssn', 'note', 'message', 'text',
]);

const MAX_DEPTH = 3;
const MAX_KEYS = 20;
const MAX_ITEMS = 10;
const MAX_CHARS = 120;

const normalise = (key: string): string => key.toLowerCase().replace(/[-_]/g, '');
/** The default keys, normalised once: every traced tool call is redacted with them. */
const DEFAULT_SENSITIVE = new Set(SENSITIVE_ARG_KEYS.map(normalise));

/**
 * A bounded copy of a tool call's arguments with sensitive values replaced by `[redacted]`.
 *
 * @example
 * ```ts
 * redactToolArgs({ orderId: '1042', address: '12 High Street' }); // { orderId: '1042', address: '[redacted]' }
 * ```
 */
export function redactToolArgs(args: unknown, sensitiveKeys: readonly string[] = SENSITIVE_ARG_KEYS): Json {
  const sensitive = sensitiveKeys === SENSITIVE_ARG_KEYS ? DEFAULT_SENSITIVE : new Set(sensitiveKeys.map(normalise));
  const copy = (value: unknown, depth: number): Json => {
    if (value === null || typeof value === 'boolean') return value;
    if (typeof value === 'number') return Number.isFinite(value) ? value : null;
    if (typeof value === 'string') return value.length > MAX_CHARS ? `${value.slice(0, MAX_CHARS)}…` : value;
    if (typeof value !== 'object' || depth >= MAX_DEPTH) return '[…]';
    if (Array.isArray(value)) return value.slice(0, MAX_ITEMS).map((v) => copy(v, depth + 1));
    const out: Record<string, Json> = {};
    for (const [key, v] of Object.entries(value as Record<string, unknown>).slice(0, MAX_KEYS)) {
      out[key] = sensitive.has(normalise(key)) ? '[redacted]' : copy(v, depth + 1);
    }
    return out;
  };
  return copy(args, 0);
}
