import test, { type ExecutionContext } from 'ava';
import type { Input } from './helpers/chromium.ts';
import {
  backAtTheApp, claim, consent, emailChoice, enterCode, mailCode, newPassword, NEW_PASSWORD, PASSWORD, setUpLink, signIn, signOutAtTheApp, startJourneyBed, useChromium, walkJourney,
  type JourneyBed,
} from './helpers/browser-journey.ts';
import type { Locale } from '../src/i18n/index.ts';
import { ACR_MFA } from '../src/mfa/policy.ts';
import { ssprWith } from './helpers/sspr-settings.ts';

// Passkeys in a real browser (Debian's Chromium) with its virtual authenticator (DevTools
// protocol WebAuthn.addVirtualAuthenticator: CTAP2, resident keys, user verification): register
// one at the registration interrupt, step up with it, sign in with it instead of the password,
// and reset the password with it. In English with the mouse and in Dutch with the keyboard alone;
// every page axe-clean (WCAG 2.1 AA), no CSP violation or script error, in the language asked for.

const chromium = useChromium();

interface Variant {
  name: string;
  locale: Locale;
  input: Input;
}

const variants: Variant[] = [
  { name: 'passkeys-en-mouse', locale: 'en', input: 'mouse' },
  { name: 'passkeys-nl-keyboard', locale: 'nl', input: 'keyboard' },
];

async function setUp(variant: Variant): Promise<JourneyBed> {
  const j = await startJourneyBed(
    chromium(),
    { name: variant.name, input: variant.input, locale: variant.locale },
    // The mobile phone stays on (its default) as in a default installation.
    ssprWith(['email', 'mobilePhone', 'authenticatorApp', 'passkey'], { methodsRequired: 2 }),
    { host: 'localhost', config: { ui: { organisation: 'Example Organisation' } } },
  );
  const { bed, person } = j;
  const { users, store } = bed.idp.idp.parts;
  const mia = await users.create({ username: 'mia', displayName: 'Mia de Vries', password: PASSWORD });
  await store.sspr.putMethod(mia.id, 'email', 'mia.private@example.net', bed.clock.now());
  // The device's own authenticator, as on a laptop with a fingerprint reader.
  const cdp = await person.context.newCDPSession(person.page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return j;
}

async function fromTheApp(j: JourneyBed, query = ''): Promise<void> {
  await j.person.open(`${j.rpUrl}/${query ? `login?${query}` : ''}`);
  if (!query) {
    await j.person.look('application', 'Demo application');
    await j.person.press('Sign in', 'link');
  }
}

/** Back at the application as mia, with the sign-in's level and methods. */
async function signedInAs(j: JourneyBed, t: ExecutionContext, acr: string, amr: string): Promise<void> {
  await backAtTheApp(j, t, 'mia');
  t.is(await claim(j, 'acr'), acr);
  t.is(await claim(j, 'amr'), amr);
  await signOutAtTheApp(j);
}

for (const variant of variants) {
  test(`passkeys: ${variant.name}`, async (t) => {
    const j = await setUp(variant);
    const { person, t: tr } = j;
    await walkJourney(t, j, variant.name, async () => {
      // First sign-in: the interrupt asks for a second method; a passkey made by the device.
      await fromTheApp(j);
      await person.look('sign in', tr('login.title'));
      await signIn(j, 'mia', PASSWORD);
      await person.look('registration interrupt', tr('register.title'));
      await person.press(setUpLink(tr, 'passkey'), 'link');
      await person.look('passkey: add', tr('method.passkey.name'));
      await person.fill(tr('passkey.label'), variant.locale === 'nl' ? 'Laptop werk' : 'Work laptop');
      await person.press(tr('passkey.create'));
      await person.look('registration: passkey added', tr('register.title'));
      await person.page.getByText(tr('method.passkey.summary', { count: 1 }), { exact: true }).waitFor();
      await person.press(tr('register.finish'));
      await consent(j);
      await backAtTheApp(j, t, 'mia');
      t.is(await claim(j, 'amr'), '["pwd"]');

      // Step-up: the application asks for the multi-factor level; the passkey, no password again.
      await fromTheApp(j, `acr_values=${ACR_MFA}`);
      await person.look('step-up', tr('mfa.title'));
      await person.press(tr('mfa.passkey'));
      await signedInAs(j, t, `"${ACR_MFA}"`, '["pwd","hwk","mfa"]');

      // Sign in with the passkey instead of the username and password.
      await fromTheApp(j);
      await person.look('sign in with a passkey', tr('login.title'));
      await person.press(tr('login.passkey'));
      // Signing out ended the grant: the application asks again, as after any sign-in.
      await consent(j, 'consent after a passkey sign-in');
      await signedInAs(j, t, `"${ACR_MFA}"`, '["hwk","user","mfa"]');

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
      await person.choose(emailChoice(tr, 'm•+@example\\.net'));
      const code = await mailCode(j, 'mia.private@example.net', () => person.press(tr('recover.next')));
      await enterCode(j, 'reset: email code', tr('recover.verify.title'), code, ['reset: new password', tr('recover.password.title')]);
      await newPassword(j);
      await person.look('sign in after the reset', tr('login.title'));
      await signIn(j, 'mia', NEW_PASSWORD);
      // The reset revoked every grant, so the application asks again.
      await consent(j, 'consent after the reset');
      await backAtTheApp(j, t, 'mia');
    });
  });
}
