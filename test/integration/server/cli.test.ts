import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { COMMANDS, runCli } from '../../../src/cli/cli-main.js';
import { SERVE_V8_POOL_SIZE } from '../../../src/cli/node-flags.js';
import { createTenantKeyStore } from '../../../src/security/tenant-keys.js';
import { tenantId } from '../../../src/types.js';
import { createTokenKeyring } from '../../../src/security/token-keyring.js';
import { createTokenService } from '../../../src/security/tokens.js';
import { useCleanups } from '../../support/cleanups.js';
import { tempDir } from '../../support/temp-dir.js';
import { fakeIo } from './support/fake-io.js';
import { isReplyTo, openChat, startKeel } from './support/keel-harness.js';

const defer = useCleanups();

function dataDir(): string {
  const t = tempDir('keel-cli-');
  defer(t.remove);
  return t.dir;
}

describe('keel CLI', () => {
  it('prints usage and exits 2 for no command or an unknown one; 0 for --help', async () => {
    const none = fakeIo();
    expect(await runCli([], none)).toBe(2);
    expect(none.err()).toMatch(/Usage: keel <command>/);
    const unknown = fakeIo();
    expect(await runCli(['frobnicate'], unknown)).toBe(2);
    expect(unknown.err()).toMatch(/unknown command "frobnicate"/);
    const help = fakeIo();
    expect(await runCli(['--help'], help)).toBe(0);
    expect(help.out()).toMatch(/serve .*\n.*token .*\n.*chat .*\n.*sessions/);
    for (const command of COMMANDS.map((c) => c.name)) {
      const io = fakeIo();
      expect(await runCli([command, '-h'], io), command).toBe(0);
      expect(io.out()).toMatch(new RegExp(`Usage: keel ${command}`));
    }
  });

  it('refuses arguments a command does not take, and says when the data directory holds no data', async () => {
    for (const command of ['serve', 'token', 'chat', 'events', 'report']) {
      const io = fakeIo({ env: { KEEL_DATA_DIR: dataDir() } });
      expect(await runCli([command, 'stray'], io), command).toBe(2);
      expect(io.err()).toMatch(new RegExp(`keel ${command}: .*stray[\\s\\S]*Usage: keel ${command}`));
    }
    for (const args of [['audit', 'verify'], ['sessions'], ['events'], ['report'], ['forget', '--tenant', 'acme', '--user', 'u-1', '--yes']]) {
      const dir = dataDir();
      const io = fakeIo({ env: { KEEL_DATA_DIR: dir } });
      expect(await runCli(args, io), args[0]).toBe(1);
      expect(io.err()).toBe(`keel ${args[0]}: no keel data in ${dir} (set --data-dir or KEEL_DATA_DIR)\n`);
    }
  });

  it('exits 2 with the usage for missing or malformed flags', async () => {
    const cases: string[][] = [
      ['token', '--tenant', 'acme', '--user', 'u'],
      ['token', '--tenant', 'acme', '--user', 'u', '--role', 'king'],
      ['token', '--tenant', 'acme', '--user', 'u', '--role', 'customer', '--ttl', 'forever'],
      ['token', '--tenant', 'bad tenant', '--user', 'u', '--role', 'customer'],
      ['token', '--bogus'],
      ['serve', '--port', 'eighty'],
      ['serve', '--ops-access', 'open'],
      ['chat', '--url', 'http://x'],
      ['sessions', 'explode'],
      ['sessions', 'show'],
      ['sessions', '--limit', '0'],
    ];
    for (const args of cases) {
      const io = fakeIo({ env: { KEEL_DATA_DIR: dataDir() } });
      expect(await runCli(args, io), args.join(' ')).toBe(2);
      expect(io.err(), args.join(' ')).toMatch(/Usage: keel/);
    }
    // Settings from the environment are named as such.
    for (const [env, said] of [[{ PORT: 'abc' }, 'PORT must be an integer'], [{ KEEL_LOG_LEVEL: 'loud' }, 'KEEL_LOG_LEVEL must be one of fatal, error']] as const) {
      const io = fakeIo({ env: { KEEL_DATA_DIR: dataDir(), ...env } });
      expect(await runCli(['serve'], io)).toBe(2);
      expect(io.err()).toContain(said);
    }
  });

  it('issues a token the server accepts, with the data directory key file', async () => {
    const h = await startKeel({ defaultVerifier: true });
    defer(h.remove, () => h.stop());
    const io = fakeIo({ env: { KEEL_DATA_DIR: h.dir } });
    expect(await runCli(['token', '--tenant', 'acme', '--user', 'u-9', '--role', 'customer', '--ttl', '2h'], io)).toBe(0);
    const token = io.out().trim();
    const who = await createTokenService({ keyring: createTokenKeyring({ dir: h.dir, env: {} }) }).verifyToken(token);
    expect(who).toMatchObject({ tenant: 'acme', user: 'u-9', role: 'customer' });
    expect(who.expiresAt - Date.now()).toBeGreaterThan(7_000_000);
    const c = await openChat(h, { token });
    c.send({ type: 'message', id: 'm', text: 'cli token' });
    await c.next(isReplyTo('m'));
  });

  it('retires signing keys by id: new ids start with a letter, and an older dash-led id is retired with --retire=ID', async () => {
    const dir = dataDir();
    const run = async (argv: string[]): Promise<{ code: number; out: string; err: string }> => {
      const io = fakeIo({ env: { KEEL_DATA_DIR: dir } });
      const code = await runCli(argv, io);
      return { code, out: io.out(), err: io.err() };
    };
    const kids = [createTokenKeyring({ dir, env: {} }).current().kid];
    for (let i = 0; i < 3; i++) {
      expect((await run(['token', '--rotate'])).code).toBe(0);
      kids.push(createTokenKeyring({ dir, env: {} }).current().kid);
    }
    for (const kid of kids) expect(kid).toMatch(/^k[A-Za-z0-9_-]{12}$/);
    expect(await run(['token', '--retire', kids[0]!])).toMatchObject({ code: 0, err: expect.stringContaining(`retired key ${kids[0]}`) });

    // A key file written by an earlier keel may hold a base64url id that starts with '-'.
    const file = join(dir, 'token-keys.json');
    const dashKid = `-${kids[1]!.slice(1)}`;
    writeFileSync(file, readFileSync(file, 'utf8').replace(kids[1]!, dashKid), { mode: 0o600 });
    expect((await run(['token', '--keys'])).out).toContain(dashKid);
    const ambiguous = await run(['token', '--retire', dashKid]);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.err).toContain("use '--retire=-XYZ'");
    expect(await run(['token', `--retire=${dashKid}`])).toMatchObject({ code: 0, err: expect.stringContaining(`retired key ${dashKid}`) });
    const left = (await run(['token', '--keys'])).out;
    expect(left).not.toContain(dashKid);
    expect(left).toContain(`${kids[3]} (current)`);
  });

  it('serves until stopped, then shuts down gracefully', async () => {
    const dir = dataDir();
    const io = fakeIo({ env: { KEEL_DATA_DIR: dir, PORT: '0', KEEL_LOG_LEVEL: 'warn' } });
    const exit = runCli(['serve'], io);
    const [, url] = await io.waitFor(/keel serving (http:\/\/[^ ]+)\/ /);
    // It says how to open a page (a token command, never a token), with the same data directory.
    const [hint] = await io.waitFor(/open a page with a token: keel token [^\n]*/);
    expect(hint).toContain(`${url}/#token=<token>`);
    expect(hint).not.toMatch(/eyJ/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    const tokenIo = fakeIo({ env: { KEEL_DATA_DIR: dir } });
    await runCli(['token', '--tenant', 't', '--user', 'u', '--role', 'customer'], tokenIo);
    const chatIo = fakeIo({ env: {} });
    const chatting = runCli(['chat', '--url', `${url!.replace('http', 'ws')}/chat`, '--token', tokenIo.out().trim()], chatIo);
    chatIo.input.end('where is my order 1042?\n');
    expect(await chatting).toBe(0);
    // The default agent answers from the demo store's tools: a user new to the demo owns sample orders, not 1042.
    expect(chatIo.out()).toMatch(/agent> .*(1042|order)/i);
    expect(chatIo.out()).not.toMatch(/echo/);
    io.stop();
    expect(await exit).toBe(0);
    expect(io.err()).toMatch(/shutting down/);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('refuses a second server, and an erasure, on a data directory a running server holds; a killed server leaves a lock the next takes over', async () => {
    const dir = dataDir();
    const keelBin = fileURLToPath(new URL('../../../dist/src/cli/keel.js', import.meta.url));
    const child = spawn(process.execPath, [keelBin, 'serve'], { env: { ...process.env, KEEL_DATA_DIR: dir, PORT: '0', KEEL_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = once(child, 'exit');
    defer(() => void child.kill('SIGKILL'));
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await expect.poll(() => stderr, { timeout: 20_000 }).toMatch(/keel serving/);

    const second = fakeIo({ env: { KEEL_DATA_DIR: dir, PORT: '0', KEEL_LOG_LEVEL: 'warn' } });
    expect(await runCli(['serve'], second)).toBe(1);
    expect(second.err()).toContain(`is in use by process ${child.pid}`);
    const forget = fakeIo({ env: { KEEL_DATA_DIR: dir } });
    expect(await runCli(['forget', '--tenant', 'acme', '--user', 'u-1', '--yes'], forget)).toBe(1);
    expect(forget.err()).toContain(`is in use by process ${child.pid}`);

    child.kill('SIGKILL');
    await exited;
    expect(existsSync(join(dir, 'serve.lock'))).toBe(true);
    const third = fakeIo({ env: { KEEL_DATA_DIR: dir, PORT: '0', KEEL_LOG_LEVEL: 'warn' } });
    const serving = runCli(['serve'], third);
    await third.waitFor(/keel serving/);
    third.stop();
    expect(await serving).toBe(0);
    expect(existsSync(join(dir, 'serve.lock'))).toBe(false);
  }, 60_000);

  it('says when Node\'s V8 helper pool outnumbers the cores, and not when it runs as npm start runs it', async () => {
    const keelBin = fileURLToPath(new URL('../../../dist/src/cli/keel.js', import.meta.url));
    const serveOnce = async (nodeArgs: string[]) => {
      const child = spawn(process.execPath, [...nodeArgs, keelBin, 'serve'], { env: { ...process.env, NODE_OPTIONS: '', KEEL_DATA_DIR: dataDir(), PORT: '0', KEEL_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] });
      const exited = once(child, 'exit');
      defer(() => void child.kill('SIGKILL'));
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      await expect.poll(() => stderr, { timeout: 20_000 }).toMatch(/open a page with a token[^\n]*\n/);
      child.kill('SIGTERM');
      await exited;
      return stderr;
    };
    const [plain, likeNpmStart] = await Promise.all([serveOnce([]), serveOnce([`--v8-pool-size=${SERVE_V8_POOL_SIZE}`])]);
    if (availableParallelism() < 4) expect(plain).toMatch(/V8 helper threads outnumber this machine's \d cores/);
    else expect(plain).not.toMatch(/V8 helper threads/);
    expect(likeNpmStart).not.toMatch(/V8 helper threads/);
  }, 60_000);

  it('creates private files even in a data directory others may read', () => {
    const dir = dataDir();
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o755);
    const keelBin = fileURLToPath(new URL('../../../dist/src/cli/keel.js', import.meta.url));
    const out = spawnSync(process.execPath, [keelBin, 'token', '--tenant', 't', '--user', 'u', '--role', 'customer'], { env: { ...process.env, KEEL_DATA_DIR: dir }, encoding: 'utf8' });
    expect(out.status).toBe(0);
    for (const file of ['keel.mdb', 'token-keys.json']) expect((statSync(join(dir, file)).mode & 0o777).toString(8), file).toBe('600');
  });

  it('refuses to start when the master key is missing or does not open the tenant keys, before any customer finds out', async () => {
    const dir = dataDir();
    const master = 'a'.repeat(64);
    createTenantKeyStore({ dir, env: { KEEL_MASTER_KEY: master }, clock: systemClock }).current(tenantId('acme'));
    for (const [env, expected] of [[{}, /is wrapped with a master key; set KEEL_MASTER_KEY/], [{ KEEL_MASTER_KEY: 'b'.repeat(64) }, /KEEL_MASTER_KEY does not match/]] as const) {
      const io = fakeIo({ env: { KEEL_DATA_DIR: dir, PORT: '0', KEEL_LOG_LEVEL: 'warn', ...env } });
      expect(await runCli(['serve'], io)).toBe(1);
      expect(io.err()).toMatch(expected);
      expect(io.err()).not.toMatch(/keel serving/);
    }
  });

  it('ends keel chat with exit 1 when the server refuses its hello (another user\'s session), instead of waiting for ever', async () => {
    const h = await startKeel({ defaultVerifier: true });
    defer(h.remove, () => h.stop());
    const ann = await openChat(h, { token: await h.token({ user: 'ann' }) });
    ann.close();
    const io = fakeIo({ env: { KEEL_DATA_DIR: h.dir } });
    const exit = runCli(['chat', '--url', h.wsUrl, '--user', 'bob', '--session', ann.sessionId], io);
    io.input.end('hi\n');
    const code = await Promise.race([exit, new Promise((resolve) => setTimeout(() => resolve('still waiting'), 10_000))]);
    expect(code).toBe(1);
    expect(io.err()).toMatch(/forbidden/);
  }, 20_000);

  it('chats with a self-issued local token, and reconnects and resumes across a server restart', async () => {
    const first = await startKeel({ defaultVerifier: true });
    defer(first.remove);
    const io = fakeIo({ env: { KEEL_DATA_DIR: first.dir } });
    const exit = runCli(['chat', '--url', first.wsUrl, '--user', 'cli-ann'], io);
    await io.waitFor(/connected: session (\S+)/);
    io.input.write('one\n');
    await io.waitFor(/agent> echo 0: one/, 'out');
    await first.stop();
    await io.waitFor(/connection lost/);
    io.input.write('two\n');
    const second = await startKeel({ dir: first.dir, port: first.port, defaultVerifier: true });
    defer(() => second.stop());
    await io.waitFor(/reconnected/);
    await io.waitFor(/agent> echo 1: two/, 'out');
    io.input.end('three\n');
    expect(await exit).toBe(0);
    expect(io.out().match(/agent> /g)).toHaveLength(3);
    expect(io.err()).toMatch(/local customer token for local\/cli-ann/);
    // The token it issued itself is in the audit trail, as every issued token is.
    expect(second.runtime.audit.read({ limit: 1000 }).filter((r) => r.action === 'token.issue')).toEqual([
      expect.objectContaining({ target: 'user:cli-ann', outcome: 'ok', details: expect.objectContaining({ role: 'customer', by: 'keel chat' }) }),
    ]);
  });

  it('lists sessions and shows a redacted transcript while the server runs', async () => {
    const h = await startKeel();
    defer(h.remove, () => h.stop());
    const c = await openChat(h, { token: await h.token({ user: 'mia' }) });
    c.send({ type: 'message', id: 'm1', text: 'mail me at mia@example.com' });
    await c.next(isReplyTo('m1'));
    const list = fakeIo({ env: { KEEL_DATA_DIR: h.dir } });
    expect(await runCli(['sessions', '--json'], list)).toBe(0);
    expect(JSON.parse(list.out())).toEqual([expect.objectContaining({ sessionId: c.sessionId, tenant: 'acme', user: 'mia', seq: 2, state: 'idle' })]);
    const table = fakeIo({ env: { KEEL_DATA_DIR: h.dir } });
    expect(await runCli(['sessions', 'list', '--tenant', 'acme', '--user', 'mia'], table)).toBe(0);
    expect(table.out()).toMatch(/^SESSION\s+TENANT\s+USER/);
    expect(table.out()).toContain(c.sessionId);
    const show = fakeIo({ env: { KEEL_DATA_DIR: h.dir } });
    expect(await runCli(['sessions', 'show', c.sessionId], show)).toBe(0);
    expect(show.out()).toMatch(/user\s+\[m1\] mail me at \[email\]/);
    expect(show.out()).not.toContain('mia@example.com');
    const raw = fakeIo({ env: { KEEL_DATA_DIR: h.dir } });
    expect(await runCli(['sessions', 'show', c.sessionId, '--unredacted', '--json'], raw)).toBe(0);
    expect(JSON.parse(raw.out()).frames.map((f: { type: string }) => f.type)).toEqual(['ack', 'reply']);
    expect(raw.out()).toContain('mia@example.com');
    const missing = fakeIo({ env: { KEEL_DATA_DIR: h.dir } });
    expect(await runCli(['sessions', 'show', 'nope'], missing)).toBe(1);
    const empty = fakeIo({ env: { KEEL_DATA_DIR: dataDir() } });
    expect(await runCli(['sessions'], empty)).toBe(1);
    expect(empty.err()).toMatch(/no keel data/);
  });
});
