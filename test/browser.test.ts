import test from 'ava';
import type { Input } from './helpers/chromium.ts';
import {
  backAtTheApp, consent, emailChoice, enterCode, escapeRegExp, mailCode, newPassword, NEW_PASSWORD, PASSWORD, setUpLink, signIn, signOutAtTheApp, startJourneyBed, useChromium, walkJourney,
  type JourneyBed,
} from './helpers/browser-journey.ts';
import path from 'node:path';
import { ROOT } from './helpers/process.ts';
import { codeIn } from './helpers/register.ts';
import type { Locale, MessageId } from '../src/i18n/index.ts';
import { totpCodeAt, totpStep } from '../src/security/totp.ts';

// The whole journey as a person does it in a real browser (Debian's Chromium): a relying party's
// sign-in button, the registration interrupt with every method, consent, reconfirmation after the
// period, the three refusals of "Can't access your account?", a reset with two methods, and signing
// in with the new password. In English and in Dutch, with the mouse and with the keyboard alone,
// on a desktop and on a 320 px wide screen. Every page: axe-core (WCAG 2.1 AA) with zero
// violations, no CSP violation or script error, no horizontal scrolling, the page in the language
// asked for, and a screenshot under test/output/screenshots/<variant>/.

const DAY = 86_400_000;

const chromium = useChromium();

interface Variant {
  name: string;
  locale: Locale;
  input: Input;
  viewport?: { width: number; height: number };
  /** Try the language switcher on every page. */
  switchLanguage?: boolean;
  /** JavaScript off: everything but the CAPTCHA must work (it says it needs JavaScript). */
  noJavaScript?: boolean;
}

const variants: Variant[] = [
  { name: 'en-mouse', locale: 'en', input: 'mouse', switchLanguage: true },
  { name: 'nl-mouse-320px', locale: 'nl', input: 'mouse', viewport: { width: 320, height: 720 } },
  { name: 'en-keyboard', locale: 'en', input: 'keyboard' },
  { name: 'nl-keyboard', locale: 'nl', input: 'keyboard' },
  { name: 'en-no-javascript', locale: 'en', input: 'mouse', noJavaScript: true },
];

interface Journey extends JourneyBed {
  variant: Variant;
}

async function setUp(variant: Variant): Promise<Journey> {
  const j = await startJourneyBed(
    chromium(),
    { name: variant.name, input: variant.input, locale: variant.locale, viewport: variant.viewport, switchLanguage: variant.switchLanguage, javaScript: !variant.noJavaScript },
    {
      enabled: 'selected',
      groups: ['Staff'],
      methodsRequired: 2,
      methods: { email: true, mobilePhone: true, authenticatorApp: true, securityQuestions: true },
      securityQuestions: { numberToRegister: 3, numberToReset: 3 },
      registration: { requireOnSignIn: true, reconfirmAfterDays: 180 },
      administrators: { groups: ['Admins'] },
      captcha: { enabled: true, maxNumber: 20_000 },
      codes: { resendAfterSeconds: 0 },
    },
    { config: { ui: { organisation: 'Example Organisation', logoFile: path.join(ROOT, 'test/fixtures/logo.svg') } } },
  );
  const { bed } = j;
  const { users, store } = bed.idp.idp.parts;
  const seed = async (username: string, opts: { groups: string[]; methods?: Record<string, string>; source?: 'onpremises' }) => {
    const user = await users.create({ username, displayName: username, password: PASSWORD, passwordSource: opts.source ?? 'cloud' });
    for (const g of opts.groups) await users.addToGroup(username, g);
    for (const [kind, value] of Object.entries(opts.methods ?? {})) await store.sspr.putMethod(user.id, kind as 'email', value, bed.clock.now());
    if (opts.methods) await store.sspr.recordConfirmation(user.id, bed.clock.now());
  };
  await users.create({ username: 'jan', displayName: 'Jan Jansen', email: 'jan@example.org', password: PASSWORD });
  await users.addToGroup('jan', 'Staff');
  await seed('olga', { groups: [], methods: { email: 'olga@example.net', mobile_phone: '+31612340001' } });
  await seed('nick', { groups: ['Staff'] });
  await seed('otto', { groups: ['Staff'], methods: { email: 'otto@example.net', mobile_phone: '+31612340002' }, source: 'onpremises' });
  await seed('ada', { groups: ['Staff', 'Admins'], methods: { email: 'ada@example.net', mobile_phone: '+31612340003' } });
  return { ...j, variant };
}

/** Opens the relying party and presses its sign-in button; returns on the IdP's sign-in page. */
async function fromTheApp(j: Journey): Promise<void> {
  const { person, t } = j;
  await person.open(`${j.rpUrl}/`);
  await person.look('application', 'Demo application');
  await person.press('Sign in', 'link');
  await person.look('sign in', t('login.title'));
}

async function textCode(j: Journey, e164: string, send: () => Promise<void>): Promise<string> {
  const { sms } = j.bed;
  const before = sms.messages.length;
  await send();
  const message = await sms.waitFor((m) => sms.messages.indexOf(m) >= before && m.to === e164);
  return codeIn(message.text);
}

async function registerEverything(j: Journey, locale: Locale): Promise<void> {
  const { person, t } = j;
  await person.look('registration interrupt', t('register.title'));

  await person.press(setUpLink(t, 'email'), 'link');
  await person.look('email address', t('method.email.name'));
  await person.fill(t('email.address'), 'jan.private@example.net');
  const emailCode = await mailCode(j, 'jan.private@example.net', () => person.press(t('email.send')));
  await enterCode(j, 'email code', t('method.email.name'), emailCode, ['registration: email done', t('register.title')]);

  await person.press(setUpLink(t, 'mobilePhone'), 'link');
  await person.look('mobile phone number', t('method.mobilePhone.name'));
  await person.select(t('phone.country'), locale === 'nl' ? 'Nederland (+31)' : 'Netherlands (+31)');
  await person.fill(t('phone.number'), '06 1234 5678');
  await person.choose(t('phone.sms'));
  const smsCode = await textCode(j, '+31612345678', () => person.press(t('phone.send')));
  await enterCode(j, 'mobile phone code', t('method.mobilePhone.name'), smsCode, ['registration: phone done', t('register.title')]);

  await person.press(setUpLink(t, 'authenticatorApp'), 'link');
  await person.look('authenticator app', t('method.authenticatorApp.name'));
  // The person types the key shown into their app; the app shows the code for now.
  const key = (await person.text('code.key')).replace(/\s+/g, '');
  await person.fill(t('totp.code'), totpCodeAt(key, totpStep(j.bed.clock.now())));
  await person.press(t('code.verify'));
  await person.look('registration: app done', t('register.title'));

  await person.press(setUpLink(t, 'securityQuestions'), 'link');
  await person.look('security questions', t('method.securityQuestions.name'));
  const answers = ['Rotterdam Zuid', 'Meneer Knabbel', 'de blauwe fiets'];
  for (const [i, answer] of answers.entries()) {
    const group = person.group(t('questions.number', { n: i + 1 }));
    const options = await group.getByLabel(t('questions.question'), { exact: true }).locator('option').allInnerTexts();
    await person.select(t('questions.question'), options[i + 1]!, group);
    await person.fill(t('questions.answer'), answer, group);
  }
  await person.press(t('questions.save'));
  await person.look('registration: all methods', t('register.title'));
  await person.press(t('register.finish'));
}

/** From the sign-in page: "Can't access your account?", the user id and the CAPTCHA. */
async function cantAccess(j: Journey, username: string, step: string): Promise<void> {
  const { person, t } = j;
  await person.press(t('login.cant_access'), 'link');
  await person.look(`${step}: user id`, t('recover.title'));
  if (j.variant.noJavaScript && j.bed.idp.idp.parts.config.current.sspr.captcha.enabled) {
    // Without JavaScript the CAPTCHA can't be solved, and the page says so; the administrator of
    // this test then turns the CAPTCHA off, and everything else must work without JavaScript.
    await person.page.getByText(t('recover.captcha_noscript'), { exact: true }).waitFor();
    const config = j.bed.idp.idp.parts.config;
    config.replace({ ...config.current, sspr: { ...config.current.sspr, captcha: { ...config.current.sspr.captcha, enabled: false } } });
    await person.page.reload();
    await person.look(`${step}: user id, no CAPTCHA`, t('recover.title'));
  }
  await person.fill(t('recover.username'), username);
  if (!j.variant.noJavaScript) {
    // The CAPTCHA widget (ALTCHA, in the page's language): tick the box, the browser does the work.
    await person.tick(j.locale === 'nl' ? 'Ik ben geen robot' : "I'm not a robot");
    await person.page.getByText(j.locale === 'nl' ? 'Geverifieerd' : 'Verified', { exact: true }).waitFor();
  }
  await person.press(t('recover.next'));
}

async function refusal(j: Journey, username: string, reason: string, code: string): Promise<void> {
  const { person, t } = j;
  await cantAccess(j, username, reason);
  await person.look(`refused: ${reason}`, t(`recover.refused.${reason}.title` as MessageId));
  await person.page.getByText(t('error.code', { code }), { exact: true }).waitFor();
  await person.press(t('recover.contact.button'));
  await person.look(`refused: ${reason}, administrator told`, t(`recover.refused.${reason}.title` as MessageId));
  await person.page.getByRole('status').filter({ hasText: t('recover.contact.sent') }).waitFor();
  await person.press(t('recover.back_to_sign_in'), 'link');
  await person.look('sign in', t('login.title'));
}

for (const variant of variants) {
  test(`the whole journey: ${variant.name}`, async (t) => {
    const j = await setUp(variant);
    const { person } = j;
    const tr = j.t;
    await walkJourney(t, j, variant.name, async () => {
      // First sign-in: interrupted, registers every method, consents, reaches the application.
      await fromTheApp(j);
      // The organisation's name and logo head every page of the IdP.
      await person.page.locator('header.site').getByText('Example Organisation', { exact: true }).waitFor();
      const logo = person.page.locator('header.site img.logo');
      await logo.waitFor();
      if (!variant.noJavaScript) t.true(await logo.evaluate((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0), 'the logo is shown');
      await signIn(j, 'jan', PASSWORD);
      await registerEverything(j, variant.locale);
      await consent(j);
      await backAtTheApp(j, t, 'jan');
      await signOutAtTheApp(j);

      // Half a year later: asked whether the methods are still right.
      j.bed.clock.advance(181 * DAY);
      await fromTheApp(j);
      await signIn(j, 'jan', PASSWORD);
      await person.look('reconfirmation', tr('reconfirm.title'));
      await person.page.getByText(/^j•+@example\.net$/).waitFor();
      await person.press(tr('reconfirm.looks_good'));
      await consent(j);
      await backAtTheApp(j, t, 'jan');
      await signOutAtTheApp(j);

      // "Can't access your account?": the three refusals, each offering to tell an administrator.
      await fromTheApp(j);
      await refusal(j, 'olga', 'not_enabled', 'SSPR_NOT_ENABLED');
      await refusal(j, 'nick', 'not_registered', 'SSPR_NOT_REGISTERED');
      await refusal(j, 'otto', 'onprem_managed', 'SSPR_ONPREM_MANAGED');

      // A reset with two methods: an emailed code, then a text to the mobile phone.
      await cantAccess(j, 'jan', 'reset');
      await person.look('reset: first method', tr('recover.verify.title'));
      await person.choose(emailChoice(tr, 'j•+@example\\.net'));
      const first = await mailCode(j, 'jan.private@example.net', () => person.press(tr('recover.next')));
      await enterCode(j, 'reset: email code', tr('recover.verify.title'), first, ['reset: second method', tr('recover.verify.title')]);
      await person.choose(new RegExp(escapeRegExp(tr('recover.method.mobilePhone', { number: 'NUMBER' })).replace('NUMBER', '.+')));
      await person.press(tr('recover.next'));
      await person.look('reset: type the mobile number', tr('recover.verify.title'));
      await person.fill(tr('recover.phone.number'), '+31 6 12345678');
      await person.choose(tr('phone.sms'));
      const second = await textCode(j, '+31612345678', () => person.press(tr('phone.send')));
      await enterCode(j, 'reset: text code', tr('recover.verify.title'), second, ['reset: new password', tr('recover.password.title')]);
      await newPassword(j);

      // Back on the sign-in page the journey started from: the new password gets in, the old one not.
      await person.look('sign in after the reset', tr('login.title'));
      await signIn(j, 'jan', PASSWORD);
      await person.look('old password refused', tr('login.title'));
      await person.page.getByRole('alert').filter({ hasText: tr('login.failed') }).waitFor();
      await signIn(j, 'jan', NEW_PASSWORD);
      // The reset revoked every grant, so the application asks again.
      await consent(j);
      await backAtTheApp(j, t, 'jan');
    }, (p) => {
      if (variant.switchLanguage) t.deepEqual(p.switcher, { status: 200, lang: variant.locale === 'nl' ? 'en' : 'nl' }, `language switcher on "${p.step}"`);
    });
  });
}
