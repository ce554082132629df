import test from 'ava';
import { ssprBed } from './helpers/sspr-idp.ts';
import { discover, authorizationRequest, newBrowser, signIn, redeem, oidc } from './helpers/rp.ts';
import { registerEmail, registerPhone, registerAuthenticator, registerQuestions, codeIn } from './helpers/register.ts';
import type { Browser, Page } from './helpers/browser.ts';

// A relying party signs users in through the registration interrupt, with codes read from a
// real SMTP server and a real text-message webhook receiver.

const DAY = 86_400_000;

const bed = ssprBed({
  enabled: 'all',
  methodsRequired: 1,
  methods: { email: true, mobilePhone: true, authenticatorApp: true, securityQuestions: true, officePhone: true },
  registration: { requireOnSignIn: true, reconfirmAfterDays: 180, maxSkips: 2 },
  administrators: { groups: ['Admins'] },
  codes: { resendAfterSeconds: 0 },
});

const rp = () => discover({ issuer: bed.idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });

async function newUser(username: string, extra: { email?: string; groups?: string[] } = {}) {
  await bed.idp.idp.parts.users.create({ username, password: `${username} password 1`, email: extra.email });
  for (const g of extra.groups ?? []) await bed.idp.idp.parts.users.addToGroup(username, g);
}

/** Authorize and sign in; returns the page shown after the password. */
async function startSignIn(username: string, params: Record<string, string> = {}, browser: Browser = newBrowser()) {
  const config = await rp();
  const auth = await authorizationRequest(config, params);
  const form = await browser.navigate(auth.url.href);
  const page = await signIn(browser, form, username, `${username} password 1`);
  return { config, auth, page, browser };
}

/** Registers an email address on the interrupt `start` reached, and goes on to the client. */
async function registerEmailAndFinish(start: Awaited<ReturnType<typeof startSignIn>>, address: string) {
  const overview = await registerEmail(start.browser, start.page, bed.smtp, address);
  await finishAndRedeem(start.browser, overview, start.config, start.auth);
}

async function finishAndRedeem(browser: Browser, page: Page, config: oidc.Configuration, auth: Awaited<ReturnType<typeof authorizationRequest>>) {
  const done = await browser.submit(page, '/finish');
  if (done.status !== 0) throw new Error(`finish did not reach the client: ${done.status} ${done.html.slice(0, 1500)}`);
  return redeem(config, auth, done.url);
}

test.serial('a new user is interrupted, registers email and security questions, and reaches the client', async (t) => {
  await newUser('anna', { email: 'anna@corp.example' });
  const { config, auth, page, browser } = await startSignIn('anna');
  t.is(page.status, 200);
  t.regex(page.html, /Don(&#39;|')t lose access to your account/);
  t.regex(page.html, /<button type="submit" disabled>Finish<\/button>/, 'Finish waits until enough methods are registered');

  let overview = await registerEmail(browser, page, bed.smtp, 'anna.private@example.net');
  t.regex(overview.html, /a•+@example\.net/, 'the registered address is shown masked');
  overview = await registerQuestions(browser, overview, [
    ['first-school', 'Sint Jozef'],
    ['first-concert', 'The Cure'],
    ['parents-met-city', 'Utrecht'],
  ]);
  t.regex(overview.html, /3 questions answered/);

  const tokens = await finishAndRedeem(browser, overview, config, auth);
  const claims = tokens.claims()!;
  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  const everything = JSON.stringify({ claims, info });
  t.notRegex(everything, /anna\.private|Sint Jozef|The Cure|Utrecht|first-school|phone|question/i, 'no SSPR data in tokens or userinfo');

  // The directory address was told about the new method.
  const notice = await bed.smtp.waitFor((m) => m.to.includes('anna@corp.example') && /recovery information/.test(m.subject));
  t.regex(notice.text, /Authentication email|Security questions/);

  // Stored safely: answers are argon2id hashes, never the text.
  const user = await bed.idp.idp.parts.users.find('anna');
  const answers = await bed.idp.idp.parts.store.sspr.answers(user!.id);
  t.is(answers.length, 3);
  t.true(answers.every((a) => a.answerHash.startsWith('$argon2id$') && !a.answerHash.includes('Utrecht')));

  // The audit trail: the interrupt shown once for this flow, each method added, the finish.
  const trail = await bed.idp.idp.parts.store.audit.list({ userId: user!.id });
  const started = trail.filter((e) => e.type === 'sspr.registration.started');
  t.is(started.length, 1, 'recorded once, though the page was shown again after each method');
  t.truthy(started[0]!.flowId);
  t.deepEqual(trail.filter((e) => e.type === 'sspr.method.added').map((e) => e.details?.method).sort(), ['email', 'securityQuestions']);
  t.true(trail.some((e) => e.type === 'sspr.registration.completed' && e.flowId === started[0]!.flowId));

  // The next sign-in goes straight through.
  const again = await startSignIn('anna');
  t.is(again.page.status, 0, 'no interruption once registered');
});

test.serial('mobile phone by text message, and the authenticator app with a code computed from the shown key', async (t) => {
  await newUser('bram');
  const { config, auth, page, browser } = await startSignIn('bram');
  let overview = await registerPhone(browser, page, bed.sms, 'NL', '06 12345678', '+31612345678');
  t.regex(overview.html, /\+31 6 •+ ?78/);
  const { page: afterApp } = await registerAuthenticator(browser, overview, bed.clock.now());
  overview = afterApp;
  t.regex(overview.html, /App connected/);
  const tokens = await finishAndRedeem(browser, overview, config, auth);
  t.truthy(tokens.id_token);
  const user = await bed.idp.idp.parts.users.find('bram');
  const stored = await bed.idp.idp.parts.store.sspr.methods(user!.id);
  const app = stored.find((m) => m.kind === 'authenticator_app')!;
  t.regex(app.value, /^v1\./, 'the authenticator secret is encrypted at rest');
  t.is(stored.find((m) => m.kind === 'mobile_phone')!.value, '+31612345678', 'numbers are stored in E.164');
});

test.serial('the authenticator app alone is not enough; an invalid phone number gets a clear message', async (t) => {
  await newUser('cees');
  const { page, browser } = await startSignIn('cees');
  const { page: overview } = await registerAuthenticator(browser, page, bed.clock.now());
  t.regex(overview.html, /Set up 1 more to finish/);
  const refused = await browser.submit(overview, '/finish');
  t.is(refused.status, 409);
  t.regex(refused.html, /only counts together with another method/);

  const phoneForm = await browser.follow(overview, '/methods/mobilePhone');
  const bad = await browser.submit(phoneForm, '/methods/mobilePhone/send', { country: 'NL', number: '12', channel: 'sms' });
  t.is(bad.status, 400);
  t.regex(bad.html, /isn(&#39;|')t a valid phone number/);
  const landline = await browser.submit(phoneForm, '/methods/mobilePhone/send', { country: 'NL', number: '020 123 4567', channel: 'sms' });
  t.regex(landline.html, /landline/);
});

test.serial('wrong codes count, the code is bound to its address, and a delivery failure registers nothing', async (t) => {
  await newUser('dirk');
  const { page, browser } = await startSignIn('dirk');
  const form = await browser.follow(page, '/methods/email');
  const codePage = await browser.submit(form, '/methods/email/send', { address: 'dirk@example.net' });
  const mail = await bed.smtp.waitFor((m) => m.to.includes('dirk@example.net'));
  const code = codeIn(mail.text);
  const wrong = await browser.submit(codePage, '/methods/email/verify', { code: code === '00000000' ? '11111111' : '00000000' });
  t.regex(wrong.html, /You can try 4 more time/);
  // Tampering with the address the code went to doesn't work.
  const other = await browser.submit(codePage, '/methods/email/verify', { code, address: 'mallory@example.net' });
  t.regex(other.html, /expired or was already used/);
  const user = await bed.idp.idp.parts.users.find('dirk');
  t.deepEqual(await bed.idp.idp.parts.store.sspr.methods(user!.id), []);

  // The SMTP server goes away: a clear message, and nothing is half-registered.
  const previous = bed.idp.idp.parts.config.current;
  bed.idp.idp.parts.config.replace({ ...previous, delivery: { ...previous.delivery, mail: { ...previous.delivery.mail, smtp: { ...previous.delivery.mail.smtp, port: 9 } } } });
  try {
    const failed = await browser.submit(form, '/methods/email/send', { address: 'dirk2@example.net' });
    t.regex(failed.html, /couldn(&#39;|')t send the code/);
    t.deepEqual(await bed.idp.idp.parts.store.sspr.methods(user!.id), []);
  } finally {
    bed.idp.idp.parts.config.replace(previous);
  }
});

test.serial('"Not now" lets the user through until maxSkips is used up; then registration is mandatory', async (t) => {
  await newUser('eva');
  for (let i = 0; i < 2; i += 1) {
    const { config, auth, page, browser } = await startSignIn('eva');
    t.regex(page.html, /Not now/);
    const through = await browser.submit(page, '/skip');
    t.is(through.status, 0, `skip ${i + 1} reaches the client`);
    t.truthy((await redeem(config, auth, through.url)).access_token);
  }
  const { page, browser } = await startSignIn('eva');
  t.notRegex(page.html, /Not now/, 'no skip button after maxSkips');
  const forced = await browser.request(page.url.replace(/\/?$/, '/skip'), { form: { csrf: /name="csrf" value="([^"]+)"/.exec(page.html)![1]! } });
  t.is(forced.status, 409, 'a crafted skip is refused');
});

test.serial('prompt=none gets interaction_required instead of the registration page', async (t) => {
  await newUser('fenna');
  const { config, page, browser } = await startSignIn('fenna');
  t.regex(page.html, /lose access/);
  const silent = await authorizationRequest(config, { prompt: 'none' });
  const result = await browser.navigate(silent.url.href);
  t.is(result.status, 0);
  t.regex(result.url, /error=interaction_required/);
});

test.serial('the interrupt and the reconfirmation page lead back to the application: access_denied, and the next sign-in asks again', async (t) => {
  await newUser('ilse');
  const first = await startSignIn('ilse');
  t.regex(first.page.html, /Cancel and go back to Confidential App/);
  const back = await first.browser.submit(first.page, '/abort');
  t.is(back.status, 0, 'redirected to the client');
  t.is(new URL(back.url).searchParams.get('error'), 'access_denied');
  const again = await startSignIn('ilse');
  t.regex(again.page.html, /lose access to your account/);

  await registerEmailAndFinish(again, 'ilse@example.net');
  await bed.clock.ahead(181 * DAY, async () => {
    const later = await startSignIn('ilse');
    t.regex(later.page.html, /still right/);
    t.regex(later.page.html, /Cancel and go back to Confidential App/);
    const cancelled = await later.browser.submit(later.page, '/abort');
    t.is(new URL(cancelled.url).searchParams.get('error'), 'access_denied');
  });
});

test.serial('after the reconfirmation period the user is asked to confirm; "Looks good" lets them through', async (t) => {
  await newUser('gijs');
  await registerEmailAndFinish(await startSignIn('gijs'), 'gijs@example.net');

  const soon = await startSignIn('gijs');
  t.is(soon.page.status, 0, 'no question before the period ends');

  await bed.clock.ahead(181 * DAY, async () => {
    const later = await startSignIn('gijs');
    t.is(later.page.status, 200);
    t.regex(later.page.html, /still right/);
    t.regex(later.page.html, /g•+@example\.net/);
    const done = await later.browser.submit(later.page, '/reconfirm');
    t.is(done.status, 0);
    t.truthy((await redeem(later.config, later.auth, done.url)).access_token);
    const after = await startSignIn('gijs');
    t.is(after.page.status, 0, 'confirmed: not asked again');
  });
});

test.serial('removing a method below the requirement is refused with an explanation', async (t) => {
  await newUser('hanna');
  await registerEmailAndFinish(await startSignIn('hanna'), 'hanna@example.net');
  await bed.clock.ahead(200 * DAY, async () => {
    const later = await startSignIn('hanna');
    const refused = await later.browser.submit(later.page, '/methods/email/remove');
    t.is(refused.status, 409);
    t.regex(refused.html, /can(&#39;|')t remove this method/);
    const user = await bed.idp.idp.parts.users.find('hanna');
    t.is((await bed.idp.idp.parts.store.sspr.methods(user!.id)).length, 1);
  });
});

test.serial('administrators need two methods and are not offered security questions', async (t) => {
  await newUser('ivo', { groups: ['admins'] });
  const { page, browser } = await startSignIn('ivo');
  t.regex(page.html, /at least 2 of the methods/);
  t.notRegex(page.html, /methods\/securityQuestions/);
  const direct = await browser.navigate(page.url.replace(/\/?$/, '/methods/securityQuestions'));
  t.is(direct.status, 404);
  const overview = await registerEmail(browser, page, bed.smtp, 'ivo@example.net');
  t.regex(overview.html, /Set up 1 more to finish/);
});

test.serial('users out of scope, or with requireOnSignIn off, are not interrupted; policy edits apply at the next sign-in', async (t) => {
  await newUser('jan');
  const previous = bed.idp.idp.parts.config.current;
  try {
    bed.idp.idp.parts.config.replace({ ...previous, sspr: { ...previous.sspr, enabled: 'selected', groups: ['Pilot'] } });
    t.is((await startSignIn('jan')).page.status, 0, 'not in the pilot group');
    await bed.idp.idp.parts.users.addToGroup('jan', 'pilot');
    t.is((await startSignIn('jan')).page.status, 200, 'group membership (any case) brings the user in scope');
    bed.idp.idp.parts.config.replace({ ...previous, sspr: { ...previous.sspr, registration: { ...previous.sspr.registration, requireOnSignIn: false } } });
    t.is((await startSignIn('jan')).page.status, 0, 'requireOnSignIn off');
    bed.idp.idp.parts.config.replace({ ...previous, sspr: { ...previous.sspr, enabled: 'none' } });
    t.is((await startSignIn('jan')).page.status, 0, 'enabled: none');
  } finally {
    bed.idp.idp.parts.config.replace(previous);
  }
});

test.serial('parallel "Not now" requests can never skip more than maxSkips times', async (t) => {
  await newUser('kees');
  const user = (await bed.idp.idp.parts.users.find('kees'))!;
  const results = await Promise.allSettled(Array.from({ length: 6 }, () => bed.idp.idp.parts.registration.skip(user, {})));
  t.is(results.filter((r) => r.status === 'fulfilled').length, 2, 'maxSkips is 2');
  for (const r of results) if (r.status === 'rejected') t.is((r.reason as { code?: string }).code, 'skip_not_allowed');
  t.is((await bed.idp.idp.parts.store.sspr.state(user.id)).skips, 2);
  const trail = await bed.idp.idp.parts.store.audit.list({ userId: user.id, type: 'sspr.registration.skipped' });
  t.deepEqual(trail.map((e) => Number(e.details?.skips)).sort(), [1, 2]);
});

const csrfOf = (page: Page) => /name="csrf" value="([^"]+)"/.exec(page.html)![1]!;

test.serial('after SSO, changing or removing a method in the reconfirmation prompt needs the password first; "Looks good" does not', async (t) => {
  const previous = bed.idp.idp.parts.config.current;
  // A short reconfirmation period, well within the browser session's lifetime (14 days).
  bed.idp.idp.parts.config.replace({ ...previous, sspr: { ...previous.sspr, registration: { ...previous.sspr.registration, reconfirmAfterDays: 1 } } });
  const later = DAY + 60_000;
  try {
    await newUser('lotte', { email: 'lotte@corp.example' });
    const first = await startSignIn('lotte');
    let overview = await registerEmail(first.browser, first.page, bed.smtp, 'lotte@example.net');
    overview = await registerPhone(first.browser, overview, bed.sms, 'NL', '06 33333301', '+31633333301');
    await finishAndRedeem(first.browser, overview, first.config, first.auth);
    const browser = first.browser;
    const user = (await bed.idp.idp.parts.users.find('lotte'))!;
    const methods = async () => (await bed.idp.idp.parts.store.sspr.methods(user.id)).map((m) => [m.kind, m.value]);
    const registered = await methods();

    bed.clock.advance(later);
    // Single sign-on: the same browser, no password typed.
    const config = await rp();
    const auth = await authorizationRequest(config);
    const prompt = await browser.navigate(auth.url.href);
    t.is(prompt.status, 200);
    t.regex(prompt.html, /still right/);

    const confirm = await browser.follow(prompt, '/methods/email');
    t.regex(confirm.html, /Confirm your password/, '"Change" asks for the password first');
    t.notRegex(confirm.html, /Email me a code/);
    // Posting straight to a step or to remove gets the same answer, and changes nothing.
    const mailsBefore = bed.smtp.messages.length;
    const crafted = await browser.request(`${prompt.url.replace(/\/$/, '')}/methods/email/send`, { form: { csrf: csrfOf(prompt), address: 'mallory@example.net' } });
    t.regex(crafted.html, /Confirm your password/);
    const remove = await browser.submit(prompt, '/methods/mobilePhone/remove');
    t.regex(remove.html, /Confirm your password/);
    t.deepEqual(await methods(), registered);
    // No wait needed: a code send is awaited before the page answers, and the test SMTP server and SMS
    // receiver record a message before they acknowledge it, so whatever was sent is already here.
    t.false(bed.smtp.messages.slice(mailsBefore).some((m) => m.to.includes('mallory@example.net')), 'no code went out');
    // The form needs its CSRF token.
    const noToken = await browser.request(`${prompt.url.replace(/\/$/, '')}/confirm-password`, { form: { password: 'lotte password 1' } });
    t.is(noToken.status, 403);

    // A wrong password is refused and counted by the sign-in lockout.
    const failedBefore = (await bed.idp.idp.parts.users.find('lotte'))!.failedSignins;
    const wrong = await browser.submit(confirm, '/confirm-password', { password: 'not my password' });
    t.is(wrong.status, 400);
    t.regex(wrong.html, /password isn(&#39;|')t right/);
    t.is((await bed.idp.idp.parts.users.find('lotte'))!.failedSignins, failedBefore + 1);
    t.deepEqual(await methods(), registered);
    // It is the same password check as every sign-in (per-IP throttle, lockout, signin.* events).
    const failures = await bed.idp.idp.parts.store.audit.list({ userId: user.id, type: 'signin.failure' });
    t.true(failures.some((e) => (e.details as { via?: string }).via === 'registration-prompt'), 'signin.failure via the registration prompt');

    // The right one leads on to the method page, and the change goes through.
    const methodPage = await browser.submit(wrong, '/confirm-password', { password: 'lotte password 1' });
    t.is(methodPage.status, 200);
    t.regex(methodPage.html, /Email me a code/);
    const sentAt = bed.smtp.messages.length;
    const codePage = await browser.submit(methodPage, '/methods/email/send', { address: 'lotte.new@example.net' });
    const mail = await bed.smtp.waitFor((m) => bed.smtp.messages.indexOf(m) >= sentAt && m.to.includes('lotte.new@example.net'));
    const changed = await browser.submit(codePage, '/methods/email/verify', { code: codeIn(mail.text) });
    t.regex(changed.html, /l•+@example\.net/);
    t.deepEqual((await methods()).find(([kind]) => kind === 'email'), ['email', 'lotte.new@example.net']);
    // Removing works now too, without asking again.
    const removed = await browser.submit(changed, '/methods/mobilePhone/remove');
    t.regex(removed.html, /still right/);
    t.deepEqual(await methods(), [['email', 'lotte.new@example.net']]);
    const done = await browser.submit(removed, '/reconfirm');
    t.is(done.status, 0);
    t.truthy((await redeem(config, auth, done.url)).access_token);
    const trail = await bed.idp.idp.parts.store.audit.list({ userId: user.id, type: 'sspr.registration.reauth' });
    t.deepEqual(trail.map((e) => e.outcome).sort(), ['failure', 'success']);

    // Another period on: "Looks good" as it is needs no password.
    bed.clock.advance(later);
    try {
      const auth2 = await authorizationRequest(config);
      const again = await browser.navigate(auth2.url.href);
      t.regex(again.html, /still right/);
      const through = await browser.submit(again, '/reconfirm');
      t.is(through.status, 0);
      t.truthy((await redeem(config, auth2, through.url)).access_token);
    } finally {
      bed.clock.advance(-later);
    }
  } finally {
    bed.clock.advance(-later);
    bed.idp.idp.parts.config.replace(previous);
  }
});
