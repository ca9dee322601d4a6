/**
 * Headless Chromium for the page tests: one browser per suite, a fresh context per page (closed
 * after its test), and screenshots for docs/. The browser is the system's, never downloaded.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { useCleanups, type Defer } from './cleanups.js';

const CHROMIUM = '/usr/bin/chromium';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** What a browser suite's body gets. */
export interface BrowserSuite {
  /** A page in a context of its own with this viewport (at scale 1), closed after the test. */
  newPage(viewport: { readonly width: number; readonly height: number }): Promise<Page>;
  /** Runs cleanups after the current test, last first. */
  readonly defer: Defer;
}

/**
 * `describe(name, body)` with a headless Chromium. Where Chromium is missing the suite is skipped,
 * or fails when `CI` is set, so that a CI machine without it cannot pass silently.
 *
 * @example
 * ```ts
 * describeInBrowser('chat page', ({ newPage, defer }) => {
 *   it('loads', async () => {
 *     const page = await newPage({ width: 520, height: 720 });
 *     await page.goto(url);
 *   });
 * });
 * ```
 */
export function describeInBrowser(name: string, body: (suite: BrowserSuite) => void): void {
  if (!existsSync(CHROMIUM)) {
    describe(name, () => {
      if (process.env.CI) {
        it(`needs Chromium at ${CHROMIUM} in CI`, () => {
          throw new Error(`Chromium is missing at ${CHROMIUM}; the browser test cannot run in CI without it`);
        });
      } else {
        it.skip(`skipped: Chromium not found at ${CHROMIUM} (set CI=1 to make this a failure)`, () => undefined);
      }
    });
    return;
  }
  describe(name, () => {
    let browser: Browser | undefined;
    const defer = useCleanups();
    beforeAll(async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      });
    });
    afterAll(async () => {
      await browser?.close();
    });
    body({
      async newPage(viewport) {
        if (!browser) throw new Error('the browser is not running: call newPage inside a test');
        const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
        defer(() => context.close());
        return context.newPage();
      },
      defer,
    });
  });
}

/**
 * Where a screenshot for `docs/<name>` goes: docs/ itself only when asked
 * (`KEEL_UPDATE_SCREENSHOTS`) or when the file is missing, else a temp file, so tests leave the
 * tree clean.
 *
 * @example
 * ```ts
 * await page.screenshot({ path: screenshotPath('chat-page.png') });
 * ```
 */
export function screenshotPath(name: string): string {
  const committed = join(repoRoot, 'docs', name);
  const target = existsSync(committed) && !process.env.KEEL_UPDATE_SCREENSHOTS ? join(tmpdir(), `keel-${name}`) : committed;
  mkdirSync(dirname(target), { recursive: true });
  return target;
}
