import test, { type ExecutionContext } from 'ava';
import type { Browser } from 'playwright-core';
import { launchChromium, Person, type Input, type PageRecord } from './helpers/chromium.ts';
import { startSsprIdp, type SsprTestbed } from './helpers/sspr-idp.ts';
import { freePort } from './helpers/process.ts';
import { codeIn } from './helpers/register.ts';
import { startDemoRp, type DemoRp } from '../src/demo/rp.ts';
import { translator, type Locale, type Translate } from '../src/i18n/index.ts';
import { ACR_MFA } from '../src/mfa/policy.ts';

// Passkeys in a real browser (Debian's Chromium) with its virtual authenticator (DevTools
// protocol WebAuthn.addVirtualAuthenticator: CTAP2, resident keys, user verification): register
// one at the registration interrupt, step up with it, sign in with it instead of the password,
// and reset the password with it. In English with the mouse and in Dutch with the keyboard alone;
// every page axe-clean (WCAG 2.1 AA), no CSP violation or script error, in the language asked for.

const PASSWORD = 'a sturdy journey passphrase';
const NEW_PASSWORD = 'another sturdy passphrase 77';
const RP_SECRET = 'journey-app-secret-0123456789';

let chromium: Browser;
test.before(async () => {
  chromium = await launchChromium();
});
test.after.always(async () => {
  await chromium?.close();
});

interface Variant {
  name: string;
  locale: Locale;
  input: Input;
}

const variants: Variant[] = [
  { name: 'passkeys-en-mouse', locale: 'en', input: 'mouse' },
  { name: 'passkeys-nl-keyboard', locale: 'nl', input: 'keyboard' },
];

interface Journey {
  bed: SsprTestbed;
  rp: DemoRp;
  rpUrl: string;
  person: Person;
  t: Translate;
  pages: PageRecord[];
}

async function setUp(variant: Variant): Promise<Journey> {
  const rpPort = await freePort();
  const rpUrl = `http://localhost:${rpPort}`;
  const bed = await startSsprIdp(
    {
      enabled: 'all',
      methodsRequired: 2,
      methods: { email: true, authenticatorApp: true, passkey: true },
      registration: { requireOnSignIn: true },
      captcha: { enabled: false },
      codes: { resendAfterSeconds: 0 },
    },
    {
      host: 'localhost',
      config: {
        ui: { organisation: 'Example Organisation' },
        clients: [{ clientId: 'journey-app', clientName: 'Journey App', clientSecret: RP_SECRET, redirectUris: [`${rpUrl}/callback`], postLogoutRedirectUris: [`${rpUrl}/`], firstParty: false }],
      },
    },
  );
  const rp = await startDemoRp({ issuer: bed.idp.issuer, port: rpPort, clientId: 'journey-app', clientSecret: RP_SECRET });
  const { users, store } = bed.idp.idp.parts;
  const mia = await users.create({ username: 'mia', displayName: 'Mia de Vries', password: PASSWORD });
  await store.sspr.putMethod(mia.id, 'email', 'mia.private@example.net', bed.clock.now());
  const pages: PageRecord[] = [];
  const person = await Person.create(chromium, { name: variant.name, input: variant.input, locale: variant.locale, onPage: (p) => pages.push(p) });
  // The device's own authenticator, as on a laptop with a fingerprint reader.
  const cdp = await person.context.newCDPSession(person.page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { bed, rp, rpUrl, person, t: translator(variant.locale), pages };
}

async function fromTheApp(j: Journey, query = ''): Promise<void> {
  await j.person.open(`${j.rpUrl}/${query ? `login?${query}` : ''}`);
  if (!query) {
    await j.person.look('application', 'Demo application');
    await j.person.press('Sign in', 'link');
  }
}

async function claim(j: Journey, name: string): Promise<string> {
  return j.person.text(`table tr:has(th:text-is("${name}")) td`);
}

async function backAtTheApp(j: Journey, t: ExecutionContext): Promise<void> {
  await j.person.look('signed in at the application', 'Signed in');
  t.is(await claim(j, 'preferred_username'), '"mia"');
}

async function signOutAtTheApp(j: Journey): Promise<void> {
  const { person, t } = j;
  await person.press('Sign out', 'link');
  await person.look('sign out', t('logout.title'));
  await person.press(t('logout.yes'));
  await person.look('signed out, back at the application', 'Demo application');
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

for (const variant of variants) {
  test(`passkeys: ${variant.name}`, async (t) => {
    const j = await setUp(variant);
    const { person, t: tr } = j;
    try {
      // First sign-in: the interrupt asks for a second method; a passkey made by the device.
      await fromTheApp(j);
      await person.look('sign in', tr('login.title'));
      await person.fill(tr('login.username'), 'mia');
      await person.fill(tr('login.password'), PASSWORD);
      await person.press(tr('login.submit'));
      await person.look('registration interrupt', tr('register.title'));
      await person.press(new RegExp(`^${escapeRegExp(tr('register.setup'))}\\s*:\\s*${escapeRegExp(tr('method.passkey.name'))}$`), 'link');
      await person.look('passkey: add', tr('method.passkey.name'));
      await person.fill(tr('passkey.label'), variant.locale === 'nl' ? 'Laptop werk' : 'Work laptop');
      await person.press(tr('passkey.create'));
      await person.look('registration: passkey added', tr('register.title'));
      await person.page.getByText(tr('method.passkey.summary', { count: 1 }), { exact: true }).waitFor();
      await person.press(tr('register.finish'));
      await person.look('consent', tr('consent.title'));
      await person.press(tr('consent.allow'));
      await backAtTheApp(j, t);
      t.is(await claim(j, 'amr'), '["pwd"]');

      // Step-up: the application asks for the multi-factor level; the passkey, no password again.
      await fromTheApp(j, `acr_values=${ACR_MFA}`);
      await person.look('step-up', tr('mfa.title'));
      await person.press(tr('mfa.passkey'));
      await backAtTheApp(j, t);
      t.is(await claim(j, 'acr'), `"${ACR_MFA}"`);
      t.is(await claim(j, 'amr'), '["pwd","hwk","mfa"]');
      await signOutAtTheApp(j);

      // Sign in with the passkey instead of the username and password.
      await fromTheApp(j);
      await person.look('sign in with a passkey', tr('login.title'));
      await person.press(tr('login.passkey'));
      // Signing out ended the grant: the application asks again, as after any sign-in.
      await person.look('consent after a passkey sign-in', tr('consent.title'));
      await person.press(tr('consent.allow'));
      await backAtTheApp(j, t);
      t.is(await claim(j, 'acr'), `"${ACR_MFA}"`);
      t.is(await claim(j, 'amr'), '["hwk","user","mfa"]');
      await signOutAtTheApp(j);

      // "Can't access your account?": the passkey, then an emailed code, then a new password.
      await fromTheApp(j);
      await person.look('sign in', tr('login.title'));
      await person.press(tr('login.cant_access'), 'link');
      await person.look('reset: user id', tr('recover.title'));
      await person.fill(tr('recover.username'), 'mia');
      await person.press(tr('recover.next'));
      await person.look('reset: first method', tr('recover.verify.title'));
      await person.choose(tr('recover.method.passkey'));
      await person.press(tr('recover.next'));
      await person.look('reset: passkey', tr('recover.verify.title'));
      await person.press(tr('recover.passkey.use'));
      await person.look('reset: second method', tr('recover.verify.title'));
      await person.choose(new RegExp(escapeRegExp(tr('recover.method.email', { address: 'ADDRESS' })).replace('ADDRESS', 'm•+@example\\.net')));
      const before = j.bed.smtp.messages.length;
      await person.press(tr('recover.next'));
      const mail = await j.bed.smtp.waitFor((m) => j.bed.smtp.messages.indexOf(m) >= before && m.to.includes('mia.private@example.net'));
      await person.look('reset: email code', tr('recover.verify.title'));
      await person.fill(tr('code.label'), codeIn(mail.text));
      await person.press(tr('code.verify'));
      await person.look('reset: new password', tr('recover.password.title'));
      await person.fill(tr('recover.password.new'), NEW_PASSWORD);
      await person.fill(tr('recover.password.confirm'), NEW_PASSWORD);
      await person.press(tr('recover.password.submit'));
      await person.look('reset: done', tr('recover.done.title'));
      await person.press(tr('recover.done.sign_in'), 'link');
      await person.look('sign in after the reset', tr('login.title'));
      await person.fill(tr('login.username'), 'mia');
      await person.fill(tr('login.password'), NEW_PASSWORD);
      await person.press(tr('login.submit'));
      // The reset revoked every grant, so the application asks again.
      await person.look('consent after the reset', tr('consent.title'));
      await person.press(tr('consent.allow'));
      await backAtTheApp(j, t);
    } catch (error) {
      await person.page.screenshot({ path: `test/output/screenshots/${variant.name}/zz-failure.png`, fullPage: true }).catch(() => {});
      throw error;
    } finally {
      await person.close();
      await j.rp.close();
      await j.bed.close();
    }
    t.log(`${j.pages.length} pages checked; screenshots in test/output/screenshots/${variant.name}/`);
    for (const p of j.pages) {
      t.deepEqual(p.violations, [], `axe on "${p.step}"`);
      t.true(p.overflow <= 0, `"${p.step}" scrolls sideways by ${p.overflow} px`);
      if (!p.url.startsWith(j.rpUrl)) t.is(p.lang, variant.locale, `language of "${p.step}"`);
    }
    t.deepEqual(person.problems, [], 'no CSP violations, script errors or failed loads');
  });
}
