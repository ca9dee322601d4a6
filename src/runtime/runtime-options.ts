import type { AnyStateMachine } from 'xstate';
import { systemClock } from '../clock.js';
import type { Logger } from '../observe/logger.js';
import { silentLogger } from '../observe/logger.js';
import type { Clock, DecisionSink, Sealer } from '../ports.js';
import type { MigrateHook } from '../sessions/session-host.js';
import { checkMemoryOptions, type MemoryOptions } from '../memory/user-memory.js';

/** Options of {@link createRuntime}. Every limit is on by default. */
export interface RuntimeOptions {
  /** Where LMDB and index files live. Default `./.keel` (`KEEL_DATA_DIR` in the CLI). */
  readonly dataDir: string;
  /** The session machine, with its actors provided. Default: the support agent. */
  readonly machine?: AnyStateMachine;
  /** Version stored with snapshots; a change runs `migrate` or restarts the flow keeping context. Default `'1'`. */
  readonly machineVersion: string;
  /** Migrates a stored snapshot to `machineVersion`; return undefined to restart the flow. */
  readonly migrate?: MigrateHook;
  /** A live session idle this long is passivated (persisted and stopped). Default 300000 (5 min). */
  readonly idleTimeoutMs: number;
  /**
   * A live session quiet this long rests: its XState actor is stopped and its state kept in memory
   * as the JSON of its persisted snapshot (what LMDB holds; every turn commits it), and its next
   * event builds the actor from it again, without a storage read. Sessions busy, with child actors
   * or with uncommitted timers keep their actor; pending timers of a resting session fire through
   * the wake index, on time. 0 keeps every live actor running. Default 5000.
   */
  readonly restAfterMs: number;
  /** Live actors kept in memory; beyond it the least recently used idle ones are passivated. Default 10000. */
  readonly maxLiveSessions: number;
  /** Events waiting per session before `queue_full`. Default 64. */
  readonly maxQueuedEvents: number;
  /**
   * Sessions one user (tenant and user) may hold; opening one more fails with `budget_exceeded`
   * until some are erased. Resuming a session is not limited. Default 100.
   */
  readonly maxSessionsPerUser: number;
  /** A turn that has not settled after this long fails gracefully. Default 60000. */
  readonly turnTimeoutMs: number;
  /** Time source for timers, deadlines and records. Default: the system clock. */
  readonly clock: Clock;
  /** Logger; a child per session. Default: silent. */
  readonly logger: Logger;
  /**
   * Encrypts snapshots and journal text at rest with per-tenant keys. Default: XChaCha20-Poly1305
   * (AES-256-GCM where sodium-native cannot load; see `createTenantSealer`) with keys in
   * `<dataDir>/tenant-keys.json` (mode 0600), wrapped by `KEEL_MASTER_KEY` when set.
   * `'none'` stores plaintext (only for data that is not personal).
   */
  readonly sealer?: Sealer | 'none';
  /** Extra decision sink (the runtime also exposes its own stream). */
  readonly decisionSink?: DecisionSink;
  /** What a user hears when their session's actor fails. */
  readonly failureReply: string;
  /** How long the decision trace is kept. Default 30 days. */
  readonly eventRetentionMs: number;
  /**
   * Masks personal data (emails, phone numbers, card numbers, IBANs) in decision events before
   * anyone sees or stores them. Default: keel's redactor; `'none'` turns it off.
   */
  readonly redactText?: ((text: string) => string) | 'none';
  /**
   * Simplified XState inspection of every session, into the decision stream as `inspect` events:
   * events received (type only), state changes between microsteps, invoked actors started and
   * finished with their latency. Never snapshots, context or payloads. Costs trace volume; one
   * session can be inspected on demand with `runtime.inspect(sessionId)` instead. Default false.
   */
  readonly inspect: boolean;
  /**
   * The users' structured context and memories (recall across sessions and channels), in this
   * runtime's LMDB environment with per-tenant HNSW index files under `<dataDir>/memory-index`.
   * An object of {@link MemoryOptions} tunes it (embedder, limits, retention); `'none'` turns it
   * off. Default: on, with the local embedder.
   */
  readonly memory?: MemoryOptions | 'none';
}

/** The defaults, frozen. */
export const defaultRuntimeOptions: Readonly<Omit<RuntimeOptions, 'machine' | 'migrate' | 'sealer' | 'decisionSink' | 'redactText' | 'memory'>> = Object.freeze({
  eventRetentionMs: 30 * 86_400_000,
  inspect: false,
  dataDir: './.keel',
  machineVersion: '1',
  idleTimeoutMs: 300_000,
  restAfterMs: 5_000,
  maxLiveSessions: 10_000,
  maxQueuedEvents: 64,
  maxSessionsPerUser: 100,
  turnTimeoutMs: 60_000,
  clock: systemClock,
  logger: silentLogger,
  failureReply: 'Sorry, something went wrong on my side. Your message is safe; please say it again, or ask for a human.',
});

function positiveInt(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new TypeError(`option ${name} must be a positive integer, got ${String(value)}`);
  }
}

/**
 * Fills defaults, validates (a TypeError names the bad option) and freezes.
 *
 * @example
 * ```ts
 * resolveRuntimeOptions({ dataDir: '/tmp/k', idleTimeoutMs: 1000 });
 * ```
 */
export function resolveRuntimeOptions(options: Partial<RuntimeOptions> = {}): Readonly<RuntimeOptions> {
  const resolved = { ...defaultRuntimeOptions, ...stripUndefined(options) } as RuntimeOptions;
  if (typeof resolved.dataDir !== 'string' || resolved.dataDir === '') throw new TypeError('option dataDir must be a non-empty path');
  if (typeof resolved.machineVersion !== 'string' || resolved.machineVersion === '') throw new TypeError('option machineVersion must be a non-empty string');
  positiveInt('idleTimeoutMs', resolved.idleTimeoutMs);
  positiveInt('maxLiveSessions', resolved.maxLiveSessions);
  if (typeof resolved.restAfterMs !== 'number' || !Number.isInteger(resolved.restAfterMs) || resolved.restAfterMs < 0) {
    throw new TypeError(`option restAfterMs must be a non-negative integer, got ${String(resolved.restAfterMs)}`);
  }
  positiveInt('maxQueuedEvents', resolved.maxQueuedEvents);
  positiveInt('maxSessionsPerUser', resolved.maxSessionsPerUser);
  positiveInt('turnTimeoutMs', resolved.turnTimeoutMs);
  positiveInt('eventRetentionMs', resolved.eventRetentionMs);
  if (resolved.machine !== undefined && typeof (resolved.machine as { transition?: unknown }).transition !== 'function') {
    throw new TypeError('option machine must be an XState machine');
  }
  if (resolved.migrate !== undefined && typeof resolved.migrate !== 'function') throw new TypeError('option migrate must be a function');
  if (typeof resolved.inspect !== 'boolean') throw new TypeError('option inspect must be a boolean');
  checkMemoryOptions(resolved.memory);
  if (typeof resolved.clock?.now !== 'function') throw new TypeError('option clock must implement now/setTimeout/clearTimeout');
  return Object.freeze(resolved);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
