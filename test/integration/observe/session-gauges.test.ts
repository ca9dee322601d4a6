/**
 * `/metrics` reports live and passivated sessions from the runtime on each scrape: passivated
 * sessions are those stored but not live, counted from LMDB's statistics (no scan).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRuntime, tenantId, userId } from '../../../src/index.js';
import { createMetrics } from '../../../src/observe/metrics.js';
import { createTestMachine } from '../../fixtures/test-machines.js';
import { tempDir } from '../../support/temp-dir.js';
import { parsePromText } from '../../unit/observe/prom-text.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

describe('session gauges', () => {
  it('move as sessions are opened, passivated and hydrated again', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const runtime = createRuntime({ dataDir: t.dir, machine: createTestMachine(), sealer: 'none' });
    cleanups.push(() => runtime.close());
    const metrics = createMetrics({ runtime, processMetrics: false });
    const scrape = async () => {
      const p = parsePromText(await metrics.text());
      return { live: p.value('keel_live_sessions'), passivated: p.value('keel_passivated_sessions') };
    };
    const ids: string[] = [];
    for (const u of ['a', 'b', 'c']) ids.push((await runtime.open({ tenant: tenantId('acme'), user: userId(u) })).sessionId);
    expect(await scrape()).toEqual({ live: 3, passivated: 0 });
    await runtime.passivate(ids[0]!);
    await runtime.passivate(ids[1]!);
    expect(await scrape()).toEqual({ live: 1, passivated: 2 });
    await runtime.send(ids[0]!, { type: 'user.message', id: 'm1', text: 'back' });
    expect(await scrape()).toEqual({ live: 2, passivated: 1 });
  });
});
