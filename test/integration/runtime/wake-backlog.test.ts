import { afterEach, describe, expect, it } from 'vitest';
import { createManualClock, createRuntime, silentLogger, tenantId, userId, type Runtime } from '../../../src/index.js';
import { createTestMachine } from '../../fixtures/test-machines.js';
import { tempDir } from '../../support/temp-dir.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

describe('wake index backlog', () => {
  it('fires every overdue timer after a restart, even when more sessions are due than one page of the wake index', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const clock = createManualClock(1_700_000_000_000);
    const open = (): Runtime => {
      const rt = createRuntime({ dataDir: t.dir, machine: createTestMachine(), clock, logger: silentLogger, sealer: 'none', redactText: 'none' });
      cleanups.push(() => rt.close());
      return rt;
    };
    // One page of the wake index is 1,000 sessions; 1,150 are due at the restart.
    const count = 1150;
    const rt1 = open();
    const ids: string[] = [];
    for (let i = 0; i < count; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, j) => rt1.open({ tenant: tenantId('acme'), user: userId(`u${i + j}`) })));
      await Promise.all(batch.map((o) => rt1.send(o.sessionId, { type: 'user.message', id: 'm1', text: 'wait' })));
      ids.push(...batch.map((o) => o.sessionId));
    }
    await rt1.close();

    // Down for two minutes: every session's 60 s timer is overdue when the runtime comes back.
    clock.advance(120_000);
    const rt2 = open();
    const nudged = (id: string): boolean => rt2.replay(id, 0).some((f) => f.text === 'still there?');
    for (let round = 0; round < 200; round++) {
      // Hydrations are asynchronous; the manual clock then runs the re-armed timers and the
      // runtime's next pass over the wake index.
      await new Promise((r) => setTimeout(r, 20));
      clock.advance(50);
      if (round % 20 === 19 && nudged(ids[ids.length - 1]!) && ids.every(nudged)) break;
    }
    const missing = ids.filter((id) => !nudged(id));
    expect(missing).toEqual([]);
  }, 120_000);
});
