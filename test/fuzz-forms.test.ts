import test from 'ava';
import { startSsprIdp, type SsprTestbed } from './helpers/sspr-idp.ts';
import { Browser, forms, type Page } from './helpers/browser.ts';
import { discover, authorizationRequest, newBrowser, signIn } from './helpers/rp.ts';
import { codeIn } from './helpers/register.ts';
import { hammer, type Fixture, type Target, type Tally } from './helpers/fuzz.ts';
import { hashAnswers } from '../src/methods/security-questions/answers.ts';
import { createPasswordHasher } from '../src/security/password.ts';
import { createSecretBox, loadSecretsKey, secretKeys } from '../src/security/secrets.ts';

// Every form of the product with malformed, missing, repeated, oversized, unicode,
// control-character and wrong-shape values and bad CSRF tokens (test/helpers/fuzz.ts): each post
// reaches what it aims at — the form's handler on a fresh flow where a post uses the flow up, or
// the refusal in front of it — never a 5xx or a stack trace, and it changes nothing it must not.

let bed: SsprTestbed;
const tallies = new Map<string, Tally>();
const hasher = createPasswordHasher(() => ({ memoryCost: 7168, timeCost: 1, parallelism: 1 }));

test.before(async () => {
  bed = await startSsprIdp({
    enabled: 'all',
    methodsRequired: 1,
    methods: { email: true, mobilePhone: true, authenticatorApp: true, securityQuestions: true, officePhone: true },
    registration: { requireOnSignIn: true, maxSkips: null },
    captcha: { enabled: false },
    codes: { resendAfterSeconds: 0, maxSends: 10 },
    limits: { phonePerHour: 100, questionsPerHour: 100, resetsPerDay: 100, emailsPer10Minutes: 100 },
  });
  const previous = bed.idp.idp.parts.config.current;
  bed.idp.idp.parts.config.replace({ ...previous, throttle: { ...previous.throttle, signinPerIp: 100_000, resetPerIp: 100_000 } });
});
test.after.always(async () => {
  await bed?.close();
});

const parts = () => bed.idp.idp.parts;
const db = () => parts().store.db;
const issuer = () => bed.idp.issuer;

let serial = 0;
const unique = (prefix: string) => `${prefix}-${(serial += 1)}`;

// Fixtures: users with what a form needs, and the page showing the form.

interface Methods {
  email?: boolean;
  mobile?: boolean;
  app?: boolean;
  questions?: boolean;
  confirmed?: boolean;
}

/** Three questions answered, as typed into the registration form. */
const QUESTIONS = { question0: 'first-school', answer0: 'De Regenboog', question1: 'first-concert', answer1: 'Golden Earring', question2: 'parents-met-city', answer2: 'Deventer' };

const APP_SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const ANSWERS: [string, string][] = [['first-school', 'Kompas'], ['first-concert', 'Doe Maar'], ['parents-met-city', 'Zwolle']];

async function newUser(prefix: string, methods: Methods = {}) {
  const username = unique(prefix);
  const user = await parts().users.create({ username, password: `${username} password` });
  const now = bed.clock.now();
  if (methods.email) await parts().store.sspr.putMethod(user.id, 'email', `${username}@example.net`, now);
  if (methods.mobile) await parts().store.sspr.putMethod(user.id, 'mobile_phone', `+3161${String(serial).padStart(7, '0')}`, now);
  if (methods.app) {
    const box = createSecretBox(secretKeys(await loadSecretsKey(parts().store.keys, undefined, bed.clock)).secretBox);
    await parts().store.sspr.putMethod(user.id, 'authenticator_app', box.seal(APP_SECRET), now);
  }
  if (methods.questions) {
    await parts().store.sspr.replaceAnswers(user.id, await hashAnswers(ANSWERS.map(([questionId, answer]) => ({ questionId, answer })), hasher), now);
  }
  if (methods.confirmed) await parts().store.sspr.recordConfirmation(user.id, now);
  return { user, username, password: `${username} password` };
}

async function rp(clientId: 'confidential-app' | 'third-party-app') {
  const secret = `${clientId}-secret-0123456789`;
  return discover({ issuer: issuer(), clientId, clientSecret: secret, authMethod: clientId === 'third-party-app' ? 'client_secret_post' : 'client_secret_basic' });
}

async function loginPage(clientId: 'confidential-app' | 'third-party-app' = 'confidential-app'): Promise<Fixture> {
  const browser = newBrowser();
  return { browser, page: await browser.navigate((await authorizationRequest(await rp(clientId))).url.href) };
}

/** Signed in at the authorization: the page that follows (registration, reconfirmation or consent). */
async function signedIn(prefix: string, methods: Methods, clientId: 'confidential-app' | 'third-party-app' = 'confidential-app'): Promise<Fixture> {
  const { username, password } = await newUser(prefix, methods);
  const { browser, page } = await loginPage(clientId);
  return { browser, page: await signIn(browser, page, username, password) };
}

const interrupt = () => signedIn('fz-reg', {});
async function methodPage(method: string): Promise<Fixture> {
  const { browser, page } = await interrupt();
  return { browser, page: await browser.navigate(`${page.url.replace(/\/$/, '')}/methods/${method}`) };
}

async function setupSession(methods: Methods = {}): Promise<Fixture> {
  const { username, password } = await newUser('fz-setup', methods);
  const browser = new Browser();
  const page = await browser.submit(await browser.navigate(`${issuer()}/security-info`), '/security-info/login', { username, password });
  return { browser, page };
}

async function resetFlow(methods: Methods = { email: true, mobile: true, app: true, questions: true, confirmed: true }): Promise<Fixture & { username: string }> {
  const { username } = await newUser('fz-reset', methods);
  const browser = new Browser();
  const page = await browser.submit(await browser.navigate(`${issuer()}/reset`), '/reset', { username });
  return { browser, page, username };
}

/** What a reset user registered for each challenge (the app only counts next to another method). */
const FOR_CHALLENGE: Record<string, Methods> = {
  email: { email: true, confirmed: true },
  mobilePhone: { mobile: true, confirmed: true },
  securityQuestions: { questions: true, confirmed: true },
  authenticatorApp: { email: true, app: true, confirmed: true },
};

async function challenge(method: string): Promise<Fixture & { username: string }> {
  const flow = await resetFlow(FOR_CHALLENGE[method]);
  return { ...flow, page: await flow.browser.submit(flow.page, '/reset/flow/method', { method }) };
}

async function mailedCode(username: string, after: number): Promise<string> {
  const mail = await bed.smtp.waitFor((m, i = bed.smtp.messages.indexOf(m)) => i >= after && m.to.includes(`${username}@example.net`));
  return codeIn(mail.text);
}

/** A reset flow that proved its email: at "unlock or reset" for a locked account, else at the new password. */
async function proven(locked: boolean): Promise<Fixture> {
  const { username, user } = await newUser('fz-proven', { email: true, confirmed: true });
  if (locked) for (let i = 0; i < 10; i += 1) await parts().users.signIn(username, 'wrong password');
  if (locked && !(await parts().users.byId(user.id))?.lockedUntil) throw new Error('not locked');
  const browser = new Browser();
  const list = await browser.submit(await browser.navigate(`${issuer()}/reset`), '/reset', { username });
  const sentAt = bed.smtp.messages.length;
  const codePage = await browser.submit(list, '/reset/flow/method', { method: 'email' });
  return { browser, page: await browser.submit(codePage, '/reset/flow/answer', { code: await mailedCode(username, sentAt) }) };
}

// What a handled post looks like.

const path = (url: string) => new URL(url, issuer()).pathname;
const hasForm = (page: Page, action: string) => forms(page).some((f) => path(f.action).endsWith(action));
const redirect = (page: Page, to: RegExp) => page.status === 303 && to.test(path(page.headers.get('location') ?? ''));
const own = (action: string, ...statuses: number[]) => (page: Page) => statuses.includes(page.status) && hasForm(page, action);
const errorCode = (page: Page) => /Error code: (\w+)/.exec(page.html)?.[1];
const toClient = (page: Page) => redirect(page, /^\/auth\/[\w-]+$/);

const SIGNIN_FAILED = /not right/;
const signinFailure = (action: string) => (page: Page) => page.status === 200 && hasForm(page, action) && SIGNIN_FAILED.test(page.html);

async function run(t: import('ava').ExecutionContext, targets: Target[]): Promise<void> {
  for (const target of targets) {
    const tally = await hammer(t, db(), target, () => parts().settled());
    tallies.set(target.name, tally);
    t.log(`${target.name}: ${tally.posts} posts (${tally.handled} handled, ${tally.refused} refused before the handler) on ${tally.fixtures} fresh flow(s)`);
  }
}

test.serial('sign-in, abort and consent', async (t) => {
  await run(t, [
    // A failed sign-in is counted against the address (only failures count) and audited.
    { name: 'login', open: () => loginPage(), action: '/login', fill: { username: 'fz-nobody', password: 'a wrong password' }, handled: signinFailure('/login'), mayChange: ['throttle'], audit: /^signin\.failure:failure$/ },
    { name: 'login abort', open: () => loginPage(), action: '/abort', freshAfter: 1, handled: toClient },
    // Consent grants what was asked, extra fields ignored.
    { name: 'consent confirm', open: () => signedIn('fz-consent', { email: true, confirmed: true }, 'third-party-app'), action: '/confirm', freshAfter: 1, handled: toClient, mayChange: ['sessions'] },
    { name: 'consent abort', open: () => signedIn('fz-consent', { email: true, confirmed: true }, 'third-party-app'), action: '/abort', freshAfter: 1, handled: toClient },
  ]);
});

test.serial('registration interrupt: finish, skip, every method form, the phone and email code steps', async (t) => {
  const sent = async (method: 'email' | 'mobilePhone', values: Record<string, string>): Promise<Fixture> => {
    const { browser, page } = await methodPage(method);
    return { browser, page: await browser.submit(page, `/methods/${method}/send`, values) };
  };
  const address = () => ({ address: `${unique('fz-mail')}@example.net` });
  const phone = () => ({ country: 'NL', number: `0620${String((serial += 1)).padStart(6, '0')}`, channel: 'sms' });
  const codeStep = (method: string) => (page: Page) => page.status === 400 && (hasForm(page, `/methods/${method}/verify`) || hasForm(page, `/methods/${method}/send`));
  await run(t, [
    { name: 'register finish', open: interrupt, action: '/finish', handled: own('/finish', 409) },
    // "Not now" counts a skip and goes back to the client.
    { name: 'register skip', open: interrupt, action: '/skip', freshAfter: 1, handled: toClient, mayChange: ['registration'], audit: /^sspr\.registration\.skipped:success$/ },
    { name: 'register email send', open: () => methodPage('email'), action: '/methods/email/send', handled: own('/methods/email/send', 400) },
    // Wrong codes are counted on the challenge (a fresh one before they run out).
    { name: 'register email verify', open: () => sent('email', address()), action: '/methods/email/verify', freshAfter: 4, handled: codeStep('email'), mayChange: ['challenges'] },
    // A resend with the form's own address sends a code (counted); any other is refused.
    { name: 'register email resend', open: () => sent('email', address()), action: '/methods/email/resend', handled: (page) => own('/methods/email/verify', 200)(page) || codeStep('email')(page), mayChange: ['challenges', 'throttle'] },
    // With a valid number typed, a post that keeps it sends a text (counted); the rest are refused on the form.
    { name: 'register mobilePhone send', open: () => methodPage('mobilePhone'), action: '/methods/mobilePhone/send', fill: { number: '06 30000001' }, handled: (page) => own('/methods/mobilePhone/send', 400)(page) || own('/methods/mobilePhone/verify', 200)(page), mayChange: ['challenges', 'throttle'] },
    { name: 'register mobilePhone verify', open: () => sent('mobilePhone', phone()), action: '/methods/mobilePhone/verify', freshAfter: 4, handled: codeStep('mobilePhone'), mayChange: ['challenges'] },
    { name: 'register mobilePhone resend', open: () => sent('mobilePhone', phone()), action: '/methods/mobilePhone/resend', handled: (page) => own('/methods/mobilePhone/verify', 200)(page) || codeStep('mobilePhone')(page), mayChange: ['challenges', 'throttle'] },
    { name: 'register authenticatorApp verify', open: () => methodPage('authenticatorApp'), action: '/methods/authenticatorApp/verify', freshAfter: 4, handled: own('/methods/authenticatorApp/verify', 400), mayChange: ['challenges'] },
    // With three questions answered, a post that keeps them (odd text is a valid answer) saves them.
    { name: 'register securityQuestions save', open: () => methodPage('securityQuestions'), action: '/methods/securityQuestions/save', fill: QUESTIONS, handled: (page) => own('/methods/securityQuestions/save', 400)(page) || redirect(page, /^\/interaction\/[\w-]+$/), mayChange: ['answers'], audit: /^sspr\.method\.(added|changed):success$/ },
  ]);
});

test.serial('reconfirmation: looks good, not now, remove a method', async (t) => {
  const reconfirm = () => signedIn('fz-reconfirm', { email: true, mobile: true });
  await run(t, [
    { name: 'reconfirm', open: reconfirm, action: '/reconfirm', freshAfter: 1, handled: toClient, mayChange: ['registration'], audit: /^sspr\.registration\.confirmed:success$/ },
    { name: 'reconfirm skip', open: reconfirm, action: '/skip', freshAfter: 1, handled: toClient, mayChange: ['registration'], audit: /^sspr\.registration\.skipped:success$/ },
    // Removing needs no more than the CSRF token: a handled post removes the phone.
    { name: 'reconfirm remove', open: reconfirm, action: '/methods/mobilePhone/remove', freshAfter: 1, handled: (page) => redirect(page, /^\/interaction\/[\w-]+$/), mayChange: ['methods'], audit: /^sspr\.method\.removed:success$/ },
  ]);
});

test.serial('security-info: sign-in, sign-out, remove and the method forms', async (t) => {
  const twoMethods = () => setupSession({ email: true, mobile: true, confirmed: true });
  const setupMethod = async (method: string) => {
    const { browser } = await setupSession();
    return { browser, page: await browser.navigate(`${issuer()}/security-info/methods/${method}`) };
  };
  await run(t, [
    {
      name: 'setup login',
      open: async () => {
        const browser = new Browser();
        return { browser, page: await browser.navigate(`${issuer()}/security-info`) };
      },
      action: '/security-info/login',
      fill: { username: 'fz-nobody', password: 'a wrong password' },
      handled: signinFailure('/security-info/login'),
      mayChange: ['throttle'],
      audit: /^signin\.failure:failure$/,
    },
    { name: 'setup logout', open: twoMethods, action: '/security-info/logout', freshAfter: 1, handled: (page) => page.status === 200 && /signed out of the security info page/.test(page.html), mayChange: ['sessions'] },
    { name: 'setup remove', open: twoMethods, action: '/security-info/methods/mobilePhone/remove', freshAfter: 1, handled: (page) => redirect(page, /^\/security-info$/), mayChange: ['methods'], audit: /^sspr\.method\.removed:success$/ },
    { name: 'setup email send', open: () => setupMethod('email'), action: '/security-info/methods/email/send', handled: own('/methods/email/send', 400) },
    { name: 'setup mobilePhone send', open: () => setupMethod('mobilePhone'), action: '/security-info/methods/mobilePhone/send', fill: { number: '06 30000002' }, handled: (page) => own('/methods/mobilePhone/send', 400)(page) || own('/methods/mobilePhone/verify', 200)(page), mayChange: ['challenges', 'throttle'] },
    { name: 'setup authenticatorApp verify', open: () => setupMethod('authenticatorApp'), action: '/security-info/methods/authenticatorApp/verify', freshAfter: 4, handled: own('/methods/authenticatorApp/verify', 400), mayChange: ['challenges'] },
    // Saved answers count as the registration confirmed, here.
    { name: 'setup securityQuestions save', open: () => setupMethod('securityQuestions'), action: '/security-info/methods/securityQuestions/save', fill: QUESTIONS, handled: (page) => own('/methods/securityQuestions/save', 400)(page) || redirect(page, /^\/security-info$/), mayChange: ['answers', 'registration'], audit: /^sspr\.(method\.(added|changed)|registration\.completed):success$/ },
  ]);
});

test.serial('reset: identify, choose, every challenge, use another method, unlock or reset, new password, contact', async (t) => {
  const phoneCode = async (): Promise<Fixture> => {
    const flow = await challenge('mobilePhone');
    const user = (await parts().users.find(flow.username))!;
    const number = (await parts().store.sspr.methods(user.id)).find((m) => m.kind === 'mobile_phone')!.value;
    return { browser: flow.browser, page: await flow.browser.submit(flow.page, '/reset/flow/answer', { number: number.replace('+31', '0'), channel: 'sms' }) };
  };
  const answerPage = (page: Page) => page.status === 400 && hasForm(page, '/reset/flow/answer');
  // A wrong answer is a failed step of the flow (audited), counted towards the method's limit (a
  // fresh flow before the method wears out); an incomplete one (no channel chosen) is a step shown
  // again (audited as info).
  const wrongAnswer: Pick<Target, 'freshAfter' | 'handled' | 'mayChange' | 'audit'> = { freshAfter: 4, handled: answerPage, mayChange: ['resets', 'challenges', 'throttle'], audit: /^sspr\.reset\.step:(failure|info)$/ };
  await run(t, [
    // Any typed id starts a flow (an unknown one is refused like an unregistered account), counted per address and per id.
    {
      name: 'reset identify',
      // Come from a sign-in page: the form carries its return address too.
      open: async () => {
        const browser = new Browser();
        return { browser, page: await browser.navigate(`${issuer()}/reset?return=${encodeURIComponent('/interaction/fuzz-sign-in')}`) };
      },
      action: '/reset',
      fill: { username: 'fz-nobody' },
      handled: (page) => own('/reset', 400)(page) || redirect(page, /^\/reset\/flow$/),
      mayChange: ['resets', 'throttle'],
      audit: /^sspr\.reset\.started:failure$/,
    },
    // Choosing a registered method starts its challenge (the default choice, email, sends a code).
    { name: 'reset method', open: () => resetFlow(), action: '/reset/flow/method', handled: (page) => (page.status === 400 && errorCode(page) === 'reset_method_unavailable') || own('/reset/flow/answer', 200)(page), mayChange: ['resets', 'challenges', 'throttle'] },
    { name: 'reset email code', open: () => challenge('email'), action: '/reset/flow/answer', field: 'code', ...wrongAnswer },
    // "Send a new code" (action=resend) sends one, counted; anything else in its place is a wrong answer.
    { name: 'reset email resend', open: () => challenge('email'), action: '/reset/flow/answer', field: 'action', ...wrongAnswer, handled: (page) => answerPage(page) || own('/reset/flow/answer', 200)(page) },
    { name: 'reset phone number', open: () => challenge('mobilePhone'), action: '/reset/flow/answer', ...wrongAnswer },
    { name: 'reset phone code', open: phoneCode, action: '/reset/flow/answer', ...wrongAnswer },
    { name: 'reset questions', open: () => challenge('securityQuestions'), action: '/reset/flow/answer', ...wrongAnswer },
    { name: 'reset app code', open: () => challenge('authenticatorApp'), action: '/reset/flow/answer', ...wrongAnswer },
    { name: 'reset use another method', open: () => challenge('email'), action: '/reset/flow/other', handled: (page) => redirect(page, /^\/reset\/flow$/), mayChange: ['resets'] },
    // "Unlock" (the default choice) finishes a proven flow, whatever else is posted along.
    { name: 'reset decide', open: () => proven(true), action: '/reset/flow/decide', freshAfter: 1, handled: (page) => (page.status === 400 && errorCode(page) === 'reset_bad_choice') || redirect(page, /^\/reset\/flow$/), mayChange: ['resets', 'lockout', 'throttle'], audit: /^sspr\.unlocked:success$/ },
    // A good new password typed, the confirmation left to the variants: never both right, nothing set.
    { name: 'reset new password', open: () => proven(false), action: '/reset/flow/password', fill: { password: 'quartz harbour lantern' }, handled: own('/reset/flow/password', 400) },
    // Contact an administrator: once per flow (marked on the flow) and once per hour per id; with no
    // administrator to tell, the request is audited as failed.
    { name: 'reset contact', open: () => resetFlow({}), action: '/reset/flow/contact', handled: (page) => page.status === 200 && /has been told/.test(page.html), mayChange: ['resets', 'throttle'], audit: /^sspr\.contact_admin:failure$/ },
  ]);
});

test.serial('password confirmation before a change (registration and security-info)', async (t) => {
  // Last: the clock moves past the ten minutes a sign-in counts as recent.
  const later = async (open: () => Promise<Fixture>, to: (f: Fixture) => string): Promise<Fixture> => {
    const fixture = await open();
    bed.clock.advance(11 * 60_000);
    return { browser: fixture.browser, page: await fixture.browser.navigate(to(fixture)) };
  };
  const failed = (action: string) => (page: Page) => page.status === 400 && hasForm(page, action) && /That password isn(&#39;|')t right/.test(page.html);
  await run(t, [
    // A wrong password is a failed check of the account's password: counted (lockout, address) and audited.
    { name: 'register confirm-password', open: () => later(interrupt, (f) => `${f.page.url.replace(/\/$/, '')}/methods/email`), action: '/confirm-password', handled: failed('/confirm-password'), mayChange: ['lockout', 'throttle'], audit: /^(sspr\.registration\.reauth:failure|signin\.failure:failure|signin\.locked:info)$/ },
    { name: 'setup confirm-password', open: () => later(() => setupSession(), () => `${issuer()}/security-info/methods/email`), action: '/security-info/confirm-password', handled: failed('/security-info/confirm-password'), mayChange: ['lockout', 'throttle'], audit: /^(signin\.failure:failure|signin\.locked:info)$/ },
  ]);
});

test.after.always('attempts per form', (t) => {
  const total = [...tallies.values()].reduce((sum, x) => sum + x.posts, 0);
  t.log(`attempts per form (${tallies.size} forms, ${total} posts): ${[...tallies].map(([k, v]) => `${k}=${v.posts}`).join(', ')}`);
});

