/**
 * The system under attack, as it ships: the default agent behind a real server on port 0, real
 * LMDB and real key files in a temp directory, the server's own token verifier over the data
 * directory's keyring, and (optionally) an OpenAI-compatible model on loopback the attacker
 * controls. Tokens are minted with the data directory's keys, as `keel token` would.
 */
import { createDefaultAgent, isLocalHandoffDesk, type DefaultAgent, type DefaultAgentOptions } from '../../../../src/agent/default-agent.js';
import type { Logger } from '../../../../src/observe/logger.js';
import { createRuntime, type Runtime } from '../../../../src/runtime/runtime.js';
import type { RuntimeOptions } from '../../../../src/runtime/runtime-options.js';
import type { AuditRecord } from '../../../../src/security/audit-log.js';
import { createTokenKeyring } from '../../../../src/security/token-keyring.js';
import { createTokenService, type TokenClaims } from '../../../../src/security/tokens.js';
import { createServer, type KeelServer } from '../../../../src/server/server.js';
import type { ServerOptions } from '../../../../src/server/server-options.js';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../../../support/fake-openai-server.js';
import { tempDir } from '../../../support/temp-dir.js';

export interface SecureKeel {
  readonly dir: string;
  readonly url: string;
  readonly wsUrl: string;
  /** The human agents' desk socket. */
  readonly deskUrl: string;
  /** The inspector's live socket. */
  readonly inspectorUrl: string;
  readonly runtime: Runtime;
  readonly server: KeelServer;
  readonly agent: DefaultAgent;
  /** The model the attacker controls, when started with `llm: true`. */
  readonly model: FakeOpenAiServer | undefined;
  /** A token signed with the data directory's current key (`keel token`). */
  token(claims?: Partial<TokenClaims>): Promise<string>;
  /** Audit records so far (reads what the runtime committed). */
  audit(): AuditRecord[];
  /** Closes the server and runtime; the data directory stays until `remove`. */
  stop(): Promise<void>;
  remove(): void;
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

const NO_ENV = Object.freeze({}) as Readonly<Record<string, string | undefined>>;

/** Starts keel as it ships; call `stop()` then `remove()`. */
export async function startSecureKeel(options: SecureKeelOptions = {}): Promise<SecureKeel> {
  const temp = options.dir ? { dir: options.dir, remove: () => undefined } : tempDir('keel-attack-');
  const model = options.llm ? await startFakeOpenAiServer({ apiKey: 'x' }) : undefined;
  const agent = await createDefaultAgent({
    dataDir: temp.dir,
    ...(model ? { env: { OPENAI_BASE_URL: model.baseURL, OPENAI_API_KEY: 'x', KEEL_MODEL: 'm' } } : {}),
    // No retries of the model: each scripted reply answers exactly one call.
    llmTimeoutMs: 10_000,
    ...options.agent,
  });
  const runtime = createRuntime({ dataDir: temp.dir, machine: agent.machine, ...(options.logger ? { logger: options.logger } : {}), ...options.runtime });
  // The desk is served as `keel serve` serves it: the default agent's in-process desk.
  const desk = isLocalHandoffDesk(agent.desk) ? agent.desk : undefined;
  const server = createServer({ runtime, ownsRuntime: true, port: 0, ...(desk ? { desk } : {}), ...(options.logger ? { logger: options.logger } : {}), ...options.server });
  const { url } = await server.listen();
  const tokens = createTokenService({ keyring: createTokenKeyring({ dir: temp.dir, env: NO_ENV }) });
  let stopped: Promise<void> | undefined;
  return {
    dir: temp.dir,
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}/chat`,
    deskUrl: `${url.replace(/^http/, 'ws')}/desk`,
    inspectorUrl: `${url.replace(/^http/, 'ws')}/inspector/ws`,
    runtime,
    server,
    agent,
    model,
    token: (claims = {}) => tokens.issueToken({ tenant: 'acme', user: 'alice', role: 'customer', ...claims }),
    audit: () => {
      const out: AuditRecord[] = [];
      for (let from = 1; ; ) {
        const page = runtime.audit.read({ fromSeq: from, limit: 500 });
        out.push(...page);
        if (page.length < 500) return out;
        from = page.at(-1)!.seq + 1;
      }
    },
    stop() {
      stopped ??= (async () => {
        await server.close();
        await model?.close();
      })();
      return stopped;
    },
    remove: temp.remove,
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
