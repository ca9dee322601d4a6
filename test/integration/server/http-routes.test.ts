import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { useCleanups } from '../../support/cleanups.js';
import { tempDir } from '../../support/temp-dir.js';
import { isReplyTo, keelPerTest, openChat } from './support/keel-harness.js';

const defer = useCleanups();
const keel = keelPerTest(defer);

async function get(url: string, headers: Record<string, string> = {}, method = 'GET') {
  const res = await fetch(url, { headers, method });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** A non-loopback address of this machine, to reach the server as a remote peer would. */
function externalAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

describe('http routes', () => {
  it('serves /healthz and /metrics to loopback peers without a token by default', async () => {
    const h = await keel();
    const c = await openChat(h);
    c.send({ type: 'message', id: 'm1', text: 'hi' });
    await c.next(isReplyTo('m1'));
    c.send({ type: 'nonsense' });
    await c.next((f) => f.type === 'error');
    const health = await get(`${h.url}/healthz`);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.text)).toMatchObject({ status: 'ok', connections: 1, liveSessions: 1 });
    const metrics = await get(`${h.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/text\/plain/);
    expect(metrics.text).toMatch(/^keel_turns_total\{outcome="ok"\} 1$/m);
    expect(metrics.text).toMatch(/^keel_turn_duration_seconds_count 1$/m);
    expect(metrics.text).toMatch(/^keel_ws_connections 1$/m);
    expect(metrics.text).toMatch(/^keel_errors_total\{code="bad_frame"\} 1$/m);
    expect(metrics.text).toMatch(/^keel_live_sessions 1$/m);
    expect(metrics.text).toMatch(/^keel_process_cpu_seconds_total/m);
  });

  it('refuses a loopback request naming another host (a rebound DNS name) without a token, and counts unknown close codes as other', async () => {
    const h = await keel();
    const withHost = (path: string, host: string) => new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: h.port, path, headers: { host } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    for (const path of ['/healthz', '/metrics']) {
      expect(await withHost(path, `rebind.evil.example:${h.port}`)).toBe(401);
      expect(await withHost(path, `localhost:${h.port}`)).toBe(200);
      expect(await withHost(path, `[::1]:${h.port}`)).toBe(200);
    }
    // Close codes the peer picks are not labels of their own (a label per code would be unbounded).
    for (const code of [3000, 3999, 4000]) {
      const ws = new WebSocket(`${h.wsUrl}`);
      await new Promise((resolve) => ws.once('open', resolve));
      ws.close(code);
      await new Promise((resolve) => ws.once('close', resolve));
    }
    await expect.poll(async () => (await get(`${h.url}/metrics`)).text, { timeout: 5000 }).toMatch(/^keel_ws_closes_total\{code="other"\} 3$/m);
    expect((await get(`${h.url}/metrics`)).text).not.toMatch(/code="3000"|code="3999"|code="4000"/);
  });

  it("with opsAccess 'token' requires an engineer or admin token, even from loopback", async () => {
    const h = await keel({ server: { opsAccess: 'token' } });
    expect((await get(`${h.url}/healthz`)).status).toBe(401);
    expect((await get(`${h.url}/metrics`)).status).toBe(401);
    const customer = await h.token({ role: 'customer' });
    expect((await get(`${h.url}/metrics`, { authorization: `Bearer ${customer}` })).status).toBe(403);
    expect((await get(`${h.url}/metrics`, { authorization: 'Bearer forged.token.here' })).status).toBe(401);
    for (const role of ['engineer', 'admin'] as const) {
      const token = await h.token({ role, user: `${role}-1` });
      expect((await get(`${h.url}/metrics`, { authorization: `Bearer ${token}` })).status).toBe(200);
      expect((await get(`${h.url}/healthz`, { authorization: `Bearer ${token}` })).status).toBe(200);
    }
  });

  it("with the default 'loopback-or-token' refuses remote peers without a token", async () => {
    const address = externalAddress();
    if (!address) return; // No non-loopback interface on this machine: nothing to test.
    const h = await keel({ server: { host: '0.0.0.0' } });
    const remote = `http://${address}:${h.port}`;
    expect((await get(`${remote}/healthz`)).status).toBe(401);
    const engineer = await h.token({ role: 'engineer', user: 'eng' });
    expect((await get(`${remote}/healthz`, { authorization: `Bearer ${engineer}` })).status).toBe(200);
  });

  it('serves the chat page with a strict content security policy', async () => {
    const h = await keel();
    const page = await get(`${h.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(page.text).toMatch(/chat\.js/);
    for (const asset of ['/chat.js', '/chat.css', '/page-common.js']) expect((await get(`${h.url}${asset}`)).status).toBe(200);
    expect((await get(`${h.url}/`, {}, 'HEAD')).status).toBe(200);
    // Every spelling of a page's path, and every asset, carries the policy.
    for (const path of ['/chat.html', '/chat.html/', '/desk.html/', '/inspector//inspector.html', '/inspector/%2Finspector.html', '/inspector.html/', '/chat.js']) {
      const res = await get(`${h.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-security-policy'), path).toMatch(/frame-ancestors 'self'/);
    }
  });

  it('serves the inspector from the static directory, and only plain files inside it', async () => {
    const dir = tempDir();
    defer(dir.remove);
    writeFileSync(join(dir.dir, 'inspector.html'), '<!doctype html><title>inspector</title>');
    writeFileSync(join(dir.dir, 'inspector.js'), 'console.log(1)');
    writeFileSync(join(dir.dir, '.secret.json'), '{}');
    writeFileSync(join(dir.dir, 'notes.exe'), 'MZ');
    mkdirSync(join(dir.dir, 'vendor'));
    writeFileSync(join(dir.dir, 'vendor', 'lib.js'), '1');
    const h = await keel({ server: { staticDir: dir.dir } });
    expect((await get(`${h.url}/inspector`)).text).toMatch(/inspector/);
    expect((await get(`${h.url}/inspector/`)).status).toBe(200);
    expect((await get(`${h.url}/inspector.js`)).status).toBe(200);
    expect((await get(`${h.url}/inspector/inspector.js`)).status).toBe(200);
    expect((await get(`${h.url}/vendor/lib.js`)).status).toBe(200);
    expect((await get(`${h.url}/.secret.json`)).status).toBe(404);
    expect((await get(`${h.url}/notes.exe`)).status).toBe(404);
    expect((await get(`${h.url}/%2e%2e/%2e%2e/package.json`)).status).toBe(404);
    expect((await get(`${h.url}/vendor`)).status).toBe(404);
    expect((await get(`${h.url}/%E0%A4%A`)).status).toBe(400);
    expect((await get(`${h.url}/`)).status).toBe(404);
  });

  it('answers wrong methods, /chat without upgrade, and unknown upgrade paths', async () => {
    const h = await keel();
    expect((await get(`${h.url}/`, {}, 'POST')).status).toBe(405);
    expect((await get(`${h.url}/chat`)).status).toBe(426);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${h.url}/elsewhere`, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } });
      req.on('response', (res) => resolve(res.statusCode ?? 0));
      req.on('upgrade', () => reject(new Error('upgraded')));
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(404);
  });

  it('lets other parts of keel add HTTP routes', async () => {
    const h = await keel();
    h.server.addHttpRoute('/api/ping', (_req, res) => void res.end('pong'));
    expect((await get(`${h.url}/api/ping`)).text).toBe('pong');
  });
});
