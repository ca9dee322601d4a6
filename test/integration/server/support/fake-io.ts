/** In-memory stdin/stdout/stderr for running `keel` commands in-process. */
import { PassThrough } from 'node:stream';
import type { CliIo } from '../../../../src/cli/cli-io.js';

export interface FakeIo extends CliIo {
  readonly input: PassThrough;
  out(): string;
  err(): string;
  /** Resolves when stderr (or stdout) has printed text matching `pattern`. */
  waitFor(pattern: RegExp, stream?: 'out' | 'err', timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(): void;
}

export function fakeIo(options: { env?: Record<string, string | undefined>; cwd?: string; tty?: boolean } = {}): FakeIo {
  const input = new PassThrough();
  const stdout = Object.assign(new PassThrough(), { isTTY: options.tty ?? false });
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  stdout.on('data', (d: Buffer) => {
    out += d.toString();
    for (const l of [...listeners]) l();
  });
  stderr.on('data', (d: Buffer) => {
    err += d.toString();
    for (const l of [...listeners]) l();
  });
  const controller = new AbortController();
  return {
    input,
    stdin: input,
    stdout,
    stderr,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
    signal: controller.signal,
    out: () => out,
    err: () => err,
    stop: () => controller.abort(),
    waitFor(pattern, stream = 'err', timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = (stream === 'err' ? err : out).match(pattern);
          if (!m) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(m);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${pattern} in std${stream}:\n${stream === 'err' ? err : out}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
  };
}
