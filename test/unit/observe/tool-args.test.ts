/** Tool arguments in the trace: the shape and the harmless values, never the personal ones. */
import { describe, expect, it } from 'vitest';
import { redactToolArgs } from '../../../src/observe/tool-args.js';

describe('tool arguments in the trace', () => {
  it('keeps ids and amounts, hides personal fields by name, bounds size and depth', () => {
    const out = redactToolArgs({
      orderId: '1042', amount: 59.9, confirmed: true, address: '12 High Street', Full_Name: 'Ann Smith', note: 'call me',
      items: Array.from({ length: 30 }, (_, i) => i), long: 'y'.repeat(500), deep: { a: { b: { c: 'd' } } }, bad: Number.NaN,
    }) as Record<string, unknown>;
    expect(out).toMatchObject({ orderId: '1042', amount: 59.9, confirmed: true, address: '[redacted]', Full_Name: '[redacted]', note: '[redacted]', bad: null });
    expect(out.items).toHaveLength(10);
    expect((out.long as string).length).toBeLessThanOrEqual(121);
    expect(out.deep).toEqual({ a: { b: '[…]' } });
    expect(redactToolArgs({ city: 'Leeds' }, ['orderId'])).toEqual({ city: 'Leeds' });
  });
});
