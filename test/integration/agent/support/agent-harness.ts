/**
 * Drives the real default agent (or any agent machine) through the public runtime API: real LMDB
 * in a temp directory, a manual clock for timers, and the decision trace collected per session.
 */
import type { AnyStateMachine } from 'xstate';
import { createManualClock, type ManualClock } from '../../../../src/clock.js';
import type { DecisionEvent } from '../../../../src/ports.js';
import { createRuntime, type Runtime, type RuntimePorts } from '../../../../src/runtime/runtime.js';
import type { SessionFrame, TurnOutcome } from '../../../../src/sessions/session-frames.js';
import type { TurnHooks } from '../../../../src/sessions/session-host.js';
import { tenantId, userId, type SessionId } from '../../../../src/types.js';
import { createDefaultAgent, type DefaultAgent, type DefaultAgentOptions } from '../../../../src/agent/default-agent.js';
import { tempDir } from '../../../support/temp-dir.js';

/** One open conversation of a harness. */
export interface Conversation {
  readonly id: SessionId;
  /** Sends a user message; resolves with the turn's reply frame (exactly one is expected). */
  say(text: string, hooks?: TurnHooks): Promise<SessionFrame & { outcome: TurnOutcome }>;
  /** Sends any other event (signals, desk and operator events). */
  send(event: { type: string } & Record<string, unknown>): Promise<TurnOutcome>;
  /** Decisions of this session so far. */
  decisions(kind?: DecisionEvent['kind']): DecisionEvent[];
  /** Frames committed outside turns (timers, approvals), in order. */
  unprompted(): SessionFrame[];
  /** Every frame published for this session, in seq order. */
  frames(): SessionFrame[];
  /** The state string of the session's record. */
  state(): string;
}

export interface AgentHarness {
  readonly dir: string;
  readonly clock: ManualClock;
  runtime: Runtime;
  agent: DefaultAgent | undefined;
  /** Opens a conversation; the tenant defaults to a fresh one (a freshly seeded demo store). */
  open(user?: string, tenant?: string): Promise<Conversation>;
  /** Closes the runtime and opens a new one over the same directory (a process restart). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Options of createDefaultAgent (dataDir is the harness's). */
  readonly agent?: Omit<DefaultAgentOptions, 'dataDir'>;
  /** A machine (or factory) instead of the default agent. */
  readonly machine?: AnyStateMachine | ((ports: RuntimePorts) => AnyStateMachine);
  /** Start time of the manual clock. Default 1 700 000 000 000. */
  readonly startMs?: number;
  /** Runtime turn timeout. Default 60 000 (on the manual clock). */
  readonly turnTimeoutMs?: number;
  /** Use the system clock instead of the manual one (for real backoff delays). */
  readonly realClock?: boolean;
}

let counter = 0;

/**
 * Starts a harness.
 *
 * @example
 * ```ts
 * const h = await startAgentHarness();
 * const c = await h.open();
 * (await c.say('hi')).text; // greeting
 * await h.close();
 * ```
 */
export async function startAgentHarness(options: HarnessOptions = {}): Promise<AgentHarness> {
  const temp = tempDir('keel-agent-');
  const clock = createManualClock(options.startMs ?? 1_700_000_000_000);
  const trace: DecisionEvent[] = [];
  const published = new Map<string, SessionFrame[]>();
  const agent = options.machine ? undefined : await createDefaultAgent({ dataDir: temp.dir, ...(options.agent ?? {}) });
  const make = () => {
    const rt = createRuntime({
      dataDir: temp.dir,
      machine: options.machine ?? agent!.machine,
      ...(options.realClock ? {} : { clock }),
      turnTimeoutMs: options.turnTimeoutMs ?? 60_000,
    });
    rt.decisions.subscribe((e) => trace.push(e));
    return rt;
  };
  const subscribe = (id: string) => h.runtime.subscribe(id, (fs) => published.get(id)?.push(...fs));
  const h: AgentHarness = {
    dir: temp.dir,
    clock,
    runtime: make(),
    agent,
    // A fresh tenant per conversation: the demo store seeds each tenant anew, so tests sharing a
    // harness never see each other's cancelled orders.
    async open(user = `u${++counter}`, tenant = `t${++counter}`) {
      const { sessionId: id } = await h.runtime.open({ tenant: tenantId(tenant), user: userId(user), channel: 'test' });
      const frames: SessionFrame[] = [];
      published.set(id, frames);
      subscribe(id);
      let n = 0;
      return {
        id,
        async say(text, hooks) {
          const outcome = await withinTurn(h.runtime.send(id, { type: 'user.message', id: `m${++n}`, text }, hooks ?? {}), () => trace.filter((e) => e.session === id));
          const replies = outcome.frames.filter((f) => f.type === 'reply');
          if (replies.length !== 1) throw new Error(`expected exactly one reply, got ${replies.length}: ${JSON.stringify(outcome.frames)}`);
          return { ...replies[0]!, outcome };
        },
        send(event) {
          return withinTurn(h.runtime.send(id, event), () => trace.filter((e) => e.session === id));
        },
        decisions: (kind) => trace.filter((e) => e.session === id && (kind === undefined || e.kind === kind)),
        unprompted: () => frames.filter((f) => f.type !== 'ack' && f.replyTo === undefined),
        frames: () => [...frames].sort((a, b) => a.seq - b.seq),
        state: () => h.runtime.describe(id)?.state ?? '',
      };
    },
    async restart() {
      await h.runtime.close();
      h.runtime = make();
      for (const id of published.keys()) subscribe(id);
    },
    async close() {
      await h.runtime.close();
      temp.remove();
    },
  };
  return h;
}

/**
 * Fails a turn that has not settled after `TURN_LIMIT_MS` of real time, with the session's last
 * decisions: on a manual clock, a turn waiting for a timer would otherwise wait forever.
 */
const TURN_LIMIT_MS = 20_000;
function withinTurn<T>(turn: Promise<T>, recent: () => DecisionEvent[]): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const last = recent().slice(-15).map((e) => `${e.kind}/${e.reason} ${JSON.stringify(e.data).slice(0, 160)} @${e.state ?? ''}`);
      reject(new Error(`turn did not settle within ${TURN_LIMIT_MS} ms; last decisions:\n${last.join('\n')}`));
    }, TURN_LIMIT_MS);
  });
  return Promise.race([turn, limit]).finally(() => clearTimeout(timer));
}

/** Lets promise callbacks and I/O (LMDB commits) run. */
export function settle(ms = 20): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function until<T>(check: () => T | undefined, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await settle(10);
  }
}
