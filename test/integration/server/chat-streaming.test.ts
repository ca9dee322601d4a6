import { describe, expect, it } from 'vitest';
import { useCleanups } from '../../support/cleanups.js';
import { createStreamingMachine } from './support/streaming-machine.js';
import { isReplyTo, keelPerTest, openChat } from './support/keel-harness.js';

const defer = useCleanups();
const keel = keelPerTest(defer, { machine: createStreamingMachine({ pieces: 3, stepMs: 5 }) });

describe('streaming and hand-off frames', () => {
  it('sends deltas after the ack and before the one reply, adding up to its text', async () => {
    const h = await keel();
    const c = await openChat(h);
    c.send({ type: 'message', id: 's1', text: 'abc' });
    const reply = await c.next(isReplyTo('s1'));
    const types = c.frames.slice(1).map((f) => f.type);
    expect(types).toEqual(['ack', 'delta', 'delta', 'delta', 'reply']);
    const deltas = c.frames.filter((f) => f.type === 'delta');
    expect(deltas.every((d) => d.replyTo === 's1')).toBe(true);
    expect(deltas.map((d) => d.text).join('').trim()).toBe(reply.text);
    expect(reply).toMatchObject({ seq: 2, text: 'abc[0] abc[1] abc[2]' });
  });

  it('streams deltas only to the connection that sent the message; other viewers get the reply', async () => {
    const h = await keel();
    const token = await h.token();
    const a = await openChat(h, { token });
    const b = await openChat(h, { token, sessionId: a.sessionId });
    a.send({ type: 'message', id: 's1', text: 'x' });
    await a.next(isReplyTo('s1'));
    await b.next(isReplyTo('s1'));
    expect(b.frames.map((f) => f.type)).toEqual(['ready', 'ack', 'reply']);
  });

  it('sends hand-off frames with their status, journaled with a seq', async () => {
    const h = await keel();
    const c = await openChat(h);
    c.send({ type: 'message', id: 'h1', text: 'human' });
    const handoff = await c.next((f) => f.type === 'handoff');
    expect(handoff).toMatchObject({ type: 'handoff', seq: 2, status: 'queued', replyTo: 'h1', text: 'customer asked for a person', meta: { position: 1 } });
    expect(await c.next(isReplyTo('h1'))).toMatchObject({ seq: 3, text: 'A person will join shortly.' });
    c.send({ type: 'message', id: 'h2', text: 'thanks' });
    expect(await c.next((f) => f.type === 'handoff')).toMatchObject({ status: 'completed', seq: 5 });
    c.close();
    const again = await openChat(h, { sessionId: c.sessionId, lastSeq: 0 });
    const replayed = await again.waitFor((f) => typeof f.seq === 'number', 6);
    expect(replayed.map((f) => f.type)).toEqual(['ack', 'handoff', 'reply', 'ack', 'handoff', 'reply']);
  });
});
