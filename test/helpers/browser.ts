import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ROOT } from './services.js';

/** Debian's chromium (.ci/run installs it when missing); Playwright's own browser download cannot work offline. */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless Chromium with a fresh profile (Playwright makes a temporary user-data-dir for each
 * launch and deletes it on close). Close it in an `after`.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    timeout: 60_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Where tests write screenshots; git-ignored. */
export const ARTIFACTS = join(ROOT, 'test-artifacts');

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Console errors and uncaught exceptions of a page (a CSP violation is a console error). */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  return errors;
}

/**
 * Visible text whose colour contrasts with its background less than WCAG AA asks (4.5:1, or
 * 3:1 for large text), as "text: ratio". Backgrounds are the nearest opaque one up the tree.
 */
export async function contrastFailures(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(`(() => {
    const rgb = (value) => (value.match(/[\\d.]+/g) || []).map(Number);
    const luminance = ([r, g, b]) => {
      const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (element) => {
      for (let e = element; e; e = e.parentElement) {
        const parts = rgb(getComputedStyle(e).backgroundColor);
        if (parts.length === 3 || (parts.length === 4 && parts[3] > 0)) return parts;
      }
      return [255, 255, 255];
    };
    const failures = [];
    for (const element of document.querySelectorAll('body *')) {
      const text = [...element.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent.trim()).join(' ').trim();
      if (!text || !element.checkVisibility() || element.getClientRects().length === 0) continue;
      const style = getComputedStyle(element);
      if (style.clipPath !== 'none' || Number(style.opacity) === 0) continue;
      const [a, b] = [luminance(rgb(style.color)), luminance(background(element))].sort((x, y) => y - x);
      const ratio = (a + 0.05) / (b + 0.05);
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) failures.push(text.slice(0, 40) + ': ' + ratio.toFixed(2));
    }
    return failures;
  })()`);
}
