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

/** True when `--v8-pool-size` is among these Node options (command line or `NODE_OPTIONS`). */
export function setsV8PoolSize(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  return given.some((arg) => arg === '--v8-pool-size' || arg.startsWith('--v8-pool-size=') || arg === '--v8_pool_size' || arg.startsWith('--v8_pool_size='));
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
