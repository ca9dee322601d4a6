import { describe, expect, it } from 'vitest';
import { useCleanups } from '../../support/cleanups.js';
import { connect, isReplyTo, keelPerTest, openChat, startKeel, type Frame } from './support/keel-harness.js';

const defer = useCleanups();
const keel = keelPerTest(defer);

describe('chat protocol', () => {
  it('opens a session and answers a message with ack then exactly one reply', async () => {
    const h = await keel();
    const c = await openChat(h);
    expect(c.ready).toMatchObject({ type: 'ready', lastSeq: 0 });
    c.send({ type: 'message', id: 'm1', text: 'hello' });
    const ack = await c.next((f) => f.type === 'ack');
    expect(ack).toMatchObject({ type: 'ack', id: 'm1', seq: 1 });
    expect(ack).not.toHaveProperty('text');
    const reply = await c.next(isReplyTo('m1'));
    expect(reply).toMatchObject({ type: 'reply', seq: 2, replyTo: 'm1', text: 'echo 0: hello', state: 'idle' });
    c.send({ type: 'message', id: 'm2', text: 'again' });
    await c.next(isReplyTo('m2'));
    expect(c.frames.map((f) => [f.type, f.seq])).toEqual([['ready', undefined], ['ack', 1], ['reply', 2], ['ack', 3], ['reply', 4]]);
    c.close();
  });

  it('authenticates with an auth frame as the first frame', async () => {
    const h = await keel();
    const c = connect(h.wsUrl);
    await c.opened;
    c.send({ type: 'auth', token: await h.token() });
    c.send({ type: 'hello' });
    c.send({ type: 'message', id: 'x1', text: 'pipelined' });
    await c.next(isReplyTo('x1'));
    expect(c.frames.map((f) => f.type)).toEqual(['ready', 'ack', 'reply']);
    c.close();
  });

  it('answers a duplicate message id with the stored ack and reply and processes it once', async () => {
    const h = await keel();
    const c = await openChat(h);
    c.send({ type: 'message', id: 'dup', text: 'once' });
    const first = await c.next(isReplyTo('dup'));
    c.send({ type: 'message', id: 'dup', text: 'once' });
    const ack = await c.next((f) => f.type === 'ack');
    const again = await c.next(isReplyTo('dup'));
    expect(ack).toMatchObject({ id: 'dup', seq: 1 });
    expect(again).toEqual(first);
    expect(h.runtime.describe(c.sessionId)?.seq).toBe(2);
    c.send({ type: 'message', id: 'next', text: 'two' });
    expect((await c.next(isReplyTo('next'))).text).toBe('echo 1: two');
  });

  it('replays frames after lastSeq on resume, then streams live ones', async () => {
    const h = await keel();
    const a = await openChat(h);
    for (const id of ['a', 'b', 'c']) {
      a.send({ type: 'message', id, text: id });
      await a.next(isReplyTo(id));
    }
    a.close();
    await a.closed;
    const b = await openChat(h, { sessionId: a.sessionId, lastSeq: 2 });
    expect(b.ready).toMatchObject({ sessionId: a.sessionId, lastSeq: 6 });
    const replayed = await b.waitFor((f) => typeof f.seq === 'number', 4);
    expect(replayed.map((f) => f.seq)).toEqual([3, 4, 5, 6]);
    b.send({ type: 'message', id: 'd', text: 'd' });
    await b.next(isReplyTo('d'));
    expect(b.frames.filter((f) => typeof f.seq === 'number').map((f) => f.seq)).toEqual([3, 4, 5, 6, 7, 8]);
  });

  it('resumes after a server restart on the same data directory without losing frames', async () => {
    const first = await startKeel();
    defer(first.remove);
    const token = await first.token();
    const a = await openChat(first, { token });
    a.send({ type: 'message', id: 'before', text: 'before restart' });
    await a.next(isReplyTo('before'));
    const closedA = a.closed;
    await first.stop();
    expect((await closedA).code).toBe(1001);

    const second = await startKeel({ dir: first.dir, port: first.port });
    defer(() => second.stop());
    const b = await openChat(second, { token, sessionId: a.sessionId, lastSeq: 0 });
    expect(b.ready.lastSeq).toBe(2);
    await b.waitFor((f) => typeof f.seq === 'number', 2);
    b.send({ type: 'message', id: 'after', text: 'after restart' });
    const reply = await b.next(isReplyTo('after'));
    expect(reply).toMatchObject({ seq: 4, text: 'echo 1: after restart' });
  });

  it('keeps a second connection of the same session in sync without duplicates', async () => {
    const h = await keel();
    const token = await h.token();
    const a = await openChat(h, { token });
    const b = await openChat(h, { token, sessionId: a.sessionId });
    a.send({ type: 'message', id: 'm1', text: 'from a' });
    await a.next(isReplyTo('m1'));
    await b.next(isReplyTo('m1'));
    const seqs = (frames: Frame[]) => frames.filter((f) => typeof f.seq === 'number').map((f) => f.seq);
    expect(seqs(a.frames)).toEqual([1, 2]);
    expect(seqs(b.frames)).toEqual([1, 2]);
  });
});
