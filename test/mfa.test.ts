import test from 'ava';
import { ssprBed } from './helpers/sspr-idp.ts';
import { discover, authorizationRequest, newBrowser, signIn, redeem, oidc } from './helpers/rp.ts';
import type { Browser, Page } from './helpers/browser.ts';
import { codeIn, registerAuthenticator } from './helpers/register.ts';
import { totpCodeAt, totpStep } from '../src/security/totp.ts';
import { ACR_MFA, ACR_PASSWORD } from '../src/mfa/policy.ts';

// Multi-factor sign-in with a real relying party: the policy, step-up by acr_values, the ID
// token's acr/amr/auth_time, codes read from the real SMTP server and SMS receiver.

const bed = ssprBed(
  {
    enabled: 'all',
    methodsRequired: 1,
    methods: { email: true, mobilePhone: true, authenticatorApp: true },
    registration: { requireOnSignIn: false },
    administrators: { groups: ['Admins'] },
    codes: { resendAfterSeconds: 0 },
  },
  { config: { mfa: { require: 'selected', groups: ['Finance'] } } },
);

const rp = () => discover({ issuer: bed.idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
const parts = () => bed.idp.idp.parts;

async function newUser(username: string, groups: string[] = [], methods: { email?: string; mobile?: string } = {}) {
  const user = await parts().users.create({ username, password: `${username} password 1` });
  for (const g of groups) await parts().users.addToGroup(username, g);
  const now = bed.clock.now();
  if (methods.email) await parts().store.sspr.putMethod(user.id, 'email', methods.email, now);
  if (methods.mobile) await parts().store.sspr.putMethod(user.id, 'mobile_phone', methods.mobile, now);
  return user;
}

async function startSignIn(username: string, params: Record<string, string> = {}, browser: Browser = newBrowser()) {
  const config = await rp();
  const auth = await authorizationRequest(config, params);
  const form = await browser.navigate(auth.url.href);
  const page = form.html.includes('name="password"') ? await signIn(browser, form, username, `${username} password 1`) : form;
  return { config, auth, page, browser };
}

async function tokensFrom(config: oidc.Configuration, auth: Awaited<ReturnType<typeof authorizationRequest>>, page: Page) {
  if (page.status !== 0) throw new Error(`did not return to the client: ${page.status} ${page.html.slice(0, 1500)}`);
  return redeem(config, auth, page.url);
}

const events = async (userId: string, type: string) => (await parts().store.audit.list({ userId })).filter((e) => e.type === type);

test('discovery publishes the two levels; a password sign-in carries acr pwd, amr pwd and auth_time', async (t) => {
  const meta = (await (await fetch(`${bed.idp.issuer}/.well-known/openid-configuration`)).json()) as { acr_values_supported?: string[] };
  t.deepEqual(meta.acr_values_supported, [ACR_PASSWORD, ACR_MFA]);
  await newUser('paula');
  const { config, auth, page } = await startSignIn('paula');
  const claims = (await tokensFrom(config, auth, page)).claims()!;
  t.is(claims.acr, ACR_PASSWORD);
  t.deepEqual(claims.amr, ['pwd']);
  t.is(typeof claims.auth_time, 'number');
});

test('a member of an MFA group proves an emailed code after the password; the ID token says mfa', async (t) => {
  const user = await newUser('fiona', ['Finance'], { email: 'fiona.private@example.net' });
  const { config, auth, page, browser } = await startSignIn('fiona');
  t.is(page.status, 200);
  t.regex(page.html, /Confirm it(&#39;|')s you/);
  const before = bed.smtp.messages.length;
  const codePage = await browser.submit(page, '/mfa/send', { method: 'email' });
  t.regex(codePage.html, /We sent a code to f•+@example\.net/);
  t.notRegex(codePage.html, /name="remember"/, 'mfa.rememberDeviceDays is 0 by default: no device is remembered');
  const mail = await bed.smtp.waitFor((m) => bed.smtp.messages.indexOf(m) >= before && m.to.includes('fiona.private@example.net'));
  t.regex(mail.subject, /sign-in code/);

  const wrong = await browser.submit(codePage, '/mfa/verify', { method: 'email', code: '00000000' });
  t.is(wrong.status, 400);
  t.regex(wrong.html, /That code isn(&#39;|')t right/);
  const done = await browser.submit(wrong, '/mfa/verify', { method: 'email', code: codeIn(mail.text) });
  const claims = (await tokensFrom(config, auth, done)).claims()!;
  t.is(claims.acr, ACR_MFA);
  t.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
  t.is((await events(user.id, 'mfa.success')).length, 1);
  t.is((await events(user.id, 'mfa.failure')).length, 1);
});

test('step-up: a password-only session asked for acr mfa proves a text code without typing the password again', async (t) => {
  await newUser('sam', [], { mobile: '+31612340001' });
  const first = await startSignIn('sam');
  const firstClaims = (await tokensFrom(first.config, first.auth, first.page)).claims()!;
  t.is(firstClaims.acr, ACR_PASSWORD);

  const { config, auth, page, browser } = await startSignIn('sam', { acr_values: ACR_MFA }, first.browser);
  t.notRegex(page.html, /name="password"/, 'no new password');
  t.regex(page.html, /Confirm it(&#39;|')s you/);
  const before = bed.sms.messages.length;
  const codePage = await browser.submit(page, '/mfa/send', { method: 'mobilePhone', channel: 'sms' });
  const text = await bed.sms.waitFor((m) => bed.sms.messages.indexOf(m) >= before && m.to === '+31612340001');
  const done = await browser.submit(codePage, '/mfa/verify', { method: 'mobilePhone', code: codeIn(text.text) });
  const claims = (await tokensFrom(config, auth, done)).claims()!;
  t.is(claims.acr, ACR_MFA);
  t.deepEqual(claims.amr, ['pwd', 'sms', 'mfa']);

  // The session now has the multi-factor level: asking again needs nothing more.
  const again = await startSignIn('sam', { acr_values: ACR_MFA }, browser);
  t.is((await tokensFrom(again.config, again.auth, again.page)).claims()!.acr, ACR_MFA);
  // prompt=login asks for the password again, and the session falls back to the password level.
  const relogin = await startSignIn('sam', { prompt: 'login' }, browser);
  t.is((await tokensFrom(relogin.config, relogin.auth, relogin.page)).claims()!.acr, ACR_PASSWORD);
});

test.serial('an administrator with no second factor is sent to set one up, never let through; then proves it', async (t) => {
  const user = await newUser('adam', ['Admins']);
  const { config, auth, page, browser } = await startSignIn('adam');
  t.regex(page.html, /Set up a second way to sign in/);
  t.regex(page.html, /methods\/authenticatorApp/);
  t.notRegex(page.html, /methods\/securityQuestions/);
  const { page: after, secret } = await registerAuthenticator(browser, page, bed.clock.now());
  t.regex(after.html, /Confirm it(&#39;|')s you/, 'back at the second factor, now with the app');
  // The code typed at registration is used up: the next time step is needed.
  bed.clock.advance(30_000);
  const done = await browser.submit(after, '/mfa/verify', { method: 'authenticatorApp', code: totpCodeAt(secret, totpStep(bed.clock.now())) });
  const claims = (await tokensFrom(config, auth, done)).claims()!;
  t.is(claims.acr, ACR_MFA);
  t.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
  t.is((await events(user.id, 'mfa.success')).length, 1);
});

test('refusals: an unsupported acr_values, a second factor posted at the password step, a method the user lacks, prompt=none', async (t) => {
  await newUser('rita', ['Finance'], { email: 'rita.private@example.net' });
  const config = await rp();
  const browser = newBrowser();
  const unsupported = await authorizationRequest(config, { acr_values: 'urn:example:gold' });
  const refused = await browser.navigate(unsupported.url.href);
  t.is(refused.status, 0, 'sent back to the client');
  t.is(new URL(refused.url).searchParams.get('error'), 'invalid_request');
  t.regex(new URL(refused.url).searchParams.get('error_description') ?? '', /acr_values/);

  const auth = await authorizationRequest(config);
  const login = await browser.navigate(auth.url.href);
  const early = await browser.request(new URL(login.url).href.replace(/\/?$/, '/mfa/verify'), { method: 'POST', form: { csrf: 'x', method: 'email', code: '12345678' } });
  t.true(early.status === 400 || early.status === 403, `a second factor before the password is refused (${early.status})`);
  const page = await signIn(browser, login, 'rita', 'rita password 1');
  const lacking = await browser.submit(page, '/mfa/send', { method: 'authenticatorApp' });
  t.is(lacking.status, 400);
  t.regex(lacking.html, /isn(&#39;|')t available for your account/);

  const silent = await authorizationRequest(config, { prompt: 'none' });
  const none = await browser.navigate(silent.url.href);
  t.is(new URL(none.url).searchParams.get('error'), 'interaction_required', 'prompt=none cannot skip the second factor');
});

test('wrong second factors count per account: after 10, even the right code waits; parallel guesses cannot pass the limit', async (t) => {
  const user = await newUser('gus', ['Finance'], { email: 'gus.private@example.net' });
  const { page, browser } = await startSignIn('gus');
  const before = bed.smtp.messages.length;
  const codePage = await browser.submit(page, '/mfa/send', { method: 'email' });
  const mail = await bed.smtp.waitFor((m) => bed.smtp.messages.indexOf(m) >= before && m.to.includes('gus.private@example.net'));
  // 12 wrong guesses at once (the code itself allows only 5 wrong tries before it is void).
  const guesses = await Promise.all(Array.from({ length: 12 }, (_, i) => browser.submit(codePage, '/mfa/verify', { method: 'email', code: String(10_000_000 + i) })));
  t.true(guesses.every((g) => g.status === 400));
  const throttled = guesses.filter((g) => /too many wrong codes/.test(g.html)).length;
  t.is(throttled, 2, 'exactly the tries over 10 are refused by the limit');
  const right = await browser.submit(codePage, '/mfa/verify', { method: 'email', code: codeIn(mail.text) });
  t.is(right.status, 400);
  t.regex(right.html, /too many wrong codes/);
  const failures = await events(user.id, 'mfa.failure');
  t.is(failures.filter((e) => (e.details as { reason?: string }).reason === 'throttled').length, 3);
});
