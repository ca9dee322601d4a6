import { once } from 'node:events';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../../src/index.js';
import { createTokenKeyring } from '../../../src/security/token-keyring.js';
import { createTokenService } from '../../../src/security/tokens.js';
import { CLOSE_CODES } from '../../../src/server/close-codes.js';
import { useCleanups } from '../../support/cleanups.js';
import { tempDir } from '../../support/temp-dir.js';
import { connect, isReplyTo, keelPerTest, openChat } from './support/keel-harness.js';

const defer = useCleanups();
const keel = keelPerTest(defer);

describe('chat authentication', () => {
  it('closes 4408 when no auth frame arrives within authTimeoutMs', async () => {
    const h = await keel({ server: { authTimeoutMs: 150 } });
    const c = connect(h.wsUrl);
    await c.opened;
    const started = Date.now();
    const closed = await c.closed;
    expect(closed.code).toBe(CLOSE_CODES.authTimeout);
    expect(closed.reason).toMatch(/authentication timed out/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });

  it('closes 4401 when the first frame is not an auth frame', async () => {
    const h = await keel();
    const c = connect(h.wsUrl);
    await c.opened;
    c.send({ type: 'hello' });
    const closed = await c.closed;
    expect(closed.code).toBe(CLOSE_CODES.unauthorized);
    expect(closed.reason).toMatch(/authenticate first/);
  });

  it('closes 4401 when the first frame is binary', async () => {
    const h = await keel();
    const c = connect(h.wsUrl);
    await c.opened;
    c.ws.send(Buffer.from('{"type":"auth","token":"x"}'));
    const closed = await c.closed;
    expect(closed.code).toBe(CLOSE_CODES.unauthorized);
    expect(closed.reason).toMatch(/not binary/);
    expect(c.frames).toEqual([]);
  });

  it('closes 4401 for a token with a bad signature, in a header or a frame', async () => {
    const h = await keel();
    const token = await h.token();
    const [head, payload, sig] = token.split('.') as [string, string, string];
    const forged = `${head}.${payload}.${sig.slice(0, -4)}${sig.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`;
    const viaHeader = connect(h.wsUrl, { token: forged });
    expect(await viaHeader.closed).toMatchObject({ code: CLOSE_CODES.unauthorized, reason: expect.stringMatching(/signature/) });
    const viaFrame = connect(h.wsUrl);
    await viaFrame.opened;
    viaFrame.send({ type: 'auth', token: forged });
    expect(await viaFrame.closed).toMatchObject({ code: CLOSE_CODES.unauthorized, reason: expect.stringMatching(/signature/) });
  });

  it('closes 4401 for a token signed by another keyring', async () => {
    const h = await keel();
    const other = tempDir();
    defer(other.remove);
    const stranger = createTokenService({ keyring: createTokenKeyring({ dir: other.dir, env: {} }) });
    const c = connect(h.wsUrl, { token: await stranger.issueToken({ tenant: 'acme', user: 'u-1', role: 'customer' }) });
    expect((await c.closed).code).toBe(CLOSE_CODES.unauthorized);
  });

  it('closes 4401 for an expired token', async () => {
    const h = await keel();
    const past = createManualClock(Date.now() - 3_600_000);
    const old = createTokenService({ keyring: createTokenKeyring({ dir: h.dir, env: {} }), clock: past });
    const c = connect(h.wsUrl, { token: await old.issueToken({ tenant: 'acme', user: 'u-1', role: 'customer', ttlMs: 60_000 }) });
    expect(await c.closed).toMatchObject({ code: CLOSE_CODES.unauthorized, reason: expect.stringMatching(/expired/) });
  });

  it('closes 4401 with a garbage token and for an empty auth frame', async () => {
    const h = await keel();
    const a = connect(h.wsUrl, { token: 'not-a-jwt' });
    expect((await a.closed).code).toBe(CLOSE_CODES.unauthorized);
    const b = connect(h.wsUrl);
    await b.opened;
    b.send({ type: 'auth', token: '' });
    expect((await b.closed).code).toBe(CLOSE_CODES.unauthorized);
  });

  it('closes the connection with 4401 when the token expires while connected', async () => {
    const clock = createManualClock(Date.now());
    const h = await keel({ server: { clock } });
    const tokens = createTokenService({ keyring: createTokenKeyring({ dir: h.dir, env: {} }), clock });
    const c = await openChat(h, { token: await tokens.issueToken({ tenant: 'acme', user: 'u-1', role: 'customer', ttlMs: 10_000 }) });
    clock.advance(9_000);
    c.send({ type: 'message', id: 'm1', text: 'still valid' });
    await c.next(isReplyTo('m1'));
    clock.advance(1_500);
    expect(await c.closed).toMatchObject({ code: CLOSE_CODES.unauthorized, reason: expect.stringMatching(/expired/) });
  });

  it('closes the inspector page with 4401 when its token expires while connected', async () => {
    const clock = createManualClock(Date.now());
    const h = await keel({ server: { clock } });
    const tokens = createTokenService({ keyring: createTokenKeyring({ dir: h.dir, env: {} }), clock });
    const token = await tokens.issueToken({ tenant: 'acme', user: 'eng', role: 'engineer', ttlMs: 10_000 });
    const page = connect(`${h.url.replace(/^http/, 'ws')}/inspector/ws`, { token });
    await page.opened;
    await page.next((f) => f.type === 'welcome');
    clock.advance(9_000);
    page.send({ type: 'sessions' });
    await page.next((f) => f.type === 'sessions');
    clock.advance(1_500);
    expect(await page.closed).toMatchObject({ code: CLOSE_CODES.unauthorized, reason: expect.stringMatching(/expired/) });
  });

  it('refuses a browser origin that is not allowed with 4403, and accepts same-origin and listed ones', async () => {
    const h = await keel({ server: { allowedOrigins: ['https://shop.example'] } });
    const token = await h.token();
    const evil = connect(h.wsUrl, { token, origin: 'https://evil.example' });
    expect(await evil.closed).toMatchObject({ code: CLOSE_CODES.forbidden, reason: expect.stringMatching(/origin/) });
    const same = connect(h.wsUrl, { token, origin: h.url });
    await same.opened;
    same.send({ type: 'hello' });
    expect((await same.next()).type).toBe('ready');
    const listed = connect(h.wsUrl, { token, origin: 'https://shop.example' });
    await listed.opened;
    listed.send({ type: 'hello' });
    expect((await listed.next()).type).toBe('ready');
    same.close();
    listed.close();
  });

  it('survives a protocol error on a socket it refused for its origin, and cuts a refused socket that never answers', async () => {
    const h = await keel();
    const port = Number(new URL(h.url).port);
    /** A raw handshake from a foreign origin; resolves with the socket once the 101 has arrived. */
    const refusedSocket = async () => {
      const raw = net.connect(port, '127.0.0.1');
      raw.on('error', () => undefined);
      const closed = new Promise<number>((resolve) => raw.once('close', () => resolve(Date.now())));
      await once(raw, 'connect');
      raw.write(`GET /chat HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://evil.example\r\n\r\n`);
      let head = '';
      await new Promise<void>((resolve) => raw.on('data', (d: Buffer) => {
        head += d.toString('latin1');
        if (head.includes('\r\n\r\n')) resolve();
      }));
      expect(head).toMatch(/^HTTP\/1\.1 101/);
      return { raw, closed };
    };
    const rude = await refusedSocket();
    const silent = await refusedSocket();
    const silentSince = Date.now();
    // An unmasked frame from a client is a protocol error on the server's side, raised while the
    // server waits for this refused peer's close frame; with no listener it would end the process.
    rude.raw.write(Buffer.from([0x81, 0x02, 0x68, 0x69]));
    await rude.closed;
    // The silent one never answers the close: cut after a short deadline, not ws's 30 s.
    expect((await silent.closed) - silentSince).toBeLessThan(10_000);
    const c = connect(h.wsUrl, { token: await h.token() });
    await c.opened;
    c.send({ type: 'hello' });
    expect((await c.next()).type).toBe('ready');
    c.close();
  }, 20_000);

  it('uses the data directory keyring when no verifier is given', async () => {
    const h = await keel({ defaultVerifier: true });
    const c = await openChat(h);
    c.send({ type: 'message', id: 'm1', text: 'hi' });
    expect((await c.next(isReplyTo('m1'))).text).toBe('echo 0: hi');
  });

  it("refuses to resume another user's session and keeps the connection", async () => {
    const h = await keel();
    const owner = await openChat(h);
    const intruder = connect(h.wsUrl, { token: await h.token({ user: 'u-2' }) });
    await intruder.opened;
    intruder.send({ type: 'hello', sessionId: owner.sessionId, lastSeq: 0 });
    expect(await intruder.next()).toMatchObject({ type: 'error', code: 'forbidden' });
    const otherTenant = connect(h.wsUrl, { token: await h.token({ tenant: 'globex' }) });
    await otherTenant.opened;
    otherTenant.send({ type: 'hello', sessionId: owner.sessionId });
    expect(await otherTenant.next()).toMatchObject({ type: 'error', code: 'forbidden' });
    intruder.send({ type: 'hello', sessionId: 'no-such-session' });
    expect(await intruder.next()).toMatchObject({ type: 'error', code: 'unknown_session' });
    intruder.send({ type: 'hello' });
    expect(await intruder.next()).toMatchObject({ type: 'ready', lastSeq: 0 });
  });

  it('lets an engineer read a session of the tenant but not write to it', async () => {
    const h = await keel();
    const owner = await openChat(h);
    owner.send({ type: 'message', id: 'm1', text: 'hello' });
    await owner.next(isReplyTo('m1'));
    const eng = await openChat(h, { token: await h.token({ user: 'eng-1', role: 'engineer' }), sessionId: owner.sessionId, lastSeq: 0 });
    await eng.waitFor((f) => f.type === 'reply');
    eng.send({ type: 'message', id: 'e1', text: 'let me in' });
    expect(await eng.next((f) => f.type === 'error')).toMatchObject({ code: 'forbidden', id: 'e1' });
    const fresh = connect(h.wsUrl, { token: await h.token({ user: 'eng-1', role: 'engineer' }) });
    await fresh.opened;
    fresh.send({ type: 'hello' });
    expect(await fresh.next()).toMatchObject({ type: 'error', code: 'forbidden' });
  });
});
