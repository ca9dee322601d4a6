/**
 * Node flags `keel serve` is meant to run with, and the hint printed when it runs without them.
 *
 * Node starts V8 with four helper threads whatever the machine (`--v8-pool-size`, default 4). V8
 * runs concurrent marking and the parallel phases of its collections on them at the event loop's
 * priority, so on a machine with fewer than four cores they take the cores from the event loop and
 * stretch its pauses (docs/operations.md, Node flags; `npm run bench:v8-pool`). `npm start` passes
 * the flag below.
 */

/** The V8 helper pool `npm start` runs `keel serve` with. */
export const SERVE_V8_POOL_SIZE = 2;

/** The V8 helper pool Node starts when no `--v8-pool-size` is given. */
const NODE_DEFAULT_V8_POOL_SIZE = 4;

/** The last `--v8-pool-size` among these arguments (`=N` or ` N`, dashes or underscores), if any. */
function poolSizeIn(args: readonly string[]): number | undefined {
  let found: number | undefined;
  args.forEach((arg, i) => {
    const m = /^--v8[-_]pool[-_]size(?:=(\d+))?$/.exec(arg);
    const value = m?.[1] ?? (m && /^\d+$/.test(args[i + 1] ?? '') ? args[i + 1] : undefined);
    if (value !== undefined) found = Number(value);
  });
  return found;
}

/**
 * The V8 helper pool chosen in these Node options, or undefined for Node's default: the command
 * line's flag wins over `NODE_OPTIONS`', as in Node.
 */
export function v8PoolSizeOf(execArgv: readonly string[], nodeOptions: string | undefined): number | undefined {
  return poolSizeIn(execArgv) ?? poolSizeIn((nodeOptions ?? '').split(/\s+/));
}

/** True when `--v8-pool-size` is among these Node options (command line or `NODE_OPTIONS`). */
export function setsV8PoolSize(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return v8PoolSizeOf(execArgv, nodeOptions) !== undefined;
}

/**
 * The line `keel serve` prints when Node's default helper pool outnumbers the machine's cores, or
 * undefined when the pool was chosen or fits.
 */
export function v8PoolHint(execArgv: readonly string[], nodeOptions: string | undefined, cores: number): string | undefined {
  if (cores >= NODE_DEFAULT_V8_POOL_SIZE || setsV8PoolSize(execArgv, nodeOptions)) return undefined;
  return `note: Node's ${NODE_DEFAULT_V8_POOL_SIZE} V8 helper threads outnumber this machine's ${cores} cores and lengthen event-loop pauses; ` +
    `start with node --v8-pool-size=${SERVE_V8_POOL_SIZE} (npm start does) or NODE_OPTIONS=--v8-pool-size=${SERVE_V8_POOL_SIZE}`;
}
