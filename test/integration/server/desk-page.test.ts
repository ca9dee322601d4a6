/**
 * The agent desk page and the customer chat page side by side in headless Chromium, against a
 * real server running the default agent: the customer asks for a person, the agent takes the
 * conversation from the queue, they talk both ways, and the agent hands back to the assistant.
 */
import type { FrameLocator } from 'playwright-core';
import { expect, it } from 'vitest';
import { describeInBrowser, screenshotPath } from '../../support/browser.js';
import { requestHeldRefund, startKeel } from './support/keel-harness.js';

/** Generous: the CPU is shared with other tests. */
const POLL = { timeout: 8000, interval: 25 };

describeInBrowser('agent desk page', ({ newPage, defer }) => {
  const say = async (frame: FrameLocator, text: string): Promise<void> => {
    await frame.locator('#input').fill(text);
    await frame.locator('#input').press('Enter');
  };
  const texts = (frame: FrameLocator, selector: string): Promise<string[]> => frame.locator(selector).allTextContents();

  it('hands a conversation to a person and back, with both pages side by side', async () => {
    const h = await startKeel({ defaultAgent: true });
    defer(h.remove, () => h.stop());
    const page = await newPage({ width: 1360, height: 760 });
    // A same-origin page holding both: the pages' CSP lets only their own origin frame them.
    await page.goto(`${h.url}/side-by-side`);
    const chatToken = await h.token({ user: 'ann' });
    const deskToken = await h.token({ user: 'sam', role: 'agent' });
    await page.setContent(`<!doctype html><html><head><style>
      body { margin: 0; display: flex; height: 100vh; background: #d9dee7; }
      iframe { border: 0; height: 100%; }
      #chat { width: 440px; flex: none; border-right: 6px solid #c3cad6; }
      #desk { flex: 1; }
    </style></head><body>
      <iframe id="chat" title="Customer" src="/#token=${chatToken}"></iframe>
      <iframe id="desk" title="Agent desk" src="/desk#token=${deskToken}"></iframe>
    </body></html>`);
    const chat = page.frameLocator('#chat');
    const desk = page.frameLocator('#desk');
    await chat.locator('#status[data-state="online"]').waitFor({ timeout: 10_000 });
    await desk.locator('#status[data-state="online"]').waitFor({ timeout: 10_000 });
    await expect.poll(() => desk.locator('#me').textContent(), POLL).toContain('Sam');

    await say(chat, 'Where is my order?');
    await expect.poll(() => chat.locator('#transcript li.agent').count(), { timeout: 8000 }).toBe(1);
    await say(chat, 'I want to talk to a human');
    await chat.locator('#handoff[data-status="queued"]').waitFor({ timeout: 8000 });

    const card = desk.locator('#queue li.card', { hasText: 'ann' });
    await card.waitFor({ timeout: 8000 });
    expect(await card.textContent()).toContain('I want to talk to a human');
    await card.locator('button', { hasText: 'Take' }).click();
    await desk.locator('#thread:not([hidden])').waitFor({ timeout: 8000 });
    await expect.poll(() => texts(desk, '#transcript li.customer'), POLL).toEqual(['annWhere is my order?', 'annI want to talk to a human']);
    await expect.poll(() => desk.locator('#queue li.card').count(), POLL).toBe(0);
    await chat.locator('#handoff[data-status="with_agent"]').waitFor({ timeout: 8000 });
    expect(await chat.locator('#handoff').textContent()).toContain('Sam');

    await say(desk, 'Hi Ann, I am Sam. I can see your order; let me check with the courier.');
    const fromSam = chat.locator('#transcript li.agent.human');
    await fromSam.first().waitFor({ timeout: 8000 });
    expect(await fromSam.first().locator('.from').textContent()).toBe('Sam');
    expect(await fromSam.first().textContent()).toContain('let me check with the courier');

    await say(chat, 'Thanks! It has not arrived yet.');
    await expect.poll(() => texts(desk, '#transcript li.customer'), { timeout: 8000 }).toContain('annThanks! It has not arrived yet.');
    await expect.poll(() => chat.locator('#transcript li.user[data-status="sent"]').count(), POLL).toBe(3);
    // The relay of a message to a person is not an empty bubble on the customer's side.
    expect((await texts(chat, '#transcript li.agent')).every((t) => t.trim() !== '')).toBe(true);
    await say(desk, 'It is on its way and will arrive tomorrow. The assistant can help with anything else.');
    await expect.poll(() => fromSam.count(), { timeout: 8000 }).toBe(2);

    await page.screenshot({ path: screenshotPath('desk-page.png') });

    await desk.locator('#release').click();
    await desk.locator('#ended:not([hidden])').waitFor({ timeout: 8000 });
    expect(await desk.locator('#ended-text').textContent()).toContain('handed this conversation back');
    await chat.locator('#handoff').waitFor({ state: 'hidden', timeout: 8000 });

    await say(chat, 'What is your return policy?');
    await expect.poll(async () => (await texts(chat, '#transcript li.agent:not(.human)')).at(-1) ?? '', { timeout: 8000 }).toMatch(/return/i);
    expect(await desk.locator('#input').isDisabled()).toBe(true);
    expect(await texts(desk, '#transcript li.customer')).not.toContain('annWhat is your return policy?');
    await desk.locator('#dismiss').click();
    await desk.locator('#placeholder:not([hidden])').waitFor({ timeout: 5000 });
    expect(await desk.locator('#mine li').count()).toBe(0);
  });

  it('shows what a held call would do and approves that call, by its name', async () => {
    const h = await startKeel({ defaultAgent: true });
    defer(h.remove, () => h.stop());
    const page = await newPage({ width: 1100, height: 700 });
    await page.goto(`${h.url}/desk#token=${await h.token({ user: 'sam', role: 'agent' })}`);
    await page.locator('#status[data-state="online"]').waitFor({ timeout: 10_000 });
    const carol = await requestHeldRefund(h);
    defer(() => carol.close());
    const card = page.locator('#approvals li.card', { hasText: 'carol' });
    await card.waitFor({ timeout: 8000 });
    const shown = await card.locator('.args').innerText();
    expect(shown).toMatch(/orderId\s+3001/);
    expect(shown).toMatch(/amount\s+249/);
    await card.locator('button', { hasText: 'Approve' }).click();
    expect((await carol.next((f) => f.type === 'reply' && f.replyTo === undefined)).text).toMatch(/^Done: refund R-\d+ of €249\.00/);
    await page.locator('#approvals-panel').waitFor({ state: 'hidden', timeout: 8000 });
    // The page sent the call it showed: the audit record names it.
    const approved = () => h.runtime.audit.read({ limit: 100 }).find((r) => r.action === 'tool.approve' && r.outcome === 'ok');
    await expect.poll(() => approved()?.details, { timeout: 8000 }).toMatchObject({ call: expect.stringMatching(/^\d+:request_refund:\d+$/) });
  });
});
