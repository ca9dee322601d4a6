/**
 * The default token check of the server: keel's token service over the keyring of a data
 * directory (or `KEEL_TOKEN_SECRET`), the same keys `keel token` signs with.
 */
import type { Clock } from '../ports.js';
import { createTokenKeyring } from '../security/token-keyring.js';
import { createTokenService } from '../security/tokens.js';
import type { TokenVerifier } from './server-options.js';

/**
 * Creates a {@link TokenVerifier} over the keyring in `dataDir`. The key file is created on first
 * use (mode 0600); a rotation done by another process is picked up without a restart.
 *
 * @example
 * ```ts
 * const server = createServer({ runtime, verifyToken: createDataDirTokenVerifier('./.keel') });
 * ```
 */
export function createDataDirTokenVerifier(dataDir: string, options: { clock?: Clock; env?: Readonly<Record<string, string | undefined>> } = {}): TokenVerifier {
  const keyring = createTokenKeyring({ dir: dataDir, ...(options.clock ? { clock: options.clock } : {}), ...(options.env ? { env: options.env } : {}) });
  const tokens = createTokenService({ keyring, ...(options.clock ? { clock: options.clock } : {}) });
  return (token) => tokens.verifyToken(token);
}
