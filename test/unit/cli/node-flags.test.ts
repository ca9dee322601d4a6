/**
 * `keel` (the package bin) and `npm start` run Node with the same flags, and the bin's flags are
 * what Node really gets when the file is executed (docs/operations.md, "Node flags").
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../../../', import.meta.url);
const FLAG = '--max-semi-space-size=64';

describe('Node flags', () => {
  it('the bin and npm start both ask for 64 MiB semi-spaces', () => {
    const shebang = readFileSync(new URL('src/cli/keel.ts', root), 'utf8').split('\n')[0];
    expect(shebang).toBe(`#!/usr/bin/env -S node ${FLAG}`);
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };
    expect(pkg.scripts.start).toBe(`node ${FLAG} ${pkg.bin.keel!.replace(/^\.\//, '')} serve`);
  });

  it('a file with that first line, executed, runs in a Node that got the flag', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keel-flags-'));
    try {
      const shebang = readFileSync(new URL('src/cli/keel.ts', root), 'utf8').split('\n')[0]!;
      const script = join(dir, 'probe.mjs');
      writeFileSync(script, `${shebang}\nprocess.stdout.write(JSON.stringify(process.execArgv));\n`);
      chmodSync(script, 0o755);
      expect(JSON.parse(execFileSync(script, { encoding: 'utf8' })) as string[]).toContain(FLAG);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
