/**
 * `keel audit`: checks the hash chain of the audit trail (`verify`) and lists its records
 * (`list`), straight from the data directory; LMDB allows readers in other processes, so both
 * work while `keel serve` runs.
 */
import { createAuditLog, type AuditHead, type AuditRecord } from '../security/audit-log.js';
import { isValidId } from '../types.js';
import { defineCommand } from './cli-args.js';
import { UsageError, line, positiveInt, type CliCommand } from './cli-io.js';

/** Exit code of `keel audit verify` when the chain does not verify. */
export const EXIT_AUDIT_BROKEN = 3;

const usage = `Usage: keel audit verify [--expect-head SEQ:HASH] [--json] [--data-dir DIR]
       keel audit list [--tenant T] [--from SEQ] [--limit N] [--json] [--data-dir DIR]

verify  checks every record of the hash chain and the anchored head. Exits 0 and prints the
        record count and the head (seq and hash) when the chain is intact; exits ${EXIT_AUDIT_BROKEN} naming
        the first bad record and why (altered, missing, reordered, inserted, broken_link,
        truncated, unanchored, malformed) otherwise. Keep the printed head somewhere else and
        pass it back with --expect-head: then even a rewrite of the whole file is noticed.
list    prints records, oldest first: seq, time, actor, action, target, outcome.

Options:
  --expect-head SEQ:HASH  a head printed by an earlier verify; the chain must still contain it
  --tenant T              only records whose actor belongs to tenant T
  --from SEQ              start at this record (default 1)
  --limit N               at most N records (default 100)
  --json                  JSON output
  --data-dir DIR          data directory (default $KEEL_DATA_DIR or ./.keel)
  -h, --help              this help`;

/** The `audit` command. */
export const auditCommand: CliCommand = defineCommand({
  name: 'audit',
  summary: 'verify the hash chain of the audit trail, or list its records',
  usage,
  flags: {
    'expect-head': { type: 'string' },
    tenant: { type: 'string' },
    from: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  },
  positionals: true,
  async run({ values, positionals, withData }, io) {
    const [action, ...extra] = positionals;
    if (action !== 'verify' && action !== 'list') throw new UsageError(action === undefined ? 'missing action: verify or list' : `unknown audit action ${JSON.stringify(action)}: use verify or list`);
    if (extra.length > 0) throw new UsageError('too many arguments');
    const expectedHead = values['expect-head'] === undefined ? undefined : parseHead(values['expect-head']);
    if (values.tenant !== undefined && !isValidId(values.tenant)) throw new UsageError('--tenant must be a valid id');
    const from = positiveInt(values.from, '--from', 1);
    const limit = positiveInt(values.limit, '--limit', 100);

    return withData(async (env) => {
      const audit = createAuditLog({ env });
      if (action === 'list') {
        const rows: AuditRecord[] = [];
        for (let seq = from; rows.length < limit;) {
          const page = audit.read({ fromSeq: seq, limit: 500 });
          for (const r of page) if (values.tenant === undefined || r.actor.tenant === values.tenant) rows.push(r);
          if (page.length < 500) break;
          seq = (page.at(-1)?.seq ?? seq) + 1;
        }
        const shown = rows.slice(0, limit);
        if (values.json) line(io.stdout, JSON.stringify(shown));
        else if (shown.length === 0) line(io.stdout, 'no audit records');
        else for (const r of shown) line(io.stdout, formatRecord(r));
        return 0;
      }
      const result = await audit.verify(expectedHead ? { expectedHead } : {});
      if (values.json) {
        line(result.ok ? io.stdout : io.stderr, JSON.stringify(result));
        return result.ok ? 0 : EXIT_AUDIT_BROKEN;
      }
      if (result.ok) {
        line(io.stdout, result.head
          ? `audit chain intact: ${result.count} records, head ${result.head.seq}:${result.head.hash}`
          : 'audit chain intact: 0 records');
        return 0;
      }
      line(io.stderr, `keel audit: chain broken at record ${result.firstBad} (${result.reason}): ${result.message}`);
      line(io.stderr, `${result.count} records before it verified`);
      return EXIT_AUDIT_BROKEN;
    });
  },
});

function parseHead(text: string): AuditHead {
  const m = /^(\d{1,15}):([0-9a-f]{64})$/.exec(text.trim());
  if (!m) throw new UsageError('--expect-head must be SEQ:HASH as printed by keel audit verify');
  return { seq: Number(m[1]), hash: m[2] as string };
}

function formatRecord(r: AuditRecord): string {
  const details = Object.keys(r.details).length > 0 ? ` ${JSON.stringify(r.details)}` : '';
  return `${String(r.seq).padStart(6)} ${new Date(r.time).toISOString()} ${r.actor.role}:${r.actor.tenant}/${r.actor.user} ${r.action} ${r.target} ${r.outcome}${details}`;
}
