import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createManualClock } from '../../../src/index.js';
import { CLOSE_CODES } from '../../../src/server/close-codes.js';
import { createTestMachine } from '../../fixtures/test-machines.js';
import { useCleanups } from '../../support/cleanups.js';
import { connect, isReplyTo, keelPerTest, openChat } from './support/keel-harness.js';

const defer = useCleanups();
const keel = keelPerTest(defer);

const unlimited = {
  messagesPerSecondPerConnection: 1e6, messageBurstPerConnection: 1e6, messagesPerSecondPerUser: 1e6, messageBurstPerUser: 1e6,
};

describe('chat limits', () => {
  it('closes with 1009 when a frame is over maxPayloadBytes', async () => {
    const h = await keel({ server: { maxPayloadBytes: 2048 } });
    const c = await openChat(h);
    c.sendRaw(JSON.stringify({ type: 'message', id: 'big', text: 'x'.repeat(4096) }));
    expect((await c.closed).code).toBe(CLOSE_CODES.tooBig);
  });

  it('answers malformed JSON, unknown types, missing fields and binary frames with bad_frame and keeps serving', async () => {
    const h = await keel();
    const c = await openChat(h);
    c.sendRaw('{not json');
    c.send({ type: 'dance' });
    c.send({ type: 'message', id: 'm1' });
    c.send({ type: 'message', text: 'no id' });
    c.send([1, 2, 3]);
    c.sendRaw(Buffer.from([1, 2, 3]));
    c.send({ type: 'hello' });
    c.send({ type: 'auth', token: 'again' });
    const errors = await c.waitFor((f) => f.type === 'error', 8);
    expect(errors.every((e) => e.code === 'bad_frame')).toBe(true);
    expect(errors[2]).toMatchObject({ id: 'm1' });
    c.send({ type: 'message', id: 'ok', text: 'still here' });
    expect((await c.next(isReplyTo('ok'))).text).toBe('echo 0: still here');
  });

  it('refuses a message before hello with bad_frame', async () => {
    const h = await keel();
    const c = connect(h.wsUrl, { token: await h.token() });
    await c.opened;
    c.send({ type: 'message', id: 'early', text: 'hi' });
    expect(await c.next()).toMatchObject({ type: 'error', code: 'bad_frame', id: 'early' });
  });

  it('refuses a text over maxTextChars with too_large and keeps the connection', async () => {
    const h = await keel({ server: { maxTextChars: 100 } });
    const c = await openChat(h);
    c.send({ type: 'message', id: 'long', text: 'y'.repeat(101) });
    expect(await c.next()).toMatchObject({ type: 'error', code: 'too_large', id: 'long' });
    c.send({ type: 'message', id: 'short', text: 'y'.repeat(100) });
    await c.next(isReplyTo('short'));
  });

  it('rate-limits frames per connection with rate_limited errors and refills over time', async () => {
    const clock = createManualClock(Date.now());
    const h = await keel({ server: { clock, messagesPerSecondPerConnection: 5, messageBurstPerConnection: 5, messagesPerSecondPerUser: 1000, messageBurstPerUser: 1000 } });
    const c = await openChat(h);
    // auth came in the header; hello took one token: four are left.
    for (let i = 0; i < 6; i++) c.send({ type: 'message', id: `r${i}`, text: `n${i}` });
    const limited = await c.waitFor((f) => f.type === 'error' && f.code === 'rate_limited', 2);
    expect(limited.map((f) => f.id)).toEqual(['r4', 'r5']);
    expect(limited[0]).toMatchObject({ retryable: true });
    await c.waitFor((f) => f.type === 'reply', 4);
    clock.advance(1000);
    c.send({ type: 'message', id: 'later', text: 'refilled' });
    await c.next(isReplyTo('later'));
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('rate-limits messages per user across connections', async () => {
    const clock = createManualClock(Date.now());
    const h = await keel({ server: { clock, messagesPerSecondPerConnection: 1000, messageBurstPerConnection: 1000, messagesPerSecondPerUser: 2, messageBurstPerUser: 4 } });
    const token = await h.token();
    const a = await openChat(h, { token });
    const b = await openChat(h, { token });
    for (let i = 0; i < 3; i++) a.send({ type: 'message', id: `a${i}`, text: 'a' });
    await a.waitFor((f) => f.type === 'reply', 3);
    b.send({ type: 'message', id: 'b0', text: 'b' });
    b.send({ type: 'message', id: 'b1', text: 'b' });
    await b.next(isReplyTo('b0'));
    expect(await b.waitFor((f) => f.type === 'error')).toMatchObject([{ code: 'rate_limited', id: 'b1' }]);
    const other = await openChat(h, { token: await h.token({ user: 'u-2' }) });
    other.send({ type: 'message', id: 'o', text: 'unaffected' });
    await other.next(isReplyTo('o'));
    clock.advance(500);
    b.send({ type: 'message', id: 'b2', text: 'b' });
    await b.next(isReplyTo('b2'));
  });

  it('closes with 1008 a connection that keeps sending after its rate_limited errors, by connection or by user, and serves the others', async () => {
    const clock = createManualClock(Date.now());
    const h = await keel({
      server: { clock, messagesPerSecondPerConnection: 5, messageBurstPerConnection: 5, messagesPerSecondPerUser: 1000, messageBurstPerUser: 1000, maxRefusedFramesPerSecond: 10 },
    });
    const flooder = await openChat(h);
    // hello took one token, four messages pass; then 20 refusals (the burst of 2 × 10) are answered, the next closes.
    for (let i = 0; i < 30; i++) flooder.send({ type: 'message', id: `f${i}`, text: 'flood' });
    expect(await flooder.closed).toEqual({ code: 1008, reason: 'flooding: frames kept coming after rate_limited errors (over 10 a second)' });
    const errors = flooder.frames.filter((f) => f.type === 'error');
    expect(errors).toHaveLength(21);
    expect(errors.every((f) => f.code === 'rate_limited')).toBe(true);
    // The four it accepted lose nothing: they are answered in the journal, for a resume to replay.
    await expect.poll(() => h.runtime.replay(flooder.sessionId, 0).filter((f) => f.type === 'reply').map((f) => f.replyTo), { timeout: 5000 }).toEqual(['f0', 'f1', 'f2', 'f3']);

    // A client that backs off is never closed: refusals refill like tokens.
    const polite = await openChat(h, { token: await h.token({ user: 'u-polite' }) });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 15; i++) polite.send({ type: 'message', id: `p${round}-${i}`, text: 'hi' });
      await polite.waitFor((f) => f.type === 'error' && String(f.id).startsWith(`p${round}-`), round === 0 ? 11 : 10);
      clock.advance(2000);
    }
    polite.send({ type: 'message', id: 'last', text: 'still here' });
    await polite.next(isReplyTo('last'));

    const perUser = await keel({
      server: { clock, messagesPerSecondPerConnection: 1000, messageBurstPerConnection: 1000, messagesPerSecondPerUser: 2, messageBurstPerUser: 2, maxRefusedFramesPerSecond: 5 },
    });
    const u = await openChat(perUser);
    for (let i = 0; i < 20; i++) u.send({ type: 'message', id: `u${i}`, text: 'flood' });
    expect((await u.closed).code).toBe(1008);
    expect(u.frames.filter((f) => f.type === 'error' && f.code === 'rate_limited')).toHaveLength(11);
    const other = await openChat(perUser, { token: await perUser.token({ user: 'u-2' }) });
    other.send({ type: 'message', id: 'o', text: 'unaffected' });
    await other.next(isReplyTo('o'));
  });

  it('closes with 4429 beyond maxConnectionsPerUser and admits again after one leaves', async () => {
    const h = await keel({ server: { maxConnectionsPerUser: 2 } });
    const token = await h.token();
    const a = await openChat(h, { token });
    await openChat(h, { token });
    const third = connect(h.wsUrl, { token });
    expect(await third.closed).toMatchObject({ code: CLOSE_CODES.tooManyConnections, reason: expect.stringMatching(/too many connections/) });
    await openChat(h, { token: await h.token({ user: 'u-2' }) });
    a.close();
    await a.closed;
    await new Promise((r) => setTimeout(r, 20));
    await openChat(h, { token });
  });

  it('refuses upgrades with HTTP 503 beyond maxConnections', async () => {
    const h = await keel({ server: { maxConnections: 1 } });
    await openChat(h);
    const second = connect(h.wsUrl, { token: await h.token({ user: 'u-2' }) });
    const status = await new Promise<number>((resolve) => second.ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(503);
  });

  it('closes with 1008 when a client floods frames before its hello is answered', async () => {
    const h = await keel({ server: { maxFramesBeforeReady: 4, ...unlimited } });
    const c = connect(h.wsUrl);
    await c.opened;
    c.send({ type: 'auth', token: await h.token() });
    for (let i = 0; i < 10; i++) c.send({ type: 'ping' });
    expect((await c.closed).code).toBe(CLOSE_CODES.policyViolation);
  });

  it('closes a slow consumer with 1013 once its send buffer passes maxBufferedBytes', async () => {
    const h = await keel({ server: { maxBufferedBytes: 65_536, maxTextChars: 60_000, ...unlimited } });
    const token = await h.token();
    const writer = await openChat(h, { token });
    const reader = await openChat(h, { token, sessionId: writer.sessionId });
    reader.ws.pause();
    const text = 'z'.repeat(60_000);
    let closedBySlowness = false;
    for (let i = 0; i < 400 && !closedBySlowness; i++) {
      writer.send({ type: 'message', id: `w${i}`, text });
      await writer.next(isReplyTo(`w${i}`));
      closedBySlowness = (await h.server.metrics.registry.getSingleMetricAsString('keel_errors_total')).includes('code="slow_consumer"');
    }
    expect(closedBySlowness).toBe(true);
    reader.ws.resume();
    expect(await reader.closed).toMatchObject({ code: CLOSE_CODES.tryAgainLater, reason: expect.stringMatching(/slow consumer/) });
    writer.send({ type: 'message', id: 'after', text: 'writer unaffected' });
    await writer.next(isReplyTo('after'));
  });

  it('terminates a connection that stops answering pings', async () => {
    const h = await keel({ server: { heartbeatIntervalMs: 80 } });
    const token = await h.token();
    const dead = new WebSocket(h.wsUrl, { headers: { authorization: `Bearer ${token}` }, autoPong: false });
    const closed = new Promise<number>((resolve) => dead.once('close', (code) => resolve(code)));
    const alive = await openChat(h, { token });
    expect(await closed).toBe(1006);
    await new Promise((r) => setTimeout(r, 250));
    expect(alive.ws.readyState).toBe(WebSocket.OPEN);
    expect(h.server.connections()).toBe(1);
  });

  it('maps runtime errors to error frames: queue_full', async () => {
    const h = await keel({ machine: createTestMachine({ slowMs: 100 }), runtime: { maxQueuedEvents: 1 }, server: unlimited });
    const c = await openChat(h);
    for (let i = 0; i < 4; i++) c.send({ type: 'message', id: `s${i}`, text: `slow ${i}` });
    const err = await c.next((f) => f.type === 'error');
    expect(err).toMatchObject({ code: 'queue_full', retryable: true });
    await c.next(isReplyTo('s0'));
  });
});
