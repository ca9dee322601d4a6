/**
 * The layout of the `memories` database (DESIGN §2) and the sealed payload of one memory.
 *
 * Everything of a tenant lives under keys that start with the tenant id, so a tenant's data is
 * one key range. Memory records use `[tenant, memoryId]` (ids start with `m`); bookkeeping keys
 * use a second element starting with `#`, which sorts before `m`:
 *
 * | key | value |
 * | --- | --- |
 * | `[tenant, memoryId]` | {@link StoredMemory}: plain metadata + the sealed text and embedding |
 * | `[tenant, '#label', label]` | memoryId: the HNSW label ↔ memory mapping |
 * | `[tenant, '#free', label]` | `1`: a label whose slot can be reused |
 * | `[tenant, '#user', user, time, memoryId]` | label: a user's memories, oldest first |
 * | `[tenant, '#time', time, memoryId]` | user: the tenant's memories, oldest first |
 * | `[tenant, '#count', user]` | number of the user's memories |
 * | `[tenant, '#meta']` | {@link TenantMemoryMeta}: generation, count, next label, embedder |
 * | `[tenant, '#saved']` | {@link SavedIndexMarker}: what the index file on disk contains |
 */
import { KeelError } from '../errors.js';
import type { Sealer } from '../ports.js';
import type { TenantId, UserId } from '../types.js';

/** What a memory is. */
export const MEMORY_KINDS = ['message', 'summary', 'ticket', 'fact'] as const;
/** One of {@link MEMORY_KINDS}. */
export type MemoryKind = (typeof MEMORY_KINDS)[number];

/** A key of the `memories` database. */
export type MemoryKey = (string | number)[];

/** The value stored at `[tenant, memoryId]`. Only `sealed` holds what the user said. */
export interface StoredMemory {
  readonly v: 1;
  readonly user: string;
  readonly kind: MemoryKind;
  readonly session: string | null;
  readonly time: number;
  readonly label: number;
  /** Id of the embedder that produced the sealed embedding. */
  readonly embedder: string;
  /** `Sealer.seal(tenant, payload)` of {@link MemoryPayload}. */
  readonly sealed: Uint8Array;
}

/** Per-tenant bookkeeping, updated in the same transaction as every change. */
export interface TenantMemoryMeta {
  /** Bumped by every change of the tenant's vectors; the index file is current only at the same generation. */
  readonly generation: number;
  /** Live memories. */
  readonly count: number;
  /** The next never-used label. */
  readonly nextLabel: number;
}

/** Written after a successful index save: the generation it reflects and the checksums of its files. */
export interface SavedIndexMarker {
  readonly generation: number;
  readonly embedder: string;
  readonly dimensions: number;
  readonly indexSha256: string;
  readonly ownersSha256: string;
  readonly live: number;
}

/** The sealed part of a memory; user and id are inside so a record moved to another key or user fails the check. */
export interface MemoryPayload {
  readonly user: string;
  readonly memoryId: string;
  readonly text: string;
  readonly embedding: Float32Array;
}

const HIGH = '\uffff';

/** Key builders; ranges end with a string sentinel because numbers sort before strings. */
export const memoryKeys = {
  memory: (tenant: TenantId, memoryId: string): MemoryKey => [tenant, memoryId],
  memoryRange: (tenant: TenantId) => ({ start: [tenant, 'm'], end: [tenant, 'n'] }),
  label: (tenant: TenantId, label: number): MemoryKey => [tenant, '#label', label],
  free: (tenant: TenantId, label: number): MemoryKey => [tenant, '#free', label],
  freeRange: (tenant: TenantId) => ({ start: [tenant, '#free'], end: [tenant, '#free', HIGH] }),
  byUser: (tenant: TenantId, user: string, time: number, memoryId: string): MemoryKey => [tenant, '#user', user, time, memoryId],
  userRange: (tenant: TenantId, user: string) => ({ start: [tenant, '#user', user], end: [tenant, '#user', user, HIGH] }),
  byTime: (tenant: TenantId, time: number, memoryId: string): MemoryKey => [tenant, '#time', time, memoryId],
  timeRange: (tenant: TenantId) => ({ start: [tenant, '#time'], end: [tenant, '#time', HIGH] }),
  count: (tenant: TenantId, user: string): MemoryKey => [tenant, '#count', user],
  meta: (tenant: TenantId): MemoryKey => [tenant, '#meta'],
  saved: (tenant: TenantId): MemoryKey => [tenant, '#saved'],
};

/**
 * The tenant's bookkeeping record; a tenant with no memories yet has generation, count and next label 0.
 *
 * @example
 * ```ts
 * readTenantMeta(env.db('memories'), tenantId('acme')).count; // live memories of acme
 * ```
 */
export function readTenantMeta(db: { get(key: MemoryKey): unknown }, tenant: TenantId): TenantMemoryMeta {
  return (db.get(memoryKeys.meta(tenant)) as TenantMemoryMeta | undefined) ?? { generation: 0, count: 0, nextLabel: 0 };
}

/** A 32-bit, never-zero tag of a user for the index's owner filter (zero means "deleted" there). */
export function ownerTag(user: UserId | string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < user.length; i++) h = Math.imul(h ^ user.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return (h >>> 0) || 1;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** `[u32 header length][header JSON][float32 embedding, little-endian]`. */
export function encodePayload(payload: MemoryPayload): Uint8Array {
  const header = encoder.encode(JSON.stringify({ u: payload.user, id: payload.memoryId, t: payload.text }));
  // Buffer.allocUnsafe takes small payloads from Node's shared pool (every byte is written below).
  const out = Buffer.allocUnsafe(4 + header.length + payload.embedding.length * 4);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(0, header.length, true);
  out.set(header, 4);
  const base = 4 + header.length;
  for (let i = 0; i < payload.embedding.length; i++) view.setFloat32(base + i * 4, payload.embedding[i]!, true);
  return out;
}

const NO_EMBEDDING = new Float32Array(0);

/**
 * Inverse of {@link encodePayload}; throws `internal` on a malformed payload. With
 * `embedding: false` the vector is not decoded (recall scores candidates from the index).
 */
export function decodePayload(bytes: Uint8Array, options: { readonly embedding?: boolean } = {}): MemoryPayload {
  try {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const headerLength = view.getUint32(0, true);
    const header = JSON.parse(decoder.decode(bytes.subarray(4, 4 + headerLength))) as { u: string; id: string; t: string };
    const base = 4 + headerLength;
    if ((bytes.length - base) % 4 !== 0) throw new Error('embedding bytes not a multiple of 4');
    if (options.embedding === false) return { user: header.u, memoryId: header.id, text: header.t, embedding: NO_EMBEDDING };
    const embedding = new Float32Array((bytes.length - base) / 4);
    for (let i = 0; i < embedding.length; i++) embedding[i] = view.getFloat32(base + i * 4, true);
    return { user: header.u, memoryId: header.id, text: header.t, embedding };
  } catch (err) {
    throw new KeelError('internal', 'a stored memory payload is malformed', { cause: err });
  }
}

/**
 * Opens a stored memory and checks that it belongs to `tenant` (the sealer's key), `user` and
 * `memoryId`. Throws `forbidden` otherwise: a record that does not open as what its key says is
 * never shown.
 */
export function openMemory(sealer: Sealer, tenant: TenantId, memoryId: string, stored: StoredMemory, user?: string, options: { readonly embedding?: boolean } = {}): MemoryPayload {
  const payload = decodePayload(sealer.open(tenant, stored.sealed), options);
  if (payload.memoryId !== memoryId || payload.user !== stored.user || (user !== undefined && payload.user !== user)) {
    throw new KeelError('forbidden', 'a memory does not belong to the requesting scope');
  }
  return payload;
}

/**
 * Cosine similarity of two vectors (0 when either is zero).
 *
 * @example
 * ```ts
 * cosineSimilarity(Float32Array.of(1, 0), Float32Array.of(1, 1)); // 0.7071...
 * ```
 */
export function cosineSimilarity(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

/** A short random memory id; ids start with `m` (see the key layout). */
export function newMemoryId(time: number, random: Uint8Array): string {
  let hex = '';
  for (const byte of random) hex += byte.toString(16).padStart(2, '0');
  return `m${time.toString(36).padStart(9, '0')}-${hex}`;
}

/** Validates a memory kind. */
export function isMemoryKind(value: unknown): value is MemoryKind {
  return typeof value === 'string' && (MEMORY_KINDS as readonly string[]).includes(value);
}
