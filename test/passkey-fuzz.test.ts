import test from 'ava';
import { ssprBed } from './helpers/sspr-idp.ts';
import { Browser, forms, type Page } from './helpers/browser.ts';
import { discover, authorizationRequest, newBrowser, signIn } from './helpers/rp.ts';
import { registerPasskey } from './helpers/register.ts';
import { SoftAuthenticator } from './helpers/webauthn.ts';
import { hammer, type Fixture, type Target } from './helpers/fuzz.ts';

// Every passkey form (sign-in, the second factor, registration here and at the interrupt, rename,
// remove, the reset challenge) with malformed, missing, repeated, oversized and wrong-shape values
// (test/helpers/fuzz.ts): never a 5xx or a stack trace, the handler's own clear answer, and
// nothing changed but the audit trail of the refusal.

const bed = ssprBed(
  {
    enabled: 'all',
    methodsRequired: 1,
    methods: { email: true, authenticatorApp: true, passkey: true },
    registration: { requireOnSignIn: true, maxSkips: null },
    captcha: { enabled: false },
    codes: { resendAfterSeconds: 0 },
    limits: { resetsPerDay: 100 },
  },
  { host: 'localhost', config: { mfa: { require: 'selected', groups: ['Finance'] } } },
  (bed) => {
    const previous = bed.idp.idp.parts.config.current;
    bed.idp.idp.parts.config.replace({ ...previous, throttle: { ...previous.throttle, signinPerIp: 100_000, resetPerIp: 100_000 } });
  },
);

const parts = () => bed.idp.idp.parts;
const issuer = () => bed.idp.issuer;
let serial = 0;
const path = (url: string) => new URL(url, issuer()).pathname;
const hasForm = (page: Page, action: string) => forms(page).some((f) => path(f.action).endsWith(action));
const own = (action: string, ...statuses: number[]) => (page: Page) => statuses.includes(page.status) && hasForm(page, action);
const redirect = (page: Page, to: RegExp) => page.status === 303 && to.test(path(page.headers.get('location') ?? ''));

async function newUser(options: { email?: boolean; groups?: string[]; confirmed?: boolean } = {}) {
  const username = `fz-passkey-${(serial += 1)}`;
  const user = await parts().users.create({ username, password: `${username} password` });
  for (const g of options.groups ?? []) await parts().users.addToGroup(username, g);
  if (options.email) await parts().store.sspr.putMethod(user.id, 'email', `${username}@example.net`, bed.clock.now());
  if (options.confirmed) await parts().store.sspr.recordConfirmation(user.id, bed.clock.now());
  return { user, username, password: `${username} password` };
}

async function setupSession(passkeys = 0, groups: string[] = []): Promise<Fixture & { username: string; password: string }> {
  const { username, password } = await newUser({ email: true, confirmed: true, groups });
  const browser = new Browser();
  let page = await browser.submit(await browser.navigate(`${issuer()}/security-info`), '/security-info/login', { username, password });
  const authenticator = new SoftAuthenticator(new URL(issuer()).origin);
  for (let i = 0; i < passkeys; i += 1) page = (await registerPasskey(browser, page, authenticator, `Key ${i + 1}`)).page;
  return { browser, page, username, password };
}

const passkeyPage = async (passkeys: number): Promise<Fixture> => {
  const { browser } = await setupSession(passkeys);
  return { browser, page: await browser.navigate(`${issuer()}/security-info/methods/passkey`) };
};

async function loginPage(): Promise<Fixture> {
  const config = await discover({ issuer: issuer(), clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const browser = newBrowser();
  return { browser, page: await browser.navigate((await authorizationRequest(config)).url.href) };
}

async function run(t: import('ava').ExecutionContext, targets: Target[]): Promise<void> {
  for (const target of targets) {
    const tally = await hammer(t, parts().store.db, target, () => parts().settled());
    t.log(`${target.name}: ${tally.posts} posts (${tally.handled} handled, ${tally.refused} refused before the handler) on ${tally.fixtures} fresh flow(s)`);
  }
}

test.serial('sign-in and the second factor', async (t) => {
  const mfaPrompt = async (): Promise<Fixture> => {
    const { username, password } = await setupSession(1, ['Finance']);
    const { browser, page } = await loginPage();
    return { browser, page: await signIn(browser, page, username, password) };
  };
  await run(t, [
    // A failed passkey sign-in counts against the address, like a failed password.
    { name: 'login passkey', open: loginPage, action: '/passkey', handled: own('/passkey', 400), mayChange: ['throttle'], audit: /^(signin\.failure|passkey\.authenticate\.refused):failure$/ },
    // Each wrong second factor takes a point of the account's limit on them.
    { name: 'mfa passkey', open: mfaPrompt, action: '/mfa/verify', field: 'response', handled: own('/mfa/verify', 400), mayChange: ['throttle'], audit: /^(mfa\.failure|passkey\.authenticate\.refused):failure$/ },
  ]);
});

test.serial('registration, rename and remove (security-info and the interrupt)', async (t) => {
  const interrupt = async (): Promise<Fixture> => {
    const { username, password } = await newUser();
    const { browser, page } = await loginPage();
    const overview = await signIn(browser, page, username, password);
    return { browser, page: await browser.navigate(`${overview.url.replace(/\/$/, '')}/methods/passkey`) };
  };
  await run(t, [
    { name: 'setup passkey create', open: () => passkeyPage(0), action: '/security-info/methods/passkey/create', handled: own('/methods/passkey/create', 400), audit: /^passkey\.register\.refused:failure$/ },
    { name: 'register passkey create', open: interrupt, action: '/methods/passkey/create', handled: own('/methods/passkey/create', 400), audit: /^passkey\.register\.refused:failure$/ },
    // A name is cleaned (control characters out, at most 64) and kept; an empty one or a slot not the user's is refused.
    { name: 'setup passkey rename', open: () => passkeyPage(1), action: '/security-info/methods/passkey/rename', handled: own('/methods/passkey/rename', 200, 400, 404) },
    // With the slot intact one of the two passkeys goes (a change of the methods, audited and
    // notified); on security-info the methods as they are then count as confirmed.
    { name: 'setup passkey delete', open: () => passkeyPage(2), action: '/security-info/methods/passkey/delete', freshAfter: 1, handled: (page) => redirect(page, /^\/security-info$/) || own('/methods/passkey/rename', 404)(page), mayChange: ['methods', 'registration'], audit: /^sspr\.(method\.changed|registration\.completed):success$/ },
  ]);
});

test.serial('the reset challenge', async (t) => {
  const challenge = async (): Promise<Fixture> => {
    const { username } = await setupSession(1);
    const browser = new Browser();
    const list = await browser.submit(await browser.navigate(`${issuer()}/reset`), '/reset', { username });
    return { browser, page: await browser.submit(list, '/reset/flow/method', { method: 'passkey' }) };
  };
  // A wrong answer is a failed step, counted towards the method's limit: a fresh flow before it wears out.
  await run(t, [
    { name: 'reset passkey', open: challenge, action: '/reset/flow/answer', freshAfter: 2, handled: own('/reset/flow/answer', 400), mayChange: ['resets', 'throttle'], audit: /^(sspr\.reset\.step|passkey\.authenticate\.refused):failure$/ },
  ]);
});
