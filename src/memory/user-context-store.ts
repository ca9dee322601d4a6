/**
 * Stores each user's structured context in the `users` database under `[tenant, user]`, and its
 * intent history beside it under `[tenant, user, "history"]`, both sealed with the tenant's key.
 * Every change is a read-modify-write inside one LMDB write transaction
 * (lmdb-js `childTransaction`): writers are serialised by LMDB itself, so concurrent sessions of
 * the same user (web and phone at once, or a hand-off) never lose each other's updates, and a
 * throwing update function rolls back without a trace.
 */
import { randomBytes } from 'node:crypto';
import { asBinary, type Database } from 'lmdb';
import { KeelError } from '../errors.js';
import type { Clock, Sealer } from '../ports.js';
import { observeWrite, translateCommitError, type LmdbEnv } from '../store/lmdb-env.js';
import { isValidId, type Channel, type Json, type SessionId, type TenantId, type UserId } from '../types.js';
import {
  emptyUserContext,
  normaliseUserContext,
  type IntentEntry,
  type OpenTask,
  type UserContext,
  type UserContextDraft,
  type UserContextLimits,
  type UserFact,
} from './user-context.js';

export type { ChannelSession, IntentEntry, OpenTask, UserContext, UserContextDraft, UserFact } from './user-context.js';

/** Options of {@link createUserContextStore}. */
export interface UserContextStoreOptions extends Partial<UserContextLimits> {
  /** The opened LMDB environment; the store uses its `users` database. Required. */
  readonly env: LmdbEnv;
  /** Seals contexts at rest with the tenant's key. Required. */
  readonly sealer: Sealer;
  /** Source of time for `updatedAt` and entry times. Required. */
  readonly clock: Clock;
  /** Largest sealed context in bytes; an update that would exceed it fails with `too_large`. Default 256 KiB. */
  readonly maxContextBytes?: number;
}

/** The defaults of {@link UserContextStoreOptions}. */
export const defaultUserContextStoreOptions = Object.freeze({
  maxFacts: 200,
  maxIntentHistory: 50,
  maxOpenTasks: 20,
  maxSessionsPerChannel: 10,
  maxChannels: 16,
  maxProfileKeys: 100,
  maxPreferences: 100,
  maxContextBytes: 256 * 1024,
});

type Resolved = Readonly<UserContextStoreOptions & UserContextLimits & { maxContextBytes: number }>;

function resolveOptions(options: UserContextStoreOptions): Resolved {
  if (options === null || typeof options !== 'object') throw new TypeError('user context store options must be an object');
  const o = { ...defaultUserContextStoreOptions, ...options };
  for (const name of ['env', 'sealer', 'clock'] as const) {
    if (o[name] === null || typeof o[name] !== 'object') throw new TypeError(`user context store option ${name} is required`);
  }
  for (const name of Object.keys(defaultUserContextStoreOptions) as Array<keyof typeof defaultUserContextStoreOptions>) {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 100_000_000) throw new TypeError(`user context store option ${name} must be a positive integer`);
  }
  return Object.freeze(o);
}

/** A routed intent to append to the history. */
export interface IntentToRecord {
  readonly intent: string;
  readonly session?: SessionId | null;
  readonly score?: number;
  /** The turn that routed it: an entry of the same turn already there is not added again (a turn re-run after a crash). */
  readonly turn?: string;
}

/** Options of {@link UserContextStore.update}. */
export interface UserContextUpdateOptions {
  /**
   * Also appends this routed intent to the history, stamped with the update's time, without
   * parsing the history (the oldest entry goes when it is full). The cheap way to record one.
   */
  readonly intent?: IntentToRecord;
}

/** The user context store. */
export interface UserContextStore {
  /** The user's context (the caller's own copy), or undefined when keel knows nothing about them yet. */
  get(tenant: TenantId, user: UserId): UserContext | undefined;
  /**
   * Atomically applies `fn` to the latest context (an empty one for a new user) and stores the
   * result. `fn` is synchronous and may run inside the write transaction only; it mutates the
   * draft or returns a new one. If it throws, nothing is written and the error is rethrown.
   */
  update(tenant: TenantId, user: UserId, fn: (draft: UserContextDraft) => UserContextDraft | void, options?: UserContextUpdateOptions): Promise<UserContext>;
  /** Records a fact; an existing fact with the same key is replaced unless it is more confident. */
  recordFact(tenant: TenantId, user: UserId, fact: { key: string; value: Json; source?: SessionId; confidence?: number }): Promise<UserContext>;
  /** Appends a routed intent to the bounded history (once per `turn` when one is given). */
  recordIntent(tenant: TenantId, user: UserId, entry: IntentToRecord): Promise<UserContext>;
  /** Notes that the user is active in `session` on `channel`. */
  recordSession(tenant: TenantId, user: UserId, channel: Channel, session: SessionId): Promise<UserContext>;
  /** Sets (or with `undefined`, removes) a preference. */
  setPreference(tenant: TenantId, user: UserId, key: string, value: Json | undefined): Promise<UserContext>;
  /** Creates or updates an open task by id. */
  upsertTask(tenant: TenantId, user: UserId, task: { id: string; kind: string; state: string; data?: Record<string, Json>; session?: SessionId }): Promise<UserContext>;
  /** Removes a finished or abandoned task. */
  closeTask(tenant: TenantId, user: UserId, taskId: string): Promise<UserContext>;
  /** Erases the user's context; resolves to whether there was one. */
  forget(tenant: TenantId, user: UserId): Promise<boolean>;
  /** Stops taking updates and waits for those in flight. Idempotent. */
  close(): Promise<void>;
}

/** Turns a synchronous validation error into a rejection, so every method fails the same way. */
function rejectThrown<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * True when JSON holds `value` exactly: plain objects and arrays of strings, finite numbers,
 * booleans and null; false for anything else (an `undefined` field, a date, a hole).
 */
function holdsJsonExactly(value: unknown): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value !== 'object') return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!(i in value) || !holdsJsonExactly(value[i])) return false;
  } else {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return false;
    for (const v of Object.values(value as Record<string, unknown>)) if (v === undefined || !holdsJsonExactly(v)) return false;
  }
  return true;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * A stored context. Version 2 keeps the intent history apart from the rest, under its own key
 * `[tenant, user, "history"]`: `sealed` is the context's JSON without it, and the history is its
 * entries as JSON lines, oldest first, after a first line naming the owner, sealed on their own
 * (`history` tells whether there is one). Every turn that routes an intent appends one entry and
 * changes the rest little; apart, neither is parsed or written again for the other's sake, and a
 * read that finds its copy current reads only the small record. Version 1 (`sealed` holding the
 * whole context) is read as well and rewritten at the next update.
 */
type StoredContext = { readonly v: 1; readonly sealed: Uint8Array; readonly stamp?: string } | { readonly v: 2; readonly sealed: Uint8Array; readonly history?: true; readonly stamp: string };

/** The key of a user's intent history. */
const historyKey = (tenant: TenantId, user: UserId): [TenantId, UserId, string] => [tenant, user, 'history'];

/** An opened context: its JSON without the history, the history's lines and their sealed form as stored. */
interface Opened {
  readonly stamp: string;
  readonly json: string;
  readonly lines: string;
  readonly sealedHistory: Uint8Array | undefined;
}

/** The history's first line: whose it is, checked on every opening. */
const historyOwner = (tenant: TenantId, user: UserId): string => JSON.stringify([tenant, user]);

/** Entries as JSON lines (JSON text never holds a raw line break). */
const historyLines = (entries: readonly IntentEntry[]): string => entries.map((e) => JSON.stringify(e)).join('\n');

const parseHistory = (lines: string): IntentEntry[] => (lines === '' ? [] : (JSON.parse(`[${lines.replaceAll('\n', ',')}]`) as IntentEntry[]));

/**
 * Appends one entry to the history's lines without parsing them, dropping the oldest beyond
 * `max`; unchanged when an entry of the same turn is there already (a bare `"turn":"…"` can only
 * be a key and its value: quotes inside JSON strings are escaped).
 */
function appendIntent(lines: string, entry: IntentToRecord, time: number, max: number): string {
  if (entry.turn !== undefined && lines.includes(`"turn":${JSON.stringify(entry.turn)}`)) return lines;
  const line = JSON.stringify({ intent: entry.intent, time, session: entry.session ?? null, ...(entry.turn === undefined ? {} : { turn: entry.turn }), ...(entry.score === undefined ? {} : { score: entry.score }) } satisfies IntentEntry);
  let out = lines === '' ? line : `${lines}\n${line}`;
  let count = 1;
  for (let i = out.indexOf('\n'); i >= 0; i = out.indexOf('\n', i + 1)) count++;
  for (; count > max; count--) out = out.slice(out.indexOf('\n') + 1);
  return out;
}

/**
 * The context with `intentHistory` parsed from `lines` when first read (JSON.stringify, spreads
 * and structured clones read it like any field). `touched` tells whether it was read or set.
 */
function withLazyHistory(rest: Omit<UserContext, 'intentHistory'>, lines: string): { context: UserContext | UserContextDraft; touched: () => boolean } {
  let history: IntentEntry[] | undefined;
  let touched = false;
  const context = {
    tenant: rest.tenant,
    user: rest.user,
    profile: rest.profile,
    facts: rest.facts,
    preferences: rest.preferences,
    get intentHistory(): IntentEntry[] {
      touched = true;
      return (history ??= parseHistory(lines));
    },
    set intentHistory(value: IntentEntry[]) {
      touched = true;
      history = value;
    },
    openTasks: rest.openTasks,
    sessionsByChannel: rest.sessionsByChannel,
    version: rest.version,
    updatedAt: rest.updatedAt,
  };
  return { context: context as UserContextDraft, touched: () => touched };
}

/**
 * Creates the user context store.
 *
 * @example
 * ```ts
 * const contexts = createUserContextStore({ env, sealer, clock: systemClock });
 * await contexts.recordFact(tenant, user, { key: 'preferred_name', value: 'Sam', source: session, confidence: 1 });
 * await contexts.update(tenant, user, (draft) => { draft.profile.plan = 'premium'; });
 * contexts.get(tenant, user)?.facts.preferred_name?.value; // 'Sam'
 * ```
 */
export function createUserContextStore(options: UserContextStoreOptions): UserContextStore {
  const o = resolveOptions(options);
  const { sealer, clock } = o;
  const db: Database = o.env.db('users');
  const inFlight = new Set<Promise<unknown>>();
  let closing: Promise<void> | undefined;

  const check = (tenant: unknown, user: unknown) => {
    if (!isValidId(tenant)) throw new TypeError('user context: tenant must be a valid id');
    if (!isValidId(user)) throw new TypeError('user context: user must be a valid id');
  };

  // Opened contexts by key, with the stamp of the write they came from: every turn reads its
  // user's context, and unsealing it again when nothing changed would be most of the cost. A write
  // from anywhere (another process included) changes the stamp, so a stale entry is never used.
  // Each read parses its own copy, and an update its draft: nothing is shared to be changed, and
  // the text is smaller than the object would be.
  const opened = new Map<string, Opened>();
  const maxOpened = 10_000;
  let writes = 0;
  // Unique per store instance, so two stores on one environment (or two processes) never mint the same stamp.
  const origin = randomBytes(6).toString('base64url');
  const stampOf = () => `${origin}.${++writes}`;

  /** The lines of a sealed history, after checking that its first line names this user. */
  const openHistory = (tenant: TenantId, user: UserId, sealedHistory: Uint8Array): string => {
    const plain = decoder.decode(sealer.open(tenant, sealedHistory));
    const cut = plain.indexOf('\n');
    // The history names its owner too: one moved from another user's record is refused.
    if ((cut < 0 ? plain : plain.slice(0, cut)) !== historyOwner(tenant, user)) throw new KeelError('forbidden', 'a user context does not belong to the requesting scope');
    return cut < 0 ? '' : plain.slice(cut + 1);
  };

  /** The stored context, from the cache when its stamp is current. */
  const openStored = (tenant: TenantId, user: UserId): Opened | undefined => {
    const cacheKey = `${tenant}\u0000${user}`;
    const stored = db.get([tenant, user]) as StoredContext | undefined;
    if (!stored) {
      opened.delete(cacheKey);
      return undefined;
    }
    const hit = stored.stamp !== undefined ? opened.get(cacheKey) : undefined;
    if (hit && hit.stamp === stored.stamp) return hit;
    const json = decoder.decode(sealer.open(tenant, stored.sealed));
    const context = JSON.parse(json) as UserContext;
    // The sealed body names its owner: a record copied under another user's key does not open as theirs.
    if (context.tenant !== tenant || context.user !== user) throw new KeelError('forbidden', 'a user context does not belong to the requesting scope');
    let result: Opened;
    if (stored.v === 1) {
      // Written before the history was kept apart: it is split out here, and the next write stores it so.
      const { intentHistory, ...rest } = context;
      result = { stamp: stored.stamp ?? '', json: JSON.stringify(rest), lines: historyLines(intentHistory ?? []), sealedHistory: undefined };
    } else {
      const sealedHistory = stored.history ? (db.getBinary(historyKey(tenant, user)) as Uint8Array | undefined) : undefined;
      if (stored.history && !sealedHistory) throw new KeelError('storage_failed', 'a user context names an intent history that is not stored');
      result = { stamp: stored.stamp, json, lines: sealedHistory ? openHistory(tenant, user, sealedHistory) : '', sealedHistory };
    }
    if (stored.stamp !== undefined) remember(cacheKey, result);
    return result;
  };
  function remember(cacheKey: string, entry: Opened): void {
    opened.delete(cacheKey);
    if (opened.size >= maxOpened) opened.delete(opened.keys().next().value as string);
    opened.set(cacheKey, entry);
  }

  const guard = <T>(work: () => Promise<T>): Promise<T> => {
    if (closing) return Promise.reject(new KeelError('runtime_closed', 'the user context store is closed'));
    const run = work();
    inFlight.add(run);
    const done = () => inFlight.delete(run);
    run.then(done, done);
    return run;
  };

  const update: UserContextStore['update'] = (tenant, user, fn, options) =>
    guard(async () => {
      check(tenant, user);
      if (typeof fn !== 'function') throw new TypeError('user context: update needs a function');
      const intent = options?.intent;
      if (intent !== undefined) checkIntent(intent);
      try {
        // Observed: a failed commit's `commitError` would otherwise end the process (see observeWrite).
        return await observeWrite(db.childTransaction(() => {
          const now = clock.now();
          const current = openStored(tenant, user);
          // A fresh copy to mutate, parsed from the stored JSON. Its intent history is parsed only
          // if the function reads or sets it; otherwise the stored history is kept as it is.
          const draft = withLazyHistory((current !== undefined ? JSON.parse(current.json) : emptyUserContext(tenant, user, now)) as Omit<UserContext, 'intentHistory'>, current?.lines ?? '');
          const version = draft.context.version;
          // The draft carries this update's time, so update functions stamp entries without a clock.
          (draft.context as { updatedAt: number }).updatedAt = now;
          const returned = fn(draft.context as UserContextDraft);
          if (returned instanceof Promise) throw new TypeError('user context: the update function must be synchronous');
          const target = returned ?? draft.context;
          const touched = target !== draft.context || draft.touched();
          let lines = current?.lines ?? '';
          let next: Omit<UserContext, 'intentHistory'>;
          if (touched) {
            const { intentHistory, ...rest } = normaliseUserContext(target, { tenant, user, version }, o, now);
            next = rest;
            lines = historyLines(intentHistory);
          } else {
            next = normaliseUserContext(target, { tenant, user, version }, o, now, false);
          }
          if (intent !== undefined) lines = appendIntent(lines, intent, now, o.maxIntentHistory);
          const json = JSON.stringify(next);
          const sealed = sealer.seal(tenant, encoder.encode(json));
          // An unchanged history keeps its sealed bytes: nothing of it is parsed or sealed again.
          const history = lines === '' ? undefined : lines === current?.lines && current.sealedHistory ? current.sealedHistory : sealer.seal(tenant, encoder.encode(`${historyOwner(tenant, user)}\n${lines}`));
          if (sealed.length + (history?.length ?? 0) > o.maxContextBytes) throw new KeelError('too_large', `a user context is over ${o.maxContextBytes} bytes`);
          const stamp = stampOf();
          db.putSync([tenant, user], { v: 2, sealed, ...(history ? { history: true } : {}), stamp } satisfies StoredContext);
          if (history !== current?.sealedHistory) {
            if (history) db.putSync(historyKey(tenant, user), asBinary(history));
            else db.removeSync(historyKey(tenant, user));
          }
          // Written through: the next turn's read finds it without unsealing (a rolled-back
          // transaction leaves the old stamp in LMDB, so this entry is then simply not used).
          remember(`${tenant}\u0000${user}`, { stamp, json, lines, sealedHistory: history });
          // What is stored, exactly: an update that left values JSON does not hold (a date, an
          // undefined field) gets them back as JSON has them, like every later read.
          return withLazyHistory(holdsJsonExactly(next) ? next : (JSON.parse(json) as Omit<UserContext, 'intentHistory'>), lines).context as UserContext;
        }));
      } catch (err) {
        throw err instanceof TypeError ? err : await translateCommitError(err, o.env.dir);
      }
    });

  const checkIntent = (entry: IntentToRecord): void => {
    if (entry === null || typeof entry !== 'object') throw new TypeError('user context: intent must be an object');
    text('intent', entry.intent);
    if (entry.session !== undefined && entry.session !== null && !isValidId(entry.session)) throw new TypeError('user context: intent session must be a valid id');
    if (entry.score !== undefined && !(typeof entry.score === 'number' && Number.isFinite(entry.score))) throw new TypeError('user context: intent score must be a finite number');
    if (entry.turn !== undefined) text('intent turn', entry.turn);
  };

  const text = (name: string, value: unknown, max = 200) => {
    if (typeof value !== 'string' || value.length === 0 || value.length > max) throw new TypeError(`user context: ${name} must be a string of 1-${max} characters`);
  };

  return {
    get(tenant, user) {
      check(tenant, user);
      const current = openStored(tenant, user);
      return current === undefined ? undefined : (withLazyHistory(JSON.parse(current.json) as Omit<UserContext, 'intentHistory'>, current.lines).context as UserContext);
    },
    update,
    recordFact(tenant, user, fact) {
      return rejectThrown(() => {
        text('fact key', fact.key);
        const confidence = fact.confidence ?? 1;
        if (!(confidence >= 0 && confidence <= 1)) throw new TypeError('user context: fact confidence must be in [0, 1]');
        return update(tenant, user, (draft) => {
          const existing = draft.facts[fact.key];
          if (existing && existing.confidence > confidence) return;
          draft.facts[fact.key] = { key: fact.key, value: fact.value, source: fact.source ?? null, time: clock.now(), confidence } satisfies UserFact;
        });
      });
    },
    recordIntent(tenant, user, entry) {
      return update(tenant, user, () => undefined, { intent: entry });
    },
    recordSession(tenant, user, channel, session) {
      return rejectThrown(() => {
        text('channel', channel, 64);
        if (!isValidId(session)) throw new TypeError('user context: session must be a valid id');
        return update(tenant, user, (draft) => {
          const list = (draft.sessionsByChannel[channel] ?? []).filter((s) => s.session !== session);
          list.push({ session, lastSeenAt: clock.now() });
          draft.sessionsByChannel[channel] = list;
        });
      });
    },
    setPreference(tenant, user, key, value) {
      return rejectThrown(() => {
        text('preference key', key);
        return update(tenant, user, (draft) => {
          if (value === undefined) delete draft.preferences[key];
          else draft.preferences[key] = value;
        });
      });
    },
    upsertTask(tenant, user, task) {
      return rejectThrown(() => {
        text('task id', task.id);
        text('task kind', task.kind);
        text('task state', task.state);
        return update(tenant, user, (draft) => {
          const now = clock.now();
          const index = draft.openTasks.findIndex((t) => t.id === task.id);
          const previous = index >= 0 ? draft.openTasks[index] : undefined;
          const next: OpenTask = {
            id: task.id, kind: task.kind, state: task.state, data: task.data ?? previous?.data ?? {},
            session: task.session ?? previous?.session ?? null, createdAt: previous?.createdAt ?? now, updatedAt: now,
          };
          if (index >= 0) draft.openTasks[index] = next;
          else draft.openTasks.push(next);
        });
      });
    },
    closeTask(tenant, user, taskId) {
      return rejectThrown(() => {
        return update(tenant, user, (draft) => {
          draft.openTasks = draft.openTasks.filter((t) => t.id !== taskId);
        });
      });
    },
    forget(tenant, user) {
      return guard(async () => {
        check(tenant, user);
        // The opened copy is plain text in memory: it goes before the record, and again after
        // the commit in case a read put it back meanwhile.
        const cacheKey = `${tenant}\u0000${user}`;
        opened.delete(cacheKey);
        try {
          return await observeWrite(db.childTransaction(() => {
            db.removeSync(historyKey(tenant, user));
            return db.removeSync([tenant, user]);
          }));
        } catch (err) {
          throw await translateCommitError(err, o.env.dir);
        } finally {
          opened.delete(cacheKey);
        }
      });
    },
    close() {
      closing ??= Promise.allSettled([...inFlight]).then(() => undefined);
      return closing;
    },
  };
}
