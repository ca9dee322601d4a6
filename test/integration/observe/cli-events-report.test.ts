/**
 * `keel events` and `keel report` read the decision trace of a data directory while the runtime
 * that writes it is still running: filters by period, tenant, session, user and kind, text and
 * JSON output, the behavioural diagnostics of a period, and clear usage errors.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { runCli } from '../../../src/cli/cli-main.js';
import { createTenantSealer } from '../../../src/security/tenant-sealer.js';
import { createTenantKeyStore } from '../../../src/security/tenant-keys.js';
import { createManualClock, createRuntime, tenantId, userId, type Runtime } from '../../../src/index.js';
import type { DecisionEvent } from '../../../src/ports.js';
import { createTestMachine } from '../../fixtures/test-machines.js';
import { tempDir } from '../../support/temp-dir.js';
import { fakeIo } from '../server/support/fake-io.js';
import { createObservedAgent } from './support/observed-agent.js';

const DAY = 86_400_000;

describe('keel events and keel report', () => {
  const temp = tempDir('keel-cli-trace-');
  let runtime: Runtime;
  const sessions: Record<string, string> = {};

  beforeAll(async () => {
    const clock = createManualClock(Date.now() - 8 * DAY);
    const agent = await createObservedAgent({ dataDir: temp.dir, failing: new Set(['track_order']) });
    runtime = createRuntime({ dataDir: temp.dir, machine: agent.machine, clock });
    const talk = async (name: string, user: string, texts: string[]) => {
      const { sessionId } = await runtime.open({ tenant: tenantId('acme'), user: userId(user) });
      sessions[name] = sessionId;
      for (const [i, text] of texts.entries()) {
        // Tool retries wait on the (manual) clock: move it along until the turn is answered.
        let done = false;
        const turn = runtime.send(sessionId, { type: 'user.message', id: `m${i}`, text }).finally(() => (done = true));
        while (!done) {
          clock.advance(50);
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        await turn;
      }
    };
    await talk('old', 'alice', ['where is my order 1042?']);
    clock.advance(5 * DAY);
    await talk('bob', 'bob', ['where is my order 2001?', 'I want to talk to a human']);
    clock.advance(2 * DAY);
    await talk('recent', 'alice', ['blorp fizz wug', 'what is your returns policy?']);
    // The commands read what is committed, not what the runtime still holds in memory.
    await vi.waitFor(async () => {
      const io = fakeIo({ env: { KEEL_DATA_DIR: temp.dir } });
      expect(await runCli(['events', '--since', '10d', '--session', sessions.recent!, '--kind', 'reply', '--json'], io)).toBe(0);
      expect(io.out().trim().split('\n').filter(Boolean)).toHaveLength(2);
    }, { timeout: 5000 });
  }, 60_000);

  afterAll(async () => {
    await runtime?.close();
    temp.remove();
  });

  const run = async (...args: string[]) => {
    const io = fakeIo({ env: { KEEL_DATA_DIR: temp.dir } });
    const code = await runCli(args, io);
    return { code, out: io.out(), err: io.err() };
  };
  const jsonLines = (out: string) => out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as DecisionEvent);

  it('lists a user\'s decisions of the last week while the runtime still writes the trace', async () => {
    const { code, out } = await run('events', '--since', '7d', '--user', 'alice', '--json');
    expect(code).toBe(0);
    const events = jsonLines(out);
    expect(events.length).toBeGreaterThan(3);
    // Alice's first conversation is eight days old: outside the week (its session was only tidied up in it).
    expect(new Set(events.filter((e) => e.kind !== 'session').map((e) => e.session))).toEqual(new Set([sessions.recent]));
    expect(events.map((e) => e.kind)).toContain('route');
    expect(events.every((e, i) => i === 0 || e.time >= events[i - 1]!.time)).toBe(true);
  });

  it('filters by kind and tenant over a longer period, and prints readable lines', async () => {
    const { code, out } = await run('events', '--since', '10d', '--tenant', 'acme', '--kind', 'retry,fallback', '--kind', 'escalate', '--json');
    expect(code).toBe(0);
    const events = jsonLines(out);
    expect(new Set(events.map((e) => e.kind))).toEqual(new Set(['retry', 'fallback', 'escalate']));
    expect(events.filter((e) => e.kind === 'retry' && e.data.tool === 'track_order')).toHaveLength(4);
    expect(new Set(events.map((e) => e.session))).toEqual(new Set([sessions.old, sessions.bob, sessions.recent]));

    const text = await run('events', '--since', '10d', '--session', sessions.bob!, '--kind', 'route,retry');
    expect(text.code).toBe(0);
    const lines = text.out.trim().split('\n');
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT.*Z {2}acme {2}bob {2}\S+ {2}route {6}startTask \[conversation\.routing\] {2}pattern=task .*chosen=order_status/);
    expect(lines.filter((l) => / retry /.test(l))).toHaveLength(2);
    expect(text.out).toContain('args={"orderId":"2001"}');

    const newest = await run('events', '--since', '10d', '--limit', '2', '--newest', '--json');
    expect(jsonLines(newest.out).map((e) => e.session)).toEqual([sessions.recent, sessions.recent]);
    expect(newest.err).toContain('more than 2 events');
    const none = await run('events', '--since', '10d', '--until', '9d');
    expect(none.code).toBe(0);
    expect(none.err).toContain('no events');
  });

  it('reports what failed, fell back, escalated and broke in the period', async () => {
    const { code, out } = await run('report', '--since', '7d', '--json');
    expect(code).toBe(0);
    const report = JSON.parse(out) as {
      sessions: number; turns: number;
      tools: { tool: string; failures: number; failureRate: number }[];
      intents: { intent: string; fallbacks: number; escalations: number; troubleRate: number }[];
      repeats: { intent: string; reprompts: number }[];
    };
    expect(report.sessions).toBe(2);
    // Only Bob's order question is in the week: three failed attempts of the carrier's tool.
    expect(report.tools[0]).toMatchObject({ tool: 'track_order', failures: 3, failureRate: 1 });
    expect(report.intents.find((r) => r.intent === 'order_status')).toMatchObject({ troubleRate: 1 });
    expect(report.intents.some((r) => r.escalations > 0)).toBe(true);
    expect(report.repeats.find((r) => r.intent === '(out of scope)')?.reprompts).toBeGreaterThanOrEqual(1);

    const text = await run('report', '--since', '10d', '--tenant', 'acme', '--top', '3');
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^keel report \d{4}-.* tenant acme\n/);
    expect(text.out).toContain('Tools that break');
    expect(text.out).toMatch(/track_order\s+6\s+6\s+100%/);
  });

  it('says what is wrong with its arguments', async () => {
    for (const args of [['events', '--since', 'yesterday'], ['events', '--kind', 'nope'], ['events', '--limit', '0'], ['events', '--user', 'bad id'], ['report', '--top', 'x'], ['report', '--abandon-after', '2020-01-01'], ['events', '--since', '1d', '--until', '2d']]) {
      const { code, err } = await run(...args);
      expect(code, args.join(' ')).toBe(2);
      expect(err).toMatch(/^keel (events|report): /);
    }
    const io = fakeIo({ env: { KEEL_DATA_DIR: `${temp.dir}/nothing-here` } });
    expect(await runCli(['events'], io)).toBe(1);
    expect(io.err()).toContain('no keel data');
    const help = await run('--help');
    expect(help.out).toMatch(/events .*\n.*report /);
  });

  it('reads a trace sealed with wrapped tenant keys using the master key of its own environment', async () => {
    const wrapped = tempDir('keel-cli-trace-wrapped-');
    try {
      const masterKey = randomBytes(32).toString('hex');
      const sealer = createTenantSealer({ keys: createTenantKeyStore({ dir: wrapped.dir, env: { KEEL_MASTER_KEY: masterKey } }) });
      const own = createRuntime({ dataDir: wrapped.dir, machine: createTestMachine(), sealer });
      const { sessionId } = await own.open({ tenant: tenantId('acme'), user: userId('carol') });
      await own.send(sessionId, { type: 'user.message', id: 'w1', text: 'hello' });
      await vi.waitFor(() => expect(own.events.query({ session: sessionId }).length).toBeGreaterThan(0), { timeout: 5000 });
      await own.close();

      const withKey = fakeIo({ env: { KEEL_DATA_DIR: wrapped.dir, KEEL_MASTER_KEY: masterKey } });
      expect(await runCli(['events', '--since', '1d', '--json'], withKey), withKey.err()).toBe(0);
      expect(jsonLines(withKey.out()).some((e) => e.session === sessionId)).toBe(true);

      const withoutKey = fakeIo({ env: { KEEL_DATA_DIR: wrapped.dir } });
      expect(await runCli(['events', '--since', '1d'], withoutKey)).toBe(1);
      expect(withoutKey.err()).toContain('KEEL_MASTER_KEY');
    } finally {
      wrapped.remove();
    }
  });
});
