// The process logger censors secrets by name at any depth and masks personal data in strings at
// any depth: what embedding code logs is as safe as what keel logs itself.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/observe/logger.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { destination, text: () => lines.join('') };
}

describe('the logger', () => {
  it('censors secrets by name at any depth and masks personal data however deep it is nested', async () => {
    const out = capture();
    const log = createLogger({ level: 'info', destination: out.destination });
    log.info({
      nested: { secret: 'zz-secret-zz', password: 'pp-pass-pp', inner: { apiKey: 'kk-key-kk', Authorization: 'Bearer tt-token-tt' } },
      deep: { a: { b: { c: { d: { e: 'dan.deep@example.com' } } } } },
      list: [[[{ mail: 'gina.list@example.com' }]]],
      abyss: { l1: { l2: { l3: { l4: { l5: { l6: { l7: { l8: { l9: { l10: 'zed.abyss@example.com' } } } } } } } } } },
    }, 'configured');
    await new Promise((resolve) => setImmediate(resolve));
    const text = out.text();
    expect(text).toContain('configured');
    for (const leak of ['zz-secret-zz', 'pp-pass-pp', 'kk-key-kk', 'tt-token-tt', 'dan.deep@example.com', 'gina.list@example.com', 'zed.abyss@example.com']) {
      expect(text, leak).not.toContain(leak);
    }
    expect(text).toContain('[secret]');
  });
});
