/// <reference lib="dom" />
/**
 * Real-browser tests: Debian's Chromium driven by playwright-core. A `Person` does what someone at
 * the screen does, by visible labels and roles — either with the mouse or with the keyboard alone —
 * and every page it lands on is checked: axe-core (WCAG 2.1 A/AA) with zero violations, no
 * Content-Security-Policy violations or script errors, no horizontal scrolling, the page language,
 * and a screenshot under test/output/screenshots/ for a person to look at.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { ROOT } from './process.ts';
import { LOCALE_COOKIE } from '../../src/web/render.ts';

/** Where Chromium is: CHROMIUM_PATH, else Debian's package. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const SCREENSHOTS = path.join(ROOT, 'test/output/screenshots');

/** Chromium flags for this sandboxed machine (closed network, running as root). */
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install Debian's package (apt-get install chromium) or set CHROMIUM_PATH`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ARGS, headless: true });
}

const require = createRequire(import.meta.url);
let axeSource: Promise<string> | undefined;
const axe = () => (axeSource ??= readFile(require.resolve('axe-core/axe.min.js'), 'utf8'));

/** The WCAG 2.1 A and AA rules. */
const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/** Runs axe-core in the page (through the DevTools protocol, so the page's CSP stays as it is). */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  const source = await axe();
  return page.evaluate(async ({ source, tags }) => {
    const w = window as unknown as { axe?: { run(ctx: Document, opts: object): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } };
    if (!w.axe) (0, eval)(source);
    const result = await w.axe!.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => JSON.stringify(n.target)) }));
  }, { source, tags: WCAG_TAGS });
}

export type Input = 'mouse' | 'keyboard';

export interface PersonOptions {
  /** Subfolder of the screenshots folder. */
  name: string;
  input: Input;
  /** The language every page must be in (<html lang>). */
  locale: string;
  /** On every page, switch to the other language and back with the switcher. */
  switchLanguage?: boolean;
  /** Called with every checked page, for the test to record. */
  onPage?: (record: PageRecord) => void;
}

export interface PageRecord {
  step: string;
  url: string;
  title: string;
  violations: AxeViolation[];
  overflow: number;
  lang: string;
  screenshot: string;
  /** Following the language switcher to the other language: the status and language of what came back. */
  switcher?: { status: number; lang: string | undefined };
}

/** Whether `el` has the focus, looking into shadow roots (the CAPTCHA widget has one). */
function hasFocus(el: Element): boolean {
  let active = document.activeElement;
  while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
  return active === el;
}

/** A person at the browser. Pages are checked by `look(step)`; the test calls it after each navigation. */
export class Person {
  readonly page: Page;
  readonly context: BrowserContext;
  readonly options: PersonOptions;
  /** Problems the page reported itself: CSP violations, script errors, failed asset loads. */
  readonly problems: string[] = [];
  #shot = 0;
  #lastNavigationMethod = 'GET';

  readonly javaScript: boolean;

  private constructor(context: BrowserContext, page: Page, options: PersonOptions, javaScript: boolean) {
    this.javaScript = javaScript;
    this.context = context;
    this.page = page;
    this.options = options;
    page.on('console', (m) => {
      if (m.type() === 'error') this.problems.push(`console error on ${page.url()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => this.problems.push(`script error on ${page.url()}: ${e.message}`));
    page.on('request', (r) => {
      // A redirect's follow-up is always a GET; the first request of a navigation may be a form post.
      if (r.isNavigationRequest() && r.frame() === page.mainFrame()) this.#lastNavigationMethod = r.redirectedFrom() ? 'GET' : r.method();
    });
  }

  static async create(browser: Browser, options: PersonOptions & { viewport?: { width: number; height: number }; javaScript?: boolean }): Promise<Person> {
    const context = await browser.newContext({
      locale: options.locale,
      viewport: options.viewport ?? { width: 1280, height: 900 },
      javaScriptEnabled: options.javaScript ?? true,
    });
    const page = await context.newPage();
    page.setDefaultTimeout(30_000);
    return new Person(context, page, options, options.javaScript ?? true);
  }

  /** Types an address into the address bar. */
  async open(url: string): Promise<void> {
    await this.page.goto(url);
  }

  /** Waits for the page whose main heading is `heading`, checks it and takes its screenshot. */
  async look(step: string, heading: string | RegExp): Promise<PageRecord> {
    const page = this.page;
    await page.waitForLoadState('load');
    await page.getByRole('heading', { level: 1, name: heading, exact: typeof heading === 'string' }).waitFor();
    if (process.env.OIDC_SSPR_TEST_ARIA) console.log(await page.locator('body').ariaSnapshot());
    const dir = path.join(SCREENSHOTS, this.options.name);
    await mkdir(dir, { recursive: true });
    this.#shot += 1;
    const file = path.join(dir, `${String(this.#shot).padStart(2, '0')}-${step.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`);
    await page.screenshot({ path: file, fullPage: true });
    const lang = (await page.locator('html').getAttribute('lang')) ?? '';
    const record: PageRecord = { step, url: page.url(), title: await page.title(), violations: [], overflow: 0, lang, screenshot: path.relative(ROOT, file) };
    // axe and the layout measurement run as scripts in the page: only where the page may run them
    // (the variants with JavaScript on check the same pages).
    if (this.javaScript) {
      record.violations = await axeViolations(page);
      record.overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    }
    if (this.options.switchLanguage) record.switcher = await this.#tryLanguageSwitcher();
    this.options.onPage?.(record);
    return record;
  }

  /**
   * Follows the language switcher's link to the other language in a second tab of the same browser
   * (same cookies), as someone opening it there would: it must come back with a page of this flow
   * (a level-one heading) in that language. Then the first tab carries on in the journey's language;
   * a page that came from a GET is reloaded, since the second tab may have renewed its form.
   */
  async #tryLanguageSwitcher(): Promise<PageRecord['switcher']> {
    const link = this.page.locator('nav.lang a[hreflang]').first();
    if ((await link.count()) === 0) return undefined;
    const href = new URL((await link.getAttribute('href'))!, this.page.url()).href;
    const tab = await this.context.newPage();
    try {
      const response = await tab.goto(href);
      await tab.getByRole('heading', { level: 1 }).first().waitFor();
      const lang = await tab.evaluate(() => document.documentElement.lang);
      return { status: response?.status() ?? 0, lang };
    } finally {
      await tab.close();
      await this.context.addCookies([{ name: LOCALE_COOKIE, value: this.options.locale, url: new URL('/', href).href }]);
      if (this.#lastNavigationMethod === 'GET') await this.page.reload();
    }
  }

  /** Moves the focus with Tab until it is on `target`; fails when Tab never gets there. */
  async tabTo(target: Locator): Promise<void> {
    const handle = await target.elementHandle();
    if (!handle) throw new Error(`nothing to tab to: ${target}`);
    for (let i = 0; i < 80; i += 1) {
      if (await handle.evaluate(hasFocus)) return;
      await this.page.keyboard.press('Tab');
    }
    throw new Error(`Tab never reached ${target}`);
  }

  /** Fills a field found by its label. */
  async fill(label: string | RegExp, value: string, within?: Locator): Promise<void> {
    const field = (within ?? this.page).getByLabel(label, { exact: typeof label === 'string' });
    if (this.options.input === 'mouse') {
      await field.click();
      await field.fill(value);
      return;
    }
    await this.tabTo(field);
    await this.page.keyboard.press('ControlOrMeta+A');
    await this.page.keyboard.press('Backspace');
    await this.page.keyboard.type(value);
  }

  /** Activates a button or a link by its accessible name, and waits for the page it leads to. */
  async press(name: string | RegExp, role: 'button' | 'link' = 'button'): Promise<void> {
    const target = this.page.getByRole(role, { name, exact: typeof name === 'string' });
    const loaded = this.page.waitForEvent('load');
    if (this.options.input === 'mouse') {
      await target.click();
    } else {
      await this.tabTo(target);
      await this.page.keyboard.press('Enter');
    }
    await loaded;
  }

  /** Chooses a radio button by its label. */
  async choose(label: string | RegExp): Promise<void> {
    const radio = this.page.getByRole('radio', { name: label, exact: typeof label === 'string' });
    if (this.options.input === 'mouse') return radio.check();
    if (await radio.isChecked()) return;
    // Tab lands on the group's checked radio; the arrow keys move the choice.
    const group = await radio.getAttribute('name');
    await this.tabTo(this.page.locator(`input[type=radio][name="${group}"]:checked`));
    for (let i = 0; i < 10 && !(await radio.isChecked()); i += 1) await this.page.keyboard.press('ArrowDown');
    if (!(await radio.isChecked())) throw new Error(`arrow keys never chose ${label}`);
  }

  /** Ticks a checkbox by its label (the CAPTCHA's "I'm not a robot"). */
  async tick(label: string | RegExp): Promise<void> {
    const box = this.page.getByRole('checkbox', { name: label });
    // A styled box: the mouse clicks its label, as people do.
    if (this.options.input === 'mouse') return this.page.locator('label').filter({ hasText: label }).click();
    await this.tabTo(box);
    await this.page.keyboard.press('Space');
  }

  /** Picks an option of a drop-down by its visible text. */
  async select(label: string | RegExp, option: string, within?: Locator): Promise<void> {
    const select = (within ?? this.page).getByLabel(label, { exact: typeof label === 'string' });
    if (this.options.input === 'mouse') {
      await select.selectOption({ label: option });
      return;
    }
    await this.tabTo(select);
    const wanted = await select.evaluate((el, text) => Array.from((el as HTMLSelectElement).options).findIndex((o) => o.text === text), option);
    if (wanted < 0) throw new Error(`no option ${option}`);
    // Typing the start of an option picks it, as in any drop-down; the arrow keys do the rest.
    await this.page.keyboard.type(option.slice(0, 12));
    for (let i = 0; i < 400; i += 1) {
      const at = await select.evaluate((el) => (el as HTMLSelectElement).selectedIndex);
      if (at === wanted) return;
      await this.page.keyboard.press(at < wanted ? 'ArrowDown' : 'ArrowUp');
    }
    throw new Error(`arrow keys never reached ${option}`);
  }

  /** A group of fields (a fieldset) by its legend. */
  group(legend: string): Locator {
    return this.page.getByRole('group', { name: legend, exact: true });
  }

  /** The visible text of the element matching a CSS selector. */
  async text(selector: string): Promise<string> {
    return (await this.page.locator(selector).first().innerText()).trim();
  }

  async close(): Promise<void> {
    await this.context.close();
  }
}
