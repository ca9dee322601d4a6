/**
 * What a decision event may say before anyone sees or stores it: every string in it goes through
 * the redactor (emails, phone numbers, cards, IBANs masked), and a tool call's `args`, whichever
 * part of keel decided (the tracer, the chart holding a call for approval), first lose their
 * personal values by key (`redactToolArgs`).
 */
import type { DecisionEvent } from '../ports.js';
import type { Json } from '../types.js';
import { redactToolArgs } from './tool-args.js';

/** Nesting below which values are kept as they are (the trace bounds its events anyway). */
const MAX_DEPTH = 5;

/**
 * The decision stream's transform for a redactor's `text`.
 *
 * @example
 * ```ts
 * const redact = redactDecision(createRedactor().text);
 * redact({ ...event, data: { args: { orderId: '1042', address: '12 High Street' }, note: 'ann@example.com' } }).data;
 * // { args: { orderId: '1042', address: '[redacted]' }, note: '[email]' }
 * ```
 */
export function redactDecision(redactText: (text: string) => string): (e: DecisionEvent) => DecisionEvent {
  const scrub = (value: Json, depth: number): Json => {
    if (typeof value === 'string') return redactText(value);
    if (depth > MAX_DEPTH || value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value)) out[k] = scrub(v, depth + 1);
    return out;
  };
  return (e) => {
    const args = e.data.args;
    const data = args !== undefined && args !== null && typeof args === 'object' ? { ...e.data, args: redactToolArgs(args) } : e.data;
    return { ...e, reason: redactText(e.reason), data: scrub(data as Json, 0) as Record<string, Json> };
  };
}
