/**
 * The `keel` command line: dispatches to sub-commands and turns failures into exit codes
 * (0 ok, 1 failure, 2 usage error).
 */
import { isKeelError } from '../errors.js';
import { auditCommand } from './audit-command.js';
import { UsageError, line, type CliCommand, type CliIo } from './cli-io.js';
import { chatCommand } from './chat-command.js';
import { eventsCommand } from './events-command.js';
import { forgetCommand } from './forget-command.js';
import { reportCommand } from './report-command.js';
import { serveCommand } from './serve-command.js';
import { sessionsCommand } from './sessions-command.js';
import { tokenCommand } from './token-command.js';

/** The sub-commands, in `--help` order. Other parts of keel add theirs here. */
export const COMMANDS: readonly CliCommand[] = [serveCommand, tokenCommand, chatCommand, sessionsCommand, eventsCommand, reportCommand, auditCommand, forgetCommand];

/** Exit code for bad usage (unknown command, missing or malformed flag). */
export const EXIT_USAGE = 2;

function mainUsage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: keel <command> [options]',
    '',
    'keel: durable customer-service agents, served over WebSocket.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'keel <command> --help' for a command's options.",
    'Environment: KEEL_DATA_DIR (default ./.keel), HOST, PORT, KEEL_LOG_LEVEL.',
  ].join('\n');
}

/**
 * Runs `keel` with `argv` (without the node and script paths); resolves with the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await runCli(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd(), signal });
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    line(name === undefined ? io.stderr : io.stdout, mainUsage());
    return name === undefined ? EXIT_USAGE : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    line(io.stderr, `keel: unknown command ${JSON.stringify(name)}`);
    line(io.stderr, mainUsage());
    return EXIT_USAGE;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      line(io.stderr, `keel ${command.name}: ${err.message}`);
      line(io.stderr, command.usage);
      return EXIT_USAGE;
    }
    const message = isKeelError(err) ? `${err.code}: ${err.message}` : (err as Error).message ?? String(err);
    line(io.stderr, `keel ${command.name}: ${message}`);
    return 1;
  }
}
