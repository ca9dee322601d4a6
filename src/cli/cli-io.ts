/**
 * What every `keel` command receives: its streams and environment, injected so commands run
 * in-process in tests exactly as they do from a shell. Also the shared usage-error handling.
 */
import { resolve } from 'node:path';

/** The process surface a command may use. */
export interface CliIo {
  readonly stdin: NodeJS.ReadableStream;
  readonly stdout: NodeJS.WritableStream & { readonly isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** Aborted on SIGINT/SIGTERM: long-running commands (`serve`, `chat`) stop gracefully. */
  readonly signal: AbortSignal;
}

/** One `keel` sub-command. */
export interface CliCommand {
  readonly name: string;
  /** One line for `keel --help`. */
  readonly summary: string;
  /** The full `--help` text. */
  readonly usage: string;
  /** Runs the command; resolves with the exit code. Throw {@link UsageError} for bad arguments. */
  run(args: readonly string[], io: CliIo): Promise<number>;
}

/** Bad arguments: the CLI prints the message and the command's usage, and exits with 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The `--help` / `-h` flag every command takes. */
export const HELP_OPTION = Object.freeze({ type: 'boolean', short: 'h' } as const);

/**
 * Runs an argument parse (`node:util` parseArgs, strict) and turns its errors into
 * {@link UsageError}s.
 *
 * @example
 * ```ts
 * const { values } = usageErrors(() => parseArgs({ args: [...args], options: { tenant: { type: 'string' }, help: HELP_OPTION }, strict: true }));
 * ```
 */
export function usageErrors<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/**
 * The data directory: `--data-dir`, else `KEEL_DATA_DIR`, else `./.keel`, resolved against cwd.
 *
 * @example
 * ```ts
 * dataDirOf(undefined, io); // '/home/ann/shop/.keel'
 * ```
 */
export function dataDirOf(flag: string | undefined, io: CliIo): string {
  return resolve(io.cwd, flag ?? io.env.KEEL_DATA_DIR ?? './.keel');
}

/**
 * A required string flag, or a {@link UsageError} naming it.
 *
 * @example
 * ```ts
 * const tenant = required(values.tenant, '--tenant');
 * ```
 */
export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing ${flag}`);
  return value;
}

/**
 * A positive integer flag (digits only), `fallback` when absent, or a {@link UsageError} naming it.
 *
 * @example
 * ```ts
 * const limit = positiveInt(values.limit, '--limit', 1000);
 * ```
 */
export function positiveInt(text: string | undefined, flag: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} must be a positive integer`);
  return n;
}

/**
 * Writes one line.
 *
 * @example
 * ```ts
 * line(io.stderr, 'keel: shutting down');
 * ```
 */
export function line(stream: NodeJS.WritableStream, text = ''): void {
  stream.write(`${text}\n`);
}
