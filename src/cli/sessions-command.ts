/**
 * `keel sessions`: lists sessions and shows one session's transcript, straight from the data
 * directory. LMDB allows readers in other processes, so this works while `keel serve` runs.
 */
import { createTenantSealer } from '../security/tenant-sealer.js';
import { createRedactor } from '../security/redact.js';
import { createTenantKeyStore } from '../security/tenant-keys.js';
import { frameOf } from '../sessions/session-frames.js';
import { createSessionStore, type SessionStore } from '../store/session-store.js';
import { isValidId, type SessionId, type TenantId, type UserId } from '../types.js';
import { defineCommand } from './cli-args.js';
import { UsageError, line, positiveInt, type CliCommand, type CliIo } from './cli-io.js';

const usage = `Usage: keel sessions [list] [--tenant T] [--user U] [--limit N] [--json] [--data-dir DIR]
       keel sessions show <session-id> [--json] [--unredacted] [--data-dir DIR]

list   sessions, most recently updated first: id, tenant, user, channel, state, last seq
show   one session and its journal (acks, replies, hand-offs). Message text is redacted
       (emails, phone numbers, card numbers, IBANs) unless --unredacted is given.

Options:
  --tenant T      only this tenant
  --user U        only this user (with --tenant)
  --limit N       at most N sessions (default 50)
  --json          JSON output (one array for list, one object for show)
  --unredacted    show message text as stored
  --data-dir DIR  data directory (default $KEEL_DATA_DIR or ./.keel)
  -h, --help      this help`;

/** The `sessions` command. */
export const sessionsCommand: CliCommand = defineCommand({
  name: 'sessions',
  summary: 'list sessions, or show one with its transcript',
  usage,
  flags: {
    tenant: { type: 'string' },
    user: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
    unredacted: { type: 'boolean' },
  },
  positionals: true,
  async run({ values, positionals, dataDir: dir, withData }, io) {
    const [action = 'list', id, ...extra] = positionals;
    if (action !== 'list' && action !== 'show') throw new UsageError(`unknown sessions action ${JSON.stringify(action)}: use list or show`);
    if (extra.length > 0 || (action === 'list' && id !== undefined)) throw new UsageError('too many arguments');
    if (values.tenant !== undefined && !isValidId(values.tenant)) throw new UsageError('--tenant must be a valid id');
    if (values.user !== undefined && !isValidId(values.user)) throw new UsageError('--user must be a valid id');
    if (values.user !== undefined && values.tenant === undefined) throw new UsageError('--user needs --tenant');
    const limit = positiveInt(values.limit, '--limit', 50);
    if (action === 'show' && (id === undefined || !isValidId(id))) throw new UsageError('show needs a session id');

    return withData((env) => {
      const store = createSessionStore(env, createTenantSealer({ keys: createTenantKeyStore({ dir, env: io.env }) }));
      if (action === 'list') {
        list(store, io, { tenant: values.tenant, user: values.user, limit, json: values.json === true });
        return 0;
      }
      return show(store, io, id as SessionId, { json: values.json === true, unredacted: values.unredacted === true });
    });
  },
});

function list(store: SessionStore, io: CliIo, o: { tenant?: string; user?: string; limit: number; json: boolean }): void {
  const rows = store
    .listSessions({ ...(o.tenant ? { tenant: o.tenant as TenantId } : {}), ...(o.user ? { user: o.user as UserId } : {}), limit: Number.MAX_SAFE_INTEGER })
    .map(({ id, record }) => ({ sessionId: id, tenant: record.tenant, user: record.user, channel: record.channel, state: record.state, seq: record.seq, updatedAt: record.updatedAt }))
    .sort((a, b) => b.updatedAt - a.updatedAt)
    .slice(0, o.limit);
  if (o.json) {
    line(io.stdout, JSON.stringify(rows.map((r) => ({ ...r, updatedAt: new Date(r.updatedAt).toISOString() }))));
    return;
  }
  if (rows.length === 0) {
    line(io.stdout, 'no sessions');
    return;
  }
  const table = [['SESSION', 'TENANT', 'USER', 'CHANNEL', 'STATE', 'SEQ', 'UPDATED']];
  for (const r of rows) table.push([r.sessionId, r.tenant, r.user, r.channel, r.state, String(r.seq), new Date(r.updatedAt).toISOString()]);
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) line(io.stdout, row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
}

function show(store: SessionStore, io: CliIo, id: SessionId, o: { json: boolean; unredacted: boolean }): number {
  const record = store.getSession(id);
  if (!record) {
    line(io.stderr, `keel sessions: no session ${id}`);
    return 1;
  }
  const redact = o.unredacted ? (s: string) => s : createRedactor().text;
  const frames = store.readJournal(id, record.tenant, 1).map(frameOf).map((f) => ({ ...f, ...(f.text !== undefined ? { text: redact(f.text) } : {}) }));
  const summary = { sessionId: id, tenant: record.tenant, user: record.user, channel: record.channel, state: record.state, seq: record.seq, createdAt: new Date(record.createdAt).toISOString(), updatedAt: new Date(record.updatedAt).toISOString() };
  if (o.json) {
    line(io.stdout, JSON.stringify({ ...summary, frames }));
    return 0;
  }
  line(io.stdout, `session ${id}  tenant ${record.tenant}  user ${record.user}  channel ${record.channel}`);
  line(io.stdout, `state ${record.state}  seq ${record.seq}  created ${summary.createdAt}  updated ${summary.updatedAt}`);
  line(io.stdout);
  for (const f of frames) {
    const time = new Date(f.time).toISOString().slice(11, 19);
    if (f.type === 'ack') line(io.stdout, `${String(f.seq).padStart(5)} ${time} user    [${f.id ?? ''}] ${f.text ?? ''}`);
    else if (f.type === 'handoff') line(io.stdout, `${String(f.seq).padStart(5)} ${time} handoff ${f.status ?? ''} ${f.text ?? ''}`.trimEnd());
    else line(io.stdout, `${String(f.seq).padStart(5)} ${time} agent   ${f.text ?? ''}`);
  }
  return 0;
}
