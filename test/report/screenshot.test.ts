import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderReport } from '../../lib/report/index.js';
import { ensureChromium } from '../support/chromium.js';
import { bigModel, hostileModel, morningModel, sampleModel } from './fixtures.js';

/**
 * The report as a reader sees it, in real headless Chromium: what is above the fold, what is
 * visible, whether it fits 640 px, and whether it tries to load anything. The suite obtains Debian's
 * chromium itself when it is missing (test/support/chromium.ts).
 */

// The screenshot is for a person to look at after a run; it goes to the temp folder, never the repository.
const OUT_DIR = join(tmpdir(), 'opsbook-test-artifacts') + '/';
// Without the background-networking flags Chromium phones home, and this machine refuses the connections.
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let browser: Browser;

// Installing the package on a fresh machine takes a minute or two: the hook's deadline is apt's own.
beforeAll(async () => {
  browser = await chromium.launch({ executablePath: ensureChromium(), args: ARGS });
}, 20 * 60_000);

afterAll(async () => {
  await browser?.close();
});

interface Opened {
  page: Page;
  /** Every request the page attempted (all are aborted). */
  requests: string[];
  /** Every alert/confirm/prompt the page raised. */
  dialogs: string[];
}

async function open(html: string, width: number, height = 900): Promise<Opened> {
  const page = await browser.newPage({ viewport: { width, height } });
  const requests: string[] = [];
  const dialogs: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await page.route('**/*', (route) => route.abort('blockedbyclient'));
  await page.setContent(html, { waitUntil: 'load' });
  return { page, requests, dialogs };
}

const box = async (page: Page, selector: string) => {
  const b = await page.locator(selector).first().boundingBox();
  expect(b, `${selector} is laid out`).not.toBeNull();
  return b!;
};
const noHorizontalScroll = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

describe('report in headless Chromium', () => {
  it('shows the summary above the fold, every failing item visibly, in 640 px, loading nothing', async () => {
    const model = sampleModel();
    const { html } = renderReport(model);
    const { page, requests, dialogs } = await open(html, 800);
    try {
      const summary = await box(page, '#ob-summary');
      const firstSection = await box(page, '#ob-section-1');
      expect(summary.y).toBeLessThan(firstSection.y);
      expect(summary.y).toBeLessThan(600);
      // The Failing list itself starts above the fold, not just the summary's heading.
      const failingHeading = await box(page, '#ob-summary >> text=FAILING (4)');
      expect(failingHeading.y).toBeLessThan(600);

      const failing = model.items.filter((i) => i.status === 'fail' || i.status === 'error');
      for (const item of failing) {
        const inSummary = page.locator('#ob-summary code', { hasText: item.id }).first();
        expect(await inSummary.isVisible(), `${item.id} visible in the summary`).toBe(true);
        expect((await inSummary.boundingBox())!.y).toBeLessThan(firstSection.y);
      }
      expect(await page.getByText('Close sessions idle for more than 10 minutes', { exact: false }).first().isVisible()).toBe(true);
      expect(await page.getByText('☐').count()).toBe(3);

      const report = await box(page, '#ob-report');
      expect(report.width).toBeLessThanOrEqual(640);
      expect(await noHorizontalScroll(page)).toBe(true);

      mkdirSync(OUT_DIR, { recursive: true });
      await page.screenshot({ path: `${OUT_DIR}report-screenshot.png`, fullPage: true });

      await page.setViewportSize({ width: 640, height: 900 });
      expect(await noHorizontalScroll(page)).toBe(true);

      expect(requests).toEqual([]);
      expect(dialogs).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('keeps the 2,000-item report within 640 px, with every failing item in the summary', async () => {
    const model = bigModel(2000);
    const { html } = renderReport(model);
    const { page, requests } = await open(html, 640);
    try {
      expect(await noHorizontalScroll(page)).toBe(true);
      const summaryText = await page.locator('#ob-summary').innerText();
      for (const item of model.items.filter((i) => i.status === 'fail' || i.status === 'error')) expect(summaryText).toContain(item.id);
      expect((await box(page, '#ob-summary')).y).toBeLessThan((await box(page, '#ob-section-1')).y);
      expect(requests).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('renders hostile data as text: no element, handler, script run or request comes from it', async () => {
    const { html } = renderReport(hostileModel());
    const { page, requests, dialogs } = await open(html, 640);
    try {
      const found = await page.evaluate(() => {
        const all = [...document.querySelectorAll('*')];
        return {
          dangerous: document.querySelectorAll('script,img,iframe,svg,object,embed,link,style,form,input,base,meta[http-equiv]').length,
          handlers: all.flatMap((el) => [...el.attributes].filter((a) => a.name.toLowerCase().startsWith('on')).map((a) => `${el.tagName}.${a.name}`)),
          hrefs: [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href') ?? ''),
        };
      });
      expect(found.dangerous).toBe(0);
      expect(found.handlers).toEqual([]);
      for (const href of found.hrefs) expect(href).toMatch(/^(https?:\/\/|mailto:)/);
      // The hostile text is there, visible as text.
      expect(await page.locator('#ob-report').getByText('<script>alert(1)</script>', { exact: false }).first().isVisible()).toBe(true);
      expect(await noHorizontalScroll(page)).toBe(true);
      expect(dialogs).toEqual([]);
      expect(requests).toEqual([]);
    } finally {
      await page.close();
    }
  });

  // The 9 a.m. read (issue 14 item 4): on a phone and on a laptop, nothing scrolls sideways, and the
  // first warning's fix is on the first screen, above the 40 passing checks.
  describe.each([
    ['the morning report (one warning among 40 passing checks, six skipped Redis checks)', 'morning', morningModel, 'The mail provider is throttling'],
    // Failing items come before warnings: here the first fix is the first failing item's.
    ['the sample report (four failing, seven warnings)', 'sample', sampleModel, 'Close sessions idle for more than 10 minutes'],
  ] as const)('%s', (_name, file, build, firstHint) => {
    it.each([375, 800])('at %i px: no horizontal scroll, and the first fix is on the first screen', async (width) => {
      const { html } = renderReport(build());
      const { page, requests } = await open(html, width, 900);
      try {
        const scroll = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, viewport: window.innerWidth }));
        expect(scroll.scrollWidth, `page width at ${width} px`).toBeLessThanOrEqual(scroll.viewport);
        const hint = await box(page, `#ob-summary >> text=${firstHint}`);
        if (width === 800) expect(hint.y, 'the first fix’s hint, px from the top').toBeLessThan(900);
        // On a phone it is the next screen at the latest, and always above the first section.
        expect(hint.y).toBeLessThan((await box(page, '#ob-section-1')).y);
        // Dates under the trend bars stay on one line.
        const labels = await page.locator('#ob-trends td[nowrap][style*="white-space:nowrap"]').evaluateAll((tds) => tds.map((td) => td.getBoundingClientRect().height));
        expect(labels.length).toBeGreaterThan(0);
        for (const h of labels) expect(h).toBeLessThan(20);
        mkdirSync(OUT_DIR, { recursive: true });
        await page.screenshot({ path: `${OUT_DIR}report-${file}-${width}.png`, fullPage: true });
        expect(requests).toEqual([]);
      } finally {
        await page.close();
      }
    });
  });
});
