/**
 * The system under attack, as it ships: the default agent behind a real server on port 0, real
 * LMDB and real key files in a temp directory, the server's own token verifier over the data
 * directory's keyring, and (optionally) an OpenAI-compatible model on loopback the attacker
 * controls. Tokens are minted with the data directory's keys, as `keel token` would.
 */
import type { DefaultAgent, DefaultAgentOptions } from '../../../../src/agent/default-agent.js';
import type { Logger } from '../../../../src/observe/logger.js';
import type { RuntimeOptions } from '../../../../src/runtime/runtime-options.js';
import type { AuditRecord } from '../../../../src/security/audit-log.js';
import type { TokenClaims } from '../../../../src/security/tokens.js';
import type { ServerOptions } from '../../../../src/server/server-options.js';
import type { Defer } from '../../../support/cleanups.js';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../../../support/fake-openai-server.js';
import { startKeel, type Harness } from '../../server/support/keel-harness.js';

/** The server harness's keel (`startKeel` with the default agent and the default verifier), plus what attacks need. */
export interface SecureKeel extends Harness {
  /** The inspector's live socket. */
  readonly inspectorUrl: string;
  readonly agent: DefaultAgent;
  /** The model the attacker controls, when started with `llm: true`. */
  readonly model: FakeOpenAiServer | undefined;
  /** A token signed with the data directory's current key (`keel token`); user `alice` of `acme` unless `claims` say otherwise. */
  token(claims?: Partial<TokenClaims>): Promise<string>;
  /** Audit records so far (reads what the runtime committed). */
  audit(): AuditRecord[];
  /** Closes the server, runtime and model (once); the data directory stays until `remove`. */
  stop(): Promise<void>;
}

export interface SecureKeelOptions {
  /** Start a fake OpenAI-compatible model and configure the agent with it. Default false. */
  readonly llm?: boolean;
  readonly dir?: string;
  readonly runtime?: Partial<Omit<RuntimeOptions, 'machine' | 'dataDir'>>;
  readonly server?: Partial<Omit<ServerOptions, 'runtime'>>;
  readonly agent?: Partial<Omit<DefaultAgentOptions, 'dataDir'>>;
  readonly logger?: Logger;
}

/** Starts keel as it ships; call `stop()` then `remove()` (or use {@link secureKeelPerTest}). */
export async function startSecureKeel(options: SecureKeelOptions = {}): Promise<SecureKeel> {
  const model = options.llm ? await startFakeOpenAiServer({ apiKey: 'x' }) : undefined;
  const logger = options.logger ? { logger: options.logger } : {};
  const h = await startKeel({
    ...(options.dir ? { dir: options.dir } : {}),
    // The server's own verifier over the data directory's keyring, and the desk of `keel serve`.
    defaultVerifier: true,
    defaultAgent: {
      ...(model ? { env: { OPENAI_BASE_URL: model.baseURL, OPENAI_API_KEY: 'x', KEEL_MODEL: 'm' } } : {}),
      // No retries of the model: each scripted reply answers exactly one call.
      llmTimeoutMs: 10_000,
      ...options.agent,
    },
    runtime: { ...logger, ...options.runtime },
    server: { ...logger, ...options.server },
  });
  let stopped: Promise<void> | undefined;
  return {
    ...h,
    agent: h.agent!,
    inspectorUrl: `${h.url.replace(/^http/, 'ws')}/inspector/ws`,
    model,
    token: (claims = {}) => h.token({ user: 'alice', ...claims }),
    audit: () => h.runtime.audit.read({ limit: Number.MAX_SAFE_INTEGER }),
    stop() {
      stopped ??= (async () => {
        await h.stop();
        await model?.close();
      })();
      return stopped;
    },
  };
}

/**
 * A `startSecureKeel` for the tests of one file: each keel is stopped, and its directory removed,
 * after the test that started it. `defaults` are merged under each call's options.
 *
 * @example
 * ```ts
 * const keel = secureKeelPerTest(useCleanups(), { llm: true });
 * it('...', async () => {
 *   const k = await keel();
 * });
 * ```
 */
export function secureKeelPerTest(defer: Defer, defaults: SecureKeelOptions = {}): (options?: SecureKeelOptions) => Promise<SecureKeel> {
  return async (options = {}) => {
    const k = await startSecureKeel({ ...defaults, ...options });
    defer(k.remove, () => k.stop());
    return k;
  };
}

/** Polls until `check` returns something other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | false, timeoutMs = 10_000, what = 'a condition'): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
