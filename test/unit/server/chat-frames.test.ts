import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CLIENT_FRAME_TYPES, errorFrame, parseClientFrame, toServerFrame } from '../../../src/server/chat-frames.js';

const limits = { maxTextChars: 4000, maxTokenChars: 4096 };
const idChars = fc.constantFrom(...'abcXYZ019._:@-'.split(''));
const validId = fc.tuple(fc.constantFrom('a', 'Z', '7'), fc.array(idChars, { maxLength: 20 })).map(([h, t]) => h + t.join(''));

describe('parseClientFrame', () => {
  it('accepts each frame type with its fields', () => {
    expect(parseClientFrame('{"type":"auth","token":"t.k.n"}', limits)).toEqual({ ok: true, frame: { type: 'auth', token: 't.k.n' } });
    expect(parseClientFrame('{"type":"hello"}', limits)).toEqual({ ok: true, frame: { type: 'hello' } });
    expect(parseClientFrame('{"type":"hello","sessionId":"s-1","lastSeq":4}', limits)).toEqual({ ok: true, frame: { type: 'hello', sessionId: 's-1', lastSeq: 4 } });
    expect(parseClientFrame('{"type":"message","id":"m1","text":"hi","extra":1}', limits)).toEqual({ ok: true, frame: { type: 'message', id: 'm1', text: 'hi' } });
    expect(parseClientFrame('{"type":"ping","id":"p1"}', limits)).toEqual({ ok: true, frame: { type: 'ping', id: 'p1' } });
  });

  it('refuses malformed frames with bad_frame and names the problem', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /JSON/], ['{', /JSON/], ['null', /object/], ['[]', /object/], ['"hello"', /object/], ['{}', /type/],
      ['{"type":"nope"}', /unknown/], ['{"type":"auth"}', /token/], ['{"type":"hello","lastSeq":-1}', /lastSeq/],
      ['{"type":"hello","lastSeq":1.5}', /lastSeq/], ['{"type":"hello","sessionId":"../x"}', /sessionId/],
      ['{"type":"message","text":"hi"}', /id/], ['{"type":"message","id":"m","text":""}', /empty/],
      ['{"type":"message","id":"m","text":5}', /text/], ['{"type":"message","id":" m","text":"x"}', /id/],
      ['{"__proto__":{"type":"auth"},"token":"x"}', /type/],
      // An object whose `toString` is not a function cannot be converted to a string.
      ['{"type":{"toString":""},"id":false}', /type|id/], ['{"type":"message","id":{"toString":""},"text":"x"}', /id/],
    ];
    for (const [input, why] of cases) {
      const out = parseClientFrame(input, limits);
      expect(out.ok, input).toBe(false);
      if (!out.ok) {
        expect(out.error.code, input).toBe('bad_frame');
        expect(out.error.message, input).toMatch(why);
      }
    }
  });

  it('refuses an over-long text with too_large and keeps the id', () => {
    const out = parseClientFrame(JSON.stringify({ type: 'message', id: 'm9', text: 'x'.repeat(4001) }), limits);
    expect(out).toEqual({ ok: false, error: { code: 'too_large', message: expect.stringMatching(/4000/), id: 'm9' } });
  });

  it('never throws and always returns a well-formed result for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (input) => {
        const out = parseClientFrame(input, limits);
        expect(typeof out.ok).toBe('boolean');
        if (!out.ok) expect(['bad_frame', 'too_large']).toContain(out.error.code);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws for any JSON value, and what it accepts is valid', () => {
    const frameLike = fc.record(
      {
        type: fc.oneof(fc.constantFrom(...CLIENT_FRAME_TYPES), fc.string(), fc.jsonValue()),
        id: fc.oneof(validId, fc.jsonValue()),
        text: fc.oneof(fc.string({ maxLength: 50 }), fc.jsonValue()),
        token: fc.oneof(fc.string(), fc.jsonValue()),
        sessionId: fc.oneof(validId, fc.jsonValue()),
        lastSeq: fc.oneof(fc.nat(), fc.double(), fc.jsonValue()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), frameLike), (value) => {
        const out = parseClientFrame(JSON.stringify(value) ?? 'undefined', limits);
        if (!out.ok) return;
        const f = out.frame;
        expect(CLIENT_FRAME_TYPES).toContain(f.type);
        if (f.type === 'message') {
          expect(f.id).toMatch(/^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/);
          expect(f.text.length).toBeLessThanOrEqual(limits.maxTextChars);
        }
        if (f.type === 'hello' && f.lastSeq !== undefined) expect(Number.isSafeInteger(f.lastSeq) && f.lastSeq >= 0).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips every valid message frame', () => {
    fc.assert(
      fc.property(validId, fc.string({ minLength: 1, maxLength: 200 }).filter((t) => t.trim() !== ''), (id, text) => {
        expect(parseClientFrame(JSON.stringify({ type: 'message', id, text }), limits)).toEqual({ ok: true, frame: { type: 'message', id, text } });
      }),
    );
  });
});

describe('server frames', () => {
  it('drops the message text from acks', () => {
    expect(toServerFrame({ type: 'ack', seq: 3, id: 'm1', text: 'my card is 4111...', time: 5 })).toEqual({ type: 'ack', id: 'm1', seq: 3, time: 5 });
  });

  it('shapes replies and hand-offs', () => {
    expect(toServerFrame({ type: 'reply', seq: 2, replyTo: 'm1', text: 'hi', state: 'idle', meta: { secret: 1 }, time: 1 })).toEqual({ type: 'reply', seq: 2, replyTo: 'm1', text: 'hi', state: 'idle', time: 1 });
    expect(toServerFrame({ type: 'reply', seq: 9, text: 'still there?', state: 'idle', time: 1 })).not.toHaveProperty('replyTo');
    expect(toServerFrame({ type: 'handoff', seq: 4, status: 'queued', text: 'asked', state: 'h', meta: { status: 'queued', position: 2 }, time: 1 })).toEqual({
      type: 'handoff', seq: 4, status: 'queued', text: 'asked', state: 'h', meta: { position: 2 }, time: 1,
    });
  });

  it('builds error frames with retryable from the catalogue', () => {
    expect(errorFrame('queue_full', 'busy', 'm1')).toEqual({ type: 'error', code: 'queue_full', message: 'busy', retryable: true, id: 'm1' });
    expect(errorFrame('bad_frame', 'no')).toEqual({ type: 'error', code: 'bad_frame', message: 'no', retryable: false });
  });
});
