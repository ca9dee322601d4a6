/**
 * The {@link Sealer} port with AES-256-GCM (node:crypto) and per-tenant keys: what keel keeps at
 * rest (context, messages, memories) is sealed for one tenant and opens only for that tenant.
 *
 * Sealed layout (18-byte header, then ciphertext, then the 16-byte GCM tag):
 *
 * ```
 * 0      1        2..5              6..17        18..n-17     n-16..n-1
 * 0x4B   format 1 key version u32BE nonce (96 b) ciphertext   tag
 * ```
 *
 * The additional authenticated data is the header followed by the tenant id, so neither the key
 * version nor the tenant can be swapped without the tag failing.
 */
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { KeelError } from '../errors.js';
import type { Sealer } from '../ports.js';
import type { TenantId } from '../types.js';
import type { TenantKeyStore } from './tenant-keys.js';

const MAGIC = 0x4b;
const FORMAT = 1;
const HEADER_BYTES = 18;
const TAG_BYTES = 16;

/** Why `open` refused; also in the KeelError's `details.reason`. */
export type OpenFailure = 'not_sealed' | 'key_deleted' | 'unknown_key' | 'altered_or_wrong_tenant';

/** A {@link Sealer} that can also erase a tenant. */
export interface AesSealer extends Sealer {
  /** Deletes the tenant's keys; everything sealed for it becomes unreadable. False when it had none. */
  deleteTenantKey(tenant: TenantId): boolean;
}

/** Options of {@link createAesSealer}. */
export interface AesSealerOptions {
  /** Where the tenant keys live (see `createTenantKeyStore`). Required. */
  readonly keys: TenantKeyStore;
}

/**
 * Validates sealer options; throws a TypeError naming the bad option.
 *
 * @example
 * ```ts
 * resolveSealerOptions({ keys: undefined as never }); // TypeError: keys ...
 * ```
 */
export function resolveSealerOptions(options: AesSealerOptions): Readonly<AesSealerOptions> {
  const keys = options?.keys;
  if (typeof keys?.current !== 'function' || typeof keys.lookup !== 'function') throw new TypeError('keys must be a TenantKeyStore');
  return Object.freeze({ keys });
}

/**
 * Creates an AES-256-GCM sealer. A random 96-bit nonce per seal is safe for about 2^32 seals per
 * key version (NIST SP 800-38D); rotate a tenant's key (`keys.rotate`) well before that.
 *
 * @example
 * ```ts
 * const sealer = createAesSealer({ keys: createTenantKeyStore({ dir: './.keel' }) });
 * const sealed = sealer.seal(tenantId('acme'), new TextEncoder().encode('hello'));
 * sealer.open(tenantId('acme'), sealed);  // the bytes of 'hello'
 * sealer.open(tenantId('other'), sealed); // throws KeelError forbidden
 * ```
 */
export function createAesSealer(options: AesSealerOptions): AesSealer {
  const { keys } = resolveSealerOptions(options);
  // Nonces come from a pool of CSPRNG bytes, each byte used once: one randomFillSync per 341 seals
  // instead of one per seal (it was a tenth of a turn's CPU time under load).
  const pool = Buffer.allocUnsafe(4092);
  let poolAt = pool.length;
  const nonceInto = (out: Buffer, at: number): void => {
    if (poolAt + 12 > pool.length) {
      randomFillSync(pool);
      poolAt = 0;
    }
    pool.copy(out, at, poolAt, poolAt + 12);
    poolAt += 12;
  };

  return Object.freeze({
    seal(tenant: TenantId, plaintext: Uint8Array): Uint8Array {
      const { version, key } = keys.current(tenant);
      const out = Buffer.allocUnsafe(HEADER_BYTES + plaintext.length + TAG_BYTES);
      out[0] = MAGIC;
      out[1] = FORMAT;
      out.writeUInt32BE(version, 2);
      nonceInto(out, 6);
      const cipher = createCipheriv('aes-256-gcm', key, out.subarray(6, HEADER_BYTES), { authTagLength: TAG_BYTES });
      cipher.setAAD(aad(out.subarray(0, HEADER_BYTES), tenant));
      let at = HEADER_BYTES;
      at += cipher.update(plaintext).copy(out, at);
      at += cipher.final().copy(out, at);
      cipher.getAuthTag().copy(out, at);
      return out;
    },

    open(tenant: TenantId, sealed: Uint8Array): Uint8Array {
      const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
      if (bytes.length < HEADER_BYTES + TAG_BYTES || bytes[0] !== MAGIC || bytes[1] !== FORMAT) {
        throw refused('not_sealed', 'the data was not sealed by keel (unknown header)');
      }
      const version = bytes.readUInt32BE(2);
      const found = keys.lookup(tenant, version);
      if (found === 'deleted') throw refused('key_deleted', "the tenant's key was deleted: this data is erased");
      if (found === undefined) throw refused('unknown_key', 'no key of this version exists for this tenant (sealed for another tenant?)');
      try {
        const decipher = createDecipheriv('aes-256-gcm', found.key, bytes.subarray(6, HEADER_BYTES), { authTagLength: TAG_BYTES });
        decipher.setAAD(aad(bytes.subarray(0, HEADER_BYTES), tenant));
        decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
        const first = decipher.update(bytes.subarray(HEADER_BYTES, bytes.length - TAG_BYTES));
        const last = decipher.final();
        return last.length === 0 ? first : Buffer.concat([first, last]);
      } catch (err) {
        throw refused('altered_or_wrong_tenant', 'the sealed data does not open for this tenant: it was sealed for another tenant or altered', err);
      }
    },

    deleteTenantKey: (tenant: TenantId) => keys.deleteTenantKey(tenant),
  });
}

// The AAD is built in one scratch buffer (setAAD copies it): no two allocations per seal and open.
let scratch = Buffer.allocUnsafe(256);

function aad(header: Buffer, tenant: TenantId): Buffer {
  const need = HEADER_BYTES + Buffer.byteLength(tenant, 'utf8');
  if (need > scratch.length) scratch = Buffer.allocUnsafe(need * 2);
  header.copy(scratch, 0, 0, HEADER_BYTES);
  scratch.write(tenant, HEADER_BYTES, 'utf8');
  return scratch.subarray(0, need);
}

function refused(reason: OpenFailure, message: string, cause?: unknown): KeelError<'forbidden'> {
  return new KeelError('forbidden', message, { details: { reason }, ...(cause === undefined ? {} : { cause }) });
}
