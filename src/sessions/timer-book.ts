/**
 * XState keeps delayed events (`after`, delayed `sendTo`/`raise`) only in memory and stamps them
 * with the wall clock. The timer book reads the actor system's scheduled events after each step,
 * records their deadlines on keel's clock, and re-arms them on a hydrated actor with the time
 * that is left, so a timeout pending when a session was passivated, or when the process died,
 * still fires.
 */
import type { AnyActorRef, AnyActor } from 'xstate';
import type { StoredTimer } from '../store/session-store.js';

interface ScheduledEvent {
  source: AnyActorRef;
  target: AnyActorRef;
  event: Record<string, unknown>;
  delay: number;
  id: string;
}

interface SystemWithScheduler {
  getSnapshot(): { _scheduledEvents: Record<string, ScheduledEvent> };
  scheduler: {
    schedule(source: AnyActorRef, target: AnyActorRef, event: unknown, delay: number, id: string): void;
  };
}

/** Finds the invoke-id path from `root` to `ref` through the snapshots' `children`. */
function pathOf(root: AnyActorRef, ref: AnyActorRef): string[] | undefined {
  if (ref === root) return [];
  const snapshot = root.getSnapshot() as { children?: Record<string, AnyActorRef> };
  for (const [id, child] of Object.entries(snapshot.children ?? {})) {
    if (!child) continue;
    const rest = pathOf(child, ref);
    if (rest) return [id, ...rest];
  }
  return undefined;
}

function refAt(root: AnyActorRef, path: readonly string[]): AnyActorRef | undefined {
  let ref: AnyActorRef | undefined = root;
  for (const id of path) {
    const snapshot = ref?.getSnapshot() as { children?: Record<string, AnyActorRef> } | undefined;
    ref = snapshot?.children?.[id];
    if (!ref) return undefined;
  }
  return ref;
}

/** Tracks one live actor's pending delayed events. */
export interface TimerBook {
  /** Reads the scheduler and returns the pending timers with deadlines on keel's clock. */
  capture(now: number): StoredTimer[];
  /** Re-arms stored timers on a freshly hydrated actor. Returns how many were re-armed. */
  rearm(timers: readonly StoredTimer[], now: number): number;
}

/**
 * Creates a timer book for `actor`.
 *
 * @example
 * ```ts
 * const book = createTimerBook(actor);
 * const timers = book.capture(clock.now()); // store with the snapshot
 * ```
 */
export function createTimerBook(actor: AnyActor): TimerBook {
  return new ActorTimerBook(actor);
}

// A class with a lazily made map: every live session has a book and most never hold a timer.
class ActorTimerBook implements TimerBook {
  readonly #actor: AnyActor;
  /** Deadlines first seen at a given clock time; XState's own startedAt is wall-clock time. */
  #known: Map<string, StoredTimer> | undefined;

  constructor(actor: AnyActor) {
    this.#actor = actor;
  }

  capture(now: number): StoredTimer[] {
    const actor = this.#actor;
    const scheduled = (actor.system as unknown as SystemWithScheduler).getSnapshot()._scheduledEvents;
    let next: Map<string, StoredTimer> | undefined;
    for (const key in scheduled) {
      const ev = scheduled[key]!;
      let timer = this.#known?.get(key);
      if (!timer) {
        const sourcePath = pathOf(actor, ev.source);
        const targetPath = pathOf(actor, ev.target);
        // A timer on an actor outside the session's tree cannot be restored; it is left to run live.
        if (!sourcePath || !targetPath) continue;
        timer = { id: ev.id, deadline: now + ev.delay, event: ev.event, sourcePath, targetPath };
      }
      (next ??= new Map()).set(key, timer);
    }
    this.#known = next;
    return next ? [...next.values()] : [];
  }

  rearm(timers: readonly StoredTimer[], now: number): number {
    const system = this.#actor.system as unknown as SystemWithScheduler;
    let count = 0;
    for (const timer of timers) {
      const source = refAt(this.#actor, timer.sourcePath);
      const target = refAt(this.#actor, timer.targetPath);
      if (!source || !target) continue;
      system.scheduler.schedule(source, target, timer.event, Math.max(0, timer.deadline - now), timer.id);
      count++;
    }
    return count;
  }
}
