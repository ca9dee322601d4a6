/**
 * What every `keel` command does with its arguments before its own work: a strict flag parse
 * (bad flags are usage errors), `--help` printing the usage, `--data-dir` resolved, and, for
 * commands that read existing data, the data directory's LMDB environment opened and closed.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openEnv, type LmdbEnv } from '../store/lmdb-env.js';
import { HELP_OPTION, dataDirOf, line, usageErrors, type CliCommand, type CliIo } from './cli-io.js';

/** One flag, as `node:util` parseArgs describes it. */
export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  readonly short?: string;
}

/** What a flag of `spec` parses to. */
export type FlagValue<F extends FlagSpec> = F extends { readonly type: 'boolean' } ? boolean
  : F extends { readonly multiple: true } ? string[]
  : string;

/** The flags every command takes besides its own. */
const STANDARD_FLAGS = Object.freeze({ 'data-dir': { type: 'string' }, help: HELP_OPTION } as const);

/** The parsed flags of a command: each absent unless given. */
export type FlagValues<O extends Readonly<Record<string, FlagSpec>>> = {
  -readonly [K in keyof (O & typeof STANDARD_FLAGS)]?: FlagValue<(O & typeof STANDARD_FLAGS)[K]>;
};

/** What a command's `run` receives. */
export interface CommandArgs<O extends Readonly<Record<string, FlagSpec>>> {
  readonly values: FlagValues<O>;
  /** Arguments that are not flags (only for commands that take them). */
  readonly positionals: readonly string[];
  /** `--data-dir`, else `KEEL_DATA_DIR`, else `./.keel`, resolved against the working directory. */
  readonly dataDir: string;
  /**
   * Runs `use` on the data directory's LMDB environment and closes it after; when the directory
   * holds no keel data, says so on stderr and resolves with exit code 1 instead.
   */
  withData(use: (env: LmdbEnv) => Promise<number> | number): Promise<number>;
}

/** A command's name, help, flags and work. */
export interface CommandSpec<O extends Readonly<Record<string, FlagSpec>>> {
  readonly name: string;
  /** One line for `keel --help`. */
  readonly summary: string;
  /** The full `--help` text. */
  readonly usage: string;
  /** The command's own flags; `--data-dir` and `-h`/`--help` are added. */
  readonly flags: O;
  /** Whether it takes arguments that are not flags. Default false: one is a usage error. */
  readonly positionals?: boolean;
  /** Does the work; resolves with the exit code. Throw a `UsageError` for bad arguments. */
  run(args: CommandArgs<O>, io: CliIo): Promise<number>;
}

/**
 * Whether `dir` holds keel data (its LMDB file).
 *
 * @example
 * ```ts
 * hasKeelData('./.keel'); // false before the first `keel serve`
 * ```
 */
function hasKeelData(dir: string): boolean {
  return existsSync(join(dir, 'keel.mdb'));
}

/**
 * A `keel` command from its spec: parses the flags strictly, prints the usage for `--help`, and
 * hands the rest to `run`.
 *
 * @example
 * ```ts
 * export const helloCommand = defineCommand({
 *   name: 'hello', summary: 'says hello', usage: 'Usage: keel hello [--name N]',
 *   flags: { name: { type: 'string' } },
 *   async run({ values }, io) {
 *     line(io.stdout, `hello ${values.name ?? 'you'}`);
 *     return 0;
 *   },
 * });
 * ```
 */
export function defineCommand<const O extends Readonly<Record<string, FlagSpec>>>(spec: CommandSpec<O>): CliCommand {
  return {
    name: spec.name,
    summary: spec.summary,
    usage: spec.usage,
    async run(args, io) {
      const { values, positionals } = usageErrors(() =>
        parseArgs({ args: [...args], strict: true, allowPositionals: spec.positionals === true, options: { ...spec.flags, ...STANDARD_FLAGS } }),
      );
      const flags = values as FlagValues<O>;
      if (flags.help) {
        line(io.stdout, spec.usage);
        return 0;
      }
      const dataDir = dataDirOf(flags['data-dir'], io);
      return spec.run({
        values: flags,
        positionals,
        dataDir,
        async withData(use) {
          if (!hasKeelData(dataDir)) {
            line(io.stderr, `keel ${spec.name}: no keel data in ${dataDir} (set --data-dir or KEEL_DATA_DIR)`);
            return 1;
          }
          const env = openEnv({ dir: dataDir });
          try {
            return await use(env);
          } finally {
            await env.close();
          }
        },
      }, io);
    },
  };
}
