/**
 * A session that rests emits no decision event; the inspector's list still learns it, at its next
 * health tick, and shows the session live and resting.
 */
import { describe, expect, it } from 'vitest';
import { tenantId, userId } from '../../../src/types.js';
import { useCleanups } from '../../support/cleanups.js';
import { connect, keelPerTest } from '../server/support/keel-harness.js';

describe('inspector: resting sessions', () => {
  const defer = useCleanups();
  const start = keelPerTest(defer, { runtime: { restAfterMs: 100 }, server: { inspector: { healthIntervalMs: 100 } } });

  it('sends a session row marked resting once the session rests, and awake again after its next turn', async () => {
    const h = await start();
    const { sessionId } = await h.runtime.open({ tenant: tenantId('acme'), user: userId('alice') });
    const page = connect(`${h.url.replace(/^http/, 'ws')}/inspector/ws`, { token: await h.token({ user: 'eng', role: 'engineer' }) });
    defer(() => page.close());
    await page.opened;
    await page.next((f) => f.type === 'welcome');
    page.send({ type: 'sessions' });
    await page.next((f) => f.type === 'sessions');

    await h.runtime.send(sessionId, { type: 'user.message', id: 'm1', text: 'hello' });
    const awake = await page.next((f) => f.type === 'session' && (f.session as { sessionId: string }).sessionId === sessionId);
    expect(awake.session).toMatchObject({ live: true, resting: false });
    const rested = await page.next((f) => f.type === 'session' && (f.session as { sessionId: string; resting: boolean }).sessionId === sessionId && (f.session as { resting: boolean }).resting);
    expect(rested.session).toMatchObject({ sessionId, live: true, resting: true });
    expect(h.runtime.stats().resting).toBe(1);

    await h.runtime.send(sessionId, { type: 'user.message', id: 'm2', text: 'again' });
    const woken = await page.next((f) => f.type === 'session' && (f.session as { sessionId: string }).sessionId === sessionId);
    expect(woken.session).toMatchObject({ live: true, resting: false });
  });
});
