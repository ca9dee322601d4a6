/**
 * `keel report`: behavioural diagnostics of a period from the decision trace: which intents and
 * states fail, fall back or escalate most, where users repeat themselves or abandon, which tools
 * break. Reads the data directory, so it works while `keel serve` runs.
 */
import { buildReport, formatReport } from '../observe/diagnostics.js';
import { isValidId } from '../types.js';
import { defineCommand } from './cli-args.js';
import { UsageError, line, positiveInt, type CliCommand } from './cli-io.js';
import { timeFlag, traceOf } from './events-command.js';

const usage = `Usage: keel report [--since 7d] [--until T] [--tenant T] [--top N] [--abandon-after 30m] [--json] [--data-dir DIR]

What to improve before customers complain, over a period of the decision trace:
  - intents that fail, fall back or escalate most (and the share of their turns that did)
  - the states where fallbacks, escalations and errors happen
  - where users repeat themselves (same intent again, reprompts)
  - where users abandon (the last decision before a session went quiet)
  - tools that break, with their failure rate and reasons

Options:
  --since T            start: a duration back from now (24h, 7d, 2w) or an ISO date (default 7d)
  --until T            end, same forms (default now)
  --tenant T           only this tenant
  --top N              rows per table (default 10)
  --abandon-after D    a session quiet this long counts as over (default 30m)
  --json               the report as one JSON object
  --data-dir DIR       data directory (default $KEEL_DATA_DIR or ./.keel)
  -h, --help           this help`;

/** The `report` command. */
export const reportCommand: CliCommand = defineCommand({
  name: 'report',
  summary: 'behavioural diagnostics of a period: what fails, falls back, escalates, breaks',
  usage,
  flags: {
    since: { type: 'string' },
    until: { type: 'string' },
    tenant: { type: 'string' },
    top: { type: 'string' },
    'abandon-after': { type: 'string' },
    json: { type: 'boolean' },
  },
  async run({ values, dataDir, withData }, io) {
    const now = Date.now();
    const since = timeFlag(values.since ?? '7d', '--since', now);
    const until = values.until === undefined ? now : timeFlag(values.until, '--until', now);
    if (until < since) throw new UsageError('--until is before --since');
    if (values.tenant !== undefined && !isValidId(values.tenant)) throw new UsageError('--tenant must be a valid id');
    const top = positiveInt(values.top, '--top', 10);
    const abandonAfter = values['abandon-after'];
    if (abandonAfter !== undefined && !/^\d+(\.\d+)?\s*[mhdw]$/.test(abandonAfter.trim())) throw new UsageError('--abandon-after must be a duration like 30m, 2h or 1d');
    const abandonAfterMs = abandonAfter === undefined ? undefined : now - timeFlag(abandonAfter, '--abandon-after', now);

    return withData((env) => {
      const report = buildReport({
        events: traceOf(env, dataDir, io.env), since, until, top,
        ...(values.tenant !== undefined ? { tenant: values.tenant } : {}),
        ...(abandonAfterMs !== undefined ? { abandonAfterMs } : {}),
      });
      line(io.stdout, values.json ? JSON.stringify(report) : formatReport(report).trimEnd());
      return 0;
    });
  },
});
