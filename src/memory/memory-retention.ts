/**
 * Retention limits for memories: per user and per tenant. Over a limit, the oldest memories are
 * dropped, or (the default) folded into one extractive summary per user, so that what a user
 * said long ago still surfaces in recall in a compact form.
 */
import type { TenantId } from '../types.js';
import { summariseExtractively, type SummaryItem } from './extractive-summary.js';

/** What happens to memories over a limit. */
export type RetentionPolicy = 'summarise' | 'drop';

/** An old memory as retention sees it. */
export interface RetentionCandidate {
  readonly memoryId: string;
  readonly user: string;
  readonly time: number;
}

/** What retention needs from the store; the store keeps every LMDB access. */
export interface MemoryRetentionOptions {
  readonly policy: RetentionPolicy;
  readonly maxPerUser: number;
  readonly maxPerTenant: number;
  /** Oldest memories folded into one summary at a time (at least the excess plus one). */
  readonly batchSize: number;
  userCount(tenant: TenantId, user: string): number;
  tenantCount(tenant: TenantId): number;
  /** The `n` oldest memories of the user, or of the tenant when `user` is undefined. */
  oldest(tenant: TenantId, user: string | undefined, n: number): RetentionCandidate[];
  /** Opens memories for summarising; missing ones are left out. */
  read(tenant: TenantId, memoryIds: readonly string[]): Array<RetentionCandidate & SummaryItem>;
  drop(tenant: TenantId, memoryIds: readonly string[]): Promise<number>;
  /** Stores `summary` as a memory of `user` at `time` and deletes `memoryIds`, atomically. */
  replace(tenant: TenantId, user: string, summary: string, time: number, memoryIds: readonly string[]): Promise<unknown>;
}

/** Applies the limits after each change. */
export interface MemoryRetention {
  /** Brings the user and the tenant under their limits; runs one at a time per tenant. */
  enforce(tenant: TenantId, user: string): Promise<void>;
  /** Resolves when no enforcement is running. */
  idle(): Promise<void>;
}

/**
 * Creates the retention step of the memory store.
 *
 * @example
 * ```ts
 * const retention = createMemoryRetention({ policy: 'summarise', maxPerUser: 1000, maxPerTenant: 100_000, batchSize: 20, ...access });
 * await retention.enforce(tenant, user);
 * ```
 */
export function createMemoryRetention(options: MemoryRetentionOptions): MemoryRetention {
  const chains = new Map<TenantId, Promise<void>>();

  const summarise = async (tenant: TenantId, victims: readonly RetentionCandidate[]) => {
    const byUser = new Map<string, string[]>();
    for (const v of victims) byUser.set(v.user, [...(byUser.get(v.user) ?? []), v.memoryId]);
    const singles: string[] = [];
    for (const [user, ids] of byUser) {
      if (ids.length < 2) {
        // One memory cannot be shortened by summarising it: it is dropped.
        singles.push(...ids);
        continue;
      }
      const items = options.read(tenant, ids).filter((item) => item.user === user);
      if (items.length < 2) {
        singles.push(...items.map((item) => item.memoryId));
        continue;
      }
      const summary = summariseExtractively(items);
      const time = Math.max(...items.map((item) => item.time));
      await options.replace(tenant, user, summary, time, items.map((item) => item.memoryId));
    }
    if (singles.length > 0) await options.drop(tenant, singles);
  };

  const run = async (tenant: TenantId, user: string) => {
    const userExcess = options.userCount(tenant, user) - options.maxPerUser;
    if (userExcess > 0) {
      if (options.policy === 'drop') {
        await options.drop(tenant, options.oldest(tenant, user, userExcess).map((c) => c.memoryId));
      } else {
        const n = Math.min(options.userCount(tenant, user), Math.max(userExcess + 1, options.batchSize));
        await summarise(tenant, options.oldest(tenant, user, n));
      }
    }
    let tenantExcess = options.tenantCount(tenant) - options.maxPerTenant;
    if (tenantExcess > 0 && options.policy === 'summarise') {
      // Each user's share of the oldest memories becomes one summary; summaries never mix users.
      await summarise(tenant, options.oldest(tenant, undefined, Math.max(2 * tenantExcess, options.batchSize)));
      tenantExcess = options.tenantCount(tenant) - options.maxPerTenant;
    }
    if (tenantExcess > 0) await options.drop(tenant, options.oldest(tenant, undefined, tenantExcess).map((c) => c.memoryId));
  };

  return {
    enforce(tenant, user) {
      const previous = chains.get(tenant) ?? Promise.resolve();
      const next = previous.then(() => run(tenant, user));
      const settled = next.catch(() => undefined);
      chains.set(tenant, settled);
      void settled.then(() => {
        if (chains.get(tenant) === settled) chains.delete(tenant);
      });
      return next;
    },
    async idle() {
      while (chains.size > 0) await Promise.allSettled([...chains.values()]);
    },
  };
}
