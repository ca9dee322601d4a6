/**
 * The owner index: a user's sessions are counted and listed from `[tenant, user, session]` keys,
 * so the session limit and erasure never scan every stored session, and a data directory written
 * before the index existed gets it on first open.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRuntime, isKeelError, tenantId, userId } from '../../../src/index.js';
import { openEnv } from '../../../src/store/lmdb-env.js';
import { createTestMachine } from '../../fixtures/test-machines.js';
import { tempDir } from '../../support/temp-dir.js';

const acme = tenantId('acme');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function runtimeAt(dir: string, maxSessionsPerUser = 100) {
  const rt = createRuntime({ dataDir: dir, machine: createTestMachine(), maxSessionsPerUser, sealer: 'none' });
  cleanups.push(() => rt.close());
  return rt;
}

describe('owner index', () => {
  it('counts a user’s sessions after a restart without scanning, and frees a slot when a session is erased', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const first = runtimeAt(t.dir, 3);
    for (let i = 0; i < 3; i++) await first.open({ tenant: acme, user: userId('alice') });
    await first.open({ tenant: acme, user: userId('bob') });
    await first.close();

    const second = runtimeAt(t.dir, 3);
    const refused = await second.open({ tenant: acme, user: userId('alice') }).catch((err: unknown) => err);
    expect(isKeelError(refused) && refused.code).toBe('budget_exceeded');
    // Bob is counted apart, and so is an Alice of another tenant.
    await expect(second.open({ tenant: acme, user: userId('bob') })).resolves.toMatchObject({ created: true });
    await expect(second.open({ tenant: tenantId('globex'), user: userId('alice') })).resolves.toMatchObject({ created: true });
    expect(second.listSessions({ tenant: acme, user: userId('alice') })).toHaveLength(3);
    await second.forget({ tenant: acme, user: userId('alice') });
    expect(second.listSessions({ tenant: acme, user: userId('alice') })).toHaveLength(0);
    await expect(second.open({ tenant: acme, user: userId('alice') })).resolves.toMatchObject({ created: true });
  });

  it('is built once for a data directory written before it existed', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const first = runtimeAt(t.dir);
    const ids = new Set<string>();
    for (let i = 0; i < 4; i++) ids.add((await first.open({ tenant: acme, user: userId('carol') })).sessionId);
    await first.close();

    // What an older keel left behind: sessions, but no owner entries and no marker.
    const env = openEnv({ dir: t.dir });
    const owners = env.db('owners');
    for (const key of [...owners.getKeys({})]) await owners.remove(key);
    await env.db('meta').remove('owners.index');
    await env.flushed();
    expect([...owners.getKeys({})]).toHaveLength(0);
    await env.close();

    const second = runtimeAt(t.dir);
    expect(new Set(second.listSessions({ tenant: acme, user: userId('carol') }).map((s) => s.sessionId))).toEqual(ids);
  });
});
