/**
 * Redaction of personal data in text and deep inside JSON-like values, before anything reaches
 * logs, the decision trace, the inspector or the audit log (DESIGN §5).
 */
import { BUILTIN_DETECTORS, builtinDetectors, type BuiltinDetector, type PiiDetector, type PiiSpan } from './pii-detectors.js';
import type { Json } from '../types.js';

/** One piece of personal data about to be masked. */
export interface RedactionMatch {
  /** Detector name: `email`, `phone`, `card`, `iban` or an extra pattern's name. */
  readonly kind: string;
  /** The text that is being masked. */
  readonly text: string;
}

/** How matches are masked: `label` → `[card]`; `partial` → `[card ****1111]` (last digits of cards, IBANs, phones); or a function. */
export type MaskStyle = 'label' | 'partial' | ((match: RedactionMatch) => string);

/** An extra detector given as a regular expression (the `g` flag is added when missing). */
export interface ExtraPattern {
  /** Lower-case name, used in the mask (`[order_ref]`). */
  readonly name: string;
  readonly pattern: RegExp;
}

/** Options of {@link createRedactor}. */
export interface RedactorOptions {
  /** Built-in detectors to run (overlaps resolve in {@link BUILTIN_DETECTORS} order). Default all: `['email', 'iban', 'card', 'phone']`. */
  readonly detectors?: readonly BuiltinDetector[];
  /** Default `'label'`. */
  readonly mask?: MaskStyle;
  /** More detectors, run after the built-in ones. Default none. */
  readonly extraPatterns?: readonly ExtraPattern[];
  /**
   * Object keys whose values are replaced whole by `[secret]`, compared without case, `-` and `_`.
   * Default `password`, `secret`, `token`, `apikey`, `authorization`, `cookie`, ... (see {@link defaultRedactorOptions}).
   */
  readonly secretKeys?: readonly string[];
  /** Deeper values become `[truncated]`. Default 32. */
  readonly maxDepth?: number;
}

/** Defaults of {@link RedactorOptions}. */
export const defaultRedactorOptions = Object.freeze({
  detectors: BUILTIN_DETECTORS,
  mask: 'label' as MaskStyle,
  extraPatterns: Object.freeze([]) as readonly ExtraPattern[],
  secretKeys: Object.freeze(['password', 'passwd', 'secret', 'clientsecret', 'token', 'accesstoken', 'refreshtoken', 'idtoken', 'apikey', 'authorization', 'cookie', 'setcookie', 'privatekey']) as readonly string[],
  maxDepth: 32,
});

type ResolvedRedactorOptions = Readonly<Required<RedactorOptions>>;

/**
 * Validates redactor options; throws a TypeError naming the bad option.
 *
 * @example
 * ```ts
 * resolveRedactorOptions({ detectors: ['ssn'] }); // TypeError: detectors ...
 * ```
 */
export function resolveRedactorOptions(options: RedactorOptions = {}): ResolvedRedactorOptions {
  const o = { ...defaultRedactorOptions, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Required<RedactorOptions>;
  if (!Array.isArray(o.detectors) || o.detectors.some((d) => !(BUILTIN_DETECTORS as readonly string[]).includes(d))) {
    throw new TypeError(`detectors must be a list of ${BUILTIN_DETECTORS.join(', ')}`);
  }
  if (o.mask !== 'label' && o.mask !== 'partial' && typeof o.mask !== 'function') throw new TypeError("mask must be 'label', 'partial' or a function");
  if (!Array.isArray(o.extraPatterns) || o.extraPatterns.some((p) => !(p?.pattern instanceof RegExp) || typeof p.name !== 'string' || !/^[a-z][a-z0-9_-]{0,31}$/.test(p.name))) {
    throw new TypeError('extraPatterns must be a list of { name: lower-case word, pattern: RegExp }');
  }
  if (!Array.isArray(o.secretKeys) || o.secretKeys.some((k) => typeof k !== 'string')) throw new TypeError('secretKeys must be a list of strings');
  if (!Number.isSafeInteger(o.maxDepth) || o.maxDepth < 1) throw new TypeError('maxDepth must be a positive integer');
  return Object.freeze({
    ...o,
    detectors: Object.freeze([...o.detectors]),
    extraPatterns: Object.freeze([...o.extraPatterns]),
    secretKeys: Object.freeze(o.secretKeys.map(normaliseKey)),
  });
}

/** Masks personal data. Both methods return new values and never throw on odd input. */
export interface Redactor {
  /** `s` with every detected piece of personal data masked. */
  text(s: string): string;
  /**
   * A redacted copy of `v`: strings masked, values under secret keys replaced, keys masked too,
   * cycles and too-deep parts replaced by markers. Non-JSON leaves (functions, symbols) are dropped.
   */
  value(v: Json): Json;
  value(v: unknown): unknown;
}

/**
 * Creates a redactor.
 *
 * @example
 * ```ts
 * const redact = createRedactor();
 * redact.text('mail ann@example.com, card 4111 1111 1111 1111'); // 'mail [email], card [card]'
 * redact.value({ note: 'call +44 20 7946 0958', password: 'hunter2' }); // { note: 'call [phone]', password: '[secret]' }
 * createRedactor({ mask: 'partial' }).text('4111111111111111'); // '[card ****1111]'
 * ```
 */
export function createRedactor(options: RedactorOptions = {}): Redactor {
  const o = resolveRedactorOptions(options);
  const detectors: { kind: string; find: PiiDetector }[] = [
    ...BUILTIN_DETECTORS.filter((kind) => o.detectors.includes(kind)).map((kind) => ({ kind, find: builtinDetectors[kind] })),
    ...o.extraPatterns.map(({ name, pattern }) => ({ kind: name, find: regexDetector(pattern) })),
  ];
  const secretKeys = new Set(o.secretKeys);
  const cardOn = o.detectors.includes('card');
  // Every built-in kind needs a digit or an '@'; most log lines have neither and skip the scan.
  const quickSkip = o.extraPatterns.length === 0 ? /[\d@]/ : undefined;

  const text = (s: string): string => {
    if (typeof s !== 'string' || s === '' || (quickSkip && !quickSkip.test(s))) return s;
    let taken: (PiiSpan & { kind: string })[] = [];
    // Earlier detectors win overlaps (an email's digits are not a phone number). `taken` stays
    // sorted and disjoint, so merging each detector's spans is linear, not quadratic.
    for (const { kind, find } of detectors) {
      const found = find(s).filter((span) => span.end > span.start).sort((a, b) => a.start - b.start || b.end - a.end);
      if (found.length === 0) continue;
      const merged: (PiiSpan & { kind: string })[] = [];
      let i = 0;
      for (const span of found) {
        while (i < taken.length && (taken[i] as PiiSpan).end <= span.start) merged.push(taken[i++] as PiiSpan & { kind: string });
        const clashesTaken = i < taken.length && (taken[i] as PiiSpan).start < span.end;
        const last = merged[merged.length - 1];
        if (!clashesTaken && !(last && last.end > span.start)) merged.push({ start: span.start, end: span.end, kind });
      }
      while (i < taken.length) merged.push(taken[i++] as PiiSpan & { kind: string });
      taken = merged;
    }
    if (taken.length === 0) return s;
    let out = '';
    let at = 0;
    for (const t of taken) {
      out += s.slice(at, t.start) + mask(o.mask, { kind: t.kind, text: s.slice(t.start, t.end) });
      at = t.end;
    }
    return out + s.slice(at);
  };

  const walk = (v: unknown, depth: number, seen: Set<object>): unknown => {
    if (typeof v === 'string') return text(v);
    if (typeof v === 'number' || typeof v === 'bigint') {
      // A card number stored as a number is still a card number.
      if (cardOn && (typeof v === 'bigint' || Number.isSafeInteger(v)) && digitsOf(v).length >= 13) {
        const digits = digitsOf(v);
        return text(digits) === digits ? v : mask(o.mask, { kind: 'card', text: digits });
      }
      return typeof v === 'bigint' ? v.toString() : v;
    }
    if (v === null || typeof v === 'boolean' || v === undefined) return v;
    if (typeof v !== 'object') return undefined;
    if (seen.has(v)) return '[circular]';
    if (depth >= o.maxDepth) return '[truncated]';
    if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return `[binary ${v.byteLength} bytes]`;
    seen.add(v);
    try {
      if (Array.isArray(v)) return v.map((item) => walk(item, depth + 1, seen) ?? null);
      if (v instanceof Error) return { name: v.name, message: text(v.message) };
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') return walk(toJSON.call(v), depth + 1, seen);
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(v)) {
        const value = secretKeys.has(normaliseKey(key)) ? '[secret]' : walk(item, depth + 1, seen);
        if (value === undefined) continue;
        let name = text(key);
        // Two keys that mask alike (two emails) must both survive.
        for (let n = 2; Object.hasOwn(out, name); n++) name = `${text(key)} (${n})`;
        out[name] = value;
      }
      return out;
    } finally {
      seen.delete(v);
    }
  };

  return Object.freeze({
    text,
    value: (v: unknown) => walk(v, 0, new Set()),
  }) as Redactor;
}

function mask(style: MaskStyle, match: RedactionMatch): string {
  if (typeof style === 'function') return style(match);
  if (style === 'label') return `[${match.kind}]`;
  const alnum = match.text.replace(/[^A-Za-z0-9]/g, '');
  const keep = match.kind === 'card' || match.kind === 'iban' ? 4 : match.kind === 'phone' ? 2 : 0;
  return keep > 0 ? `[${match.kind} ****${alnum.slice(-keep)}]` : `[${match.kind}]`;
}

function regexDetector(pattern: RegExp): PiiDetector {
  const global = new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`);
  return (s) => {
    const out: PiiSpan[] = [];
    for (const m of s.matchAll(global)) out.push({ start: m.index ?? 0, end: (m.index ?? 0) + m[0].length });
    return out;
  };
}

function digitsOf(v: number | bigint): string {
  return (typeof v === 'bigint' ? (v < 0n ? -v : v) : Math.abs(v)).toString();
}

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[-_\s]/g, '');
}
