/**
 * The bed of the real-browser journeys: Chromium for the file, an SSPR IdP with the demo relying
 * party in front, a person at the browser, and the checks every page of a journey must pass.
 */
import test, { type ExecutionContext } from 'ava';
import type { Browser } from 'playwright-core';
import { launchChromium, Person, type PersonOptions, type PageRecord } from './chromium.ts';
import { startSsprIdp, type SsprTestbed } from './sspr-idp.ts';
import { freePort } from './process.ts';
import { codeIn } from './register.ts';
import { startDemoRp, type DemoRp } from '../../src/demo/rp.ts';
import { translator, type Locale, type Translate, type MessageId } from '../../src/i18n/index.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import type { StartOptions } from './idp.ts';

export const PASSWORD = 'a sturdy journey passphrase';
export const NEW_PASSWORD = 'another sturdy passphrase 77';
const RP_SECRET = 'journey-app-secret-0123456789';

/** One Chromium for the test file, closed after its last test. */
export function useChromium(): () => Browser {
  let chromium: Browser | undefined;
  test.before(async () => {
    chromium = await launchChromium();
  });
  test.after.always(async () => {
    await chromium?.close();
  });
  return () => {
    if (!chromium) throw new Error('Chromium is not running (useChromium() registers it in test.before)');
    return chromium;
  };
}

export interface JourneyBed {
  bed: SsprTestbed;
  rp: DemoRp;
  rpUrl: string;
  person: Person;
  t: Translate;
  locale: Locale;
  pages: PageRecord[];
}

export type PersonSettings = Omit<PersonOptions, 'onPage' | 'locale'> & { locale: Locale; viewport?: { width: number; height: number }; javaScript?: boolean };

/**
 * An SSPR IdP with the client `journey-app` for the demo relying party (started in front of it) and
 * a person at `browser`; `options.config` adds to the IdP's configuration (ui, ...).
 */
export async function startJourneyBed(
  browser: Browser,
  person: PersonSettings,
  sspr: NonNullable<ConfigInput['sspr']>,
  options: Omit<StartOptions, 'clock'> = {},
): Promise<JourneyBed> {
  const rpPort = await freePort();
  const rpUrl = `http://localhost:${rpPort}`;
  const bed = await startSsprIdp(sspr, {
    ...options,
    config: {
      ...options.config,
      clients: [{ clientId: 'journey-app', clientName: 'Journey App', clientSecret: RP_SECRET, redirectUris: [`${rpUrl}/callback`], postLogoutRedirectUris: [`${rpUrl}/`], firstParty: false }],
    },
  });
  const rp = await startDemoRp({ issuer: bed.idp.issuer, port: rpPort, clientId: 'journey-app', clientSecret: RP_SECRET });
  const pages: PageRecord[] = [];
  const at = await Person.create(browser, { ...person, onPage: (p) => pages.push(p) });
  return { bed, rp, rpUrl, person: at, t: translator(person.locale), locale: person.locale, pages };
}

/**
 * Runs `journey`, a screenshot of the page where it failed, closes the bed either way, then
 * checks every page seen: axe-clean, no sideways scrolling, IdP pages in the journey's language
 * (plus `eachIdpPage`), and nothing the page reported itself (CSP, script errors, failed loads).
 */
export async function walkJourney(t: ExecutionContext, j: JourneyBed, name: string, journey: () => Promise<void>, eachIdpPage?: (p: PageRecord) => void): Promise<void> {
  const { person } = j;
  try {
    await journey();
  } catch (error) {
    await person.page.screenshot({ path: `test/output/screenshots/${name}/zz-failure.png`, fullPage: true }).catch(() => {});
    throw error;
  } finally {
    await person.close();
    await j.rp.close();
    await j.bed.close();
  }
  t.log(`${j.pages.length} pages checked; screenshots in test/output/screenshots/${name}/`);
  for (const p of j.pages) {
    t.deepEqual(p.violations, [], `axe on "${p.step}"`);
    t.true(p.overflow <= 0, `"${p.step}" scrolls sideways by ${p.overflow} px`);
    if (p.url.startsWith(j.rpUrl)) continue;
    t.is(p.lang, j.locale, `language of "${p.step}"`);
    eachIdpPage?.(p);
  }
  t.deepEqual(person.problems, [], 'no CSP violations, script errors or failed loads');
}

/** A claim as the demo relying party shows it (JSON). */
export function claim(j: JourneyBed, name: string): Promise<string> {
  return j.person.text(`table tr:has(th:text-is("${name}")) td`);
}

/** The relying party's page after a successful sign-in, naming the user. */
export async function backAtTheApp(j: JourneyBed, t: ExecutionContext, username: string): Promise<void> {
  await j.person.look('signed in at the application', 'Signed in');
  t.is(await claim(j, 'preferred_username'), `"${username}"`);
}

export async function signOutAtTheApp(j: JourneyBed): Promise<void> {
  const { person, t } = j;
  await person.press('Sign out', 'link');
  await person.look('sign out', t('logout.title'));
  await person.press(t('logout.yes'));
  await person.look('signed out, back at the application', 'Demo application');
}

/** Types the username and password into the sign-in page and submits them. */
export async function signIn(j: JourneyBed, username: string, password: string): Promise<void> {
  const { person, t } = j;
  await person.fill(t('login.username'), username);
  await person.fill(t('login.password'), password);
  await person.press(t('login.submit'));
}

export async function consent(j: JourneyBed, step = 'consent'): Promise<void> {
  const { person, t } = j;
  await person.look(step, t('consent.title'));
  await person.press(t('consent.allow'));
}

/** The code in the mail to `address` that `send` causes. */
export async function mailCode(j: JourneyBed, address: string, send: () => Promise<void>): Promise<string> {
  const { smtp } = j.bed;
  const before = smtp.messages.length;
  await send();
  const mail = await smtp.waitFor((m) => smtp.messages.indexOf(m) >= before && m.to.includes(address));
  return codeIn(mail.text);
}

/** Types the code into the code page `step` and submits it; returns on `next`'s page. */
export async function enterCode(j: JourneyBed, step: string, heading: string, code: string, next: [step: string, heading: string]): Promise<void> {
  const { person, t } = j;
  await person.look(step, heading);
  await person.fill(t('code.label'), code);
  await person.press(t('code.verify'));
  await person.look(...next);
}

/** The reset's last pages: a new password twice, the "done" page and its link back to sign-in. */
export async function newPassword(j: JourneyBed): Promise<void> {
  const { person, t } = j;
  await person.fill(t('recover.password.new'), NEW_PASSWORD);
  await person.fill(t('recover.password.confirm'), NEW_PASSWORD);
  await person.press(t('recover.password.submit'));
  await person.look('reset: done', t('recover.done.title'));
  await person.press(t('recover.done.sign_in'), 'link');
}

export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** "Set it up now", with the method's name for screen readers (visually hidden, so read after a pause). */
export const setUpLink = (t: Translate, method: string) => new RegExp(`^${escapeRegExp(t('register.setup'))}\\s*:\\s*${escapeRegExp(t(`method.${method}.name` as MessageId))}$`);

/** The reset page's choice of the emailed code, the address masked as `masked` (a pattern). */
export const emailChoice = (t: Translate, masked: string) => new RegExp(escapeRegExp(t('recover.method.email', { address: 'ADDRESS' })).replace('ADDRESS', masked));
