/**
 * `keel forget`: erases one user of one tenant from a data directory — sessions with their
 * snapshots and journals, tool outcomes, the decision trace, the structured context, memories and
 * their vectors in the tenant's index — exactly as `runtime.forget` does, and writes the erasure
 * to the audit trail. Whoever can run it on the data directory acts as an admin of the tenant;
 * the audit record names them (`--by`).
 */
import { join } from 'node:path';
import { systemClock } from '../clock.js';
import { createUserMemory } from '../memory/user-memory.js';
import { createEventStore } from '../observe/event-store.js';
import { eraseUser } from '../runtime/user-erasure.js';
import { createTenantSealer } from '../security/tenant-sealer.js';
import { createAuditLog } from '../security/audit-log.js';
import { createSessionTokenMeter } from '../security/session-token-meter.js';
import { createTenantKeyStore } from '../security/tenant-keys.js';
import { createEffectLedger } from '../store/effect-ledger.js';
import { createSessionStore } from '../store/session-store.js';
import { isValidId, type TenantId, type UserId } from '../types.js';
import { defineCommand } from './cli-args.js';
import { withDataDirLock } from './data-dir-lock.js';
import { UsageError, line, required, type CliCommand } from './cli-io.js';

const usage = `Usage: keel forget --tenant T --user U --yes [--by NAME] [--json] [--data-dir DIR]

Erases everything keel holds about one user of one tenant: their sessions (snapshots and
journals), the outcomes of their tool calls, their decision trace, their structured context
(facts, preferences, intent history, open tasks), their memories, and those memories' vectors in
the tenant's index (overwritten, and the index file saved again). The erasure itself is recorded
in the audit trail with the counts, never the content. It cannot be undone.

Run it while no keel serve uses the data directory: a running server may still hold the user's
live sessions in memory. From a program that embeds keel, call runtime.forget instead.

Options:
  --tenant T      the tenant
  --user U        the user to erase
  --yes           confirm; without it nothing is erased
  --by NAME       who erases, for the audit record (default $USER, else "cli"); acts as an admin
                  of the tenant
  --json          print the counts as one JSON object
  --data-dir DIR  data directory (default $KEEL_DATA_DIR or ./.keel)
  -h, --help      this help

Example:
  keel forget --tenant acme --user u-42 --yes --by dpo@acme`;

/** The `forget` command. */
export const forgetCommand: CliCommand = defineCommand({
  name: 'forget',
  summary: "erase a user's sessions, trace, context and memories (audited)",
  usage,
  flags: {
    tenant: { type: 'string' },
    user: { type: 'string' },
    yes: { type: 'boolean' },
    by: { type: 'string' },
    json: { type: 'boolean' },
  },
  positionals: true,
  async run({ values, positionals, dataDir: dir, withData }, io) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
    const tenant = required(values.tenant, '--tenant');
    const user = required(values.user, '--user');
    if (!isValidId(tenant)) throw new UsageError('--tenant must be a valid id');
    if (!isValidId(user)) throw new UsageError('--user must be a valid id');
    const by = values.by ?? io.env.USER ?? 'cli';
    if (!isValidId(by)) throw new UsageError('--by must be a valid id (1-128 characters [A-Za-z0-9._:@-])');
    if (values.yes !== true) throw new UsageError('erasure cannot be undone: add --yes to confirm');

    // Not beside a running server: it would write the erased sessions back from memory.
    return withDataDirLock(dir, () => withData(async (env) => {
      const clock = systemClock;
      const sealer = createTenantSealer({ keys: createTenantKeyStore({ dir, env: io.env, clock }) });
      const memory = createUserMemory({ env, sealer, clock, indexDir: join(dir, 'memory-index') });
      try {
        const audit = createAuditLog({ env, clock });
        const erased = await eraseUser(
          {
            env,
            sessions: createSessionStore(env, sealer),
            effects: createEffectLedger(env),
            llmTokens: createSessionTokenMeter({ store: env.db('meta') }),
            events: createEventStore({ env, clock }),
            memory,
            audit,
          },
          { tenant: tenant as TenantId, user: user as UserId },
          { tenant: tenant as TenantId, user: by as UserId, role: 'admin' },
        );
        const auditSeq = audit.head()?.seq ?? null;
        if (values.json) {
          line(io.stdout, JSON.stringify({ tenant, user, ...erased, auditSeq }));
        } else {
          line(io.stdout, `erased user ${user} of tenant ${tenant}: ${erased.sessions} session(s), ${erased.events} trace event(s), ${erased.memories} memory(ies), context ${erased.context ? 'removed' : 'none'}`);
          line(io.stdout, `audit record #${auditSeq ?? '?'} (user.forget by ${by})`);
        }
        return 0;
      } finally {
        await memory.close();
      }
    }));
  },
});
