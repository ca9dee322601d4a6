#!/usr/bin/env node
/**
 * The `keel` executable (package bin, compiled to dist/src/cli/keel.js). SIGINT and SIGTERM stop
 * long-running commands gracefully; a second signal exits at once. Everything it creates is for
 * its own user only (umask 077): a data directory that already exists with looser permissions
 * still gets private files (the LMDB file, index files, the demo store).
 */
import { runCli } from './cli-main.js';

process.umask(0o077);

const controller = new AbortController();
let signals = 0;
const onSignal = (signal: NodeJS.Signals): void => {
  signals++;
  if (signals > 1) process.exit(signal === 'SIGINT' ? 130 : 143);
  controller.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

process.exitCode = await runCli(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  signal: controller.signal,
});
process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);
