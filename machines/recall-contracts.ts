/**
 * The contract of the `recallMemory` actor: what the chart hands it at the start of each turn and
 * what it answers with. Like every actor contract it is plain JSON (inputs and outputs are
 * persisted with snapshots) and expected failures are outcomes, not throws.
 */
import type { Json } from '../src/types.js';
import type { DecisionNote, SessionIdentity } from './actor-contracts.js';

/** A task of this session that is not finished, as the user's context keeps it. */
export interface OpenTaskNote {
  readonly id: string;
  readonly kind: string;
  /** Where it stands: `collecting:<slot>`, `confirming`, `suspended`, ... */
  readonly state: string;
  readonly data: Record<string, Json>;
}

/** Input of `recallMemory`. Identity comes from the session, never from the message. */
export interface RecallInput {
  /** The message as the user wrote it (remembered when worth keeping). */
  readonly text: string;
  /** What to search memories for: the message without question wording; empty for no search. */
  readonly query: string;
  /** The turn key; effects of the turn (context update, stored memory) are recorded once under it. */
  readonly key: string;
  readonly identity: SessionIdentity;
  readonly session: string;
  readonly channel: string;
  /** The routed intent when it is settled (confident or a close guess), else null. */
  readonly intent: string | null;
  readonly intentScore: number | null;
  /** Whether the message is worth keeping as a memory (not a yes/no, a greeting, a bare number). */
  readonly keep: boolean;
  /** This session's unfinished tasks; the context's open tasks of this session are replaced by them. */
  readonly openTasks: OpenTaskNote[];
}

/** Something the user's context knows, with where it came from. */
export interface RecalledFact {
  readonly value: Json;
  /** When it was learnt (ms since the epoch). */
  readonly time: number;
  readonly confidence: number;
  /** The session it was learnt in, and that session's channel when known. */
  readonly session: string | null;
  readonly channel: string | null;
}

/** A memory found for this turn's message. */
export interface RecalledMemory {
  readonly id: string;
  readonly text: string;
  readonly kind: string;
  /** Cosine similarity to the query, in [-1, 1]. */
  readonly score: number;
  readonly time: number;
  readonly session: string | null;
}

/** Output of `recallMemory`. */
export interface RecallOutput {
  /** False when the agent runs without memory (nothing is known or kept). */
  readonly enabled: boolean;
  readonly facts: Record<string, RecalledFact>;
  readonly preferences: Record<string, Json>;
  readonly profile: Record<string, Json>;
  /** Memories best first, above the actor's score threshold. */
  readonly memories: RecalledMemory[];
  /** Whether a search ran. */
  readonly searched: boolean;
  /** Whether this message was stored as a memory. */
  readonly remembered: boolean;
  readonly decisions: DecisionNote[];
}

/** What an agent without memory recalls: nothing. */
export const NO_RECALL: RecallOutput = Object.freeze({
  enabled: false,
  facts: {},
  preferences: {},
  profile: {},
  memories: [],
  searched: false,
  remembered: false,
  decisions: [],
}) as RecallOutput;
