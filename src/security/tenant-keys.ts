/**
 * Per-tenant 256-bit data keys, kept in `<dataDir>/tenant-keys.json` (mode 0600, replaced
 * atomically). Deleting a tenant's keys erases everything sealed for it (crypto-shredding).
 *
 * With `KEEL_MASTER_KEY` set, the tenant keys in the file are wrapped (AES-256-GCM) by that
 * master key instead of stored raw: envelope encryption. Wrapping was chosen over deriving the
 * tenant keys from the master key (HKDF): a derived key can always be derived again, so deleting
 * it would erase nothing; a random wrapped key is gone for good once its entry is removed from
 * the file (and from backups of the file). The master key only protects the file at rest; it
 * never leaves the process.
 */
import { createCipheriv, createDecipheriv, createHash, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { KeelError } from '../errors.js';
import { systemClock } from '../clock.js';
import type { Clock } from '../ports.js';
import { isValidId, type TenantId } from '../types.js';
import { createSecretFileExclusive, fileStamp, readSecretFile, writeSecretFileAtomic, type FileStamp } from './secret-file.js';

/** The variable holding the master key: 32 bytes as 64 hex characters or base64/base64url. */
export const MASTER_KEY_ENV = 'KEEL_MASTER_KEY';
const FILE_FORMAT = 'keel-tenant-keys';

/** One version of a tenant's data key. `key` is a node KeyObject: it prints no key bytes. */
export interface TenantKey {
  readonly version: number;
  readonly key: KeyObject;
}

/** How the keys are stored in the file. */
export type KeyProtection = 'wrapped' | 'plain';

/** Per-tenant data keys. Synchronous: the {@link Sealer} port is. Keys are cached after first use. */
export interface TenantKeyStore {
  /** `wrapped` when `KEEL_MASTER_KEY` protects the file, `plain` otherwise. */
  readonly protection: KeyProtection;
  /** The key that seals new data for `tenant`, created on first use. */
  current(tenant: TenantId): TenantKey;
  /** The key `version` of `tenant`; `'deleted'` when it was erased; `undefined` when it never existed. */
  lookup(tenant: TenantId, version: number): TenantKey | 'deleted' | undefined;
  /** Adds a new current version; older versions keep opening old data. */
  rotate(tenant: TenantId): TenantKey;
  /** Deletes every key of `tenant`: all data sealed for it becomes unreadable. False when it had none. */
  deleteTenantKey(tenant: TenantId): boolean;
  /** Tenants that have a key. */
  tenants(): readonly TenantId[];
}

/** Options of {@link createTenantKeyStore}. */
export interface TenantKeyStoreOptions {
  /** The data directory; the key file is `<dir>/<fileName>`. Required. */
  readonly dir: string;
  /** Default `'tenant-keys.json'`. */
  readonly fileName?: string;
  /** Where to read `KEEL_MASTER_KEY`. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Stamps erasures and paces re-reads of the file. Default {@link systemClock}. */
  readonly clock?: Clock;
  /**
   * How often a cached key is re-checked against the file, so a key deleted by another process
   * (the CLI) stops opening data here too. Default 1000 ms.
   */
  readonly recheckMs?: number;
}

/** Defaults of {@link TenantKeyStoreOptions}. */
export const defaultTenantKeyOptions = Object.freeze({ fileName: 'tenant-keys.json', recheckMs: 1000 });

/**
 * Validates tenant key store options; throws a TypeError naming the bad option.
 *
 * @example
 * ```ts
 * resolveTenantKeyOptions({ dir: '' }); // TypeError: dir ...
 * ```
 */
export function resolveTenantKeyOptions(options: TenantKeyStoreOptions): Readonly<Required<TenantKeyStoreOptions>> {
  const dir = options?.dir;
  if (typeof dir !== 'string' || dir === '') throw new TypeError('dir must be a non-empty string');
  const fileName = options.fileName ?? defaultTenantKeyOptions.fileName;
  if (typeof fileName !== 'string' || !/^[A-Za-z0-9._-]+$/.test(fileName)) throw new TypeError('fileName must be a plain file name');
  const env = options.env ?? process.env;
  if (typeof env !== 'object' || env === null) throw new TypeError('env must be an object');
  const clock = options.clock ?? systemClock;
  if (typeof clock?.now !== 'function') throw new TypeError('clock must have now()');
  const recheckMs = options.recheckMs ?? defaultTenantKeyOptions.recheckMs;
  if (typeof recheckMs !== 'number' || !(recheckMs >= 0)) throw new TypeError('recheckMs must be a number >= 0');
  return Object.freeze({ dir, fileName, env, clock, recheckMs });
}

interface TenantEntry {
  current: number;
  /** version → stored form (raw or wrapped, base64url). */
  keys: Record<string, string>;
  /** Versions up to this one were deleted. */
  erasedThrough?: number;
  erasedAt?: number;
}

interface KeyFile {
  format: typeof FILE_FORMAT;
  version: 1;
  master: { id: string } | null;
  tenants: Record<string, TenantEntry>;
}

/**
 * Opens (creating on first use) the tenant key file in `dir`.
 *
 * @example
 * ```ts
 * const keys = createTenantKeyStore({ dir: './.keel' }); // KEEL_MASTER_KEY wraps the keys when set
 * const sealer = createTenantSealer({ keys });
 * keys.deleteTenantKey(tenantId('acme')); // everything sealed for acme is now unreadable
 * ```
 */
export function createTenantKeyStore(options: TenantKeyStoreOptions): TenantKeyStore {
  const o = resolveTenantKeyOptions(options);
  const path = join(o.dir, o.fileName);
  const master = parseMasterKey(o.env[MASTER_KEY_ENV]);
  let file: KeyFile | undefined;
  let stamp: FileStamp | undefined;
  // tenant → version → key; filled lazily so start-up does not unwrap every tenant's keys.
  const cache = new Map<string, Map<number, TenantKey>>();

  const load = (): KeyFile => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const content = readSecretFile(path);
      if (content) {
        let parsed = parseKeyFile(content.text, path);
        if (parsed.master && !master) {
          throw new KeelError('invalid_option', `${path} is wrapped with a master key; set ${MASTER_KEY_ENV}`);
        }
        if (parsed.master && master && parsed.master.id !== master.id) {
          throw new KeelError('invalid_option', `${MASTER_KEY_ENV} does not match the key that wraps ${path}`);
        }
        file = parsed;
        stamp = content.stamp;
        dropStaleCache(parsed);
        if (!parsed.master && master) {
          // First start with a master key on a plain file: wrap every key now, keep the data.
          parsed = upgrade(parsed);
          save(parsed);
        }
        return file;
      }
      const empty: KeyFile = { format: FILE_FORMAT, version: 1, master: master ? { id: master.id } : null, tenants: {} };
      if (createSecretFileExclusive(path, serialise(empty))) {
        file = empty;
        stamp = fileStamp(path);
        return file;
      }
    }
    throw new KeelError('storage_failed', `cannot create ${path}: it keeps appearing and disappearing`);
  };

  let checkedAt = -Infinity;
  const fresh = (): KeyFile => {
    checkedAt = o.clock.now();
    return file === undefined || fileStamp(path) !== stamp ? load() : file;
  };
  // The hot path (every seal and open) stats the file at most once per recheckMs.
  const recent = (): KeyFile => (file === undefined || o.clock.now() - checkedAt >= o.recheckMs ? fresh() : file);

  const save = (next: KeyFile): void => {
    stamp = writeSecretFileAtomic(path, serialise(next));
    file = next;
  };

  const dropStaleCache = (next: KeyFile): void => {
    for (const [tenant, versions] of cache) {
      const entry = next.tenants[tenant];
      for (const version of versions.keys()) if (!entry?.keys[String(version)]) versions.delete(version);
    }
  };

  const upgrade = (plain: KeyFile): KeyFile => {
    const tenants: Record<string, TenantEntry> = {};
    for (const [tenant, entry] of Object.entries(plain.tenants)) {
      const keys: Record<string, string> = {};
      for (const [v, stored] of Object.entries(entry.keys)) keys[v] = wrap(tenant, Number(v), Buffer.from(stored, 'base64url'));
      tenants[tenant] = { ...entry, keys };
    }
    return { ...plain, master: { id: (master as MasterKey).id }, tenants };
  };

  const wrap = (tenant: string, version: number, raw: Buffer): string => {
    if (!master) return raw.toString('base64url');
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', master.key, nonce);
    // Bound to tenant and version: a wrapped key moved to another entry of the file fails to unwrap.
    cipher.setAAD(Buffer.from(`keel-tenant-key|${tenant}|${version}`));
    return Buffer.concat([nonce, cipher.update(raw), cipher.final(), cipher.getAuthTag()]).toString('base64url');
  };

  const unwrap = (tenant: string, version: number, stored: string): KeyObject => {
    const bytes = Buffer.from(stored, 'base64url');
    if (!master) {
      if (bytes.length !== 32) throw corrupt(`key ${tenant}/${version} is not 32 bytes`);
      return createSecretKey(bytes);
    }
    if (bytes.length !== 12 + 32 + 16) throw corrupt(`wrapped key ${tenant}/${version} has a bad length`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', master.key, bytes.subarray(0, 12));
      decipher.setAAD(Buffer.from(`keel-tenant-key|${tenant}|${version}`));
      decipher.setAuthTag(bytes.subarray(44));
      const raw = Buffer.concat([decipher.update(bytes.subarray(12, 44)), decipher.final()]);
      return createSecretKey(raw);
    } catch (err) {
      throw corrupt(`wrapped key ${tenant}/${version} does not unwrap (altered or moved)`, err);
    }
  };

  const corrupt = (why: string, cause?: unknown): KeelError =>
    new KeelError('invalid_option', `tenant key file ${path} is not usable: ${why}`, cause === undefined ? {} : { cause });

  const keyOf = (f: KeyFile, tenant: string, version: number): TenantKey | undefined => {
    const hit = cache.get(tenant)?.get(version);
    if (hit) return hit;
    const stored = f.tenants[tenant]?.keys[String(version)];
    if (stored === undefined) return undefined;
    const key = Object.freeze({ version, key: unwrap(tenant, version, stored) });
    let versions = cache.get(tenant);
    if (!versions) cache.set(tenant, (versions = new Map()));
    versions.set(version, key);
    return key;
  };

  const addVersion = (tenant: TenantId): TenantKey => {
    const f = fresh();
    const entry = f.tenants[tenant];
    const last = Math.max(entry?.current ?? 0, entry?.erasedThrough ?? 0, ...Object.keys(entry?.keys ?? {}).map(Number));
    const version = last + 1;
    const next: KeyFile = {
      ...f,
      tenants: { ...f.tenants, [tenant]: { ...(entry ?? { keys: {} }), current: version, keys: { ...entry?.keys, [String(version)]: wrap(tenant, version, randomBytes(32)) } } },
    };
    save(next);
    return keyOf(next, tenant, version) as TenantKey;
  };

  return Object.freeze({
    protection: master ? ('wrapped' as const) : ('plain' as const),
    current(tenant: TenantId): TenantKey {
      assertTenant(tenant);
      let f = recent();
      let entry = f.tenants[tenant];
      if (entry?.current) return keyOf(f, tenant, entry.current) as TenantKey;
      // Unknown here: another process may have created this tenant's key meanwhile.
      f = fresh();
      entry = f.tenants[tenant];
      if (entry?.current) return keyOf(f, tenant, entry.current) as TenantKey;
      return addVersion(tenant);
    },
    lookup(tenant: TenantId, version: number) {
      if (!isValidId(tenant) || !Number.isSafeInteger(version) || version < 1) return undefined;
      let f = recent();
      if (f.tenants[tenant]?.keys[String(version)] === undefined) f = fresh();
      const key = keyOf(f, tenant, version);
      if (key) return key;
      const erasedThrough = f.tenants[tenant]?.erasedThrough ?? 0;
      return version <= erasedThrough ? 'deleted' : undefined;
    },
    rotate(tenant: TenantId): TenantKey {
      assertTenant(tenant);
      return addVersion(tenant);
    },
    deleteTenantKey(tenant: TenantId): boolean {
      assertTenant(tenant);
      const f = fresh();
      const entry = f.tenants[tenant];
      cache.delete(tenant);
      if (!entry || Object.keys(entry.keys).length === 0) return false;
      const erasedThrough = Math.max(entry.current, entry.erasedThrough ?? 0, ...Object.keys(entry.keys).map(Number));
      save({ ...f, tenants: { ...f.tenants, [tenant]: { current: 0, keys: {}, erasedThrough, erasedAt: o.clock.now() } } });
      return true;
    },
    tenants(): readonly TenantId[] {
      const f = fresh();
      return Object.entries(f.tenants).filter(([, e]) => e.current > 0).map(([t]) => t as TenantId);
    },
  });
}

interface MasterKey {
  readonly id: string;
  readonly key: KeyObject;
}

function parseMasterKey(value: string | undefined): MasterKey | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const text = value.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, /[-_]/.test(text) ? 'base64url' : 'base64');
  if (bytes.length !== 32) {
    throw new KeelError('invalid_option', `${MASTER_KEY_ENV} must be 32 bytes, as 64 hex characters or base64 (try: openssl rand -base64 32)`);
  }
  // A fingerprint so a wrong master key is reported as such, not as 'corrupt file'.
  const id = createHash('sha256').update('keel-master-key-id').update(bytes).digest('hex').slice(0, 16);
  return { id, key: createSecretKey(bytes) };
}

function assertTenant(tenant: TenantId): void {
  if (!isValidId(tenant)) throw new TypeError('tenant must be a valid id');
}

function serialise(f: KeyFile): string {
  return `${JSON.stringify(f, null, 2)}\n`;
}

function parseKeyFile(text: string, path: string): KeyFile {
  const bad = (why: string): never => {
    throw new KeelError('invalid_option', `tenant key file ${path} is not usable: ${why}`);
  };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return bad('not JSON');
  }
  const d = data as Partial<KeyFile>;
  if (d.format !== FILE_FORMAT || d.version !== 1) bad('unknown format or version');
  if (d.master !== null && (typeof d.master !== 'object' || typeof d.master?.id !== 'string')) bad('bad master field');
  if (typeof d.tenants !== 'object' || d.tenants === null) return bad('no tenants');
  for (const [tenant, entry] of Object.entries(d.tenants)) {
    if (!isValidId(tenant)) bad('a tenant id is invalid');
    if (typeof entry !== 'object' || entry === null || !Number.isSafeInteger(entry.current) || typeof entry.keys !== 'object' || entry.keys === null) {
      bad(`entry of tenant ${tenant} is malformed`);
    }
    if (entry.current > 0 && typeof entry.keys[String(entry.current)] !== 'string') bad(`current key of tenant ${tenant} is missing`);
  }
  return d as KeyFile;
}
