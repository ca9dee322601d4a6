/**
 * Small files that hold secrets (token keys, tenant keys) in the data directory: created with mode
 * 0600, replaced atomically, refused when other users can read them. Synchronous on purpose: they
 * are touched at start-up and on rare key changes, and the {@link Sealer} port is synchronous.
 */
import { closeSync, fchmodSync, fstatSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { KeelError } from '../errors.js';

/** Identifies one version of a file on disk, to notice when another process replaced it. */
export type FileStamp = string;

/** The text of a secret file and the stamp of the version read. */
export interface SecretFileContent {
  readonly text: string;
  readonly stamp: FileStamp;
}

/**
 * The stamp of the file at `path`, or `undefined` when it does not exist.
 *
 * @example
 * ```ts
 * if (fileStamp(path) !== lastStamp) reload();
 * ```
 */
export function fileStamp(path: string): FileStamp | undefined {
  try {
    const st = statSync(path);
    // An atomic replace creates a new inode, so ino alone already changes; size and mtime cover
    // file systems that reuse inodes.
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fileError('read', path, err);
  }
}

/**
 * Reads a secret file; `undefined` when it does not exist. Throws a KeelError (`invalid_option`)
 * when group or others may read it: a leaked key file defeats every control built on it.
 *
 * @example
 * ```ts
 * const content = readSecretFile(join(dir, 'token-keys.json'));
 * ```
 */
export function readSecretFile(path: string): SecretFileContent | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fileError('read', path, err);
  }
  try {
    const st = fstatSync(fd);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new KeelError('invalid_option', `${path} is readable by other users (mode ${(st.mode & 0o777).toString(8)}); run \`chmod 600\` on it`);
    }
    const text = readFileSync(fd, 'utf8');
    return { text, stamp: `${st.ino}:${st.size}:${st.mtimeMs}` };
  } catch (err) {
    if (err instanceof KeelError) throw err;
    throw fileError('read', path, err);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces the file at `path` with `text` atomically (temp file, fsync, rename, fsync of the
 * directory), mode 0600. Readers see the old or the new content, never a torn one.
 *
 * @example
 * ```ts
 * writeSecretFileAtomic(path, JSON.stringify(keys));
 * ```
 */
export function writeSecretFileAtomic(path: string, text: string): FileStamp {
  const tmp = writeTemp(path, text);
  try {
    renameSync(tmp, path);
  } catch (err) {
    safeUnlink(tmp);
    throw fileError('write', path, err);
  }
  syncDir(dirname(path));
  return fileStamp(path) ?? '';
}

/**
 * Creates the file at `path` with `text` only if it does not exist yet; returns false when another
 * writer got there first. Two processes starting on a fresh data directory must not each create
 * a different key and overwrite the other's.
 *
 * @example
 * ```ts
 * if (!createSecretFileExclusive(path, text)) adoptExisting();
 * ```
 */
export function createSecretFileExclusive(path: string, text: string): boolean {
  const tmp = writeTemp(path, text);
  try {
    linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw fileError('write', path, err);
  } finally {
    safeUnlink(tmp);
  }
  syncDir(dirname(path));
  return true;
}

function writeTemp(path: string, text: string): string {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw fileError('write', path, err);
  }
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o600);
    // The umask can only remove bits, but a permissive ACL default could add some back.
    fchmodSync(fd, 0o600);
    writeSync(fd, text);
    fsyncSync(fd);
    return tmp;
  } catch (err) {
    safeUnlink(tmp);
    throw fileError('write', path, err);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function syncDir(dir: string): void {
  // Makes the rename itself durable. Directories cannot be opened for fsync on Windows; the
  // rename is still atomic there, only its durability after a power cut is weaker.
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* best effort, see above */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function safeUnlink(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

function fileError(op: 'read' | 'write', path: string, err: unknown): KeelError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (code === 'ENOSPC') return new KeelError('storage_full', `cannot write ${path}: the disk is full`, { cause: err });
  return new KeelError('storage_failed', `cannot ${op} ${path}: ${(err as Error).message}`, { cause: err });
}
