/**
 * A fuzzed protocol against the live server (the parser itself is fuzzed in the unit tests):
 * random strings, random JSON, frames with the right types and wrong fields, prototype-pollution
 * keys, deep nesting, binary and oversized frames, before and after authentication. Every
 * frame gets a typed refusal (or a reply when it happens to be a valid message), never an
 * `internal` error; before authentication nothing is served; the server stays up, keeps
 * serving, and its audit chain still verifies.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../../src/errors.js';
import { CLOSE_CODES } from '../../../src/server/close-codes.js';
import { useCleanups } from '../../support/cleanups.js';
import { connect, isReplyTo, openChat, type Frame } from '../server/support/keel-harness.js';
import { secureKeelPerTest } from './support/secure-keel.js';

const defer = useCleanups();

// Generous frame rates: the fuzz is about parsing, not about the rate limiter (tested elsewhere).
const keel = secureKeelPerTest(defer, { server: { messagesPerSecondPerConnection: 100_000, messageBurstPerConnection: 100_000, messagesPerSecondPerUser: 100_000, messageBurstPerUser: 100_000 } });

const HOSTILE = [
  '{"__proto__":{"polluted":true},"type":"ping"}',
  '{"type":"message","id":"p1","text":"x","constructor":{"prototype":{"polluted":true}}}',
  '{"type":"hello","sessionId":{"__proto__":{"polluted":true}}}',
  '{"type":"message","id":"' + 'i'.repeat(500) + '","text":"x"}',
  '{"type":"message","id":"../../etc/passwd","text":"x"}',
  '{"type":"message","id":"ok-id","text":' + '['.repeat(5000) + ']'.repeat(5000) + '}',
  '{"type":"auth","token":"' + 'a'.repeat(10_000) + '"}',
  '{"type":"message","id":"n1","text":null}',
  '{"type":"message","id":42,"text":"x"}',
  '{"type":"MESSAGE","id":"u1","text":"x"}',
  '{"type":"message","id":"\\u0000\\u202e","text":"x"}',
  '\u0000\u0001\u0002',
  '"just a string"',
  '[{"type":"message","id":"a1","text":"x"}]',
  'null',
  '{"type":"message","id":"dup","text":"\\ud800"}',
];

/** Frames a client might send: anything from noise to almost-valid frames. */
const frames = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.json({ maxDepth: 4 }),
  fc.constantFrom(...HOSTILE),
  fc
    .record(
      {
        type: fc.constantFrom('message', 'hello', 'auth', 'ping', 'ack', 'reply', 'operator.approve', '__proto__', ''),
        id: fc.oneof(fc.string({ maxLength: 140 }), fc.integer(), fc.constant(null), fc.object()),
        text: fc.oneof(fc.string({ maxLength: 300 }), fc.integer(), fc.array(fc.string())),
        sessionId: fc.oneof(fc.string({ maxLength: 140 }), fc.uuid()),
        lastSeq: fc.oneof(fc.integer(), fc.double(), fc.string()),
        approver: fc.constant({ tenant: 'acme', user: 'root', role: 'admin' }),
      },
      { requiredKeys: ['type'] },
    )
    .map((o) => JSON.stringify(o)),
);

const KNOWN_CODES = new Set(Object.keys(ERROR_CODES));

describe('a fuzzed protocol against the live server', () => {
  it('before authentication: every first frame closes with 4401 (or 1009 when too big) and nothing is served', async () => {
    const k = await keel();
    await fc.assert(
      fc.asyncProperty(frames, async (frame) => {
        const c = connect(k.wsUrl);
        await c.opened;
        c.sendRaw(frame);
        const closed = await c.closed;
        if (frame.startsWith('{"type":"auth","token":"') && !frame.includes('a'.repeat(10_000))) {
          // A well-formed auth frame with a junk token: refused as a token.
          expect(closed.code).toBe(CLOSE_CODES.unauthorized);
        } else {
          expect([CLOSE_CODES.unauthorized, 1009]).toContain(closed.code);
        }
        expect(c.frames.filter((f) => f.type !== 'error')).toEqual([]);
      }),
      { numRuns: 60 },
    );
    expect(k.runtime.listSessions({})).toEqual([]);
  });

  it('after authentication: typed refusals only, no internal error, no pollution; the server keeps serving and the audit chain verifies', async () => {
    const k = await keel();
    const c = await openChat(k, { token: await k.token({ user: 'alice' }) });
    defer(() => c.close());
    let sync = 0;
    await fc.assert(
      fc.asyncProperty(frames, async (frame) => {
        const before = c.frames.length;
        c.sendRaw(frame);
        // A ping after each frame: when its pong is back, the frame has been answered (or ignored).
        const id = `sync-${++sync}`;
        c.send({ type: 'ping', id });
        await c.next((f) => f.type === 'pong' && f.id === id, 20_000);
        for (const f of c.frames.slice(before) as Frame[]) {
          if (f.type === 'error') {
            expect(KNOWN_CODES.has(String(f.code)), JSON.stringify(f)).toBe(true);
            expect(f.code).not.toBe('internal');
            expect(typeof f.message).toBe('string');
          }
        }
      }),
      { numRuns: 300 },
    );
    // Binary and oversized frames.
    c.sendRaw(Buffer.from([0, 1, 2, 3]));
    expect(await c.next((f) => f.type === 'error' && f.code === 'bad_frame' && /binary/.test(String(f.message)))).toBeTruthy();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    // Still the same customer, still served.
    c.send({ type: 'message', id: 'after-fuzz', text: 'where is my order 1042?' });
    expect((await c.next(isReplyTo('after-fuzz'), 20_000)).text).toMatch(/1042/);
    expect(new Set(k.runtime.listSessions({}).map((s) => `${s.tenant}/${s.user}`))).toEqual(new Set(['acme/alice']));
    const big = connect(k.wsUrl, { token: await k.token({ user: 'alice' }) });
    await big.opened;
    big.sendRaw('x'.repeat(70_000));
    expect((await big.closed).code).toBe(1009);
    const other = await openChat(k, { token: await k.token({ user: 'bob' }) });
    defer(() => other.close());
    other.send({ type: 'message', id: 'b1', text: 'hello' });
    await other.next(isReplyTo('b1'), 20_000);
    expect((await k.runtime.audit.verify()).ok).toBe(true);
  });
});
