import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVE_V8_POOL_SIZE, setsV8PoolSize, v8PoolHint } from '../../../src/cli/node-flags.js';

describe('the V8 helper pool keel serve runs with', () => {
  it('is what npm start and the recall bench pass', () => {
    const scripts = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.start).toContain(`node --v8-pool-size=${SERVE_V8_POOL_SIZE} `);
    expect(scripts['bench:recall']).toContain(`node --v8-pool-size=${SERVE_V8_POOL_SIZE} `);
  });

  it('is found on the command line or in NODE_OPTIONS, in either spelling', () => {
    expect(setsV8PoolSize(['--v8-pool-size=2'], undefined)).toBe(true);
    expect(setsV8PoolSize([], '--max-old-space-size=4096 --v8_pool_size=1')).toBe(true);
    expect(setsV8PoolSize(['--v8-pool-size', '3'], '')).toBe(true);
    expect(setsV8PoolSize(['--v8-pool-sizes=2', '--expose-gc'], '--inspect')).toBe(false);
  });

  it('hints only when Node\'s four helpers outnumber the cores and no pool was chosen', () => {
    expect(v8PoolHint([], undefined, 2)).toMatch(/4 V8 helper threads outnumber this machine's 2 cores.*--v8-pool-size=2/);
    expect(v8PoolHint([], undefined, 3)).toMatch(/3 cores/);
    expect(v8PoolHint([], undefined, 4)).toBeUndefined();
    expect(v8PoolHint(['--v8-pool-size=1'], undefined, 2)).toBeUndefined();
    expect(v8PoolHint([], '--v8-pool-size=2', 1)).toBeUndefined();
  });
});
