/**
 * The {@link Sealer} port with per-tenant keys: what keel keeps at rest (context, messages,
 * memories) is sealed for one tenant and opens only for that tenant.
 *
 * Two authenticated ciphers, one layout (a header, then ciphertext, then the 16-byte tag):
 *
 * ```
 * format 2, XChaCha20-Poly1305 (libsodium through sodium-native), the default:
 * 0      1        2..5              6..29         30..n-17     n-16..n-1
 * 0x4B   0x02     key version u32BE nonce (192 b) ciphertext   tag
 *
 * format 1, AES-256-GCM (node:crypto), when sodium-native cannot load or is not wanted:
 * 0      1        2..5              6..17         18..n-17     n-16..n-1
 * 0x4B   0x01     key version u32BE nonce (96 b)  ciphertext   tag
 * ```
 *
 * Both formats always open, whichever cipher seals new data: data sealed before a change of cipher
 * stays readable. The additional authenticated data is the header followed by the tenant id, so
 * neither the key version nor the tenant can be swapped without the tag failing.
 *
 * XChaCha20-Poly1305 is the default because it costs one native call per seal (about 1 µs for a
 * turn's few hundred bytes) where node:crypto's GCM builds a cipher object per seal (about 3.6 µs,
 * and garbage); a turn seals twice. Its 192-bit random nonces also have no practical limit on the
 * number of seals per key, where GCM's 96-bit nonces are safe for about 2^32.
 */
import { createCipheriv, createDecipheriv, randomFillSync, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import { KeelError } from '../errors.js';
import type { Sealer } from '../ports.js';
import type { TenantId } from '../types.js';
import type { TenantKeyStore } from './tenant-keys.js';

const MAGIC = 0x4b;
const TAG_BYTES = 16;

/** The ciphers a sealer can seal with. */
export type SealerCipher = 'xchacha20-poly1305' | 'aes-256-gcm';

/** Each cipher's format byte and header size (magic, format, key version, nonce). */
const layouts = {
  'aes-256-gcm': { format: 1, headerBytes: 6 + 12 },
  'xchacha20-poly1305': { format: 2, headerBytes: 6 + 24 },
} as const satisfies Record<SealerCipher, { format: number; headerBytes: number }>;

/** The layout a sealed value's format byte names. */
const layoutOfFormat: ReadonlyArray<(typeof layouts)[SealerCipher] | undefined> = [undefined, layouts['aes-256-gcm'], layouts['xchacha20-poly1305']];

/** The few libsodium calls used here (combined mode: the tag follows the ciphertext). */
interface SodiumAead {
  crypto_aead_xchacha20poly1305_ietf_encrypt(c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number;
  crypto_aead_xchacha20poly1305_ietf_decrypt(m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): number;
}

/** sodium-native, or why it did not load (a platform without a prebuilt binary, say). */
const sodium: SodiumAead | Error = (() => {
  try {
    return createRequire(import.meta.url)('sodium-native') as SodiumAead;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
})();

/** The cipher new data is sealed with by default: XChaCha20-Poly1305 when sodium-native loads. */
export const defaultSealerCipher: SealerCipher = sodium instanceof Error ? 'aes-256-gcm' : 'xchacha20-poly1305';

/** Why `open` refused; also in the KeelError's `details.reason`. */
export type OpenFailure = 'not_sealed' | 'key_deleted' | 'unknown_key' | 'altered_or_wrong_tenant' | 'cipher_unavailable';

/** A {@link Sealer} that can also erase a tenant. */
export interface TenantSealer extends Sealer {
  /** The cipher new data is sealed with. */
  readonly cipher: SealerCipher;
  /** Deletes the tenant's keys; everything sealed for it becomes unreadable. False when it had none. */
  deleteTenantKey(tenant: TenantId): boolean;
}

/** Options of {@link createTenantSealer}. */
export interface TenantSealerOptions {
  /** Where the tenant keys live (see `createTenantKeyStore`). Required. */
  readonly keys: TenantKeyStore;
  /** The cipher that seals new data. Default {@link defaultSealerCipher}. Both always open. */
  readonly cipher?: SealerCipher;
}

/**
 * Validates sealer options; throws a TypeError naming the bad option.
 *
 * @example
 * ```ts
 * resolveSealerOptions({ keys: undefined as never }); // TypeError: keys ...
 * ```
 */
export function resolveSealerOptions(options: TenantSealerOptions): Readonly<Required<TenantSealerOptions>> {
  const keys = options?.keys;
  if (typeof keys?.current !== 'function' || typeof keys.lookup !== 'function') throw new TypeError('keys must be a TenantKeyStore');
  const cipher = options.cipher ?? defaultSealerCipher;
  if (!Object.hasOwn(layouts, cipher)) throw new TypeError(`cipher must be one of ${Object.keys(layouts).join(', ')}`);
  if (cipher === 'xchacha20-poly1305' && sodium instanceof Error) {
    throw new TypeError(`cipher xchacha20-poly1305 needs sodium-native, which did not load here (${sodium.message}); use aes-256-gcm`);
  }
  return Object.freeze({ keys, cipher });
}

/**
 * Creates a per-tenant sealer. Random nonces per seal, from a CSPRNG pool.
 *
 * @example
 * ```ts
 * const sealer = createTenantSealer({ keys: createTenantKeyStore({ dir: './.keel' }) });
 * const sealed = sealer.seal(tenantId('acme'), new TextEncoder().encode('hello'));
 * sealer.open(tenantId('acme'), sealed);  // the bytes of 'hello'
 * sealer.open(tenantId('other'), sealed); // throws KeelError forbidden
 * ```
 */
export function createTenantSealer(options: TenantSealerOptions): TenantSealer {
  const { keys, cipher } = resolveSealerOptions(options);
  const { format, headerBytes } = layouts[cipher];
  const nonceBytes = headerBytes - 6;
  // Nonces come from a pool of CSPRNG bytes, each byte used once: one randomFillSync per 170 to 341
  // seals instead of one per seal (it was a tenth of a turn's CPU time under load).
  const pool = Buffer.allocUnsafe(4080);
  let poolAt = pool.length;
  const nonceInto = (out: Buffer, at: number): void => {
    if (poolAt + nonceBytes > pool.length) {
      randomFillSync(pool);
      poolAt = 0;
    }
    pool.copy(out, at, poolAt, poolAt + nonceBytes);
    poolAt += nonceBytes;
  };

  return Object.freeze({
    cipher,

    seal(tenant: TenantId, plaintext: Uint8Array): Uint8Array {
      const { version, key } = keys.current(tenant);
      const out = Buffer.allocUnsafe(headerBytes + plaintext.length + TAG_BYTES);
      out[0] = MAGIC;
      out[1] = format;
      out.writeUInt32BE(version, 2);
      nonceInto(out, 6);
      const ad = aad(out, headerBytes, tenant);
      if (format === 2) {
        (sodium as SodiumAead).crypto_aead_xchacha20poly1305_ietf_encrypt(out.subarray(headerBytes), plaintext, ad, null, out.subarray(6, headerBytes), rawKey(key));
        return out;
      }
      const gcm = createCipheriv('aes-256-gcm', key, out.subarray(6, headerBytes), { authTagLength: TAG_BYTES });
      gcm.setAAD(ad);
      let at = headerBytes;
      at += gcm.update(plaintext).copy(out, at);
      at += gcm.final().copy(out, at);
      gcm.getAuthTag().copy(out, at);
      return out;
    },

    open(tenant: TenantId, sealed: Uint8Array): Uint8Array {
      const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
      const layout = bytes[0] === MAGIC ? layoutOfFormat[bytes[1]!] : undefined;
      if (layout === undefined || bytes.length < layout.headerBytes + TAG_BYTES) {
        throw refused('not_sealed', 'the data was not sealed by keel (unknown header)');
      }
      const header = layout.headerBytes;
      const version = bytes.readUInt32BE(2);
      const found = keys.lookup(tenant, version);
      if (found === 'deleted') throw refused('key_deleted', "the tenant's key was deleted: this data is erased");
      if (found === undefined) throw refused('unknown_key', 'no key of this version exists for this tenant (sealed for another tenant?)');
      const ad = aad(bytes, header, tenant);
      const nonce = bytes.subarray(6, header);
      if (layout.format === 2) {
        if (sodium instanceof Error) throw refused('cipher_unavailable', `this data is sealed with XChaCha20-Poly1305 and sodium-native did not load here (${sodium.message})`);
        const out = Buffer.allocUnsafe(bytes.length - header - TAG_BYTES);
        try {
          sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, bytes.subarray(header), ad, nonce, rawKey(found.key));
        } catch (err) {
          throw wrongTenant(err);
        }
        return out;
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', found.key, nonce, { authTagLength: TAG_BYTES });
        decipher.setAAD(ad);
        decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
        const first = decipher.update(bytes.subarray(header, bytes.length - TAG_BYTES));
        const last = decipher.final();
        return last.length === 0 ? first : Buffer.concat([first, last]);
      } catch (err) {
        throw wrongTenant(err);
      }
    },

    deleteTenantKey: (tenant: TenantId) => keys.deleteTenantKey(tenant),
  });
}

/**
 * The raw bytes of a key, for libsodium (node:crypto takes the KeyObject). Kept beside the key
 * object, which the key store caches, and dropped with it: nothing here prints them.
 */
const rawKeys = new WeakMap<KeyObject, Buffer>();

function rawKey(key: KeyObject): Buffer {
  let raw = rawKeys.get(key);
  if (raw === undefined) {
    raw = key.export();
    rawKeys.set(key, raw);
  }
  return raw;
}

// The AAD (header, then tenant id) is built in one scratch buffer, used before the next call:
// setAAD and libsodium copy or consume it at once. No allocation per seal and open.
let scratch = Buffer.allocUnsafe(256);

function aad(sealed: Buffer, headerBytes: number, tenant: TenantId): Buffer {
  const need = headerBytes + Buffer.byteLength(tenant, 'utf8');
  if (need > scratch.length) scratch = Buffer.allocUnsafe(need * 2);
  sealed.copy(scratch, 0, 0, headerBytes);
  scratch.write(tenant, headerBytes, 'utf8');
  return scratch.subarray(0, need);
}

function wrongTenant(cause: unknown): KeelError<'forbidden'> {
  return refused('altered_or_wrong_tenant', 'the sealed data does not open for this tenant: it was sealed for another tenant or altered', cause);
}

function refused(reason: OpenFailure, message: string, cause?: unknown): KeelError<'forbidden'> {
  return new KeelError('forbidden', message, { details: { reason }, ...(cause === undefined ? {} : { cause }) });
}
