import { describe, expect, it } from 'vitest';
import { createRuntime } from '../../../src/index.js';
import { createServer } from '../../../src/server/server.js';
import { createTestMachine } from '../../fixtures/test-machines.js';
import { useCleanups } from '../../support/cleanups.js';
import { tempDir } from '../../support/temp-dir.js';
import { connect, isReplyTo, openChat, startKeel } from './support/keel-harness.js';

const defer = useCleanups();

describe('server lifecycle', () => {
  it('closes idempotently and in order: stop accepting, 1001 to every socket, then the runtime', async () => {
    const h = await startKeel();
    defer(h.remove);
    const a = await openChat(h);
    const b = connect(h.wsUrl);
    await b.opened;
    a.send({ type: 'message', id: 'm1', text: 'hi' });
    await a.next(isReplyTo('m1'));
    const first = h.server.close();
    const second = h.server.close();
    expect(second).toBe(first);
    expect(await a.closed).toMatchObject({ code: 1001, reason: 'server shutting down' });
    expect((await b.closed).code).toBe(1001);
    await first;
    await expect(fetch(`${h.url}/healthz`)).rejects.toThrow();
    await expect(h.runtime.send(a.sessionId, { type: 'user.message', id: 'm2', text: 'late' })).rejects.toMatchObject({ code: 'runtime_closed' });
  });

  it('leaves a runtime it does not own open', async () => {
    const t = tempDir();
    defer(t.remove);
    const runtime = createRuntime({ dataDir: t.dir, machine: createTestMachine() });
    defer(() => runtime.close());
    const server = createServer({ runtime, port: 0 });
    await server.listen();
    await server.close();
    const { sessionId } = await runtime.open({ tenant: 'acme' as never, user: 'u' as never });
    expect((await runtime.send(sessionId, { type: 'user.message', id: 'm', text: 'x' })).frames[0]?.text).toBe('echo 0: x');
  });

  it('terminates sockets that do not finish the closing handshake within shutdownTimeoutMs', async () => {
    const h = await startKeel({ server: { shutdownTimeoutMs: 100 } });
    defer(h.remove);
    const stuck = await openChat(h);
    stuck.ws.pause();
    const started = Date.now();
    await h.server.close();
    expect(Date.now() - started).toBeLessThan(2000);
    stuck.ws.resume();
    expect([1001, 1006]).toContain((await stuck.closed).code);
  });

  it('refuses to listen again after close, and reports the port in use clearly', async () => {
    const h = await startKeel();
    defer(h.remove, () => h.stop());
    const t = tempDir();
    defer(t.remove);
    const runtime = createRuntime({ dataDir: t.dir, machine: createTestMachine() });
    const clash = createServer({ runtime, ownsRuntime: true, port: h.port });
    defer(() => clash.close());
    await expect(clash.listen()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await clash.close();
    await expect(clash.listen()).rejects.toThrow(/closed/);
  });
});
