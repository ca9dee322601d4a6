import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DESK_CLIENT_FRAME_TYPES, deskError, parseDeskFrame, toDeskLine } from '../../../src/server/desk-frames.js';
import { deskDisplayName, mayUseDesk } from '../../../src/server/desk-connection.js';
import type { Identity } from '../../../src/types.js';

const limits = { maxTextChars: 4000, maxTokenChars: 4096 };

describe('parseDeskFrame', () => {
  it('accepts each command with its fields and ignores unknown ones, including any claim of identity', () => {
    expect(parseDeskFrame('{"type":"take","sessionId":"s-1","id":"t1"}', limits)).toEqual({ ok: true, frame: { type: 'take', sessionId: 's-1', id: 't1' } });
    expect(parseDeskFrame('{"type":"say","sessionId":"s-1","id":"a1","text":"hi","agent":"Mallory"}', limits)).toEqual({ ok: true, frame: { type: 'say', sessionId: 's-1', id: 'a1', text: 'hi' } });
    expect(parseDeskFrame('{"type":"close","sessionId":"s-1","summary":"  done  "}', limits)).toEqual({ ok: true, frame: { type: 'close', sessionId: 's-1', summary: 'done' } });
    expect(parseDeskFrame('{"type":"approve","sessionId":"s-1","approver":{"user":"boss","role":"admin"}}', limits)).toEqual({ ok: true, frame: { type: 'approve', sessionId: 's-1' } });
    expect(parseDeskFrame('{"type":"reject","sessionId":"s-1","reason":"too much"}', limits)).toEqual({ ok: true, frame: { type: 'reject', sessionId: 's-1', reason: 'too much' } });
    expect(parseDeskFrame('{"type":"release","sessionId":"s-1"}', limits)).toEqual({ ok: true, frame: { type: 'release', sessionId: 's-1' } });
    expect(parseDeskFrame('{"type":"ping"}', limits)).toEqual({ ok: true, frame: { type: 'ping' } });
  });

  it('refuses malformed frames with bad_frame, keeping a usable id, and an over-long say with too_large', () => {
    const cases: Array<[string, RegExp, string?]> = [
      ['{', /JSON/], ['[]', /object/], ['{"type":"hello"}', /unknown/], ['{"type":"take"}', /sessionId/],
      ['{"type":"take","sessionId":"../x","id":"t1"}', /sessionId/, 't1'], ['{"type":"say","sessionId":"s"}', /id is required/],
      ['{"type":"say","sessionId":"s","id":"a","text":"  "}', /text/, 'a'], ['{"type":"close","sessionId":"s","summary":3}', /summary/],
      ['{"type":"take","sessionId":"s","id":" bad"}', /id/], ['{"__proto__":{"type":"take"},"sessionId":"s"}', /type/],
      // Found by the fuzz below: a type whose `toString` is not a function once made naming it throw.
      ['{"type":{"toString":""},"id":false}', /object\.id/], ['{"type":{"toString":""},"sessionId":"s"}', /type/],
    ];
    for (const [input, why, id] of cases) {
      const out = parseDeskFrame(input, limits);
      expect(out.ok, input).toBe(false);
      if (!out.ok) {
        expect(out.error.code, input).toBe('bad_frame');
        expect(out.error.message, input).toMatch(why);
        expect(out.error.id, input).toBe(id);
      }
    }
    expect(parseDeskFrame(JSON.stringify({ type: 'say', sessionId: 's', id: 'a', text: 'x'.repeat(4001) }), limits)).toMatchObject({ ok: false, error: { code: 'too_large', id: 'a' } });
  });

  it('never throws, whatever it is given', () => {
    const frameLike = fc.record({
      type: fc.oneof(fc.constantFrom(...DESK_CLIENT_FRAME_TYPES), fc.jsonValue()),
      sessionId: fc.oneof(fc.constantFrom('s-1', 'a.b:c@d'), fc.jsonValue()),
      id: fc.oneof(fc.constant('x1'), fc.jsonValue()),
      text: fc.oneof(fc.string({ maxLength: 40 }), fc.jsonValue()),
      summary: fc.jsonValue(),
    }, { requiredKeys: [] });
    fc.assert(fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), frameLike.map((f) => JSON.stringify(f))), (input) => {
      const out = parseDeskFrame(input, limits);
      if (out.ok) expect(DESK_CLIENT_FRAME_TYPES).toContain(out.frame.type);
      else expect(['bad_frame', 'too_large']).toContain(out.error.code);
    }), { numRuns: 2000 });
  });
});

describe('toDeskLine', () => {
  it('reads journaled frames as transcript lines and skips the silent relays', () => {
    expect(toDeskLine({ type: 'ack', seq: 3, id: 'm1', text: 'hello', time: 1 })).toEqual({ seq: 3, time: 1, role: 'customer', text: 'hello' });
    expect(toDeskLine({ type: 'reply', seq: 4, replyTo: 'm1', text: '', meta: { silent: true, relayed: true }, time: 1 })).toBeUndefined();
    expect(toDeskLine({ type: 'reply', seq: 5, text: 'Sam here', meta: { from: 'human', agent: 'Sam' }, time: 1 })).toEqual({ seq: 5, time: 1, role: 'human', text: 'Sam here', agent: 'Sam' });
    expect(toDeskLine({ type: 'reply', seq: 6, text: 'Hi!', meta: { agent: 'x' }, time: 1 })).toEqual({ seq: 6, time: 1, role: 'assistant', text: 'Hi!' });
    expect(toDeskLine({ type: 'handoff', seq: 7, status: 'accepted', text: 'user_asked', meta: { agent: 'Sam' }, time: 1 })).toEqual({ seq: 7, time: 1, role: 'status', text: 'user_asked', status: 'accepted', agent: 'Sam' });
  });

  it('builds error frames with retryable from the catalogue', () => {
    expect(deskError('forbidden', 'taken', { id: 't1', sessionId: 's', reason: 'taken' })).toEqual({ type: 'error', code: 'forbidden', message: 'taken', retryable: false, id: 't1', sessionId: 's', reason: 'taken' });
  });
});

describe('desk identity', () => {
  const who = (role: Identity['role']) => ({ tenant: 'acme', user: 'u', role }) as Identity;
  it('admits human agents and admins only', () => {
    expect(['customer', 'agent', 'engineer', 'admin'].map((r) => mayUseDesk(who(r as Identity['role'])))).toEqual([false, true, false, true]);
  });
  it('names an agent from their user id', () => {
    expect(deskDisplayName('sam')).toBe('Sam');
    expect(deskDisplayName('sam.jones@shop.example')).toBe('Sam Jones');
    expect(deskDisplayName('agent-7')).toBe('Agent 7');
    expect(deskDisplayName('___')).toBe('An agent');
  });
});
