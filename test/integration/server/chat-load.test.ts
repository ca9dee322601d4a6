import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { useCleanups } from '../../support/cleanups.js';
import { connect, isReplyTo, keelPerTest, openChat, type Frame } from './support/keel-harness.js';

const defer = useCleanups();
const keel = keelPerTest(defer);

describe('chat under load', () => {
  it('serves 500 concurrent clients, each turn answered exactly once with gapless seqs', async () => {
    const h = await keel();
    const CLIENTS = 500;
    const TURNS = 3;
    const tokens = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => h.token({ user: `load-${i}` })));
    const run = async (i: number): Promise<Frame[]> => {
      const c = await openChat(h, { token: tokens[i]! });
      for (let t = 0; t < TURNS; t++) {
        c.send({ type: 'message', id: `c${i}-t${t}`, text: `turn ${t}` });
        const reply = await c.next(isReplyTo(`c${i}-t${t}`), 20_000);
        expect(reply.text).toBe(`echo ${t}: turn ${t}`);
      }
      c.close();
      return c.frames;
    };
    const all = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => run(i)));
    for (const frames of all) {
      const journaled = frames.filter((f) => typeof f.seq === 'number');
      expect(journaled.map((f) => f.seq)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(frames.filter((f) => f.type === 'reply')).toHaveLength(TURNS);
      expect(frames.filter((f) => f.type === 'error')).toHaveLength(0);
    }
  }, 60_000);

  it('keeps serving other clients while one connection sends random garbage', async () => {
    const h = await keel({ server: { messagesPerSecondPerConnection: 1e6, messageBurstPerConnection: 1e6, messagesPerSecondPerUser: 1e6, messageBurstPerUser: 1e6 } });
    const garbage = fc.sample(
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'),
        fc.record({ type: fc.constantFrom('auth', 'hello', 'message', 'ping', 'x'), id: fc.string(), text: fc.string(), sessionId: fc.string(), lastSeq: fc.integer() }).map((v) => JSON.stringify(v)),
        fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
      ),
      { numRuns: 600, seed: 42 },
    );
    const victim = await openChat(h, { token: await h.token({ user: 'bystander' }) });
    let fuzzer = await openChat(h, { token: await h.token({ user: 'fuzzer' }) });
    let reconnects = 0;
    let turn = 0;
    const turns = (async () => {
      for (; turn < 30; turn++) {
        victim.send({ type: 'message', id: `v${turn}`, text: `still fine ${turn}` });
        await victim.next(isReplyTo(`v${turn}`));
      }
    })();
    for (const item of garbage) {
      if (fuzzer.ws.readyState !== WebSocket.OPEN) {
        reconnects++;
        fuzzer = await openChat(h, { token: await h.token({ user: 'fuzzer' }) });
      }
      fuzzer.sendRaw(item);
    }
    await turns;
    expect(turn).toBe(30);
    expect(victim.frames.filter((f) => f.type === 'error')).toEqual([]);
    const probe = await fetch(`${h.url}/healthz`);
    expect(probe.status).toBe(200);
    // Invalid UTF-8 closes with 1007; everything else keeps the fuzzing connection open.
    expect(reconnects).toBeLessThan(garbage.length);
    const fresh = connect(h.wsUrl, { token: await h.token({ user: 'late' }) });
    await fresh.opened;
    fresh.send({ type: 'hello' });
    expect((await fresh.next()).type).toBe('ready');
    fresh.close();
  });
});
