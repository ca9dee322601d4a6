/**
 * The audit log: append-only, hash-chained records of who did what to what, and how it ended,
 * in the LMDB `audit` database (key = seq, from 1). Each record's hash is SHA-256 over a
 * canonical serialisation of its fields, including the previous record's hash, so altering,
 * removing, inserting or reordering a record breaks the chain at that point.
 *
 * The head (last seq and hash) is also kept in the `meta` database, written in the same
 * transaction as the record. That anchor lets `verify` notice a truncated tail (the chain alone
 * cannot: a shorter chain is still a valid chain) and a re-hashed last record. It lives in the
 * same file, so someone able to rewrite the file can rewrite it too; for that, compare with a head
 * kept elsewhere (`verify({ expectedHead })`, e.g. the head printed by `keel audit verify`).
 */
import { createHash } from 'node:crypto';
import { KeelError } from '../errors.js';
import { systemClock } from '../clock.js';
import type { Clock } from '../ports.js';
import type { LmdbEnv } from '../store/lmdb-env.js';
import { translateLmdbError } from '../store/lmdb-env.js';
import { ROLES, isValidId, type Identity, type Json, type Role, type TenantId, type UserId } from '../types.js';
import { createRedactor, type Redactor } from './redact.js';

/** How an audited action ended. */
export const AUDIT_OUTCOMES = ['ok', 'denied', 'failed', 'pending'] as const;
/** One of {@link AUDIT_OUTCOMES}. */
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/**
 * Who acts when no signed-in person does: `system` is keel itself acting in a tenant (the agent
 * asking for a hand-off, an operator command run on the host); `anonymous` is a caller whose
 * token was refused (tenant `keel:anonymous`: nobody can vouch for the tenant it claimed).
 */
export type AuditActorRole = Role | 'system' | 'anonymous';

/** The actor of a record: a verified identity, or keel itself, or a refused caller. */
export interface AuditActor {
  readonly tenant: string;
  readonly user: string;
  readonly role: AuditActorRole;
}

/** The actor of failed sign-ins: nobody is known. */
export const ANONYMOUS_ACTOR: AuditActor = Object.freeze({ tenant: 'keel:anonymous', user: 'anonymous', role: 'anonymous' });

/**
 * keel itself acting in `tenant` (hand-offs the agent asked for, commands run on the host).
 *
 * @example
 * ```ts
 * await audit.append({ actor: systemActor('acme'), action: 'handoff.queued', target: 'session:s-1', outcome: 'ok' });
 * ```
 */
export function systemActor(tenant: string, user = 'keel'): AuditActor {
  return Object.freeze({ tenant, user, role: 'system' as const });
}

const ACTOR_ROLES: readonly string[] = [...ROLES, 'system', 'anonymous'];

/** What a caller records. */
export interface AuditEntry {
  /** Who acted: from a verified token, the embedding program, or {@link systemActor} / {@link ANONYMOUS_ACTOR}. */
  readonly actor: Identity | AuditActor;
  /** Dotted, lower-case: `tool.call`, `user.forget`, `token.issue`, `config.change`. */
  readonly action: string;
  /** What it acted on (`session:s-1`, `order:10234`); redacted before it is stored. */
  readonly target: string;
  readonly outcome: AuditOutcome;
  /** Redacted before it is stored. Default `{}`. */
  readonly details?: Readonly<Record<string, Json>>;
}

/** A stored audit record. */
export interface AuditRecord {
  readonly seq: number;
  /** Ms since the epoch, from the injected clock. */
  readonly time: number;
  readonly actor: { readonly tenant: TenantId; readonly user: UserId; readonly role: AuditActorRole };
  readonly action: string;
  readonly target: string;
  readonly outcome: AuditOutcome;
  readonly details: Readonly<Record<string, Json>>;
  /** Hash of the record before (64 zeros for the first). */
  readonly prevHash: string;
  /** SHA-256 (hex) of the canonical serialisation of every other field. */
  readonly hash: string;
}

/** The last record's seq and hash. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
}

/** Why a chain does not verify. */
export type AuditBreak = 'malformed' | 'altered' | 'missing' | 'reordered' | 'inserted' | 'broken_link' | 'truncated' | 'unanchored';

/** The outcome of {@link AuditLog.verify}. */
export type AuditVerifyResult =
  | { readonly ok: true; readonly count: number; readonly head: AuditHead | undefined }
  | {
      readonly ok: false;
      /** The first record that can no longer be trusted (see {@link AuditLog.verify}). */
      readonly firstBad: number;
      readonly reason: AuditBreak;
      readonly message: string;
      /** Records that verified before the break. */
      readonly count: number;
    };

/** The append-only audit log. */
export interface AuditLog {
  /** Appends one record after the current head; concurrent appends (even from other processes) never fork the chain. */
  append(entry: AuditEntry): Promise<AuditRecord>;
  /**
   * Checks the whole chain. `firstBad` names the first record that fails; when only the link
   * between records k-1 and k fails (`broken_link`), it is k-1: a record altered and re-hashed
   * cannot be told apart from its successor's link being altered, and k-1 is the first one
   * nothing vouches for any more.
   */
  verify(options?: { readonly expectedHead?: AuditHead }): Promise<AuditVerifyResult>;
  /** Like `verify`, but throws KeelError `audit_broken` naming the first bad record. */
  assertIntact(options?: { readonly expectedHead?: AuditHead }): Promise<{ count: number; head: AuditHead | undefined }>;
  /** The anchored head, `undefined` while the log is empty. */
  head(): AuditHead | undefined;
  /**
   * Records from `fromSeq` (default 1), at most `limit` (default 100); with `tenant`, only those
   * whose actor belongs to it (the chain is shared by all tenants).
   */
  read(options?: { readonly fromSeq?: number; readonly limit?: number; readonly tenant?: string }): AuditRecord[];
}

/** Options of {@link createAuditLog}. */
export interface AuditLogOptions {
  /** The opened environment (`openEnv`); the log uses its `audit` and `meta` databases. Required. */
  readonly env: LmdbEnv;
  /** Default {@link systemClock}. */
  readonly clock?: Clock;
  /** Redacts `target` and `details`. Default `createRedactor()`. */
  readonly redactor?: Redactor;
  /** `target` longer than this is refused. Default 512. */
  readonly maxTargetLength?: number;
}

/** Defaults of {@link AuditLogOptions}. */
export const defaultAuditOptions = Object.freeze({ maxTargetLength: 512 });

/**
 * Validates audit log options; throws a TypeError naming the bad option.
 *
 * @example
 * ```ts
 * resolveAuditOptions({ env, maxTargetLength: 0 }); // TypeError: maxTargetLength ...
 * ```
 */
export function resolveAuditOptions(options: AuditLogOptions): Readonly<Required<AuditLogOptions>> {
  if (typeof options?.env?.db !== 'function') throw new TypeError('env must be an opened LmdbEnv');
  const clock = options.clock ?? systemClock;
  if (typeof clock?.now !== 'function') throw new TypeError('clock must have now()');
  const redactor = options.redactor ?? createRedactor();
  if (typeof redactor?.text !== 'function' || typeof redactor.value !== 'function') throw new TypeError('redactor must be a Redactor');
  const maxTargetLength = options.maxTargetLength ?? defaultAuditOptions.maxTargetLength;
  if (!Number.isSafeInteger(maxTargetLength) || maxTargetLength < 1) throw new TypeError('maxTargetLength must be a positive integer');
  return Object.freeze({ env: options.env, clock, redactor, maxTargetLength });
}

/** `prevHash` of the first record. */
export const GENESIS_HASH = '0'.repeat(64);
const HEAD_KEY = 'audit.head';
const ACTION = /^[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*$/;
const VERIFY_CHUNK = 1000;

/**
 * Creates the audit log over an opened environment.
 *
 * @example
 * ```ts
 * const audit = createAuditLog({ env: openEnv({ dir: './.keel' }) });
 * await audit.append({ actor: identity, action: 'user.forget', target: 'user:u-42', outcome: 'ok' });
 * const result = await audit.verify(); // { ok: true, count: 1, head: { seq: 1, hash: '…' } }
 * ```
 */
export function createAuditLog(options: AuditLogOptions): AuditLog {
  const o = resolveAuditOptions(options);
  const records = o.env.db('audit');
  const meta = o.env.db('meta');

  const head = (): AuditHead | undefined => {
    const h = meta.get(HEAD_KEY) as AuditHead | undefined;
    return isHead(h) ? { seq: h.seq, hash: h.hash } : undefined;
  };

  const lastRecord = (): AuditHead | undefined => {
    for (const { key, value } of records.getRange({ reverse: true, limit: 1 })) {
      const r = value as Partial<AuditRecord>;
      if (typeof key === 'number' && typeof r?.hash === 'string') return { seq: key, hash: r.hash };
    }
    return undefined;
  };

  const verify = async (opts: { expectedHead?: AuditHead } = {}): Promise<AuditVerifyResult> => {
    let expected = 1;
    let prevHash = GENESIS_HASH;
    const fail = (firstBad: number, reason: AuditBreak, message: string): AuditVerifyResult =>
      Object.freeze({ ok: false as const, firstBad, reason, message, count: Math.min(expected, firstBad) - 1 });
    let after: unknown;
    for (;;) {
      let seen = 0;
      const range = after === undefined ? records.getRange({ limit: VERIFY_CHUNK }) : records.getRange({ start: after as number, exclusiveStart: true, limit: VERIFY_CHUNK });
      for (const { key, value } of range) {
        seen++;
        after = key;
        if (typeof key !== 'number' || !Number.isSafeInteger(key) || key < expected) {
          return fail(expected, 'inserted', `an entry with key ${JSON.stringify(key)} was inserted before record ${expected}`);
        }
        if (key > expected) return fail(expected, 'missing', `record ${expected} is missing`);
        const r = value as AuditRecord;
        if (!isRecordShape(r)) return fail(key, 'malformed', `record ${key} is not an audit record`);
        if (r.seq !== key) return fail(key, 'reordered', `record stored at ${key} says it is record ${String(r.seq)}`);
        let hash: string;
        try {
          hash = hashOf(r);
        } catch {
          return fail(key, 'malformed', `record ${key} holds values an audit record cannot`);
        }
        if (hash !== r.hash) return fail(key, 'altered', `record ${key} was altered after it was written`);
        if (r.prevHash !== prevHash) {
          return fail(Math.max(1, key - 1), 'broken_link', `record ${key} does not follow record ${key - 1}: one of them was altered and re-hashed, or records were swapped`);
        }
        prevHash = r.hash;
        expected++;
      }
      if (seen < VERIFY_CHUNK) break;
      // Long chains: let the event loop breathe between chunks.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const count = expected - 1;
    for (const [anchor, where] of [[head(), 'the anchored head'], [opts.expectedHead, 'the expected head']] as const) {
      if (anchor === undefined) {
        if (where === 'the anchored head' && count > 0) return fail(count, 'unanchored', `the log has ${count} records but no anchored head`);
        continue;
      }
      if (anchor.seq > count) return fail(count + 1, 'truncated', `${where} is record ${anchor.seq} but the log ends at ${count}: the tail was removed`);
      if (anchor.seq < count && where === 'the anchored head') return fail(anchor.seq + 1, 'unanchored', `records after ${anchor.seq} were not written by the audit log`);
      const at = anchor.seq === count ? prevHash : (records.get(anchor.seq) as AuditRecord | undefined)?.hash;
      if (anchor.seq > 0 && at !== anchor.hash) return fail(anchor.seq, 'altered', `record ${anchor.seq} does not match ${where}`);
    }
    return Object.freeze({ ok: true as const, count, head: count > 0 ? { seq: count, hash: prevHash } : undefined });
  };

  return Object.freeze({
    async append(entry: AuditEntry): Promise<AuditRecord> {
      const base = prepare(entry, o.redactor, o.maxTargetLength);
      const time = o.clock.now();
      try {
        // The read of the head and the write of the record happen in one LMDB write transaction:
        // LMDB runs write transactions one at a time, across processes too, so no two appends
        // can build on the same head. The anchor, not the last record, decides what comes next,
        // so a removed tail stays visible as a gap.
        const write = o.env.root.transaction(() => {
          const h = head() ?? lastRecord();
          const fields = { ...base, seq: (h?.seq ?? 0) + 1, time, prevHash: h?.hash ?? GENESIS_HASH };
          const record: AuditRecord = Object.freeze({ ...fields, hash: hashOf(fields) });
          records.put(record.seq, record);
          meta.put(HEAD_KEY, { seq: record.seq, hash: record.hash });
          return record;
        });
        // lmdb-js attaches a `commitError` promise to a failed commit and never handles it; left
        // alone it becomes an unhandled rejection that can end the process.
        write.catch((err: unknown) => {
          const commitError = (err as { commitError?: Promise<unknown> } | undefined)?.commitError;
          if (typeof commitError?.catch === 'function') commitError.catch(() => undefined);
        });
        return await write;
      } catch (err) {
        throw translateLmdbError(err);
      }
    },
    verify,
    async assertIntact(opts = {}) {
      const result = await verify(opts);
      if (!result.ok) {
        throw new KeelError('audit_broken', `audit chain broken at record ${result.firstBad} (${result.reason}): ${result.message}`, {
          details: { firstBad: result.firstBad, reason: result.reason },
        });
      }
      return { count: result.count, head: result.head };
    },
    head,
    read({ fromSeq = 1, limit = 100, tenant }: { readonly fromSeq?: number; readonly limit?: number; readonly tenant?: string } = {}) {
      const out: AuditRecord[] = [];
      // With a tenant the range is walked lazily and left as soon as `limit` records matched.
      for (const { value } of records.getRange(tenant === undefined ? { start: fromSeq, limit } : { start: fromSeq })) {
        if (out.length >= limit) break;
        if (tenant === undefined || (value as AuditRecord).actor.tenant === tenant) out.push(value as AuditRecord);
      }
      return out;
    },
  });
}

function prepare(entry: AuditEntry, redactor: Redactor, maxTargetLength: number): Omit<AuditRecord, 'seq' | 'time' | 'prevHash' | 'hash'> {
  const a = entry?.actor;
  if (!a || !isValidId(a.tenant) || !isValidId(a.user) || !ACTOR_ROLES.includes(a.role)) {
    throw new TypeError('actor must be a valid identity, a system actor or the anonymous actor');
  }
  if (typeof entry.action !== 'string' || entry.action.length > 64 || !ACTION.test(entry.action)) {
    throw new TypeError('action must be dotted lower-case words, e.g. tool.call');
  }
  if (typeof entry.target !== 'string' || entry.target.length > maxTargetLength) throw new TypeError(`target must be a string of at most ${maxTargetLength} characters`);
  if (!(AUDIT_OUTCOMES as readonly string[]).includes(entry.outcome)) throw new TypeError(`outcome must be one of ${AUDIT_OUTCOMES.join(', ')}`);
  const details = entry.details ?? {};
  if (typeof details !== 'object' || details === null || Array.isArray(details)) throw new TypeError('details must be an object');
  const redacted = redactor.value(details as Json) as Record<string, Json>;
  // Fails here, not at verify time, when details hold something the canonical form refuses.
  canonical(redacted);
  return {
    actor: { tenant: a.tenant as TenantId, user: a.user as UserId, role: a.role },
    action: entry.action,
    target: redactor.text(entry.target),
    outcome: entry.outcome,
    details: redacted,
  };
}

/**
 * SHA-256 (hex) of a record's canonical form, without its `hash` field.
 *
 * @example
 * ```ts
 * hashOf(record) === record.hash; // true for an intact record
 * ```
 */
export function hashOf(record: Omit<AuditRecord, 'hash'> & { hash?: string }): string {
  const { seq, time, actor, action, target, outcome, details, prevHash } = record;
  const body = canonical({ v: 1, seq, time, actor: { tenant: actor.tenant, user: actor.user, role: actor.role }, action, target, outcome, details, prevHash } as Json);
  return createHash('sha256').update(body).digest('hex');
}

/**
 * Canonical JSON: object keys sorted, no whitespace, only finite numbers (in the spirit of
 * RFC 8785), so the same record always hashes the same, whatever order its keys were written in.
 *
 * @example
 * ```ts
 * canonical({ b: 1, a: [true, null] }); // '{"a":[true,null],"b":1}'
 * ```
 */
export function canonical(value: Json): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('audit details must not hold NaN or Infinity');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k] as Json)}`).join(',')}}`;
  }
  throw new TypeError(`audit details must be JSON, not ${typeof value}`);
}

function isHead(h: unknown): h is AuditHead {
  const x = h as Partial<AuditHead> | undefined;
  return typeof x?.seq === 'number' && typeof x.hash === 'string';
}

function isRecordShape(r: unknown): r is AuditRecord {
  const x = r as Partial<AuditRecord> | undefined;
  return (
    typeof x === 'object' && x !== null &&
    typeof x.seq === 'number' && typeof x.time === 'number' &&
    typeof x.actor === 'object' && x.actor !== null &&
    typeof x.action === 'string' && typeof x.target === 'string' && typeof x.outcome === 'string' &&
    typeof x.details === 'object' && x.details !== null &&
    typeof x.prevHash === 'string' && typeof x.hash === 'string'
  );
}
