/**
 * The structured context keel keeps per user (DESIGN §2, `users`): profile, facts with their
 * source and time, preferences, intent history, open tasks and sessions by channel. This file
 * holds the shape and the bounds; `user-context-store.ts` stores it.
 */
import type { Channel, Json, SessionId, TenantId, UserId } from '../types.js';

/** Something keel learned about the user, with where and when it learned it. */
export interface UserFact {
  readonly key: string;
  readonly value: Json;
  /** The session in which the user said it, or null when it came from elsewhere (CRM import). */
  readonly source: SessionId | null;
  readonly time: number;
  /** 1 when the user stated it, lower when it was inferred. */
  readonly confidence: number;
}

/** One routed intent, newest last. */
export interface IntentEntry {
  readonly intent: string;
  readonly time: number;
  readonly session: SessionId | null;
  readonly score?: number;
  /** The turn that routed it; a turn re-run after a crash does not add it twice. */
  readonly turn?: string;
}

/** A task the user started and has not finished (a refund in progress, a pending card replacement). */
export interface OpenTask {
  readonly id: string;
  readonly kind: string;
  /** Where the task flow stands, so it can be resumed. */
  readonly state: string;
  readonly data: { readonly [key: string]: Json };
  readonly session: SessionId | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** A session of the user on one channel, most recent last. */
export interface ChannelSession {
  readonly session: SessionId;
  readonly lastSeenAt: number;
}

/** The whole context of one user. */
export interface UserContext {
  readonly tenant: TenantId;
  readonly user: UserId;
  readonly profile: { readonly [key: string]: Json };
  /** Facts by key. */
  readonly facts: { readonly [key: string]: UserFact };
  readonly preferences: { readonly [key: string]: Json };
  readonly intentHistory: readonly IntentEntry[];
  readonly openTasks: readonly OpenTask[];
  readonly sessionsByChannel: { readonly [channel: Channel]: readonly ChannelSession[] };
  /** Bumped by every update. */
  readonly version: number;
  readonly updatedAt: number;
}

/**
 * A mutable deep copy handed to an update function; tenant, user and version are stamped by the
 * store. `updatedAt` is the time of this update (the store's clock), for stamping new entries.
 */
export interface UserContextDraft {
  readonly tenant: TenantId;
  readonly user: UserId;
  profile: { [key: string]: Json };
  facts: { [key: string]: UserFact };
  preferences: { [key: string]: Json };
  intentHistory: IntentEntry[];
  openTasks: OpenTask[];
  sessionsByChannel: { [channel: Channel]: ChannelSession[] };
  readonly version: number;
  readonly updatedAt: number;
}

/** Bounds that keep one user's context small; the oldest or least confident entries go first. */
export interface UserContextLimits {
  readonly maxFacts: number;
  readonly maxIntentHistory: number;
  readonly maxOpenTasks: number;
  readonly maxSessionsPerChannel: number;
  readonly maxChannels: number;
  readonly maxProfileKeys: number;
  readonly maxPreferences: number;
}

/** An empty context. */
export function emptyUserContext(tenant: TenantId, user: UserId, time: number): UserContext {
  return { tenant, user, profile: {}, facts: {}, preferences: {}, intentHistory: [], openTasks: [], sessionsByChannel: {}, version: 0, updatedAt: time };
}

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/** Keeps the `max` newest items (by `time`, later position breaking ties) in their original order. */
function keepNewest<T>(items: T[], max: number, time: (item: T) => number): T[] {
  if (items.length <= max) return items;
  const keep = new Set(items.map((item, i) => [time(item), i] as const).sort((a, b) => b[0] - a[0] || b[1] - a[1]).slice(0, max).map(([, i]) => i));
  return items.filter((_, i) => keep.has(i));
}

function limitKeys<T>(record: Record<string, T>, max: number, name: string): Record<string, T> {
  if (Object.keys(record).length > max) throw new TypeError(`user context: more than ${max} ${name}`);
  return record;
}

/**
 * Checks the shape an update function returned, applies the bounds, and stamps the version.
 * Throws a TypeError naming the first bad field (the update is then rolled back). The result
 * shares objects with `draft`, which must be the update's own copy; the store keeps its JSON.
 */
export function normaliseUserContext(draft: unknown, previous: Pick<UserContext, 'tenant' | 'user' | 'version'>, limits: UserContextLimits, time: number): UserContext;
/** The same without the intent history, which the caller keeps as it was (`withHistory` false). */
export function normaliseUserContext(draft: unknown, previous: Pick<UserContext, 'tenant' | 'user' | 'version'>, limits: UserContextLimits, time: number, withHistory: false): Omit<UserContext, 'intentHistory'>;
export function normaliseUserContext(draft: unknown, previous: Pick<UserContext, 'tenant' | 'user' | 'version'>, limits: UserContextLimits, time: number, withHistory = true): UserContext | Omit<UserContext, 'intentHistory'> {
  if (!isRecord(draft)) throw new TypeError('user context: the update must leave an object');
  const d = draft;
  for (const name of ['profile', 'facts', 'preferences', 'sessionsByChannel'] as const) {
    if (!isRecord(d[name])) throw new TypeError(`user context: ${name} must be an object`);
  }
  for (const name of withHistory ? (['intentHistory', 'openTasks'] as const) : (['openTasks'] as const)) {
    if (!Array.isArray(d[name])) throw new TypeError(`user context: ${name} must be an array`);
  }
  const facts = Object.values(d.facts as Record<string, UserFact>);
  for (const fact of facts) {
    if (!isRecord(fact) || typeof fact.key !== 'string' || typeof fact.time !== 'number' || typeof fact.confidence !== 'number') {
      throw new TypeError('user context: each fact needs key, value, time and confidence');
    }
  }
  // Over the bound, the least confident facts go first, then the oldest.
  const keptFacts = [...facts].sort((a, b) => b.confidence - a.confidence || b.time - a.time).slice(0, limits.maxFacts);
  const sessions: Record<string, ChannelSession[]> = {};
  const channels = Object.entries(d.sessionsByChannel as Record<string, ChannelSession[]>);
  for (const [channel, list] of keepNewest(channels, limits.maxChannels, ([, l]) => Math.max(0, ...(Array.isArray(l) ? l.map((s) => s.lastSeenAt) : [0])))) {
    if (!Array.isArray(list)) throw new TypeError(`user context: sessionsByChannel.${channel} must be an array`);
    sessions[channel] = keepNewest(list, limits.maxSessionsPerChannel, (s) => s.lastSeenAt);
  }
  return {
    tenant: previous.tenant,
    user: previous.user,
    profile: limitKeys(d.profile as Record<string, Json>, limits.maxProfileKeys, 'profile keys'),
    facts: Object.fromEntries(keptFacts.map((fact) => [fact.key, fact])),
    preferences: limitKeys(d.preferences as Record<string, Json>, limits.maxPreferences, 'preferences'),
    ...(withHistory ? { intentHistory: keepNewest(d.intentHistory as IntentEntry[], limits.maxIntentHistory, (e) => e.time) } : {}),
    openTasks: keepNewest(d.openTasks as OpenTask[], limits.maxOpenTasks, (t) => t.updatedAt),
    sessionsByChannel: sessions,
    version: previous.version + 1,
    updatedAt: time,
  };
}
