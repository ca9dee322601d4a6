import { join } from 'node:path';
import { open } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { createRuntime, tenantId, userId } from '../../../src/index.js';
import { DB_NAMES, STRUCTURES_KEY } from '../../../src/store/lmdb-env.js';
import { createTestMachine } from '../../fixtures/test-machines.js';
import { tempDir } from '../../support/temp-dir.js';
import { useCleanups } from '../../support/cleanups.js';

const defer = useCleanups();
const tenant = tenantId('acme');

/** A value with its byte arrays as hex (one handle reads them as Buffer, another as Uint8Array). */
function bytesAsHex(value: unknown): unknown {
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  if (Array.isArray(value)) return value.map(bytesAsHex);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, bytesAsHex(v)]));
  return value;
}

/**
 * Rewrites every value of every database the way keel stored them before shared structures: each
 * value defines its own msgpack records inline, and no database has a structures entry.
 */
async function rewriteWithoutSharedStructures(dir: string): Promise<number> {
  const root = open({ path: join(dir, 'keel.mdb'), maxDbs: 16 });
  let rewritten = 0;
  try {
    for (const name of DB_NAMES) {
      const shared = root.openDB({ name, sharedStructuresKey: STRUCTURES_KEY });
      const entries = [...shared.getRange({})].map(({ key, value }) => ({ key, value }));
      if (entries.length === 0) continue;
      const plain = root.openDB({ name, cache: false });
      await plain.transaction(() => {
        for (const { key, value } of entries) plain.put(key, value);
        plain.remove(STRUCTURES_KEY);
      });
      rewritten += entries.length;
      // The bytes now carry inline definitions: a handle without shared structures reads them alone.
      expect([...root.openDB({ name }).getRange({})].map(({ value }) => bytesAsHex(value))).toEqual(entries.map((e) => bytesAsHex(e.value)));
      expect(root.openDB({ name }).doesExist(STRUCTURES_KEY)).toBe(false);
    }
  } finally {
    await root.close();
  }
  return rewritten;
}

describe('shared msgpack structures in every database', () => {
  it('store each record structure once per database, and count sessions without that entry', async () => {
    const t = tempDir();
    defer(t.remove);
    const runtime = createRuntime({ dataDir: t.dir, machine: createTestMachine() });
    const { sessionId } = await runtime.open({ tenant, user: userId('u') });
    for (let i = 0; i < 5; i++) await runtime.send(sessionId, { type: 'user.message', id: `m${i}`, text: `hello ${i}` });
    await runtime.open({ tenant, user: userId('v') });
    expect(runtime.stats().stored).toBe(2);
    await runtime.close();

    const root = open({ path: join(t.dir, 'keel.mdb'), maxDbs: 16 });
    try {
      const sessions = root.openDB({ name: 'sessions' });
      const structures = sessions.get(STRUCTURES_KEY) as string[][];
      expect(structures.some((keys) => keys.includes('snapshot') && keys.includes('machineVersion'))).toBe(true);
      // A session record names its structure in one byte instead of spelling out its twelve keys.
      const raw = sessions.getBinary(sessionId)!;
      expect(Buffer.from(raw).includes('machineVersion')).toBe(false);
      expect((sessions.getStats() as { entryCount: number }).entryCount).toBe(3);
    } finally {
      await root.close();
    }
  });

  it('read a data directory written before them, and go on from it', async () => {
    const t = tempDir();
    defer(t.remove);
    const before = createRuntime({ dataDir: t.dir, machine: createTestMachine() });
    const { sessionId } = await before.open({ tenant, user: userId('u') });
    await before.send(sessionId, { type: 'user.message', id: 'm1', text: 'first' });
    await before.send(sessionId, { type: 'user.message', id: 'm2', text: 'second' });
    await before.close();
    expect(await rewriteWithoutSharedStructures(t.dir)).toBeGreaterThan(5);

    const after = createRuntime({ dataDir: t.dir, machine: createTestMachine() });
    defer(() => after.close());
    // The old snapshot hydrates (the counter goes on), the old journal and message index read.
    expect((await after.send(sessionId, { type: 'user.message', id: 'm3', text: 'third' })).frames[0]?.text).toBe('echo 2: third');
    const again = await after.send(sessionId, { type: 'user.message', id: 'm1', text: 'first' });
    expect(again.duplicate).toBe(true);
    expect(again.frames[0]?.text).toBe('echo 0: first');
    expect(after.replay(sessionId, 0).map((f) => f.text)).toEqual(['first', 'echo 0: first', 'second', 'echo 1: second', 'third', 'echo 2: third']);
    expect(after.listSessions({ tenant }).map((s) => s.sessionId)).toEqual([sessionId]);
    expect(after.stats().stored).toBe(1);
    await after.close();

    // Old and new values side by side, after a restart.
    const restarted = createRuntime({ dataDir: t.dir, machine: createTestMachine() });
    defer(() => restarted.close());
    expect(restarted.replay(sessionId, 0).map((f) => f.text)).toHaveLength(6);
    expect((await restarted.send(sessionId, { type: 'user.message', id: 'm4', text: 'fourth' })).frames[0]?.text).toBe('echo 3: fourth');
  });
});
