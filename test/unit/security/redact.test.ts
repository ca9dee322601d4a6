import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { findCards, findEmails, findIbans, findPhones, ibanValid, luhnValid } from '../../../src/security/pii-detectors.js';
import { createRedactor } from '../../../src/security/redact.js';

const redact = createRedactor();
const spansOf = (find: (t: string) => { start: number; end: number }[], text: string) => find(text).map((s) => text.slice(s.start, s.end));

/** Appends the Luhn check digit to `body`. */
function withLuhnDigit(body: string): string {
  for (let d = 0; d <= 9; d++) if (luhnValid(body + d)) return body + d;
  throw new Error('unreachable');
}

const cardBody = fc.integer({ min: 12, max: 18 }).chain((n) =>
  fc.tuple(fc.integer({ min: 1, max: 9 }), fc.array(fc.integer({ min: 0, max: 9 }), { minLength: n - 1, maxLength: n - 1 })).map(([first, rest]) => `${first}${rest.join('')}`),
);
const luhnCard = cardBody.map(withLuhnDigit);
const formatted = fc.tuple(luhnCard, fc.constantFrom('', ' ', '-')).map(([digits, sep]) => (sep === '' ? digits : digits.match(/.{1,4}/g)!.join(sep)));
// Text that cannot itself hold personal data: no digits, no '@'.
const plainText = fc.string({ unit: fc.constantFrom(...'abcXYZ .,;:!?()[]\'"-_/\néü中'.split('')), maxLength: 40 });
const anyText = fc.string({ unit: fc.constantFrom(...'ab Z.,-+0123456789 '.split('')), maxLength: 30 });

describe('detectors', () => {
  it('finds phone numbers in international and national formats', () => {
    for (const phone of ['+44 20 7946 0958', '+1 (555) 123-4567', '(555) 123-4567', '555-123-4567', '555.123.4567', '020 7946 0958', '06 12 34 56 78',
      '0151 23456789', '07700900123', '+44 (0)20 7946 0958', '0044 20 7946 0958', '1-800-555-1234', '+4915112345678']) {
      expect(spansOf(findPhones, `call ${phone} today`), phone).toEqual([phone]);
    }
  });

  it('leaves order numbers, short numbers, dates, versions and addresses alone', () => {
    for (const text of ['order #10234', 'order 4410234', 'ticket #0123456789', 'on 2024-01-15', 'at 12:30', 'v1.2.3', '10.0.0.1',
      '192.168.100.200', 'total 1 000 000', 'id 1234567890123456', 'qty 12 of 300', '+15551234567abc']) {
      expect(spansOf(findPhones, text), text).toEqual([]);
    }
  });

  it('finds Luhn-valid cards in any common grouping and keeps other digit runs', () => {
    expect(spansOf(findCards, 'card 4111 1111 1111 1111, ref 1234567890123')).toEqual(['4111 1111 1111 1111']);
    expect(spansOf(findCards, '4111-1111-1111-1111 and 378282246310005')).toEqual(['4111-1111-1111-1111', '378282246310005']);
    expect(spansOf(findCards, 'card 4111 1111 1111 1111 5')).toEqual(['4111 1111 1111 1111']);
    expect(spansOf(findCards, 'ids 1234567812345678 and 4111111111111112')).toEqual([]);
    // As keyboards and forms separate them: no-break and narrow spaces, dots, double spaces.
    expect(spansOf(findCards, 'card 4111\u00a01111\u00a01111\u00a01111 ok')).toEqual(['4111\u00a01111\u00a01111\u00a01111']);
    expect(spansOf(findCards, 'card 4111\u202f1111\u202f1111\u202f1111')).toEqual(['4111\u202f1111\u202f1111\u202f1111']);
    expect(spansOf(findCards, 'card 4111.1111.1111.1111.')).toEqual(['4111.1111.1111.1111']);
    expect(spansOf(findCards, 'card 4111  1111  1111  1111')).toEqual(['4111  1111  1111  1111']);
    // Dotted numbers that are not cards stay: a version, an amount, an address.
    expect(spansOf(findCards, 'v1.2.3, €1.299.00, 192.168.1.1')).toEqual([]);
  });

  it('leaves UUIDs whole: digits inside an id are neither a card nor a phone, and a card after one is still found', () => {
    // The last 16 digits of this session id pass the Luhn check.
    const id = 'b335a7af-90e0-4023-9945-716151978129';
    expect(luhnValid('9945716151978129')).toBe(true);
    expect(redact.text(`session:${id}`)).toBe(`session:${id}`);
    expect(redact.text(`session ${id.toUpperCase()} closed`)).toBe(`session ${id.toUpperCase()} closed`);
    expect(spansOf(findPhones, `id 12345678-0207-9460-9581-234567890123`)).toEqual([]);
    expect(redact.text(`${id} 4111 1111 1111 1111`)).toBe(`${id} [card]`);
    // Not an id: the same digits outside a UUID's shape are masked.
    expect(redact.text('ref 4023-9945-716151978129')).toBe('ref 4023-[card]');
  });

  it('finds mod-97-valid IBANs, compact or grouped, and stops before the next word', () => {
    expect(spansOf(findIbans, 'pay DE89 3704 0044 0532 0130 00 today')).toEqual(['DE89 3704 0044 0532 0130 00']);
    expect(spansOf(findIbans, 'GB82WEST12345698765432.')).toEqual(['GB82WEST12345698765432']);
    expect(spansOf(findIbans, 'BE68 5390 0754 7034 and more')).toEqual(['BE68 5390 0754 7034']);
    expect(spansOf(findIbans, 'to AT61 1904 3002 3457 3201 from me')).toEqual(['AT61 1904 3002 3457 3201']);
    expect(spansOf(findIbans, 'DE89 3704 0044 0532 0130 01')).toEqual([]);
    expect(ibanValid('GB82WEST12345698765432')).toBe(true);
    expect(ibanValid('GB82WEST12345698765433')).toBe(false);
  });

  it('finds emails and not things that only look like them', () => {
    expect(spansOf(findEmails, 'mail ann@example.com, Bob.Smith+x@mail.co.uk. or a@b or @handle')).toEqual(['ann@example.com', 'Bob.Smith+x@mail.co.uk']);
  });

  it('stays fast on hostile input (no catastrophic backtracking)', () => {
    const hostile = ['1 '.repeat(50_000), 'a'.repeat(100_000), `${'a.'.repeat(50_000)}@`, '0'.repeat(100_000), '+1'.repeat(50_000),
      `${'a@b'.repeat(30_000)}`, 'DE89 '.repeat(20_000), '(0'.repeat(50_000), '1-'.repeat(50_000), `${'x'.repeat(99_990)}@example.c`];
    const started = performance.now();
    for (const text of hostile) redact.text(text);
    expect(performance.now() - started).toBeLessThan(3000);
  });
});

describe('createRedactor', () => {
  it('masks every kind in text with labels by default', () => {
    expect(redact.text('I am ann@example.com, +44 20 7946 0958, card 4111 1111 1111 1111, iban GB82 WEST 1234 5698 7654 32; order #10234'))
      .toBe('I am [email], [phone], card [card], iban [iban]; order #10234');
  });

  it('supports partial masks, a mask function, a subset of detectors and extra patterns', () => {
    expect(createRedactor({ mask: 'partial' }).text('4111 1111 1111 1111 / +44 20 7946 0958 / a@b.io')).toBe('[card ****1111] / [phone ****58] / [email]');
    expect(createRedactor({ mask: ({ kind, text }) => `<${kind}:${text.length}>` }).text('a@b.io')).toBe('<email:6>');
    expect(createRedactor({ detectors: ['email'] }).text('a@b.io 4111111111111111')).toBe('[email] 4111111111111111');
    expect(createRedactor({ extraPatterns: [{ name: 'ssn', pattern: /\b\d{3}-\d{2}-\d{4}\b/ }] }).text('ssn 123-45-6789')).toBe('ssn [ssn]');
    expect(() => createRedactor({ detectors: ['ssn' as never] })).toThrow(/detectors/);
    expect(() => createRedactor({ maxDepth: 0 })).toThrow(/maxDepth/);
    expect(() => createRedactor({ extraPatterns: [{ name: 'Bad Name', pattern: /x/ }] })).toThrow(/extraPatterns/);
  });

  it('redacts deep inside values: strings, keys, secret keys, numbers that are cards, errors, cycles, depth', () => {
    const cyclic: Record<string, unknown> = { note: 'mail ann@example.com' };
    cyclic.self = cyclic;
    const out = redact.value({
      user: { contact: ['ann@example.com', { phone: '+1 (555) 123-4567' }] },
      'bob@example.com': 1,
      'carl@example.com': 2,
      Password: 'hunter2',
      api_key: { nested: 'x' },
      promptTokens: 1234,
      cardAsNumber: 4111111111111111,
      plainNumber: 1234567812345678,
      err: new Error('failed for ann@example.com'),
      cyclic,
      when: new Date(0),
      skip: undefined,
      fn: () => 1,
    });
    expect(out).toEqual({
      user: { contact: ['[email]', { phone: '[phone]' }] },
      '[email]': 1,
      '[email] (2)': 2,
      Password: '[secret]',
      api_key: '[secret]',
      promptTokens: 1234,
      cardAsNumber: '[card]',
      plainNumber: 1234567812345678,
      err: { name: 'Error', message: 'failed for [email]' },
      cyclic: { note: 'mail [email]', self: '[circular]' },
      when: '1970-01-01T00:00:00.000Z',
    });
    let deep: unknown = 'a@b.io';
    for (let i = 0; i < 50; i++) deep = [deep];
    expect(JSON.stringify(createRedactor({ maxDepth: 5 }).value(deep))).toBe('[[[[["[truncated]"]]]]]');
  });

  describe('properties', () => {
    it('a Luhn-valid card in any grouping, embedded in text, is always masked and nothing else changes', () => {
      fc.assert(fc.property(plainText, formatted, plainText, (before, card, after) => {
        expect(redact.text(`${before} ${card} ${after}`)).toBe(`${before} [card] ${after}`);
      }), { numRuns: 300 });
    });

    it('a Luhn-valid card next to other digits never survives whole', () => {
      fc.assert(fc.property(anyText, formatted, anyText, (before, card, after) => {
        expect(redact.text(`${before} ${card} ${after}`)).not.toContain(card);
      }), { numRuns: 300 });
    });

    it('digit runs of card length that fail the Luhn check are kept', () => {
      const nonLuhn = cardBody.chain((body) => fc.integer({ min: 0, max: 9 }).map((d) => body + d)).filter((d) => !luhnValid(d));
      fc.assert(fc.property(plainText, nonLuhn, plainText, (before, digits, after) => {
        const text = `${before} ${digits} ${after}`;
        expect(redact.text(text)).toBe(text);
      }), { numRuns: 300 });
    });

    it('emails are always masked', () => {
      fc.assert(fc.property(plainText, fc.emailAddress(), plainText, (before, email, after) => {
        const out = redact.text(`${before} ${email} ${after}`);
        expect(out).not.toContain(email);
        expect(out).toContain('[email]');
      }), { numRuns: 300 });
    });

    it('cards at random places in a JSON value are masked', () => {
      const withCards = fc.letrec((tie) => ({
        node: fc.oneof({ depthSize: 'small' },
          luhnCard, plainText,
          fc.array(tie('node'), { maxLength: 4 }),
          fc.dictionary(fc.string({ unit: fc.constantFrom('a', 'b', 'c'), minLength: 1, maxLength: 3 }), tie('node'), { maxKeys: 4 })),
      })).node;
      fc.assert(fc.property(withCards, luhnCard, (value, card) => {
        const shown = JSON.stringify(redact.value({ value, card: `card: ${card}` }));
        expect(shown).not.toMatch(/\d{13,19}/);
      }), { numRuns: 200 });
    });

    it('redaction is idempotent', () => {
      fc.assert(fc.property(fc.string({ maxLength: 80 }), anyText, (s, t) => {
        const once = redact.text(s + t);
        expect(redact.text(once)).toBe(once);
      }), { numRuns: 300 });
    });
  });
});
