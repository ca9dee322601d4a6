import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createRuntime, createTenantKeyStore, createTenantSealer, tenantId, userId } from '../../../src/index.js';
import { createTestMachine } from '../../fixtures/test-machines.js';
import { tempDir } from '../../support/temp-dir.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function rawBytes(dir: string): string {
  return readdirSync(dir, { recursive: true })
    .map((f) => join(dir, String(f)))
    .filter((f) => f.includes('keel.mdb'))
    .map((f) => {
      try {
        return readFileSync(f).toString('latin1');
      } catch {
        return '';
      }
    })
    .join('');
}

describe('secure defaults', () => {
  it('keeps no plaintext of a message in the raw LMDB files', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const rt = createRuntime({ dataDir: t.dir, machine: createTestMachine() });
    const { sessionId } = await rt.open({ tenant: tenantId('acme'), user: userId('u') });
    const secret = 'my card ends 4242 and my dog is called Marmaduke';
    const out = await rt.send(sessionId, { type: 'user.message', id: 'm1', text: secret });
    expect(out.frames[0]?.text).toContain('Marmaduke');
    await rt.close();
    const raw = rawBytes(t.dir);
    expect(raw.length).toBeGreaterThan(10_000);
    expect(raw).not.toContain('Marmaduke');
    // The same run with encryption turned off shows the check would see plaintext.
    const t2 = tempDir();
    cleanups.push(t2.remove);
    const plain = createRuntime({ dataDir: t2.dir, machine: createTestMachine(), sealer: 'none' });
    const s2 = await plain.open({ tenant: tenantId('acme'), user: userId('u') });
    await plain.send(s2.sessionId, { type: 'user.message', id: 'm1', text: secret });
    await plain.close();
    expect(rawBytes(t2.dir)).toContain('Marmaduke');
  });

  it('serves a data directory sealed with AES-256-GCM (as by earlier versions) after the default became XChaCha20-Poly1305', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const tenant = tenantId('acme');
    const before = createRuntime({ dataDir: t.dir, machine: createTestMachine(), sealer: createTenantSealer({ keys: createTenantKeyStore({ dir: t.dir }), cipher: 'aes-256-gcm' }) });
    const { sessionId } = await before.open({ tenant, user: userId('u') });
    await before.send(sessionId, { type: 'user.message', id: 'm1', text: 'my dog is called Marmaduke' });
    await before.close();

    const after = createRuntime({ dataDir: t.dir, machine: createTestMachine() });
    cleanups.push(() => after.close());
    // The old snapshot hydrates (the counter goes on) and the old journal opens.
    expect((await after.send(sessionId, { type: 'user.message', id: 'm2', text: 'and my cat Tibbles' })).frames[0]?.text).toBe('echo 1: and my cat Tibbles');
    expect(after.replay(sessionId, 0).map((f) => f.text)).toEqual(['my dog is called Marmaduke', 'echo 0: my dog is called Marmaduke', 'and my cat Tibbles', 'echo 1: and my cat Tibbles']);
    expect((await after.send(sessionId, { type: 'user.message', id: 'm1', text: 'my dog is called Marmaduke' })).frames[0]?.text).toBe('echo 0: my dog is called Marmaduke');
    await after.close();
    const raw = rawBytes(t.dir);
    expect(raw).not.toContain('Marmaduke');
    expect(raw).not.toContain('Tibbles');
  });

  it('erases a user: nothing of theirs is readable afterwards, even after a restart, and the erasure is audited', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const tenant = tenantId('acme');
    const rt = createRuntime({ dataDir: t.dir, machine: createTestMachine() });
    const gone = await rt.open({ tenant, user: userId('leaver') });
    const kept = await rt.open({ tenant, user: userId('stayer') });
    await rt.send(gone.sessionId, { type: 'user.message', id: 'g1', text: 'remember Marmaduke' });
    await rt.send(kept.sessionId, { type: 'user.message', id: 'k1', text: 'hello' });
    await expect(rt.forget({ tenant, user: userId('leaver') }, { tenant, user: userId('leaver'), role: 'customer' })).rejects.toMatchObject({ code: 'forbidden' });
    const result = await rt.forget({ tenant, user: userId('leaver') }, { tenant, user: userId('boss'), role: 'admin' });
    expect(result.sessions).toBe(1);
    expect(rt.describe(gone.sessionId)).toBeUndefined();
    expect(() => rt.replay(gone.sessionId, 0)).toThrow(/no such session/);
    expect(rt.events.query({ tenant, user: userId('leaver') })).toEqual([]);
    await rt.close();

    const again = createRuntime({ dataDir: t.dir, machine: createTestMachine() });
    cleanups.push(() => again.close());
    expect(again.describe(gone.sessionId)).toBeUndefined();
    expect(again.listSessions({ tenant }).map((s) => s.user)).toEqual(['stayer']);
    expect((await again.send(kept.sessionId, { type: 'user.message', id: 'k2', text: 'still here' })).frames[0]?.text).toBe('echo 1: still here');
    const records = again.audit.read({});
    expect(records.map((r) => `${r.action}:${r.outcome}`)).toEqual(['user.forget:denied', 'user.forget:ok']);
    expect((await again.audit.verify()).ok).toBe(true);
  });
});
