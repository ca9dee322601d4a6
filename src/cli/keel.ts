#!/usr/bin/env -S node --max-semi-space-size=64
/**
 * The `keel` executable (package bin, compiled to dist/src/cli/keel.js). SIGINT and SIGTERM stop
 * long-running commands gracefully; a second signal exits at once.
 *
 * Node runs it with young-generation semi-spaces of 64 MiB (V8's default is 16): turns allocate
 * short-lived objects fast, and with the default the young generation filled and was scavenged
 * about three times as often, for about twice the GC time (docs/operations.md, "Node flags";
 * `npm start` passes the same flag).
 */
import { runCli } from './cli-main.js';

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
