/**
 * The `recallMemory` actor: at the start of each turn it reads what keel knows about the user —
 * the structured context (facts learnt in earlier sessions on any channel, preferences, profile)
 * and the memories closest to the message, recalled by meaning through the tenant's HNSW index —
 * and records the turn in the user's context (intent, session, open tasks) and, when worth
 * keeping, the message itself as a memory. Both writes are recorded once per turn key, so a turn
 * re-run after a crash does not write twice.
 */
import { fromPromise } from 'xstate';
import type { DecisionNote } from '../machines/actor-contracts.js';
import type { RecallInput, RecallOutput, RecalledFact, RecalledMemory } from '../machines/recall-contracts.js';
import type { UserMemory } from '../src/memory/user-memory.js';
import type { UserContext } from '../src/memory/user-context.js';
import type { EffectLedger } from '../src/ports.js';
import type { Json, SessionId, TenantId, UserId } from '../src/types.js';

/** Options of {@link createRecallActor}. */
export interface RecallActorOptions {
  /** The runtime's memory (`RuntimePorts.memory`). Required. */
  readonly memory: UserMemory;
  /** Records the turn's writes once per turn key (`RuntimePorts.effects`). Required. */
  readonly effects: EffectLedger;
  /** Memories recalled per turn at most. Default 3. */
  readonly k?: number;
  /** Memories less similar than this to the message are left out. Default 0.3. */
  readonly minScore?: number;
  /** Told when a background write of a turn fails (the turn itself goes on). Default: ignored. */
  readonly onWriteError?: (what: 'user_context_update' | 'remember', err: unknown) => void;
}

/** The defaults of {@link RecallActorOptions}. */
export const defaultRecallActorOptions = Object.freeze({ k: 3, minScore: 0.3 });

/** The channel each of the user's sessions was on, from the context's sessions by channel. */
function channelsOf(context: UserContext | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const [channel, sessions] of Object.entries(context?.sessionsByChannel ?? {})) {
    for (const s of sessions) out.set(s.session, channel);
  }
  return out;
}

/**
 * Creates the `recallMemory` actor logic.
 *
 * @example
 * ```ts
 * machine.provide({ actors: { recallMemory: createRecallActor({ memory: ports.memory, effects: ports.effects }) } });
 * ```
 */
export function createRecallActor(options: RecallActorOptions) {
  if (typeof options?.memory?.memories?.recall !== 'function') throw new TypeError('option memory must be the runtime memory');
  if (typeof options.effects?.once !== 'function') throw new TypeError('option effects must implement once()');
  const k = options.k ?? defaultRecallActorOptions.k;
  const minScore = options.minScore ?? defaultRecallActorOptions.minScore;
  if (!Number.isInteger(k) || k < 1 || k > 50) throw new TypeError('option k must be an integer in [1, 50]');
  if (typeof minScore !== 'number' || !(minScore >= -1 && minScore <= 1)) throw new TypeError('option minScore must be in [-1, 1]');
  const { memory, effects } = options;
  const onWriteError = (what: 'user_context_update' | 'remember', err: unknown): void => {
    try {
      options.onWriteError?.(what, err);
    } catch {
      // A listener's failure changes nothing.
    }
  };

  return fromPromise<RecallOutput, RecallInput>(async ({ input, signal }) => {
    const tenant = input.identity.tenant as TenantId;
    const user = input.identity.user as UserId;
    const session = input.session as SessionId;
    const decisions: DecisionNote[] = [];
    const failed = (what: string, err: unknown) =>
      decisions.push({ kind: 'error', reason: `${what}_failed`, data: { message: err instanceof Error ? err.message.slice(0, 200) : String(err) } });

    // Read before this turn's writes: the message must not recall itself.
    let context: UserContext | undefined;
    try {
      context = memory.contexts.get(tenant, user);
    } catch (err) {
      failed('user_context', err);
    }
    let memories: RecalledMemory[] = [];
    if (input.query !== '') {
      try {
        const hits = await memory.memories.recall({ tenant, user, query: input.query, k, minScore, signal });
        memories = hits
          // A turn re-run after a crash finds its own message, already stored: not a memory of the past.
          .filter((h) => !(h.session === session && h.text === input.text))
          .map((h) => ({ id: h.memoryId, text: h.text, kind: h.kind, score: h.score, time: h.time, session: h.session }));
      } catch (err) {
        failed('recall', err);
      }
    }

    // The turn's writes are issued now and not awaited: they join the group commit that makes
    // the turn durable (lmdb-js batches the writes of one event-loop turn), so a turn that needs
    // no search settles without waiting for storage or the index worker. Both are idempotent per
    // turn key, so a turn re-run after a crash does not write twice.
    const turn = input.key;
    // A turn with no request to record, no change to this session's open tasks and a session the
    // context already lists writes nothing: a "yes" or a "thanks" costs no context write.
    const ownTasks = (context?.openTasks ?? []).filter((t) => t.session === session).map((t) => ({ id: t.id, kind: t.kind, state: t.state, data: t.data ?? {} }));
    const tasksChanged = JSON.stringify(ownTasks) !== JSON.stringify(input.openTasks.map((t) => ({ id: t.id, kind: t.kind, state: t.state, data: t.data ?? {} })));
    const listed = (context?.sessionsByChannel[input.channel] ?? []).some((s) => s.session === session);
    if (input.intent !== null || tasksChanged || !listed) memory.contexts
      .update(tenant, user, (draft) => {
        const now = draft.updatedAt;
        const list = (draft.sessionsByChannel[input.channel] ?? []).filter((s) => s.session !== session);
        list.push({ session, lastSeenAt: now });
        draft.sessionsByChannel[input.channel] = list;
        // This session's open tasks are replaced by what the chart says is open now.
        const previous = new Map(draft.openTasks.map((t) => [t.id, t]));
        draft.openTasks = [
          ...draft.openTasks.filter((t) => t.session !== session),
          ...input.openTasks.map((t) => ({ ...t, session, createdAt: previous.get(t.id)?.createdAt ?? now, updatedAt: now })),
        ];
        // The routed intent is appended without reading the history (once per turn key).
      }, input.intent === null ? undefined : { intent: { intent: input.intent, session, turn, ...(input.intentScore === null ? {} : { score: input.intentScore }) } })
      .catch((err: unknown) => onWriteError('user_context_update', err));
    if (input.keep) {
      // Embedding and indexing run off the turn; LMDB stays the source of truth for the index.
      effects
        .once(`${turn}:memory`, async () => (await memory.memories.remember({ tenant, user, text: input.text, session, kind: 'message' })).memoryId)
        .catch((err: unknown) => onWriteError('remember', err));
    }
    const remembered = input.keep;

    const channels = channelsOf(context);
    const facts: Record<string, RecalledFact> = {};
    for (const [key, fact] of Object.entries(context?.facts ?? {})) {
      facts[key] = { value: fact.value, time: fact.time, confidence: fact.confidence, session: fact.source, channel: fact.source ? (channels.get(fact.source) ?? null) : null };
    }
    return {
      enabled: true,
      facts,
      preferences: { ...(context?.preferences ?? {}) } as Record<string, Json>,
      profile: { ...(context?.profile ?? {}) } as Record<string, Json>,
      memories,
      searched: input.query !== '',
      remembered,
      decisions,
    };
  });
}
