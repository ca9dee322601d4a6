/**
 * The CLI's writes to the data directory's audit trail: one record per change an operator makes
 * from a terminal, and every token a command issues (never the token itself).
 */
import { createAuditLog, systemActor, type AuditEntry } from '../security/audit-log.js';
import type { TokenKeyring } from '../security/token-keyring.js';
import { createTokenService } from '../security/tokens.js';
import { openEnv } from '../store/lmdb-env.js';
import type { Role } from '../types.js';

/** The lifetime of a token issued without one (the token service's default). */
const DEFAULT_TTL_MS = 3_600_000;

/**
 * Appends to the data directory's audit trail (LMDB takes writers from several processes in turn).
 *
 * @example
 * ```ts
 * await audited('./.keel', { actor: systemActor('acme', 'cli'), action: 'config.change', target: 'token-key:k1', outcome: 'ok' });
 * ```
 */
export async function audited(dir: string, entry: AuditEntry): Promise<void> {
  const env = openEnv({ dir });
  try {
    await createAuditLog({ env }).append(entry);
  } finally {
    await env.close();
  }
}

/**
 * Issues a token with `keyring` and records it as `token.issue`: who holds which role is a question
 * the audit trail must answer. `details` add to the record (which command issued it).
 *
 * @example
 * ```ts
 * const token = await issueAuditedToken('./.keel', keyring, { tenant: 'acme', user: 'ann', role: 'customer', ttlMs: 3_600_000 });
 * ```
 */
export async function issueAuditedToken(
  dir: string,
  keyring: TokenKeyring,
  claims: { tenant: string; user: string; role: Role; ttlMs?: number },
  details: Record<string, unknown> = {},
): Promise<string> {
  const token = await createTokenService({ keyring }).issueToken(claims);
  await audited(dir, {
    actor: systemActor(claims.tenant, 'cli'),
    action: 'token.issue',
    target: `user:${claims.user}`,
    outcome: 'ok',
    details: { role: claims.role, kid: keyring.current().kid, ttlMs: claims.ttlMs ?? DEFAULT_TTL_MS, ...details },
  });
  return token;
}
