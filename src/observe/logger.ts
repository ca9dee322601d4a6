/**
 * The one module that imports pino. Library code receives a {@link Logger} and never prints.
 */
import { pino, type DestinationStream } from 'pino';
import { createRedactor } from '../security/redact.js';

/** The logging surface keel uses (a subset of pino's). */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
  flush?(cb?: (err?: Error) => void): void;
}

/** The levels a logger may be set to, most severe first (`silent`: none). */
export const LOG_LEVELS = Object.freeze(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const);
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** True when `value` names a level (`KEEL_LOG_LEVEL`, say). */
export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

export interface LoggerOptions {
  /** Minimum level. Default `info` (`KEEL_LOG_LEVEL` in the CLI). */
  readonly level?: LogLevel;
  /** Where lines go. Default: standard output. */
  readonly destination?: DestinationStream;
  /**
   * Masks personal data (emails, phone numbers, cards, IBANs) in every string of every line.
   * Default: keel's redactor; `'none'` turns it off (only for logs that hold no personal data).
   */
  readonly redactText?: ((text: string) => string) | 'none';
}

/** Field names whose values are secrets and never logged. */
const SECRET_PATHS = ['token', 'secret', 'apiKey', 'authorization', 'password', '*.token', '*.secret', '*.apiKey', '*.authorization', '*.password', 'headers.authorization'];
/** The same names at any depth, censored while each line is scrubbed. */
const SECRET_KEY = /^(?:token|secret|apikey|api_key|authorization|password|cookie)$/i;
/** Objects nested deeper than this are replaced, not printed unscrubbed. */
const MAX_DEPTH = 8;

/**
 * Creates the process logger: JSON lines, secrets censored, personal data masked in every string
 * field (messages, error messages, bindings) through `redactText`.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: 'info' });
 * log.child({ session: 's-1' }).info({ state: 'idle' }, 'turn done');
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const redactText = options.redactText === 'none' ? undefined : (options.redactText ?? createRedactor().text);
  const scrub = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') return redactText ? redactText(value) : value;
    if (value === null || typeof value !== 'object') return value;
    if (depth > MAX_DEPTH) return '[nested too deep]';
    if (value instanceof Error) return { type: value.name, message: redactText ? redactText(value.message) : value.message, code: (value as { code?: unknown }).code };
    if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) && v !== undefined ? '[secret]' : scrub(v, depth + 1);
    return out;
  };
  const root = pino(
    {
      level: options.level ?? 'info',
      base: undefined,
      redact: { paths: SECRET_PATHS, censor: '[secret]' },
      formatters: redactText ? { log: (obj) => scrub(obj, 0) as Record<string, unknown> } : {},
      hooks: redactText
        ? {
            logMethod(args, method) {
              const patched = args.map((a) => (typeof a === 'string' ? redactText(a) : a)) as typeof args;
              method.apply(this, patched);
            },
          }
        : {},
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
  if (redactText) {
    // pino formats a child's bindings once, without `formatters.log`, and resets the bindings
    // formatter for children: a user id that is an email would be printed on every line. Children
    // inherit this override through their prototype, so grandchildren are scrubbed too.
    const child = root.child;
    root.child = function scrubbedChild(this: typeof root, bindings, childOptions) {
      return child.call(this, scrub(bindings, 0) as typeof bindings, childOptions);
    } as typeof root.child;
  }
  return root as unknown as Logger;
}

/** A logger that drops everything; the default for embedded use without a logger. */
export const silentLogger: Logger = createLogger({ level: 'silent' });
