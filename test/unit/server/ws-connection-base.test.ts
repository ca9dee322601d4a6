import { describe, expect, it } from 'vitest';
import { KeelError, createManualClock, silentLogger, tenantId, userId, type Identity } from '../../../src/index.js';
import { errorFrame, parseClientFrame, type ClientFrame } from '../../../src/server/chat-frames.js';
import { CLOSE_CODES } from '../../../src/server/close-codes.js';
import { createServerMetrics } from '../../../src/server/server-metrics.js';
import { resolveServerOptions } from '../../../src/server/server-options.js';
import type { Runtime } from '../../../src/runtime/runtime.js';
import { createConnectionBase, type PeerSocket, type VerifiedIdentity } from '../../../src/server/ws-connection-base.js';

const who: Identity = { tenant: tenantId('acme'), user: userId('u-1'), role: 'customer' };
const settle = () => new Promise((r) => setTimeout(r, 5));

/** One connection over a recording socket, with a verifier the test settles by hand. */
function harness(options: { headerToken?: string; maxFramesBeforeReady?: number } = {}) {
  const sent: Array<Record<string, unknown>> = [];
  const closes: Array<{ code: number; reason: string }> = [];
  const socket: PeerSocket & { bufferedAmount: number } = {
    bufferedAmount: 0,
    send: (data) => void sent.push(JSON.parse(data) as Record<string, unknown>),
    close: (code, reason) => void closes.push({ code, reason }),
  };
  const clock = createManualClock(0);
  const serverOptions = resolveServerOptions({
    // The base never touches the runtime; the options only insist that there is one.
    runtime: { open: () => undefined, subscribe: () => undefined } as unknown as Runtime, clock, maxBufferedBytes: 1000, authTimeoutMs: 500,
    ...(options.maxFramesBeforeReady !== undefined ? { maxFramesBeforeReady: options.maxFramesBeforeReady } : {}),
  });
  const metrics = createServerMetrics({ processMetrics: false });
  const verifications: Array<{ token: string; resolve: (who: VerifiedIdentity) => void; reject: (err: unknown) => void }> = [];
  const signedIn: VerifiedIdentity[] = [];
  const frames: ClientFrame[] = [];
  let released = 0;
  const base = createConnectionBase<ClientFrame>({
    socket, endpoint: 'chat', options: serverOptions, metrics, logger: silentLogger,
    verifyToken: (token) => new Promise((resolve, reject) => verifications.push({ token, resolve, reject })),
    ...(options.headerToken !== undefined ? { headerToken: options.headerToken } : {}),
    protocol: {
      parse: parseClientFrame,
      errorFrame,
      signedIn: (identity) => void signedIn.push(identity),
      frame: (frame) => void frames.push(frame),
      released: () => void released++,
    },
  });
  const errors = async (): Promise<Record<string, number>> => {
    const metric = await metrics.registry.getSingleMetric('keel_errors_total')!.get();
    return Object.fromEntries(metric.values.map((v) => [String(v.labels.code), v.value]));
  };
  return { base, socket, sent, closes, clock, verifications, signedIn, frames, released: () => released, errors };
}

describe('connection base', () => {
  it('closes 4408 when no auth frame comes within authTimeoutMs, and counts it', async () => {
    const h = harness();
    h.clock.advance(499);
    expect(h.closes).toEqual([]);
    h.clock.advance(1);
    expect(h.closes).toEqual([{ code: CLOSE_CODES.authTimeout, reason: 'authentication timed out: no auth frame within 500 ms' }]);
    expect(await h.errors()).toEqual({ unauthorized: 1 });
    expect(h.released()).toBe(1);
  });

  it('refuses any first frame but auth with 4401', () => {
    const h = harness();
    h.base.receive(JSON.stringify({ type: 'hello' }));
    expect(h.closes).toEqual([{ code: CLOSE_CODES.unauthorized, reason: 'unauthorized: authenticate first, with a Bearer header or an auth frame' }]);
    const g = harness();
    g.base.receive('{oops');
    expect(g.closes[0]?.code).toBe(CLOSE_CODES.unauthorized);
    expect(g.closes[0]?.reason).toMatch(/the first frame must be/);
  });

  it('holds frames while the token is verified and hands them over in order after sign-in', async () => {
    const h = harness();
    h.base.receive(JSON.stringify({ type: 'auth', token: 't-1' }));
    h.base.receive(JSON.stringify({ type: 'hello' }));
    h.base.receive(JSON.stringify({ type: 'ping', id: 'p1' }));
    h.base.receive(JSON.stringify({ type: 'message', id: 'm1', text: 'hi' }));
    expect(h.frames).toEqual([]);
    expect(h.verifications.map((v) => v.token)).toEqual(['t-1']);
    h.verifications[0]!.resolve(who);
    await settle();
    expect(h.signedIn).toEqual([who]);
    expect(h.frames).toEqual([{ type: 'hello' }, { type: 'message', id: 'm1', text: 'hi' }]);
    expect(h.sent).toEqual([{ type: 'pong', id: 'p1' }]);
    h.base.receive(JSON.stringify({ type: 'auth', token: 't-2' }));
    expect(h.sent.at(-1)).toMatchObject({ type: 'error', code: 'bad_frame', message: 'already authenticated' });
    // Signed in: the auth timeout no longer applies.
    h.clock.advance(10_000);
    expect(h.closes).toEqual([]);
  });

  it('holds frames while paused, and closes 1008 past maxFramesBeforeReady', async () => {
    const h = harness({ headerToken: 't', maxFramesBeforeReady: 2 });
    h.verifications[0]!.resolve(who);
    await settle();
    h.base.pause();
    h.base.receive(JSON.stringify({ type: 'message', id: 'a', text: 'a' }));
    h.base.receive(JSON.stringify({ type: 'message', id: 'b', text: 'b' }));
    expect(h.frames).toEqual([]);
    h.base.resume();
    expect(h.frames.map((f) => (f as { id: string }).id)).toEqual(['a', 'b']);
    h.base.pause();
    for (const id of ['c', 'd', 'e']) h.base.receive(JSON.stringify({ type: 'message', id, text: id }));
    expect(h.closes).toEqual([{ code: CLOSE_CODES.policyViolation, reason: 'too many frames before ready: at most 2' }]);
    h.base.resume();
    expect(h.frames).toHaveLength(2);
  });

  it('closes 4401 with the verifier\'s reason when the token is refused', async () => {
    const h = harness({ headerToken: 'bad' });
    h.verifications[0]!.reject(new KeelError('unauthorized', 'unauthorized: the token has expired'));
    await settle();
    expect(h.closes).toEqual([{ code: CLOSE_CODES.unauthorized, reason: 'unauthorized: the token has expired' }]);
    expect(h.signedIn).toEqual([]);
  });

  it('closes 4401 when the token expires while connected', async () => {
    const h = harness({ headerToken: 't' });
    h.verifications[0]!.resolve({ ...who, expiresAt: 60_000 });
    await settle();
    h.clock.advance(59_999);
    expect(h.closes).toEqual([]);
    h.clock.advance(1);
    expect(h.closes).toEqual([{ code: CLOSE_CODES.unauthorized, reason: 'unauthorized: the token has expired' }]);
  });

  it('answers binary frames with bad_frame and closes a slow reader with 1013', async () => {
    const h = harness({ headerToken: 't' });
    h.verifications[0]!.resolve(who);
    await settle();
    h.base.receive('', true);
    expect(h.sent).toEqual([expect.objectContaining({ type: 'error', code: 'bad_frame', message: 'frames are JSON text, not binary' })]);
    h.socket.bufferedAmount = 5000;
    h.base.send({ type: 'pong' });
    expect(h.closes).toEqual([{ code: CLOSE_CODES.tryAgainLater, reason: expect.stringMatching(/slow consumer/) }]);
    expect(h.sent).toHaveLength(1);
  });

  it('says a refusal twice, as a frame and as a close reason, and counts it once', async () => {
    const h = harness({ headerToken: 't' });
    h.verifications[0]!.resolve(who);
    await settle();
    h.base.refuse(errorFrame('forbidden', 'not here'), CLOSE_CODES.forbidden, 'forbidden: not here');
    h.base.refuse(errorFrame('forbidden', 'not here'), CLOSE_CODES.forbidden, 'forbidden: not here');
    expect(h.sent).toEqual([expect.objectContaining({ type: 'error', code: 'forbidden' })]);
    expect(h.closes).toEqual([{ code: CLOSE_CODES.forbidden, reason: 'forbidden: not here' }]);
    expect(await h.errors()).toEqual({ forbidden: 1 });
    h.base.dispose();
    expect(h.released()).toBe(1);
  });
});
