/**
 * Stores each user's structured context in the `users` database under `[tenant, user]`, sealed
 * with the tenant's key. Every change is a read-modify-write inside one LMDB write transaction
 * (lmdb-js `childTransaction`): writers are serialised by LMDB itself, so concurrent sessions of
 * the same user (web and phone at once, or a hand-off) never lose each other's updates, and a
 * throwing update function rolls back without a trace.
 */
import { randomBytes } from 'node:crypto';
import type { Database } from 'lmdb';
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

/** The user context store. */
export interface UserContextStore {
  /** The user's context (the caller's own copy), or undefined when keel knows nothing about them yet. */
  get(tenant: TenantId, user: UserId): UserContext | undefined;
  /**
   * Atomically applies `fn` to the latest context (an empty one for a new user) and stores the
   * result. `fn` is synchronous and may run inside the write transaction only; it mutates the
   * draft or returns a new one. If it throws, nothing is written and the error is rethrown.
   */
  update(tenant: TenantId, user: UserId, fn: (draft: UserContextDraft) => UserContextDraft | void): Promise<UserContext>;
  /** Records a fact; an existing fact with the same key is replaced unless it is more confident. */
  recordFact(tenant: TenantId, user: UserId, fact: { key: string; value: Json; source?: SessionId; confidence?: number }): Promise<UserContext>;
  /** Appends a routed intent to the bounded history. */
  recordIntent(tenant: TenantId, user: UserId, entry: { intent: string; session?: SessionId; score?: number }): Promise<UserContext>;
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

  // Opened contexts by key, as JSON, with the stamp of the write they came from: every turn reads
  // its user's context, and unsealing it again when nothing changed would be most of the cost.
  // A write from anywhere (another process included) changes the stamp, so a stale entry is never
  // used. Each read parses its own copy, and an update its draft: nothing is shared to be changed,
  // and the text is smaller than the object would be.
  const opened = new Map<string, { stamp: string; json: string }>();
  const maxOpened = 10_000;
  let writes = 0;
  // Unique per store instance, so two stores on one environment (or two processes) never mint the same stamp.
  const origin = randomBytes(6).toString('base64url');
  const stampOf = () => `${origin}.${++writes}`;

  /** The stored context's JSON, from the cache when its stamp is current. */
  const openJson = (tenant: TenantId, user: UserId): string | undefined => {
    const cacheKey = `${tenant}\u0000${user}`;
    const stored = db.get([tenant, user]) as { v: 1; sealed: Uint8Array; stamp?: string } | undefined;
    if (!stored) {
      opened.delete(cacheKey);
      return undefined;
    }
    const hit = stored.stamp !== undefined ? opened.get(cacheKey) : undefined;
    if (hit && hit.stamp === stored.stamp) return hit.json;
    const json = decoder.decode(sealer.open(tenant, stored.sealed));
    const context = JSON.parse(json) as UserContext;
    // The sealed body names its owner: a record copied under another user's key does not open as theirs.
    if (context.tenant !== tenant || context.user !== user) throw new KeelError('forbidden', 'a user context does not belong to the requesting scope');
    if (stored.stamp !== undefined) remember(cacheKey, stored.stamp, json);
    return json;
  };
  function remember(cacheKey: string, stamp: string, json: string): void {
    opened.delete(cacheKey);
    if (opened.size >= maxOpened) opened.delete(opened.keys().next().value as string);
    opened.set(cacheKey, { stamp, json });
  }

  const guard = <T>(work: () => Promise<T>): Promise<T> => {
    if (closing) return Promise.reject(new KeelError('runtime_closed', 'the user context store is closed'));
    const run = work();
    inFlight.add(run);
    const done = () => inFlight.delete(run);
    run.then(done, done);
    return run;
  };

  const update: UserContextStore['update'] = (tenant, user, fn) =>
    guard(async () => {
      check(tenant, user);
      if (typeof fn !== 'function') throw new TypeError('user context: update needs a function');
      try {
        // Observed: a failed commit's `commitError` would otherwise end the process (see observeWrite).
        return await observeWrite(db.childTransaction(() => {
          const now = clock.now();
          const current = openJson(tenant, user);
          // A fresh copy to mutate, parsed from the stored JSON.
          const draft = (current !== undefined ? JSON.parse(current) : emptyUserContext(tenant, user, now)) as UserContextDraft;
          const version = draft.version;
          // The draft carries this update's time, so update functions stamp entries without a clock.
          (draft as { updatedAt: number }).updatedAt = now;
          const returned = fn(draft);
          if (returned instanceof Promise) throw new TypeError('user context: the update function must be synchronous');
          const next = normaliseUserContext(returned ?? draft, { tenant, user, version }, o, now);
          const json = JSON.stringify(next);
          const sealed = sealer.seal(tenant, encoder.encode(json));
          if (sealed.length > o.maxContextBytes) throw new KeelError('too_large', `a user context is over ${o.maxContextBytes} bytes`);
          const stamp = stampOf();
          db.putSync([tenant, user], { v: 1, sealed, stamp });
          // What is stored, exactly: an update that left values JSON does not hold (a date, an
          // undefined field) gets them back as JSON has them, like every later read.
          // Written through: the next turn's read finds it without unsealing (a rolled-back
          // transaction leaves the old stamp in LMDB, so this entry is then simply not used).
          remember(`${tenant}\u0000${user}`, stamp, json);
          return holdsJsonExactly(next) ? next : (JSON.parse(json) as UserContext);
        }));
      } catch (err) {
        throw err instanceof TypeError ? err : await translateCommitError(err, o.env.dir);
      }
    });

  const text = (name: string, value: unknown, max = 200) => {
    if (typeof value !== 'string' || value.length === 0 || value.length > max) throw new TypeError(`user context: ${name} must be a string of 1-${max} characters`);
  };

  return {
    get(tenant, user) {
      check(tenant, user);
      const json = openJson(tenant, user);
      return json === undefined ? undefined : (JSON.parse(json) as UserContext);
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
      return rejectThrown(() => {
        text('intent', entry.intent);
        return update(tenant, user, (draft) => {
          draft.intentHistory.push({ intent: entry.intent, time: clock.now(), session: entry.session ?? null, ...(entry.score === undefined ? {} : { score: entry.score }) } satisfies IntentEntry);
        });
      });
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
          return await observeWrite(db.childTransaction(() => db.removeSync([tenant, user])));
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
