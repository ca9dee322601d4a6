import { describe, expect, it } from 'vitest';
import {
  createManualClock, sessionId, silentLogger, tenantId, userId,
  type Identity, type OpenedSession, type Runtime, type SendOptions, type SessionFrame, type TurnOutcome,
} from '../../../src/index.js';
import { createChatConnection, type ChatSocket } from '../../../src/server/chat-connection.js';
import { createServerMetrics } from '../../../src/server/server-metrics.js';
import { resolveServerOptions } from '../../../src/server/server-options.js';

const who: Identity = { tenant: tenantId('acme'), user: userId('u-1'), role: 'customer' };
const sid = sessionId('s-1');
const ack = (seq: number, id: string): SessionFrame => ({ type: 'ack', seq, id, text: 'secret', time: 0 });
const reply = (seq: number, replyTo: string, text = 'ok'): SessionFrame => ({ type: 'reply', seq, replyTo, text, state: 'idle', time: 0 });

/** A runtime double: tests drive publication and turns by hand. */
function fakeRuntime(journal: SessionFrame[] = []) {
  let listener: ((frames: readonly SessionFrame[]) => void) | undefined;
  const sends: Array<{ id: string; options: SendOptions; resolve: (o: TurnOutcome) => void }> = [];
  const runtime = {
    open: async (): Promise<OpenedSession> => ({ sessionId: sid, lastSeq: journal.at(-1)?.seq ?? 0, state: 'idle', created: false }),
    subscribe: (_id: string, fn: (frames: readonly SessionFrame[]) => void) => {
      listener = fn;
      return () => (listener = undefined);
    },
    replay: (_id: string, after: number) => journal.filter((f) => f.seq > after),
    send: (_id: string, event: { id: string }, options: SendOptions) => new Promise<TurnOutcome>((resolve) => sends.push({ id: event.id, options, resolve })),
    describe: () => undefined,
    warm: async () => undefined,
    stats: () => ({ live: 0, hydrations: 0, passivations: 0, turns: 0, failedTurns: 0 }),
  } as unknown as Runtime;
  return { runtime, publish: (frames: SessionFrame[]) => listener?.(frames), sends };
}

function harness(runtime: Runtime, socketOverrides: Partial<{ bufferedAmount: number }> = {}) {
  const sent: Array<Record<string, unknown>> = [];
  const closes: Array<{ code: number; reason: string }> = [];
  const socket: ChatSocket & { bufferedAmount: number } = {
    bufferedAmount: socketOverrides.bufferedAmount ?? 0,
    send(data, cb) {
      sent.push(JSON.parse(data) as Record<string, unknown>);
      cb?.();
    },
    close(code, reason) {
      closes.push({ code, reason });
    },
  };
  const clock = createManualClock(0);
  const options = resolveServerOptions({ runtime, clock, maxBufferedBytes: 1000 });
  const conn = createChatConnection({
    socket, runtime, options, metrics: createServerMetrics({ processMetrics: false }), logger: silentLogger,
    verifyToken: async () => who, hooks: { admit: () => true, takeUserToken: () => true }, headerToken: 't', channel: 'ws',
  });
  return { conn, socket, sent, closes, clock };
}

const settle = () => new Promise((r) => setTimeout(r, 5));

describe('chat connection', () => {
  it('sends each committed frame once when live frames race the replay', async () => {
    const journal = [ack(1, 'a'), reply(2, 'a'), ack(3, 'b'), reply(4, 'b')];
    const fake = fakeRuntime(journal);
    const replay = fake.runtime.replay.bind(fake.runtime);
    // Frames 3-6 are committed while the journal is read: 3 and 4 are in both.
    (fake.runtime as { replay: Runtime['replay'] }).replay = (id, after, as) => {
      fake.publish([ack(3, 'b'), reply(4, 'b')]);
      fake.publish([ack(5, 'c'), reply(6, 'c')]);
      return replay(id, after, as);
    };
    const h = harness(fake.runtime);
    await settle();
    h.conn.receive(JSON.stringify({ type: 'hello', sessionId: 's-1', lastSeq: 0 }));
    await settle();
    expect(h.sent.map((f) => f.seq ?? f.type)).toEqual(['ready', 1, 2, 3, 4, 5, 6]);
    expect(h.sent.find((f) => f.type === 'ack')).not.toHaveProperty('text');
  });

  it('holds deltas until the ack went out, and drops them when the reply comes with it', async () => {
    const fake = fakeRuntime();
    const h = harness(fake.runtime);
    await settle();
    h.conn.receive(JSON.stringify({ type: 'hello' }));
    await settle();
    h.conn.receive(JSON.stringify({ type: 'message', id: 'm1', text: 'slow one' }));
    h.conn.receive(JSON.stringify({ type: 'message', id: 'm2', text: 'fast one' }));
    const [m1, m2] = fake.sends;
    m1!.options.onDelta?.('early ');
    expect(h.sent.filter((f) => f.type === 'delta')).toEqual([]);
    fake.publish([ack(1, 'm1')]);
    m1!.options.onDelta?.('late');
    expect(h.sent.slice(1).map((f) => [f.type, f.text ?? f.seq])).toEqual([['ack', 1], ['delta', 'early '], ['delta', 'late']]);
    fake.publish([reply(2, 'm1', 'early late')]);
    m2!.options.onDelta?.('whole');
    fake.publish([ack(3, 'm2'), reply(4, 'm2', 'whole')]);
    expect(h.sent.slice(1).map((f) => f.type)).toEqual(['ack', 'delta', 'delta', 'reply', 'ack', 'reply']);
  });

  it('resends the stored ack and reply for a duplicate outcome', async () => {
    const fake = fakeRuntime();
    const h = harness(fake.runtime);
    await settle();
    h.conn.receive(JSON.stringify({ type: 'hello' }));
    await settle();
    h.conn.receive(JSON.stringify({ type: 'message', id: 'm1', text: 'again' }));
    fake.sends[0]!.resolve({ sessionId: sid, messageId: 'm1', seq: 1, frames: [reply(2, 'm1')], state: 'idle', duplicate: true });
    await settle();
    expect(h.sent.slice(1)).toEqual([
      { type: 'ack', id: 'm1', seq: 1 },
      { type: 'reply', seq: 2, replyTo: 'm1', text: 'ok', state: 'idle', time: 0 },
    ]);
  });

  it('closes a slow consumer with 1013 instead of queueing without bound', async () => {
    const fake = fakeRuntime();
    const h = harness(fake.runtime);
    await settle();
    h.conn.receive(JSON.stringify({ type: 'hello' }));
    await settle();
    h.socket.bufferedAmount = 5000;
    fake.publish([ack(1, 'x')]);
    expect(h.closes).toEqual([{ code: 1013, reason: expect.stringMatching(/slow consumer/) }]);
    fake.publish([reply(2, 'x')]);
    expect(h.sent.map((f) => f.type)).toEqual(['ready']);
  });
});
