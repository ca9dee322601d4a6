/**
 * `keel events`: the decision trace of a period, straight from the data directory ("what did the
 * agent do last week, for this user?"). LMDB allows readers in other processes, so this works
 * while `keel serve` runs. The trace is stored redacted; this prints it as stored.
 */
import { systemClock } from '../clock.js';
import { parseSince } from '../observe/diagnostics.js';
import { createEventStore, type EventStore } from '../observe/event-store.js';
import { createTenantSealer } from '../security/tenant-sealer.js';
import { createTenantKeyStore } from '../security/tenant-keys.js';
import { DECISION_KINDS, type DecisionEvent, type DecisionKind } from '../ports.js';
import type { LmdbEnv } from '../store/lmdb-env.js';
import { isValidId, type SessionId, type TenantId, type UserId } from '../types.js';
import { defineCommand } from './cli-args.js';
import { UsageError, line, positiveInt, type CliCommand, type CliIo } from './cli-io.js';

const usage = `Usage: keel events [--since 24h] [--until T] [--tenant T] [--session S] [--user U] [--kind K]...
                   [--limit N] [--newest] [--json] [--data-dir DIR]

The decision trace, oldest first: routes (candidates, scores, thresholds), transitions, tool
calls (redacted arguments, latency, outcome), retries, fallbacks, escalations, hand-offs,
errors, replies and alerts, with tenant, session, user and trace id.

Options:
  --since T       start: a duration back from now (30m, 24h, 7d, 2w) or an ISO date (default 24h)
  --until T       end, same forms (default now)
  --tenant T      only this tenant
  --session S     only this session
  --user U        only this user
  --kind K        only these kinds (repeatable or comma-separated):
                  ${DECISION_KINDS.join(', ')}
  --limit N       at most N events (default 1000)
  --newest        the newest N events of the period instead of the oldest
  --json          one JSON object per line
  --data-dir DIR  data directory (default $KEEL_DATA_DIR or ./.keel)
  -h, --help      this help`;

/**
 * The decision trace of a data directory's environment, for reading. The trace is sealed per
 * tenant: it is read with the data directory's tenant keys (and KEEL_MASTER_KEY).
 *
 * @example
 * ```ts
 * const trace = traceOf(env, './.keel', process.env);
 * trace.query({ since: Date.now() - 86_400_000, kinds: ['fallback'] });
 * ```
 */
export function traceOf(env: LmdbEnv, dir: string, processEnv: Readonly<Record<string, string | undefined>>): Pick<EventStore, 'query'> {
  return createEventStore({ env, clock: systemClock, sealer: createTenantSealer({ keys: createTenantKeyStore({ dir, env: processEnv }) }) });
}

/**
 * Parses `--since`/`--until` into epoch milliseconds, as a {@link UsageError} naming the flag.
 *
 * @example
 * ```ts
 * timeFlag('7d', '--since', Date.now()); // a week ago
 * ```
 */
export function timeFlag(value: string, flag: string, now: number): number {
  try {
    return parseSince(value, now);
  } catch {
    throw new UsageError(`${flag} must be a duration like 30m, 24h, 7d, 2w or an ISO date, got ${JSON.stringify(value)}`);
  }
}

/** The `events` command. */
export const eventsCommand: CliCommand = defineCommand({
  name: 'events',
  summary: 'the decision trace of a period (routes, tools, fallbacks, replies...)',
  usage,
  flags: {
    since: { type: 'string' },
    until: { type: 'string' },
    tenant: { type: 'string' },
    session: { type: 'string' },
    user: { type: 'string' },
    kind: { type: 'string', multiple: true },
    limit: { type: 'string' },
    newest: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run({ values, dataDir, withData }, io) {
    const now = Date.now();
    const since = timeFlag(values.since ?? '24h', '--since', now);
    const until = values.until === undefined ? now : timeFlag(values.until, '--until', now);
    if (until < since) throw new UsageError('--until is before --since');
    for (const flag of ['tenant', 'session', 'user'] as const) {
      const v = values[flag];
      if (v !== undefined && !isValidId(v)) throw new UsageError(`--${flag} must be a valid id`);
    }
    const kinds = (values.kind ?? []).flatMap((k) => k.split(',')).map((k) => k.trim()).filter((k) => k !== '');
    const unknown = kinds.find((k) => !(DECISION_KINDS as readonly string[]).includes(k));
    if (unknown !== undefined) throw new UsageError(`unknown --kind ${JSON.stringify(unknown)}: use ${DECISION_KINDS.join(', ')}`);
    const limit = positiveInt(values.limit, '--limit', 1000);

    return withData((env) => {
      const found = traceOf(env, dataDir, io.env).query({
        since, until, limit: limit + 1, reverse: values.newest === true,
        ...(values.tenant !== undefined ? { tenant: values.tenant as TenantId } : {}),
        ...(values.session !== undefined ? { session: values.session as SessionId } : {}),
        ...(values.user !== undefined ? { user: values.user as UserId } : {}),
        ...(kinds.length > 0 ? { kinds: kinds as DecisionKind[] } : {}),
      });
      const events = found.slice(0, limit);
      if (values.newest) events.reverse();
      print(io, events, values.json === true);
      if (found.length > limit) line(io.stderr, `keel events: more than ${limit} events; raise --limit or narrow the period`);
      else if (events.length === 0 && values.json !== true) line(io.stderr, 'keel events: no events in this period');
      return 0;
    });
  },
});

function print(io: CliIo, events: readonly DecisionEvent[], json: boolean): void {
  if (json) {
    for (const e of events) line(io.stdout, JSON.stringify(e));
    return;
  }
  for (const e of events) {
    const state = e.state ? ` [${e.state.split(',').filter((p) => !/\.(off|none)$/.test(p)).join(',')}]` : '';
    const data = summarise(e.data);
    line(io.stdout, `${new Date(e.time).toISOString()}  ${e.tenant}  ${e.user}  ${e.session}  ${e.kind.padEnd(10)} ${e.reason}${state}${data ? `  ${data}` : ''}`);
  }
}

/** `key=value` pairs of an event's data, each value short. */
function summarise(data: Readonly<Record<string, unknown>>): string {
  return Object.entries(data)
    .filter(([, v]) => v !== null && v !== undefined && v !== '')
    .map(([k, v]) => {
      const text = typeof v === 'string' ? v : JSON.stringify(v);
      return `${k}=${text.length > 80 ? `${text.slice(0, 79)}…` : text}`;
    })
    .join(' ');
}
