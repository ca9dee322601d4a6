/**
 * `keel token`: prints a signed token for a tenant, user and role, with the keys of the data
 * directory (or `KEEL_TOKEN_SECRET`): the same keys `keel serve` verifies with. Also rotates and
 * retires the signing keys. Every issuance, rotation and retirement is written to the audit trail
 * (never the token or a key).
 */
import { systemActor } from '../security/audit-log.js';
import { createTokenKeyring, type TokenKeyring } from '../security/token-keyring.js';
import { parseTtlMs } from '../security/tokens.js';
import { ROLES, isValidId, type Role } from '../types.js';
import { defineCommand } from './cli-args.js';
import { audited, issueAuditedToken } from './cli-audit.js';
import { UsageError, line, required, type CliCommand } from './cli-io.js';

const usage = `Usage: keel token --tenant T --user U --role R [--ttl 1h] [--data-dir DIR]
       keel token --rotate [--tenant T --user U --role R [--ttl 1h]] [--data-dir DIR]
       keel token --retire KID [--data-dir DIR]
       keel token --keys [--data-dir DIR]

Prints a signed token (JWT, HS256) naming a tenant, a user and a role.

Options:
  --tenant T        tenant id (1-128 characters [A-Za-z0-9._:@-])
  --user U          user id
  --role R          one of ${ROLES.join(', ')}
  --ttl D           lifetime: 30s, 15m, 1h, 7d, 1h30m ... (default 1h, at most 30d)
  --rotate          make a new signing key first; tokens signed by the previous key keep
                    working for 7 days (or until --retire), so nobody is logged out. A running
                    keel serve picks the new key up on its first token signed by it.
  --retire KID      stop accepting tokens signed by key KID now (not the current key)
  --keys            list the key ids with their creation and retirement times (never a secret)
  --data-dir DIR    data directory holding the key file (default $KEEL_DATA_DIR or ./.keel)
  -h, --help        this help

The key file <data-dir>/token-keys.json is created (mode 0600) on first use. With
KEEL_TOKEN_SECRET set, its secrets are used instead; rotate then by prepending a new secret
to the variable, restarting, and removing the old one once its tokens have expired.

Example:
  keel token --tenant acme --user u-42 --role customer --ttl 2h`;

/** The `token` command. */
export const tokenCommand: CliCommand = defineCommand({
  name: 'token',
  summary: 'print a signed token for a tenant, user and role; rotate or retire signing keys',
  usage,
  flags: {
    tenant: { type: 'string' },
    user: { type: 'string' },
    role: { type: 'string' },
    ttl: { type: 'string' },
    rotate: { type: 'boolean' },
    retire: { type: 'string' },
    keys: { type: 'boolean' },
  },
  async run({ values, dataDir: dir }, io) {
    const keyring = createTokenKeyring({ dir, env: io.env });
    const wantsToken = values.tenant !== undefined || values.user !== undefined || values.role !== undefined || values.ttl !== undefined;
    const modes = [values.rotate === true, values.retire !== undefined, values.keys === true].filter(Boolean).length;
    if (modes > 1) throw new UsageError('use one of --rotate, --retire and --keys');

    if (values.keys) {
      if (wantsToken) throw new UsageError('--keys takes no token options');
      const current = keyring.current().kid;
      for (const key of keyring.keys()) {
        const retires = key.retireAt === undefined ? 'no end' : `retires ${new Date(key.retireAt).toISOString()}`;
        line(io.stdout, `${key.kid}${key.kid === current ? ' (current)' : ''}  created ${new Date(key.createdAt).toISOString()}  ${retires}`);
      }
      return 0;
    }
    if (values.retire !== undefined) {
      if (wantsToken) throw new UsageError('--retire takes no token options');
      const kid = values.retire;
      if (!keyring.retire(kid)) {
        line(io.stderr, `keel token: no key ${JSON.stringify(kid)} (see keel token --keys)`);
        return 1;
      }
      await audited(dir, { actor: systemActor('keel:host', 'cli'), action: 'config.change', target: `token-key:${kid}`, outcome: 'ok', details: { change: 'token.retire' } });
      line(io.stderr, `retired key ${kid}: tokens it signed are refused from now on`);
      return 0;
    }
    if (values.rotate) {
      const previous = keyring.current().kid;
      const fresh = keyring.rotate();
      await audited(dir, { actor: systemActor('keel:host', 'cli'), action: 'config.change', target: `token-key:${fresh.kid}`, outcome: 'ok', details: { change: 'token.rotate', previous } });
      line(io.stderr, `new signing key ${fresh.kid}; key ${previous} keeps verifying until it retires`);
      if (!wantsToken) return 0;
    }
    return issue(keyring, dir, values, io);
  },
});

async function issue(
  keyring: TokenKeyring,
  dir: string,
  values: { tenant?: string; user?: string; role?: string; ttl?: string },
  io: Parameters<CliCommand['run']>[1],
): Promise<number> {
  const tenant = required(values.tenant, '--tenant');
  const user = required(values.user, '--user');
  const role = required(values.role, '--role');
  if (!isValidId(tenant)) throw new UsageError('--tenant must be 1-128 characters [A-Za-z0-9._:@-]');
  if (!isValidId(user)) throw new UsageError('--user must be 1-128 characters [A-Za-z0-9._:@-]');
  if (!(ROLES as readonly string[]).includes(role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
  let ttlMs: number | undefined;
  if (values.ttl !== undefined) {
    try {
      ttlMs = parseTtlMs(values.ttl);
    } catch (err) {
      throw new UsageError(`--ttl: ${(err as Error).message}`);
    }
  }
  let token: string;
  try {
    token = await issueAuditedToken(dir, keyring, { tenant, user, role: role as Role, ...(ttlMs !== undefined ? { ttlMs } : {}) });
  } catch (err) {
    if (err instanceof TypeError) throw new UsageError(err.message);
    throw err;
  }
  line(io.stdout, token);
  return 0;
}
