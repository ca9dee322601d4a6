/**
 * The inspector page in headless Chromium against a real server running the demo support agent:
 * a live session changes state on the statechart and in the list as turns happen, the timeline
 * shows the reason for each decision with the retries and the fallback of a failing tool, an
 * alert raised by injected failures shows as a banner, an admin forces a hand-off, history and
 * diagnostics answer, an engineer cannot send signals and a customer token is refused.
 */
import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { describeInBrowser, screenshotPath } from '../../support/browser.js';
import { startInspectorHarness, type InspectorHarness } from './support/inspector-harness.js';

describeInBrowser('inspector page', ({ newPage, defer }) => {
  const start = async (options: Parameters<typeof startInspectorHarness>[0] = {}): Promise<InspectorHarness> => {
    const h = await startInspectorHarness(options);
    defer(h.remove, () => h.stop());
    return h;
  };

  const openPage = async (h: InspectorHarness, token: string, waitOnline = true): Promise<Page> => {
    const page = await newPage({ width: 1440, height: 900 });
    await page.goto(`${h.url}/inspector#token=${token}`);
    if (waitOnline) await page.locator('#status[data-state="online"]').waitFor({ timeout: 8000 });
    return page;
  };

  const row = (page: Page, sessionId: string) => page.locator(`.session-row[data-session="${sessionId}"]`);
  const activeLeaf = (page: Page, path: string) => page.locator(`#chart .state.state-atomic.active[data-path="${path}"]`);

  it('follows a live session on its statechart and timeline, shows the alert, and lets an admin force a hand-off', async () => {
    const h = await start({
      failing: ['track_order'],
      server: { alertRules: [{ name: 'fallback_rate', type: 'rate', kinds: ['fallback'], threshold: 0.5, windowMs: 600_000, minSamples: 2 }], inspector: { healthIntervalMs: 200 } },
    });
    const ann = await h.open('alice');
    const bob = await h.open('bob');
    await h.say(bob, 'where is my order 2001?');
    // The page's health starts from the trace: let Bob's turn reach it first.
    await expect.poll(() => h.runtime.events.query({ session: bob as never, kinds: ['reply'] }).length, { timeout: 5000 }).toBe(1);
    const page = await openPage(h, await h.staff('admin'));
    expect(page.url()).not.toContain('token=');
    await row(page, ann).waitFor({ timeout: 5000 });
    await row(page, bob).waitFor({ timeout: 5000 });
    await expect.poll(() => page.locator('#who').textContent()).toContain('admin');

    await row(page, ann).click();
    await page.locator('#detail-title').filter({ hasText: ann }).waitFor({ timeout: 5000 });
    await activeLeaf(page, 'conversation.idle').waitFor({ timeout: 5000 });

    // A turn: the carrier is down, so the trace shows two retries and the fallback to the cache.
    await h.say(ann, 'where is my order 1042?');
    await expect.poll(() => page.locator('#timeline li[data-kind="retry"]').count(), { timeout: 8000 }).toBe(2);
    await page.locator('#timeline li[data-kind="reply"]').first().waitFor({ timeout: 8000 });
    expect(await page.locator('#timeline li[data-kind="fallback"]').count()).toBeGreaterThanOrEqual(1);
    expect(await page.locator('#timeline li[data-kind="retry"] .facts').first().textContent()).toMatch(/track_order failed · \d+ ms · args orderId=1042/);
    expect(await page.locator('#timeline li[data-kind="route"] .bars').count()).toBeGreaterThan(0);
    expect(await page.locator('#timeline li[data-kind="route"] .thresholds').first().textContent()).toContain('out of scope');
    await activeLeaf(page, 'conversation.idle').waitFor({ timeout: 8000 });

    // Another: the refund task starts and waits for the order number; list and chart follow live.
    await h.say(ann, 'I want a refund');
    await expect.poll(() => row(page, ann).getAttribute('data-state'), { timeout: 8000 }).toContain('conversation.task.collecting');
    await activeLeaf(page, 'conversation.task.collecting').waitFor({ timeout: 8000 });
    expect(await activeLeaf(page, 'conversation.idle').count()).toBe(0);
    await page.locator('#timeline li[data-kind="route"][data-reason="startTask"]').nth(1).waitFor({ timeout: 5000 });

    // Two turns out of three fell back (Bob's and Ann's order questions): the alert fires.
    await page.locator('#alert-banner:not([hidden]) [data-rule="fallback_rate"]').waitFor({ timeout: 8000 });
    await expect.poll(() => page.locator('#health [data-metric="turns"]').textContent(), { timeout: 8000 }).toBe('3');
    expect(await page.locator('#health [data-metric="fallbackRate"]').textContent()).toBe('66.7 %');
    await page.locator('#timeline li[data-kind="retry"]').first().evaluate((el) => el.scrollIntoView({ block: 'center' }));
    await page.screenshot({ path: screenshotPath('inspector.png') });

    // The admin forces a hand-off; the session moves to the hand-off states on the chart.
    await page.locator('#op-handoff').click();
    await page.locator('#op-text').fill('supervisor takes over');
    await page.locator('#op-send').click();
    await page.locator('#toast:not([hidden])').filter({ hasText: 'operator.handoff sent' }).waitFor({ timeout: 8000 });
    await expect.poll(() => h.runtime.describe(ann)?.state, { timeout: 8000 }).toContain('conversation.handoff');
    await expect.poll(() => row(page, ann).getAttribute('data-state'), { timeout: 8000 }).toContain('conversation.handoff');
    expect(await page.locator('#chart .state.active[data-path="conversation.handoff"]').count()).toBe(1);
    await page.locator('#timeline li[data-kind="escalate"][data-reason="operator"]').waitFor({ timeout: 5000 });
    const audit = h.runtime.audit.read({ limit: 1000 });
    expect(audit.some((r) => r.action === 'inspector.operator.handoff' && r.outcome === 'ok' && r.actor.role === 'admin')).toBe(true);
  });

  it('answers history by range and user, and builds the diagnostics report', async () => {
    const h = await start({ failing: ['track_order'] });
    const ann = await h.open('alice');
    const bob = await h.open('bob');
    await h.say(ann, 'where is my order 1042?');
    await h.say(bob, 'what is your returns policy?');
    await h.say(bob, 'blorp fizz wug');
    const page = await openPage(h, await h.staff('engineer'));
    // Engineers observe: no operator controls.
    await row(page, ann).click();
    await page.locator('#detail-title').filter({ hasText: ann }).waitFor({ timeout: 5000 });
    expect(await page.locator('#operator').isHidden()).toBe(true);

    await page.locator('#h-user').fill('alice');
    await page.locator('#h-kinds').selectOption(['retry', 'fallback']);
    await page.locator('#h-run').click();
    await expect.poll(() => page.locator('#history-summary').textContent(), { timeout: 8000 }).toMatch(/^\d+ events/);
    const kinds = await page.locator('#history-results li').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-kind')));
    expect(kinds.length).toBeGreaterThanOrEqual(3);
    expect(new Set(kinds)).toEqual(new Set(['retry', 'fallback']));
    expect(await page.locator('#history-results .where').first().textContent()).toContain('user alice');

    // A range that ends before anything happened finds nothing.
    await page.locator('#h-kinds').selectOption([]);
    await page.locator('#h-until').fill('2020-01-02T00:00');
    await page.locator('#h-since').fill('2020-01-01T00:00');
    await page.locator('#h-run').click();
    await expect.poll(() => page.locator('#history-summary').textContent(), { timeout: 8000 }).toBe('0 events');

    await page.locator('#tab-report').click();
    await page.locator('#r-run').click();
    await page.locator('#report-body table').first().waitFor({ timeout: 8000 });
    const reportText = await page.locator('#report-body').textContent();
    expect(reportText).toContain('Tools that break');
    expect(reportText).toContain('track_order');
    await page.screenshot({ path: screenshotPath('inspector-report.png') });
  });

  it('refuses a customer token and says why', async () => {
    const h = await start();
    const page = await openPage(h, await h.staff('customer'), false);
    await page.locator('#status[data-state="refused"]').waitFor({ timeout: 8000 });
    expect(await page.locator('#fatal').textContent()).toContain('engineer or admin');
    expect(await page.locator('.session-row').count()).toBe(0);
  });
});
