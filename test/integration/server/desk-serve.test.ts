/**
 * `keel serve` puts the default agent's desk behind `/desk`: an agent connected there sees a
 * customer's request for a person, and the desk page is served.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/cli-main.js';
import { useCleanups } from '../../support/cleanups.js';
import { tempDir } from '../../support/temp-dir.js';
import { fakeIo } from './support/fake-io.js';
import { connect, isReplyTo } from './support/keel-harness.js';

const defer = useCleanups();

describe('keel serve and the desk', () => {
  it('serves /desk with the default agent\'s queue', async () => {
    const temp = tempDir('keel-desk-serve-');
    defer(temp.remove);
    const io = fakeIo({ env: { KEEL_DATA_DIR: temp.dir, PORT: '0', KEEL_LOG_LEVEL: 'warn' } });
    const exit = runCli(['serve'], io);
    defer(async () => {
      io.stop();
      expect(await exit).toBe(0);
    });
    const [, url] = await io.waitFor(/keel serving (http:\/\/[^ ]+)\/ /);
    expect(io.err()).toContain(`${url}/desk`);
    expect((await fetch(`${url}/desk`)).status).toBe(200);

    const token = async (user: string, role: string): Promise<string> => {
      const t = fakeIo({ env: { KEEL_DATA_DIR: temp.dir } });
      expect(await runCli(['token', '--tenant', 'acme', '--user', user, '--role', role], t)).toBe(0);
      return t.out().trim();
    };
    const ws = url!.replace(/^http/, 'ws');
    const desk = connect(`${ws}/desk`, { token: await token('sam', 'agent') });
    defer(() => desk.close());
    await desk.next((f) => f.type === 'ready');

    const chat = connect(`${ws}/chat`, { token: await token('ann', 'customer') });
    defer(() => chat.close());
    await chat.opened;
    chat.send({ type: 'hello' });
    const ready = await chat.next((f) => f.type === 'ready');
    chat.send({ type: 'message', id: 'h1', text: 'I want to talk to a human' });
    await chat.next(isReplyTo('h1'), 8000);
    expect(chat.frames.some((f) => f.type === 'handoff' && f.status === 'queued')).toBe(true);
    const queue = await desk.next((f) => f.type === 'queue' && (f.entries as unknown[]).length === 1, 8000);
    expect((queue.entries as Array<Record<string, unknown>>)[0]).toMatchObject({ sessionId: ready.sessionId, user: 'ann' });
  });
});
