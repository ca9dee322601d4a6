/**
 * Turns answered by one LMDB commit go on in slices, one per macrotask, so that the next slice's
 * writes start committing while the event loop works (docs/benchmarks.md, runtime throughput).
 */
import { describe, expect, it } from 'vitest';
import { createRuntime, tenantId, userId } from '../../../src/index.js';
import { RESUME_SLICE } from '../../../src/store/resume-gate.js';
import { createTestMachine } from '../../fixtures/test-machines.js';
import { useCleanups } from '../../support/cleanups.js';
import { macrotaskTicker } from '../../support/macrotask-ticker.js';
import { tempDir } from '../../support/temp-dir.js';

const defer = useCleanups();

describe('commit pacing', () => {
  it('answers 100 turns of one commit in slices of at most RESUME_SLICE per macrotask, each with its own reply', async () => {
    const t = tempDir();
    defer(t.remove);
    const runtime = createRuntime({ dataDir: t.dir, machine: createTestMachine(), sealer: 'none' });
    defer(() => runtime.close());
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push((await runtime.open({ tenant: tenantId('acme'), user: userId(`u${i}`) })).sessionId);

    const clock = macrotaskTicker();
    const ticks: number[] = [];
    const outcomes = await Promise.all(
      ids.map(async (id, i) => {
        const outcome = await runtime.send(id, { type: 'user.message', id: 'm1', text: `hello ${i}` });
        ticks.push(clock.now());
        return outcome;
      }),
    );
    clock.stop();

    expect(outcomes.map((o) => o.frames.map((f) => f.text))).toEqual(ids.map((_, i) => [`echo 0: hello ${i}`]));
    const perTick = new Map<number, number>();
    for (const at of ticks) perTick.set(at, (perTick.get(at) ?? 0) + 1);
    expect(Math.max(...perTick.values())).toBeLessThanOrEqual(RESUME_SLICE);
    expect(perTick.size).toBeGreaterThanOrEqual(Math.ceil(100 / RESUME_SLICE));
  });
});
