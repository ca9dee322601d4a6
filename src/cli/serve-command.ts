/**
 * `keel serve`: the runtime with the default agent behind the server (chat, chat page,
 * inspector, metrics, health) on one port, until SIGINT or SIGTERM.
 */
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { systemClock } from '../clock.js';
import { LOG_LEVELS, createLogger, isLogLevel } from '../observe/logger.js';
import { isLocalHandoffDesk } from '../agent/default-agent.js';
import { createRuntime } from '../runtime/runtime.js';
import { createRedactor } from '../security/redact.js';
import { createTenantKeyStore } from '../security/tenant-keys.js';
import { createTenantSealer } from '../security/tenant-sealer.js';
import { createServer } from '../server/server.js';
import type { OpsAccess } from '../server/server-options.js';
import { defineCommand } from './cli-args.js';
import { withDataDirLock } from './data-dir-lock.js';
import { v8PoolHint } from './node-flags.js';
import { UsageError, dataDirOf, line, type CliCommand } from './cli-io.js';
import { loadDefaultMachine } from './default-machine.js';

const usage = `Usage: keel serve [--host H] [--port P] [--data-dir DIR] [--allowed-origin URL]... [--ops-access MODE]

Serves on one port: the chat WebSocket (/chat), the chat page (/), the human agents' desk (/desk,
page and WebSocket), the inspector (/inspector), Prometheus metrics (/metrics) and health
(/healthz). Stops gracefully on SIGINT or SIGTERM.

Options (flags win over the environment):
  --host H             listen address (default $HOST or 127.0.0.1)
  --port P             listen port, 0 for any free one (default $PORT or 8787)
  --data-dir DIR       data directory (default $KEEL_DATA_DIR or ./.keel)
  --allowed-origin URL a browser origin allowed to open /chat besides the server's own;
                       repeatable ($KEEL_ALLOWED_ORIGINS, comma-separated)
  --ops-access MODE    who reads /metrics and /healthz: loopback-or-token (default) or token
                       ($KEEL_OPS_ACCESS)
  -h, --help           this help

Environment: KEEL_LOG_LEVEL (default info), KEEL_TOKEN_SECRET, KEEL_MASTER_KEY,
OPENAI_BASE_URL, OPENAI_API_KEY, KEEL_MODEL (none: the local provider).`;

/** The `serve` command. */
export const serveCommand: CliCommand = defineCommand({
  name: 'serve',
  summary: 'serve chat, chat page, inspector, metrics and health on one port',
  usage,
  flags: {
    host: { type: 'string' },
    port: { type: 'string' },
    'allowed-origin': { type: 'string', multiple: true },
    'ops-access': { type: 'string' },
  },
  async run({ values, dataDir }, io) {
    const host = values.host ?? io.env.HOST ?? '127.0.0.1';
    const portText = values.port ?? io.env.PORT ?? '8787';
    const port = Number(portText);
    const portSource = values.port === undefined && io.env.PORT !== undefined ? 'PORT' : '--port';
    if (!/^\d+$/.test(portText) || port > 65_535) throw new UsageError(`${portSource} must be an integer from 0 to 65535, got ${portText}`);
    const opsAccess = values['ops-access'] ?? io.env.KEEL_OPS_ACCESS ?? 'loopback-or-token';
    if (opsAccess !== 'loopback-or-token' && opsAccess !== 'token') throw new UsageError('--ops-access must be loopback-or-token or token');
    const allowedOrigins = values['allowed-origin'] ?? (io.env.KEEL_ALLOWED_ORIGINS ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
    const level = io.env.KEEL_LOG_LEVEL ?? 'info';
    if (!isLogLevel(level)) throw new UsageError(`KEEL_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got ${level}`);
    // On the real stdout the logger's own asynchronous destination is faster than the stream.
    const logger = createLogger({ level, redactText: createRedactor().text, ...(io.stdout === process.stdout ? {} : { destination: io.stdout }) });

    // One server per data directory: a second would overwrite the first one's journals.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    return withDataDirLock(dataDir, serve);

    async function serve(): Promise<number> {
      // The tenant keys open now, or the server does not start: a missing or wrong master key
      // would otherwise be found by the first customer, as a failed turn. The runtime seals with
      // these keys, under the master key of this command's environment.
      const keys = createTenantKeyStore({ dir: dataDir, env: io.env, clock: systemClock });
      keys.tenants();
      const agent = await loadDefaultMachine({ dataDir, env: io.env });
      const runtime = createRuntime({ dataDir, machine: agent.machine, logger, sealer: createTenantSealer({ keys }) });
      let server;
      try {
        // The in-process desk is what /desk serves: hand-offs wait there for the agents connected to it.
        const desk = isLocalHandoffDesk(agent.agent.desk) ? agent.agent.desk : undefined;
        server = createServer({ runtime, ownsRuntime: true, host, port, logger, allowedOrigins, opsAccess: opsAccess as OpsAccess, ...(desk ? { desk } : {}) });
      } catch (err) {
        await runtime.close();
        if (err instanceof TypeError) throw new UsageError(err.message);
        throw err;
      }
      try {
        const { url } = await server.listen();
        line(io.stderr, `keel serving ${url}/ (chat page), ${url.replace(/^http/, 'ws')}/chat, ${url}/desk, ${url}/inspector, ${url}/metrics, ${url}/healthz`);
        line(io.stderr, `data: ${dataDir}; machine: ${agent.name}; Ctrl-C stops`);
        // Every page needs a signed token; say how to make one (never print one: it is a secret).
        const dirFlag = dataDir === dataDirOf(undefined, io) ? '' : ` --data-dir ${dataDir}`;
        line(io.stderr, `open a page with a token: keel token --tenant demo --user alice --role customer${dirFlag}, then ${url}/#token=<token> (role agent for ${url}/desk, engineer or admin for ${url}/inspector)`);
        const hint = v8PoolHint(process.execArgv, process.env.NODE_OPTIONS, availableParallelism());
        if (hint) line(io.stderr, hint);
      } catch (err) {
        await server.close();
        line(io.stderr, `keel: cannot listen on ${host}:${port}: ${(err as Error).message}`);
        return 1;
      }
      await new Promise<void>((resolve) => {
        if (io.signal.aborted) return resolve();
        io.signal.addEventListener('abort', () => resolve(), { once: true });
      });
      line(io.stderr, 'keel: shutting down');
      await server.close();
      return 0;
    }
  },
});
