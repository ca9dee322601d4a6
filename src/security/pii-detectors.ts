/**
 * Detectors of personal data in free text: emails, phone numbers, payment card numbers (Luhn
 * checked) and IBANs (mod-97 checked). Each returns spans; {@link createRedactor} masks them.
 *
 * Every pattern starts only at a boundary (a lookbehind refuses a start inside a run of the same
 * characters) and has no nested ambiguous repetition, so matching stays linear in the text
 * length: these run on every log line and trace event, including hostile input.
 */

/** A span of `text` that holds one piece of personal data. */
export interface PiiSpan {
  readonly start: number;
  readonly end: number;
}

/** Finds spans of one kind of personal data in a text. */
export type PiiDetector = (text: string) => PiiSpan[];

/**
 * Names of the built-in detectors, in the order overlaps are resolved: checksummed detectors
 * (IBAN, card) before the heuristic phone patterns, so a card is never half-masked as a phone.
 */
export const BUILTIN_DETECTORS = ['email', 'iban', 'card', 'phone'] as const;
/** One of {@link BUILTIN_DETECTORS}. */
export type BuiltinDetector = (typeof BUILTIN_DETECTORS)[number];

// The local part takes every RFC 5322 atext character, so no part of an address is left showing.
const EMAIL = /(?<![\p{L}\p{N}.!#$%&'*+/=?^_`{|}~-])[\p{L}\p{N}.!#$%&'*+/=?^_`{|}~-]{1,64}@(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]{0,61}[\p{L}\p{N}])?\.)+\p{L}{2,63}/gu;

/**
 * Emails: a local part, `@`, a dotted domain ending in a letters-only TLD.
 *
 * @example
 * ```ts
 * findEmails('mail ann@example.com now'); // [{ start: 5, end: 20 }]
 * ```
 */
export const findEmails: PiiDetector = (text) => spans(EMAIL, text);

// One phone "step" is one digit, optionally preceded by one separator; parentheses act as
// separators ("+44 (0)20 ...", "(555) 123-4567"). Counting steps counts digits.
const STEP = String.raw`(?:(?:[ .\-/]|[ ]?\(|\)[ ]?)?\d)`;
const NOT_BEFORE = String.raw`(?<![\p{L}\p{N}_+#])`;
const NOT_AFTER = String.raw`(?![\p{L}\p{N}_])`;
/** +CC... or 00CC...: 8 to 15 digits after the prefix (E.164). */
const PHONE_INTERNATIONAL = new RegExp(String.raw`${NOT_BEFORE}(?:\+|00)[ ]?[1-9]${STEP}{7,14}${NOT_AFTER}`, 'gu');
/** North American 3-3-4 with separators, optional leading 1. */
const PHONE_NANP = new RegExp(String.raw`${NOT_BEFORE}(?:1[ .-]?)?(?:\(\d{3}\)[ ]?|\d{3}[ .-])\d{3}[ .-]\d{4}${NOT_AFTER}`, 'gu');
/** National numbers with a trunk 0 ("020 7946 0958", "06 12 34 56 78", "0151 23456789"). */
const PHONE_TRUNK = new RegExp(String.raw`${NOT_BEFORE}\(?0\d{1,4}\)?${STEP}{5,10}${NOT_AFTER}`, 'gu');

/**
 * Phone numbers in international (`+`/`00`) and common national formats. Plain digit runs are
 * left alone unless they start with a trunk 0 and have 10-11 digits, so order numbers
 * ("#10234", "order 4410234") and amounts stay readable.
 *
 * @example
 * ```ts
 * findPhones('call +44 20 7946 0958 re #10234'); // [{ start: 5, end: 21 }]
 * ```
 */
export const findPhones: PiiDetector = (input) => {
  const text = withoutUuids(input);
  return disjoint([
    ...spans(PHONE_INTERNATIONAL, text),
    ...spans(PHONE_NANP, text),
    ...spans(PHONE_TRUNK, text).filter(({ start, end }) => {
      const raw = text.slice(start, end);
      const digits = raw.replace(/\D/g, '').length;
      return /\D/.test(raw) ? digits >= 9 && digits <= 12 : digits >= 10 && digits <= 11;
    }),
  ]);
};

// A UUID is an id, never personal data, yet its groups can hold digit runs that pass a check: in
// a session id ending "-9945-716151978129" the last 16 digits are Luhn-valid, and the audit trail
// showed the session as "...-[card]".
const UUID = /(?<![\p{L}\p{N}_-])[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}(?![\p{L}\p{N}_-])/giu;

/** The last text blanked, and the result. */
let blanked = { input: '', output: '' };

/**
 * The text with every UUID blanked to letters of the same length: digit-based detectors scan it,
 * so no span starts, ends or joins digits inside an id, and positions stay those of the text.
 */
function withoutUuids(text: string): string {
  if (!text.includes('-')) return text;
  // The redactor runs the card and the phone detector on the same text, one after the other.
  if (text !== blanked.input) blanked = { input: text, output: text.replace(UUID, (id) => 'x'.repeat(id.length)) };
  return blanked.output;
}

// Runs of digit groups joined by one or two spaces (also no-break, figure and narrow spaces),
// dashes or dots; groups are never split, so a card is found when it is written as one run or in
// its usual 4-4-4-4 groups, however a keyboard or a form separated them.
const DIGIT_RUN = /(?<!\p{N})\d+(?:[ \u00a0\u2007\u202f.-]{1,2}\d+)*(?!\p{N})/gu;

/**
 * Payment card numbers: 13-19 digits, optionally grouped with spaces, dashes or dots, passing the Luhn
 * check. Digit runs that fail it (ids, timestamps) are kept.
 *
 * @example
 * ```ts
 * findCards('card 4111 1111 1111 1111, ref 1234567890123'); // [{ start: 5, end: 24 }]
 * ```
 */
export const findCards: PiiDetector = (input) => {
  const text = withoutUuids(input);
  const found: PiiSpan[] = [];
  for (const m of text.matchAll(DIGIT_RUN)) {
    const groups: { start: number; digits: string }[] = [];
    for (const g of m[0].matchAll(/\d+/g)) groups.push({ start: (m.index ?? 0) + (g.index ?? 0), digits: g[0] });
    let i = 0;
    while (i < groups.length) {
      let matched = -1;
      let digits = '';
      // Longest Luhn-valid span of whole groups starting at group i.
      for (let j = i; j < groups.length; j++) {
        digits += (groups[j] as { digits: string }).digits;
        if (digits.length > 19) break;
        if (digits.length >= 13 && luhnValid(digits)) matched = j;
      }
      if (matched < 0) {
        i++;
        continue;
      }
      const last = groups[matched] as { start: number; digits: string };
      found.push({ start: (groups[i] as { start: number }).start, end: last.start + last.digits.length });
      i = matched + 1;
    }
  }
  return found;
};

const IBAN = /(?<![\p{L}\p{N}_])[A-Z]{2}\d{2}(?:[A-Z0-9]{11,30}(?![\p{L}\p{N}_])|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?(?![\p{L}\p{N}_]))/giu;

/**
 * IBANs, compact or in groups of four, passing the ISO 13616 mod-97 check.
 *
 * @example
 * ```ts
 * findIbans('pay to DE89 3704 0044 0532 0130 00 today'); // [{ start: 7, end: 34 }]
 * ```
 */
export const findIbans: PiiDetector = (text) => {
  const found: PiiSpan[] = [];
  for (const m of text.matchAll(IBAN)) {
    const start = m.index ?? 0;
    let candidate = m[0];
    // A grouped candidate may have swallowed a short word after the IBAN: drop trailing groups
    // until the checksum holds.
    for (;;) {
      const compact = candidate.replace(/ /g, '');
      if (compact.length >= 15 && compact.length <= 34 && ibanValid(compact)) {
        found.push({ start, end: start + candidate.length });
        break;
      }
      const cut = candidate.lastIndexOf(' ');
      if (cut < 0) break;
      candidate = candidate.slice(0, cut);
    }
  }
  return found;
};

/**
 * The Luhn (mod 10) check of a digit string.
 *
 * @example
 * ```ts
 * luhnValid('4111111111111111'); // true
 * ```
 */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/**
 * The ISO 13616 mod-97 check of a compact IBAN (no spaces).
 *
 * @example
 * ```ts
 * ibanValid('GB82WEST12345698765432'); // true
 * ```
 */
export function ibanValid(iban: string): boolean {
  const s = iban.toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]+$/.test(s)) return false;
  const rearranged = s.slice(4) + s.slice(0, 4);
  let rest = 0;
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0);
    // Letters count as two digits (A=10 … Z=35); fold each into the running remainder.
    rest = code >= 65 ? (rest * 100 + (code - 55)) % 97 : (rest * 10 + (code - 48)) % 97;
  }
  return rest === 1;
}

/** Earliest first, the longer of two that start together; drops spans inside one already kept. */
function disjoint(found: PiiSpan[]): PiiSpan[] {
  const out: PiiSpan[] = [];
  for (const span of found.sort((a, b) => a.start - b.start || b.end - a.end)) {
    const last = out[out.length - 1];
    if (!last || span.start >= last.end) out.push(span);
  }
  return out;
}

function spans(pattern: RegExp, text: string): PiiSpan[] {
  const out: PiiSpan[] = [];
  for (const m of text.matchAll(pattern)) out.push({ start: m.index ?? 0, end: (m.index ?? 0) + m[0].length });
  return out;
}

/** The built-in detectors by name. */
export const builtinDetectors: Readonly<Record<BuiltinDetector, PiiDetector>> = Object.freeze({
  email: findEmails,
  iban: findIbans,
  card: findCards,
  phone: findPhones,
});
