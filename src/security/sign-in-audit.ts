/**
 * Audit records for sign-ins: every accepted token (`auth.signin`, ok) and every refused one
 * (`auth.signin`, denied, by the anonymous actor with the refusal reason). Refusals cost an
 * attacker nothing, so their records are throttled per audit log: beyond the rate, refusals are
 * counted and the count is written with the next record that gets through, so none goes
 * unrecorded and a flood cannot fill the disk one audit record at a time.
 */
import { systemClock } from '../clock.js';
import type { Clock } from '../ports.js';
import { createTokenBucket } from '../server/rate-limiter.js';
import type { Identity } from '../types.js';
import { ANONYMOUS_ACTOR, type AuditEntry, type AuditLog } from './audit-log.js';

/** Records sign-ins on one audit log. Never throws and never waits: audit failures are reported to `onError`. */
export interface SignInAudit {
  /** A token was accepted. `via` says where (`chat`, `ops`, `inspector`...). */
  succeeded(identity: Identity, via: string, details?: Readonly<Record<string, string | number>>): void;
  /** A token was refused, or none was given. `reason` is the refusal reason (`expired`, `bad_signature`, ...). */
  failed(reason: string, via: string): void;
}

/** Options of {@link signInAuditFor}. */
export interface SignInAuditOptions {
  /** Default the system clock. */
  readonly clock?: Clock;
  /** Refusals recorded per second, steady rate. Default 5. */
  readonly failuresPerSecond?: number;
  /** Refusals recorded back to back. Default 50. */
  readonly failureBurst?: number;
  /** Told when an append fails. Default: ignored (the caller's own work goes on). */
  readonly onError?: (err: unknown) => void;
}

const perLog = new WeakMap<AuditLog, SignInAudit>();

/**
 * The sign-in recorder of `audit`, shared by everything that uses the same log (the throttle must
 * be shared to mean anything); the first call's options hold, so a server makes the call once, at
 * its start, and hands the recorder to its endpoints.
 *
 * @example
 * ```ts
 * const signIns = signInAuditFor(runtime.audit, { clock });
 * try { identity = await verifyToken(token); signIns.succeeded(identity, 'chat'); }
 * catch (err) { signIns.failed(err.details?.reason ?? 'refused', 'chat'); }
 * ```
 */
export function signInAuditFor(audit: AuditLog, options: SignInAuditOptions = {}): SignInAudit {
  const existing = perLog.get(audit);
  if (existing) return existing;
  const clock = options.clock ?? systemClock;
  const rate = options.failuresPerSecond ?? 5;
  const burst = options.failureBurst ?? 50;
  if (!(Number.isFinite(rate) && rate > 0)) throw new TypeError('failuresPerSecond must be a positive number');
  if (!Number.isSafeInteger(burst) || burst < 1) throw new TypeError('failureBurst must be a positive integer');
  const refusals = createTokenBucket({ ratePerSecond: rate, burst, clock });
  let suppressed = 0;

  // Every record carries the refusals the throttle kept out since the previous record.
  const record = (actor: AuditEntry['actor'], outcome: 'ok' | 'denied', via: string, details: Readonly<Record<string, string | number>>): void => {
    const carried = suppressed;
    suppressed = 0;
    const entry: AuditEntry = {
      actor,
      action: 'auth.signin',
      target: `endpoint:${via}`,
      outcome,
      details: { ...details, ...(carried > 0 ? { refusalsNotRecorded: carried } : {}) },
    };
    try {
      audit.append(entry).catch((err: unknown) => options.onError?.(err));
    } catch (err) {
      options.onError?.(err);
    }
  };

  const recorder: SignInAudit = Object.freeze({
    succeeded(identity: Identity, via: string, details: Readonly<Record<string, string | number>> = {}) {
      record(identity, 'ok', via, details);
    },
    failed(reason: string, via: string) {
      if (!refusals.take()) {
        suppressed++;
        return;
      }
      record(ANONYMOUS_ACTOR, 'denied', via, { reason: reason.slice(0, 40) });
    },
  });
  perLog.set(audit, recorder);
  return recorder;
}
