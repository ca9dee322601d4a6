import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createRuntime, isKeelError, tenantId, userId } from '../../../src/index.js';
import { createTestMachine } from '../../fixtures/test-machines.js';
import { tempDir } from '../../support/temp-dir.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Mounts a small tmpfs (needs root); returns undefined where mounting is not permitted. */
function smallDisk(sizeMiB: number): { dir: string; unmount: () => void } | undefined {
  const t = tempDir('keel-disk-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', t.dir], { stdio: 'ignore' });
  } catch {
    t.remove();
    return undefined;
  }
  return {
    dir: t.dir,
    unmount: () => {
      execFileSync('umount', ['-l', t.dir], { stdio: 'ignore' });
      t.remove();
    },
  };
}

const disk = smallDisk(16);
if (disk) disk.unmount();

describe.skipIf(!disk && !process.env.CI)('a full disk', () => {
  it('refuses turns with storage_full, loses nothing acknowledged, and recovers when space returns', async () => {
    const d = smallDisk(16);
    expect(d, 'mounting a tmpfs needs root (CI runs as root)').toBeDefined();
    if (!d) return;
    cleanups.push(d.unmount);
    const filler = `${d.dir}/filler`;
    writeFileSync(filler, Buffer.alloc(6 * 1024 * 1024, 1));
    mkdirSync(`${d.dir}/data`);
    const rt = createRuntime({ dataDir: `${d.dir}/data`, machine: createTestMachine() });
    cleanups.push(() => rt.close().catch(() => undefined));
    const { sessionId } = await rt.open({ tenant: tenantId('acme'), user: userId('u') });
    const big = 'x'.repeat(64 * 1024);
    const acked: string[] = [];
    let failure: unknown;
    for (let i = 0; i < 400 && failure === undefined; i++) {
      try {
        await rt.send(sessionId, { type: 'user.message', id: `m${i}`, text: `${i} ${big}` });
        acked.push(`m${i}`);
      } catch (err) {
        failure = err;
      }
    }
    expect(acked.length).toBeGreaterThan(5);
    expect(isKeelError(failure, 'storage_full')).toBe(true);

    rmSync(filler);
    const after = await rt.send(sessionId, { type: 'user.message', id: 'after', text: 'small again' });
    expect(after.frames[0]?.text).toMatch(/^echo \d+: small again$/);
    const frames = rt.replay(sessionId, 0);
    for (const id of acked) {
      expect(frames.filter((f) => f.type === 'ack' && f.id === id)).toHaveLength(1);
      expect(frames.filter((f) => f.type === 'reply' && f.replyTo === id)).toHaveLength(1);
    }
    expect(frames.map((f) => f.seq)).toEqual(frames.map((_, i) => i + 1));
  }, 60_000);

  it('refuses to create a new data directory on a full disk with storage_full, instead of dying of SIGBUS', () => {
    const d = smallDisk(4);
    expect(d, 'mounting a tmpfs needs root (CI runs as root)').toBeDefined();
    if (!d) return;
    cleanups.push(d.unmount);
    // Filled to the last byte.
    const fd = openSync(`${d.dir}/filler`, 'w');
    try {
      for (;;) writeSync(fd, Buffer.alloc(64 * 1024, 1));
    } catch {
      // ENOSPC: full.
    } finally {
      closeSync(fd);
    }
    mkdirSync(`${d.dir}/data`);
    // In a child process: before the check, this ended the process with SIGBUS.
    const lmdbEnv = new URL('../../../dist/src/store/lmdb-env.js', import.meta.url).href;
    const script = `import { openEnv } from '${lmdbEnv}'; try { openEnv({ dir: process.argv[1] }); console.log('opened'); } catch (e) { console.log(e.code); }`;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', script, `${d.dir}/data`], { encoding: 'utf8' });
    expect({ status: out.status, signal: out.signal, stdout: out.stdout.trim() }).toEqual({ status: 0, signal: null, stdout: 'storage_full' });
  });
});
