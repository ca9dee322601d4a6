/**
 * The keys that sign and verify keel's tokens. Kept in `<dataDir>/token-keys.json` (mode 0600,
 * created on first use, replaced atomically) or given by the `KEEL_TOKEN_SECRET` variable.
 * Rotation adds a new signing key while older keys keep verifying until retired, so rotating
 * never logs anybody out.
 */
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { KeelError } from '../errors.js';
import { systemClock } from '../clock.js';
import type { Clock } from '../ports.js';
import { createSecretFileExclusive, fileStamp, readSecretFile, writeSecretFileAtomic, type FileStamp } from './secret-file.js';

/** The variable that, when set, provides the token secrets instead of the key file. */
export const TOKEN_SECRET_ENV = 'KEEL_TOKEN_SECRET';
/** HS256 keys shorter than the hash output weaken the MAC (RFC 7518 §3.2). */
export const MIN_TOKEN_SECRET_BYTES = 32;
const FILE_FORMAT = 'keel-token-keys';

/** One signing key. Its secret never appears in `JSON.stringify`, `util.inspect` or logs. */
export interface TokenKey {
  /** Key id, sent in the token header (`kid`). */
  readonly kid: string;
  /** When the key was made (ms since the epoch; 0 for keys from the environment). */
  readonly createdAt: number;
  /** When the key stops verifying (ms since the epoch), `undefined` while it has no end. */
  readonly retireAt: number | undefined;
  /** The HMAC-SHA-256 key, non-extractable, imported once and cached. */
  cryptoKey(): Promise<webcrypto.CryptoKey>;
  /** Only public facts: id and dates. */
  toJSON(): { kid: string; createdAt: number; retireAt: number | undefined };
}

/** Where a keyring's keys come from. */
export type TokenKeySource = 'file' | 'env';

/** The set of token keys: one current key that signs, older ones that still verify. */
export interface TokenKeyring {
  readonly source: TokenKeySource;
  /** The key that signs new tokens. Picks up a rotation done by another process (the CLI). */
  current(): TokenKey;
  /** The key with this id if it still verifies; re-reads the key file when another process changed it. */
  find(kid: string): TokenKey | undefined;
  /** Every key that still verifies, current first. */
  keys(): readonly TokenKey[];
  /**
   * Makes a new current key. The previous one keeps verifying for `graceMs`, then retires.
   * Throws KeelError `invalid_option` for keys from the environment (rotate by changing it).
   */
  rotate(): TokenKey;
  /** Stops a non-current key from verifying now; false when no such key. */
  retire(kid: string): boolean;
}

/** Options of {@link createTokenKeyring}. */
export interface TokenKeyringOptions {
  /** The data directory; the key file is `<dir>/<fileName>`. Required unless `KEEL_TOKEN_SECRET` is set. */
  readonly dir?: string;
  /** Key file name inside `dir`. Default `'token-keys.json'`. */
  readonly fileName?: string;
  /** Where to read `KEEL_TOKEN_SECRET`. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** How long a rotated-out key keeps verifying. Default 7 days (the longest usual token TTL). */
  readonly graceMs?: number;
  /** Default {@link systemClock}. */
  readonly clock?: Clock;
}

/** Defaults of {@link TokenKeyringOptions}. */
export const defaultKeyringOptions = Object.freeze({
  fileName: 'token-keys.json',
  graceMs: 7 * 24 * 60 * 60 * 1000,
});

interface ResolvedKeyringOptions {
  readonly dir: string | undefined;
  readonly fileName: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly graceMs: number;
  readonly clock: Clock;
}

/**
 * Validates keyring options; throws a TypeError naming the bad option.
 *
 * @example
 * ```ts
 * resolveKeyringOptions({ dir: '.keel', graceMs: -1 }); // TypeError: graceMs ...
 * ```
 */
export function resolveKeyringOptions(options: TokenKeyringOptions): Readonly<ResolvedKeyringOptions> {
  const o = { ...defaultKeyringOptions, ...stripUndefined(options) };
  if (o.dir !== undefined && (typeof o.dir !== 'string' || o.dir === '')) throw new TypeError('dir must be a non-empty string');
  if (typeof o.fileName !== 'string' || !/^[A-Za-z0-9._-]+$/.test(o.fileName)) throw new TypeError('fileName must be a plain file name');
  if (typeof o.graceMs !== 'number' || !(o.graceMs >= 0)) throw new TypeError('graceMs must be a number >= 0');
  const env = options.env ?? process.env;
  if (typeof env !== 'object' || env === null) throw new TypeError('env must be an object');
  const clock = options.clock ?? systemClock;
  if (typeof clock?.now !== 'function') throw new TypeError('clock must have now()');
  return Object.freeze({ dir: o.dir, fileName: o.fileName, env, graceMs: o.graceMs, clock });
}

/**
 * Opens the token keyring: from `KEEL_TOKEN_SECRET` when set (comma-separated secrets of at least
 * 32 bytes, the first signs, all verify), else from the key file in `dir`, created on first use.
 *
 * @example
 * ```ts
 * const keyring = createTokenKeyring({ dir: process.env.KEEL_DATA_DIR ?? './.keel' });
 * keyring.rotate(); // new tokens use the new key; old tokens still verify for 7 days
 * ```
 */
export function createTokenKeyring(options: TokenKeyringOptions = {}): TokenKeyring {
  const o = resolveKeyringOptions(options);
  const fromEnv = o.env[TOKEN_SECRET_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return envKeyring(fromEnv);
  if (o.dir === undefined) throw new TypeError(`dir is required when ${TOKEN_SECRET_ENV} is not set`);
  return fileKeyring(join(o.dir, o.fileName), o);
}

// Secrets live here and in closures only, never as properties, so no serialiser can reach them.
const secrets = new WeakMap<TokenKey, Uint8Array>();

function makeKey(kid: string, secret: Uint8Array, createdAt: number, retireAt: number | undefined): TokenKey {
  let imported: Promise<webcrypto.CryptoKey> | undefined;
  const key: TokenKey = {
    kid,
    createdAt,
    retireAt,
    cryptoKey() {
      imported ??= webcrypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
      return imported;
    },
    toJSON: () => ({ kid, createdAt, retireAt }),
  };
  Object.defineProperty(key, inspect.custom, {
    value: () => `TokenKey { kid: '${kid}', secret: <hidden> }`,
  });
  secrets.set(key, secret);
  return Object.freeze(key);
}

function withRetireAt(key: TokenKey, retireAt: number | undefined): TokenKey {
  return makeKey(key.kid, secrets.get(key) as Uint8Array, key.createdAt, retireAt);
}

function envKeyring(value: string): TokenKeyring {
  const parts = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  // Set but empty of secrets (`,,,`): refused, not a keyring that verifies nothing.
  if (parts.length === 0) throw new KeelError('invalid_option', `${TOKEN_SECRET_ENV} is set but holds no secret`);
  const keys = parts.map((part, i) => {
    const secret = new TextEncoder().encode(part);
    if (secret.length < MIN_TOKEN_SECRET_BYTES) {
      throw new KeelError('invalid_option', `${TOKEN_SECRET_ENV} secret #${i + 1} is shorter than ${MIN_TOKEN_SECRET_BYTES} bytes`);
    }
    // A fingerprint, not the secret: processes sharing the variable agree on kids without a file.
    const kid = `env-${createHash('sha256').update(secret).digest('base64url').slice(0, 12)}`;
    return makeKey(kid, secret, 0, undefined);
  });
  const byKid = new Map(keys.map((k) => [k.kid, k]));
  const fixed = (): never => {
    throw new KeelError('invalid_option', `token keys come from ${TOKEN_SECRET_ENV}; rotate by prepending a new secret to it and restarting`);
  };
  return Object.freeze({
    source: 'env' as const,
    current: () => keys[0] as TokenKey,
    find: (kid: string) => byKid.get(kid),
    keys: () => keys,
    rotate: fixed,
    retire: fixed,
  });
}

interface KeyFileState {
  readonly current: string;
  readonly keys: ReadonlyMap<string, TokenKey>;
}

function fileKeyring(path: string, o: ResolvedKeyringOptions): TokenKeyring {
  let state: KeyFileState | undefined;
  let stamp: FileStamp | undefined;

  // Key ids start with a letter: a bare base64url id starts with '-' one time in 64, and
  // `keel token --retire -x…` then reads as a missing value. Not hex: 18 hex characters hold a run
  // of 13+ digits often enough that the audit trail's card detector would mask a few ids in 10,000.
  const newKey = (): TokenKey => makeKey(`k${randomBytes(9).toString('base64url')}`, new Uint8Array(randomBytes(32)), o.clock.now(), undefined);

  const adopt = (parsed: KeyFileState): KeyFileState => {
    // Reuse key objects whose content did not change, keeping their imported CryptoKey.
    const keys = new Map<string, TokenKey>();
    for (const [kid, key] of parsed.keys) {
      const old = state?.keys.get(kid);
      keys.set(kid, old && old.retireAt === key.retireAt ? old : key);
    }
    return { current: parsed.current, keys };
  };

  const load = (): KeyFileState => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const content = readSecretFile(path);
      if (content) {
        state = adopt(parseKeyFile(content.text, path));
        stamp = content.stamp;
        return state;
      }
      const first = newKey();
      const fresh: KeyFileState = { current: first.kid, keys: new Map([[first.kid, first]]) };
      if (createSecretFileExclusive(path, serialise(fresh))) {
        state = fresh;
        stamp = fileStamp(path);
        return state;
      }
      // Another process created the file between our read and our create: use theirs.
    }
    throw new KeelError('storage_failed', `cannot create ${path}: it keeps appearing and disappearing`);
  };

  const fresh = (): KeyFileState => (state === undefined || fileStamp(path) !== stamp ? load() : state);

  const save = (next: KeyFileState): void => {
    const now = o.clock.now();
    const keys = new Map([...next.keys].filter(([kid, k]) => kid === next.current || k.retireAt === undefined || k.retireAt > now));
    state = { current: next.current, keys };
    stamp = writeSecretFileAtomic(path, serialise(state));
  };

  const live = (key: TokenKey | undefined): TokenKey | undefined =>
    key && (key.retireAt === undefined || key.retireAt > o.clock.now()) ? key : undefined;

  return Object.freeze({
    source: 'file' as const,
    current() {
      const s = fresh();
      return s.keys.get(s.current) as TokenKey;
    },
    find(kid: string) {
      // The file is checked on every lookup (one stat): a key retired by another process (the
      // CLI) must stop verifying in a running server at once, not at its next restart.
      return live(fresh().keys.get(kid));
    },
    keys() {
      const s = fresh();
      const current = s.keys.get(s.current) as TokenKey;
      return [current, ...[...s.keys.values()].filter((k) => k !== current && live(k))];
    },
    rotate() {
      const s = fresh();
      const next = newKey();
      const keys = new Map(s.keys);
      const previous = keys.get(s.current) as TokenKey;
      if (previous.retireAt === undefined) keys.set(previous.kid, withRetireAt(previous, o.clock.now() + o.graceMs));
      keys.set(next.kid, next);
      save({ current: next.kid, keys });
      return next;
    },
    retire(kid: string) {
      const s = fresh();
      if (kid === s.current) throw new KeelError('invalid_option', 'cannot retire the current token key; rotate first');
      if (!s.keys.has(kid)) return false;
      const keys = new Map(s.keys);
      keys.delete(kid);
      save({ current: s.current, keys });
      return true;
    },
  });
}

function serialise(state: KeyFileState): string {
  const keys = [...state.keys.values()].map((k) => ({
    kid: k.kid,
    secret: Buffer.from(secrets.get(k) as Uint8Array).toString('base64url'),
    createdAt: k.createdAt,
    retireAt: k.retireAt ?? null,
  }));
  return `${JSON.stringify({ format: FILE_FORMAT, version: 1, current: state.current, keys }, null, 2)}\n`;
}

function parseKeyFile(text: string, path: string): KeyFileState {
  const corrupt = (why: string): never => {
    throw new KeelError('invalid_option', `token key file ${path} is not usable: ${why}`);
  };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return corrupt('not JSON');
  }
  const d = data as { format?: unknown; version?: unknown; current?: unknown; keys?: unknown };
  if (d.format !== FILE_FORMAT || d.version !== 1) corrupt('unknown format or version');
  if (!Array.isArray(d.keys)) return corrupt('no keys');
  const keys = new Map<string, TokenKey>();
  for (const raw of d.keys as unknown[]) {
    const k = raw as { kid?: unknown; secret?: unknown; createdAt?: unknown; retireAt?: unknown };
    if (typeof k.kid !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(k.kid)) corrupt('a key has a bad kid');
    if (typeof k.secret !== 'string') corrupt(`key ${String(k.kid)} has no secret`);
    const secret = new Uint8Array(Buffer.from(k.secret as string, 'base64url'));
    if (secret.length < MIN_TOKEN_SECRET_BYTES) corrupt(`key ${String(k.kid)} is shorter than ${MIN_TOKEN_SECRET_BYTES} bytes`);
    const createdAt = typeof k.createdAt === 'number' ? k.createdAt : 0;
    const retireAt = typeof k.retireAt === 'number' ? k.retireAt : undefined;
    keys.set(k.kid as string, makeKey(k.kid as string, secret, createdAt, retireAt));
  }
  if (typeof d.current !== 'string' || !keys.has(d.current)) corrupt('the current key is missing');
  return { current: d.current as string, keys };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
