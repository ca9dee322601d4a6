/**
 * One `keel serve` per data directory. The runtime hosts each session in the process that serves
 * it: two servers on one directory would both accept messages for the same session and overwrite
 * each other's journal (an acknowledged message lost), and `keel forget` beside a running server
 * erases what the server writes back a moment later. `serve.lock` in the data directory holds the
 * serving process's id; a lock whose process is gone (a crash, SIGKILL) is taken over.
 */
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { KeelError } from '../errors.js';

/** The lock file's name inside the data directory. */
export const SERVE_LOCK_FILE = 'serve.lock';

/** The id of the live process that holds `dir`'s lock, or undefined when none does. */
export function lockHolder(dir: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, SERVE_LOCK_FILE), 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    // EPERM: it exists but belongs to another user; it is alive all the same.
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

/**
 * Takes `dir`'s lock for this process; throws `invalid_option` naming the process that holds it.
 * Returns the function that gives it back (idempotent). A directory that does not exist yet has
 * nothing to protect: nothing is locked.
 *
 * @example
 * ```ts
 * const release = lockDataDir(dataDir); // keel serve: /data is in use by process 4242
 * try { await serve(); } finally { release(); }
 * ```
 */
export function lockDataDir(dir: string): () => void {
  if (!existsSync(dir)) return () => undefined;
  const path = join(dir, SERVE_LOCK_FILE);
  for (let tries = 0; tries < 2; tries++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = lockHolder(dir);
      if (holder !== undefined && holder !== process.pid) {
        throw new KeelError('invalid_option', `the data directory ${dir} is in use by process ${holder} (another keel serve); stop it first`);
      }
      // Left by a process that is gone: taken over.
      rmSync(path, { force: true });
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      process.off('exit', release);
      if (lockHolder(dir) === process.pid) rmSync(path, { force: true });
    };
    process.on('exit', release);
    return release;
  }
  throw new KeelError('invalid_option', `the data directory ${dir} is being locked by another process; try again`);
}

/**
 * Runs `use` holding `dir`'s lock, and gives it back after, whatever `use` does.
 *
 * @example
 * ```ts
 * return withDataDirLock(dataDir, () => serveUntilStopped());
 * ```
 */
export async function withDataDirLock<T>(dir: string, use: () => Promise<T>): Promise<T> {
  const release = lockDataDir(dir);
  try {
    return await use();
  } finally {
    release();
  }
}
