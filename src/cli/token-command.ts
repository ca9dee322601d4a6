/**
 * `keel token`: prints a signed token for a tenant, user and role, with the keys of the data
 * directory (or `KEEL_TOKEN_SECRET`): the same keys `keel serve` verifies with.
 */
import { parseArgs } from 'node:util';
import { createTokenKeyring } from '../security/token-keyring.js';
import { createTokenService, parseTtlMs } from '../security/tokens.js';
import { ROLES, isValidId, type Role } from '../types.js';
import { UsageError, dataDirOf, line, required, HELP_OPTION, usageErrors, type CliCommand } from './cli-io.js';

const usage = `Usage: keel token --tenant T --user U --role R [--ttl 1h] [--data-dir DIR]

Prints a signed token (JWT, HS256) naming a tenant, a user and a role.

Options:
  --tenant T        tenant id (1-128 characters [A-Za-z0-9._:@-])
  --user U          user id
  --role R          one of ${ROLES.join(', ')}
  --ttl D           lifetime: 30s, 15m, 1h, 7d, 1h30m ... (default 1h, at most 30d)
  --data-dir DIR    data directory holding the key file (default $KEEL_DATA_DIR or ./.keel)
  -h, --help        this help

The key file <data-dir>/token-keys.json is created (mode 0600) on first use. With
KEEL_TOKEN_SECRET set, its secrets are used instead.

Example:
  keel token --tenant acme --user u-42 --role customer --ttl 2h`;

/** The `token` command. */
export const tokenCommand: CliCommand = {
  name: 'token',
  summary: 'print a signed token for a tenant, user and role',
  usage,
  async run(args, io) {
    const { values } = usageErrors(() =>
      parseArgs({
        args: [...args],
        strict: true,
        options: {
          tenant: { type: 'string' },
          user: { type: 'string' },
          role: { type: 'string' },
          ttl: { type: 'string' },
          'data-dir': { type: 'string' },
          help: HELP_OPTION,
        },
      }),
    );
    if (values.help) {
      line(io.stdout, usage);
      return 0;
    }
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
    const keyring = createTokenKeyring({ dir: dataDirOf(values['data-dir'], io), env: io.env });
    const tokens = createTokenService({ keyring });
    try {
      line(io.stdout, await tokens.issueToken({ tenant, user, role: role as Role, ...(ttlMs !== undefined ? { ttlMs } : {}) }));
    } catch (err) {
      if (err instanceof TypeError) throw new UsageError(err.message);
      throw err;
    }
    return 0;
  },
};
