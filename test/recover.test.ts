import test from 'ava';
import type { RunningIdp, TestClock } from './helpers/idp.ts';
import { startSsprIdp, type SsprTestbed } from './helpers/sspr-idp.ts';
import { Browser, formWith, type Page } from './helpers/browser.ts';
import type { TestSmtp } from './helpers/smtp.ts';
import type { SmsReceiver } from './helpers/sms.ts';
import { codeIn } from './helpers/register.ts';
import { discover, authorizationRequest, newBrowser, signIn, redeem, login, oidc } from './helpers/rp.ts';
import { totpCodeAt, totpStep, newTotpSecret } from '../src/security/totp.ts';
import { hashAnswers } from '../src/methods/security-questions/answers.ts';
import { createPasswordHasher } from '../src/security/password.ts';

// "Can't access your account?": refusals, verification with each method, unlock, reset,
// and what a reset does to sessions and tokens. CAPTCHA is off here (tested on its own).

let bed: SsprTestbed;
let idp: RunningIdp;
let smtp: TestSmtp;
let sms: SmsReceiver;
let clock: TestClock;
const hasher = createPasswordHasher(() => ({ memoryCost: 7168, timeCost: 1, parallelism: 1 }));

test.before(async () => {
  bed = await startSsprIdp({
    enabled: 'selected',
    groups: ['Staff'],
    methodsRequired: 1,
    methods: { email: true, mobilePhone: true, officePhone: true, authenticatorApp: true, securityQuestions: true },
    securityQuestions: { numberToRegister: 4, numberToReset: 3 },
    administrators: { groups: ['Admins'] },
    registration: { requireOnSignIn: false },
    captcha: { enabled: false },
    codes: { resendAfterSeconds: 0 },
  });
  ({ idp, smtp, sms, clock } = bed);
});
test.after.always(async () => {
  await bed?.close();
});

const parts = () => idp.idp.parts;
const now = () => clock.now();

async function user(username: string, opts: { email?: string; groups?: string[]; methods?: Record<string, string>; questions?: [string, string][]; source?: 'cloud' | 'onpremises' } = {}) {
  const created = await parts().users.create({ username, password: `${username} old password`, email: opts.email, passwordSource: opts.source });
  for (const g of opts.groups ?? ['Staff']) await parts().users.addToGroup(username, g);
  for (const [kind, value] of Object.entries(opts.methods ?? {})) {
    await parts().store.sspr.putMethod(created.id, kind as 'email', value, now());
  }
  if (opts.questions) {
    await parts().store.sspr.replaceAnswers(created.id, await hashAnswers(opts.questions.map(([questionId, answer]) => ({ questionId, answer })), hasher), now());
  }
  return created;
}

/** Starts the flow for a user id; returns the first page of the flow. */
async function begin(username: string, browser = new Browser(), query = ''): Promise<{ browser: Browser; page: Page }> {
  const form = await browser.navigate(`${idp.issuer}/reset${query}`);
  const page = await browser.submit(form, '/reset', { username });
  return { browser, page };
}

async function emailCode(browser: Browser, page: Page, address: string): Promise<Page> {
  const before = smtp.messages.length;
  const codePage = await browser.submit(page, '/reset/flow/method', { method: 'email' });
  const mail = await smtp.waitFor((m) => smtp.messages.indexOf(m) >= before && m.to.includes(address));
  return browser.submit(codePage, '/reset/flow/answer', { code: codeIn(mail.text) });
}

async function newPassword(browser: Browser, page: Page, password: string): Promise<Page> {
  return browser.submit(page, '/reset/flow/password', { password, confirm: password });
}

const codeOn = (page: Page) => /Error code: ([A-Z_]+)/.exec(page.html)?.[1];
// Per-request values: the CSRF token, the interaction uid, the request id shown for the helpdesk.
const strip = (html: string) => html.replace(/name="csrf" value="[^"]*"/g, '').replace(/\/interaction\/[\w-]+/g, '').replace(/(Reference for the helpdesk: )[^<]+/g, '$1');

test.serial('not enabled, not registered, managed on-premises: each says why, with a stable error id', async (t) => {
  await user('out', { groups: [], methods: { email: 'out@example.net' } });
  await user('few', { methods: {} });
  await user('onprem', { source: 'onpremises', methods: { email: 'onprem@example.net' } });
  t.is(codeOn((await begin('out')).page), 'SSPR_NOT_ENABLED');
  t.regex((await begin('out')).page.html, /isn(&#39;|')t enabled for password reset/);
  t.is(codeOn((await begin('few')).page), 'SSPR_NOT_REGISTERED');
  const onprem = (await begin('onprem')).page;
  t.is(codeOn(onprem), 'SSPR_ONPREM_MANAGED');
  t.regex(onprem.html, /isn(&#39;|')t managed by this service/);
});

test.serial('passwordWriteback on but no writeback plugged in: on-premises accounts are refused at the start, not after verifying', async (t) => {
  await user('remote', { source: 'onpremises', methods: { email: 'remote@example.net' } });
  await user('local', { methods: { email: 'local@example.net' } });
  const previous = parts().config.current;
  parts().config.replace({ ...previous, sspr: { ...previous.sspr, onPremises: { ...previous.sspr.onPremises, passwordWriteback: true } } });
  try {
    const { page } = await begin('remote');
    t.is(codeOn(page), 'SSPR_WRITEBACK_UNAVAILABLE');
    t.regex(page.html, /connection this service needs to change it there isn(&#39;|')t set up/);
    t.regex(page.html, /\/reset\/flow\/contact/, 'contact an administrator is offered');
    t.notRegex(page.html, /value="email"/, 'no verification is offered');
    t.regex((await begin('local')).page.html, /value="email"/, 'cloud accounts are not affected');
  } finally {
    parts().config.replace(previous);
  }
});

test.serial('an unknown user id gets exactly the page of a registered-nothing account', async (t) => {
  await user('empty1', { methods: {} });
  const known = (await begin('empty1')).page;
  const unknown = (await begin('no-such-user-anywhere')).page;
  t.is(unknown.status, known.status);
  t.is(strip(unknown.html), strip(known.html));
});

test.serial('contact an administrator mails the administrators once per hour; a helpdesk url replaces it', async (t) => {
  await user('admin1', { email: 'admin1@corp.example', groups: ['Admins'] });
  await user('needhelp', { methods: {} });
  const { browser, page } = await begin('needhelp');
  const before = smtp.messages.length;
  const sent = await browser.submit(page, '/reset/flow/contact');
  t.regex(sent.html, /has been told/);
  const mail = await smtp.waitFor((m) => smtp.messages.indexOf(m) >= before && m.to.includes('admin1@corp.example'));
  t.regex(mail.text, /needhelp/);
  t.regex(mail.text, /not enough verification methods/);
  // A second request within the hour is acknowledged but not mailed again.
  const again = await begin('needhelp');
  t.regex((await again.browser.submit(again.page, '/reset/flow/contact')).html, /has been told/);
  await parts().settled();
  t.is(smtp.messages.filter((m) => m.to.includes('admin1@corp.example') && /needhelp/.test(m.subject)).length, 1);
  // Unknown users: the same confirmation, no mail.
  const ghost = await begin('ghost-user-x');
  t.regex((await ghost.browser.submit(ghost.page, '/reset/flow/contact')).html, /has been told/);

  const previous = parts().config.current;
  parts().config.replace({ ...previous, sspr: { ...previous.sspr, helpdesk: { email: [], url: 'https://help.example.org/password' } } });
  try {
    const withUrl = (await begin('needhelp')).page;
    t.regex(withUrl.html, /href="https:\/\/help\.example\.org\/password"/);
    t.notRegex(withUrl.html, /\/reset\/flow\/contact/);
  } finally {
    parts().config.replace(previous);
  }
});

test.serial('contact an administrator: parallel requests from two flows send one mail; the answer does not wait for the mail server', async (t) => {
  await user('admin2', { email: 'admin2@corp.example', groups: ['Admins'] });
  const asker = await user('twice', { methods: {} });
  const [one, two] = await Promise.all([begin('twice'), begin('twice')]);
  const answers = await Promise.all([one.browser.submit(one.page, '/reset/flow/contact'), two.browser.submit(two.page, '/reset/flow/contact')]);
  for (const answer of answers) t.regex(answer.html, /has been told/);
  await parts().settled();
  t.is(smtp.messages.filter((m) => m.to.includes('admin2@corp.example') && /twice/.test(m.subject)).length, 1, 'once per hour holds for parallel requests');
  t.is((await parts().store.audit.list({ type: 'sspr.contact_admin', userId: asker.id })).length, 1);

  // While the mail server holds the mail, a real account is answered all the same.
  await user('patient', { methods: {} });
  const { browser, page } = await begin('patient');
  const release = smtp.hold();
  let held: number;
  try {
    t.regex((await browser.submit(page, '/reset/flow/contact')).html, /has been told/);
    held = smtp.messages.filter((m) => /patient/.test(m.subject)).length;
  } finally {
    release();
  }
  t.is(held, 0, 'answered before the mail server accepted the mail');
  await smtp.waitFor((m) => m.to.includes('admin2@corp.example') && /patient/.test(m.subject));
});

test.serial('contact an administrator with sspr.helpdesk.email: the helpdesk addresses get it, the administrators not', async (t) => {
  await user('admin3', { email: 'admin3@corp.example', groups: ['Admins'] });
  const asker = await user('deskuser', { groups: [], methods: {} });
  const previous = parts().config.current;
  parts().config.replace({ ...previous, sspr: { ...previous.sspr, helpdesk: { email: ['desk1@corp.example', 'desk2@corp.example'] } } });
  try {
    const { browser, page } = await begin('deskuser');
    t.is(codeOn(page), 'SSPR_NOT_ENABLED');
    t.regex((await browser.submit(page, '/reset/flow/contact')).html, /has been told/);
    await parts().settled();
  } finally {
    parts().config.replace(previous);
  }
  const mails = smtp.messages.filter((m) => /deskuser/.test(m.subject));
  t.deepEqual(mails.flatMap((m) => m.to).sort(), ['desk1@corp.example', 'desk2@corp.example']);
  t.regex(mails[0]!.text, /password reset is not enabled for this account/);
  const [event] = await parts().store.audit.list({ type: 'sspr.contact_admin', userId: asker.id });
  t.like(event?.details, { reason: 'not_enabled', recipients: 2, delivered: 2 });
});

test.serial('email code → new password: sessions and refresh tokens end, the user is told, the new password works', async (t) => {
  await user('rita', { email: 'rita@corp.example', methods: { email: 'rita@example.net' } });
  const config = await discover({ issuer: idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const before = await login(config, 'rita', 'rita old password', { scope: 'openid offline_access', prompt: 'consent' });
  t.truthy(before.tokens.refresh_token);
  // The refresh token works before the reset (rotated or not, keep the one that is current)...
  const refreshed = await oidc.refreshTokenGrant(config, before.tokens.refresh_token!);
  t.truthy(refreshed.access_token, 'the refresh token works before the reset');
  const current = refreshed.refresh_token ?? before.tokens.refresh_token!;

  const { browser, page } = await begin('rita');
  t.regex(page.html, /Email a code to r•+@example\.net/);
  const passwordPage = await emailCode(browser, page, 'rita@example.net');
  t.regex(passwordPage.html, /Choose a new password/);
  const weak = await newPassword(browser, passwordPage, 'password123');
  t.is(weak.status, 400);
  t.regex(weak.html, /too common/);
  const named = await newPassword(browser, passwordPage, 'Rita-is-the-best-2025');
  t.regex(named.html, /must not contain your name/);
  const mismatch = await browser.submit(passwordPage, '/reset/flow/password', { password: 'lantern orbit meadow', confirm: 'lantern orbit meadoe' });
  t.regex(mismatch.html, /aren(&#39;|')t the same/);
  const done = await newPassword(browser, passwordPage, 'lantern orbit meadow');
  t.regex(done.html, /Your password has been reset/);

  // ...and after it the provider refuses it as invalid_grant (not some other failure).
  const dead = await t.throwsAsync(oidc.refreshTokenGrant(config, current));
  t.is((dead as Error & { error?: string }).error, 'invalid_grant', 'refresh token from before the reset is dead');
  const sso = await before.browser.navigate((await authorizationRequest(config)).url.href);
  t.regex(sso.html, /name="password"/, 'the old browser session is gone too');
  await t.throwsAsync(login(config, 'rita', 'rita old password'));
  t.truthy((await login(config, 'rita', 'lantern orbit meadow')).tokens.id_token);
  const notice = await smtp.waitFor((m) => m.to.includes('rita@corp.example') && /password was reset/.test(m.subject));
  t.notRegex(notice.text, /lantern/);
  const audit = await parts().store.audit.list({ userId: (await parts().users.find('rita'))!.id });
  const completed = audit.find((e) => e.type === 'sspr.reset.completed');
  t.truthy(completed?.flowId);
  const sameFlow = audit.filter((e) => e.flowId === completed!.flowId).map((e) => e.type);
  t.deepEqual(sameFlow, ['sspr.reset.started', 'sspr.reset.step', 'sspr.reset.completed'], 'one flow id ties the steps together');
});

test.serial('a code is bound to the flow it was sent in: a code from another or an older flow is refused', async (t) => {
  await user('cora', { methods: { email: 'cora@example.net' } });
  const previous = parts().config.current;
  // With a resend delay, a second flow could otherwise fall back on the first flow's open code.
  parts().config.replace({ ...previous, sspr: { ...previous.sspr, codes: { ...previous.sspr.codes, resendAfterSeconds: 60 } } });
  try {
    const older = await begin('cora');
    const before = smtp.messages.length;
    await older.browser.submit(older.page, '/reset/flow/method', { method: 'email' });
    const first = await smtp.waitFor((m) => smtp.messages.indexOf(m) >= before && m.to.includes('cora@example.net'));
    const flow = await begin('cora');
    const codePage = await flow.browser.submit(flow.page, '/reset/flow/method', { method: 'email' });
    const foreign = await flow.browser.submit(codePage, '/reset/flow/answer', { code: codeIn(first.text) });
    t.is(foreign.status, 400);
    t.notRegex(foreign.html, /Choose a new password/, "the older flow's code does not prove this flow");
    t.regex(foreign.html, /isn(&#39;|')t right|has expired/);
    const own = await smtp.waitFor((m) => smtp.messages.indexOf(m) > smtp.messages.indexOf(first) && m.to.includes('cora@example.net'));
    t.regex((await flow.browser.submit(codePage, '/reset/flow/answer', { code: codeIn(own.text) })).html, /Choose a new password/, "this flow's own code works");
  } finally {
    parts().config.replace(previous);
  }
});

test.serial('the flow keeps the interrupted sign-in: after the reset the user lands back on it and reaches the client', async (t) => {
  await user('sara', { methods: { email: 'sara@example.net' } });
  const config = await discover({ issuer: idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const browser = newBrowser();
  const auth = await authorizationRequest(config);
  const signInPage = await browser.navigate(auth.url.href);
  const link = /href="([^"]*\/reset\?return=[^"]+)"/.exec(signInPage.html)![1]!.replace(/&amp;/g, '&');
  const form = await browser.navigate(new URL(link, signInPage.url).href);
  const page = await browser.submit(form, '/reset', { username: 'sara' });
  const passwordPage = await emailCode(browser, page, 'sara@example.net');
  const done = await newPassword(browser, passwordPage, 'harbour violet candle');
  const back = await browser.follow(done, new URL(signInPage.url).pathname);
  t.regex(back.html, /name="password"/);
  const after = await signIn(browser, back, 'sara', 'harbour violet candle');
  t.is(after.status, 0);
  t.truthy((await redeem(config, auth, after.url)).id_token);
});

test.serial('mobile phone: the typed number must match; authenticator codes can not be replayed; two methods for administrators', async (t) => {
  const secret = newTotpSecret();
  const admin = await user('boss', { groups: ['Staff', 'Admins'], methods: { mobile_phone: '+31612345678' } });
  await parts().store.sspr.putMethod(admin.id, 'authenticator_app', (await import('../src/security/secrets.ts')).createSecretBox((await import('../src/security/secrets.ts')).secretKeys(await (await import('../src/security/secrets.ts')).loadSecretsKey(parts().store.keys, undefined, clock)).secretBox).seal(secret), now());
  const { browser, page } = await begin('boss');
  t.regex(page.html, /Step 1 of 2/);
  const numberPage = await browser.submit(page, '/reset/flow/method', { method: 'mobilePhone' });
  const wrong = await browser.submit(numberPage, '/reset/flow/answer', { number: '0612345679', channel: 'sms' });
  t.regex(wrong.html, /doesn(&#39;|')t match/);
  const before = sms.messages.length;
  const codePage = await browser.submit(numberPage, '/reset/flow/answer', { number: '06 1234 5678', channel: 'sms' });
  const text = await sms.waitFor((m) => sms.messages.indexOf(m) >= before && m.to === '+31612345678');
  const step2 = await browser.submit(codePage, '/reset/flow/answer', { code: codeIn(text.text) });
  t.regex(step2.html, /Step 2 of 2/);
  t.notRegex(step2.html, /value="mobilePhone"/, 'a proven method is not offered again');
  const appPage = await browser.submit(step2, '/reset/flow/method', { method: 'authenticatorApp' });
  const code = totpCodeAt(secret, totpStep(now()));
  const proven = await browser.submit(appPage, '/reset/flow/answer', { code });
  t.regex(proven.html, /Choose a new password/);
  // The same code in another flow is refused.
  const other = await begin('boss');
  const numberAgain = await other.browser.submit(other.page, '/reset/flow/method', { method: 'authenticatorApp' });
  const replay = await other.browser.submit(numberAgain, '/reset/flow/answer', { code });
  t.regex(replay.html, /isn(&#39;|')t right/);
});

test.serial('security questions: a wrong answer brings a fresh draw and counts; office phone is called', async (t) => {
  await user('quinn', {
    methods: { office_phone: '+31201234567' },
    questions: [
      ['first-school', 'Het Kompas'],
      ['first-concert', 'Golden Earring'],
      ['parents-met-city', 'Deventer'],
      ['favourite-teacher', 'Jansen'],
    ],
  });
  const { browser, page } = await begin('quinn');
  const qPage = await browser.submit(page, '/reset/flow/method', { method: 'securityQuestions' });
  const asked = [...qPage.html.matchAll(/<label for="answer\d">([^<]+)<\/label>/g)].map((m) => m[1]);
  t.is(asked.length, 3, 'numberToReset questions are asked');
  const wrong = await browser.submit(qPage, '/reset/flow/answer', { answer0: 'nope', answer1: 'nope' });
  t.regex(wrong.html, /other questions from your set/);
  const answers: Record<string, string> = {
    'What was the name of the first school you went to?': 'het kompas',
    'Which artist or band did you see at your first concert?': '  GOLDEN   earring ',
    'In which town or city did your parents meet?': 'Deventer',
    'What was the surname of your favourite teacher?': 'jansen',
  };
  const values: Record<string, string> = {};
  [...wrong.html.matchAll(/<label for="answer(\d)">([^<]+)<\/label>/g)].forEach((m) => (values[`answer${m[1]}`] = answers[m[2]!.replace(/&#39;/g, "'")] ?? 'x'));
  const proven = await browser.submit(wrong, '/reset/flow/answer', values);
  t.regex(proven.html, /Choose a new password/);

  const office = await begin('quinn');
  const before = sms.messages.length;
  const called = await office.browser.submit(office.page, '/reset/flow/method', { method: 'officePhone' });
  t.regex(called.html, /We are calling/);
  const call = await sms.waitFor((m) => sms.messages.indexOf(m) >= before && m.to === '+31201234567');
  t.is(call.channel, 'voice');
});

test.serial('wrong security answers count toward the method limit; with no method left the flow ends as SSPR_TOO_MANY_ATTEMPTS', async (t) => {
  const questions: [string, string][] = [
    ['first-school', 'Het Kompas'],
    ['first-concert', 'Golden Earring'],
    ['parents-met-city', 'Deventer'],
    ['favourite-teacher', 'Jansen'],
  ];
  const wrongAnswers = { answer0: 'nope', answer1: 'nope', answer2: 'nope' };
  // Two methods: after maxAttempts (5) wrong answers the questions are no longer offered.
  await user('rosa', { methods: { email: 'rosa@example.net' }, questions });
  const both = await begin('rosa');
  let page = await both.browser.submit(both.page, '/reset/flow/method', { method: 'securityQuestions' });
  for (let i = 0; i < 4; i += 1) {
    page = await both.browser.submit(page, '/reset/flow/answer', wrongAnswers);
    t.regex(page.html, /other questions from your set/, `wrong answer ${i + 1} brings a fresh draw`);
  }
  const list = await both.browser.submit(page, '/reset/flow/answer', wrongAnswers);
  t.regex(list.html, /Prove it(&#39;|')s you/);
  t.notRegex(list.html, /value="securityQuestions"/, 'the fifth wrong answer used the questions up');
  t.regex(list.html, /value="email"/);

  // One method: the fifth wrong answer ends the flow with a stable error id and the contact action.
  const only = await user('olaf', { questions });
  const one = await begin('olaf');
  page = await one.browser.submit(one.page, '/reset/flow/method', { method: 'securityQuestions' });
  for (let i = 0; i < 4; i += 1) page = await one.browser.submit(page, '/reset/flow/answer', wrongAnswers);
  const ended = await one.browser.submit(page, '/reset/flow/answer', wrongAnswers);
  t.is(codeOn(ended), 'SSPR_TOO_MANY_ATTEMPTS');
  t.regex(ended.html, /too many wrong answers/);
  t.regex(ended.html, /\/reset\/flow\/contact/, 'contact an administrator is offered');
  t.is((await one.browser.navigate(`${idp.issuer}/reset/flow`)).html.match(/Error code: ([A-Z_]+)/)?.[1], 'SSPR_TOO_MANY_ATTEMPTS', 'the flow stays ended');
  const failed = await parts().store.audit.list({ type: 'sspr.reset.failed', userId: only.id });
  t.deepEqual(failed.map((e) => e.details?.reason), ['too_many_attempts']);
  const steps = await parts().store.audit.list({ type: 'sspr.reset.step', userId: only.id });
  t.is(steps.filter((e) => e.outcome === 'failure').length, 5, 'each wrong answer is audited as a failed step');
});

test.serial('a locked account may just be unlocked; steps cannot be skipped; finishing twice works once; the flow expires', async (t) => {
  const locked = await user('ursula', { methods: { email: 'ursula@example.net' } });
  await idp.idp.parts.store.db('users').where({ id: locked.id }).update({ locked_until: now() + 3_600_000, failed_signins: 10 });
  const { browser, page } = await begin('ursula');
  // Skipping straight to the password step is refused.
  const skip = await browser.request(`${idp.issuer}/reset/flow/password`, { form: { csrf: formWith(page, '/reset/flow/method').fields.csrf!, password: 'x y z w v u', confirm: 'x y z w v u' } });
  t.is(skip.status, 409);
  const choose = await emailCode(browser, page, 'ursula@example.net');
  t.regex(choose.html, /Unlock or reset/);
  const form = formWith(choose, '/reset/flow/decide');
  const [a, b] = await Promise.all([
    browser.request(form.action, { form: { ...form.fields, choice: 'unlock' } }),
    browser.request(form.action, { form: { ...form.fields, choice: 'unlock' } }),
  ]);
  t.deepEqual([a.status, b.status].sort(), [303, 409], 'exactly one of two parallel finishes wins');
  const row = await idp.idp.parts.store.users.findById(locked.id);
  t.is(row!.lockedUntil, null);
  t.truthy(await parts().users.signIn('ursula', 'ursula old password').then((r) => r.ok), 'unlock keeps the old password');

  const late = await begin('ursula');
  clock.advance(16 * 60_000);
  try {
    const expired = await late.browser.submit(late.page, '/reset/flow/method', { method: 'email' });
    t.is(expired.status, 410);
    t.regex(expired.html, /Start over/);
  } finally {
    clock.advance(-16 * 60_000);
  }
});

test.serial('allowUnlockWithoutReset off: a locked account goes straight to the new password, and the reset ends the lockout', async (t) => {
  const locked = await user('lars', { methods: { email: 'lars@example.net' } });
  await parts().store.db('users').where({ id: locked.id }).update({ locked_until: now() + 3_600_000, failed_signins: 10 });
  const previous = parts().config.current;
  parts().config.replace({ ...previous, sspr: { ...previous.sspr, onPremises: { ...previous.sspr.onPremises, allowUnlockWithoutReset: false } } });
  try {
    const { browser, page } = await begin('lars');
    const next = await emailCode(browser, page, 'lars@example.net');
    t.regex(next.html, /Choose a new password/);
    t.notRegex(next.html, /Unlock or reset/);
    const done = await newPassword(browser, next, 'juniper basalt kettle');
    t.regex(done.html, /Your password has been reset/);
  } finally {
    parts().config.replace(previous);
  }
  const row = await parts().store.users.findById(locked.id);
  t.is(row!.lockedUntil, null);
  t.true((await parts().users.signIn('lars', 'juniper basalt kettle')).ok, 'signs in at once with the new password');
});

test.serial('mobile phone by voice call: the typed number matches, the call reads the code out', async (t) => {
  await user('vick', { methods: { mobile_phone: '+31612349876' } });
  const { browser, page } = await begin('vick');
  const numberPage = await browser.submit(page, '/reset/flow/method', { method: 'mobilePhone' });
  t.regex(numberPage.html, /value="voice"/, 'a call is offered');
  const before = sms.messages.length;
  const calling = await browser.submit(numberPage, '/reset/flow/answer', { number: '06 1234 9876', channel: 'voice' });
  t.regex(calling.html, /We are calling/);
  const call = await sms.waitFor((m) => sms.messages.indexOf(m) >= before && m.to === '+31612349876');
  t.is(call.channel, 'voice');
  t.regex(call.text, /(\d ){5,}\d/, 'the code is read out digit by digit');
  const proven = await browser.submit(calling, '/reset/flow/answer', { code: codeIn(call.text) });
  t.regex(proven.html, /Choose a new password/);
});

test.serial('every method works as step 1 and as step 2 when two are required', async (t) => {
  const secret = newTotpSecret();
  const secrets = await import('../src/security/secrets.ts');
  const box = secrets.createSecretBox(secrets.secretKeys(await secrets.loadSecretsKey(parts().store.keys, undefined, clock)).secretBox);
  const previous = parts().config.current;
  parts().config.replace({ ...previous, sspr: { ...previous.sspr, methodsRequired: 2 } });
  const questions: [string, string][] = [
    ['first-school', 'Het Kompas'],
    ['first-concert', 'Golden Earring'],
    ['parents-met-city', 'Deventer'],
    ['favourite-teacher', 'Jansen'],
  ];
  const byText: Record<string, string> = {
    'What was the name of the first school you went to?': 'het kompas',
    'Which artist or band did you see at your first concert?': 'golden earring',
    'In which town or city did your parents meet?': 'deventer',
    'What was the surname of your favourite teacher?': 'jansen',
  };
  /** Proves one method on the page that lists the choices; returns the next page. */
  async function prove(browser: Browser, page: Page, method: string, username: string): Promise<Page> {
    const before = { mail: smtp.messages.length, sms: sms.messages.length };
    const first = await browser.submit(page, '/reset/flow/method', { method });
    switch (method) {
      case 'email': {
        const mail = await smtp.waitFor((m) => smtp.messages.indexOf(m) >= before.mail && m.to.includes(`${username}@example.net`));
        return browser.submit(first, '/reset/flow/answer', { code: codeIn(mail.text) });
      }
      case 'mobilePhone': {
        const codePage = await browser.submit(first, '/reset/flow/answer', { number: '+31612345670', channel: 'sms' });
        const text = await sms.waitFor((m) => sms.messages.indexOf(m) >= before.sms && m.to === '+31612345670');
        return browser.submit(codePage, '/reset/flow/answer', { code: codeIn(text.text) });
      }
      case 'officePhone': {
        const call = await sms.waitFor((m) => sms.messages.indexOf(m) >= before.sms && m.to === '+31201234560');
        return browser.submit(first, '/reset/flow/answer', { code: codeIn(call.text) });
      }
      case 'authenticatorApp': {
        // Each proof needs a time step of its own (replay protection): move on one step.
        clock.advance(30_000);
        return browser.submit(first, '/reset/flow/answer', { code: totpCodeAt(secret, totpStep(now())) });
      }
      default: {
        const values: Record<string, string> = {};
        [...first.html.matchAll(/<label for="answer(\d)">([^<]+)<\/label>/g)].forEach((m) => (values[`answer${m[1]}`] = byText[m[2]!.replace(/&#39;/g, "'")] ?? 'x'));
        return browser.submit(first, '/reset/flow/answer', values);
      }
    }
  }
  try {
    const methods = ['email', 'mobilePhone', 'officePhone', 'authenticatorApp', 'securityQuestions'];
    for (let i = 0; i < methods.length; i += 1) {
      const one = methods[i]!;
      const two = methods[(i + 1) % methods.length]!;
      const username = `both${i}`;
      const created = await user(username, {
        methods: { email: `${username}@example.net`, mobile_phone: '+31612345670', office_phone: '+31201234560' },
        questions,
      });
      await parts().store.sspr.putMethod(created.id, 'authenticator_app', box.seal(secret), now());
      const { browser, page } = await begin(username);
      t.regex(page.html, /Step 1 of 2/, `${one} first`);
      const second = await prove(browser, page, one, username);
      t.regex(second.html, /Step 2 of 2/, `${one} as step 1`);
      t.notRegex(second.html, new RegExp(`value="${one}"`), `${one} is not offered twice`);
      const last = await prove(browser, second, two, username);
      t.regex(last.html, /Choose a new password/, `${two} as step 2`);
    }
  } finally {
    parts().config.replace(previous);
  }
});

test.serial('a proven step cannot be replayed, and an administrator reset tells the other administrators', async (t) => {
  await user('chief', { email: 'chief@corp.example', groups: ['Staff', 'Admins'], methods: { email: 'chief@example.net', mobile_phone: '+31612340000' } });
  await user('deputy', { email: 'deputy@corp.example', groups: ['Admins'] });
  const { browser, page } = await begin('chief');
  const codePage = await browser.submit(page, '/reset/flow/method', { method: 'email' });
  const mail = await smtp.waitFor((m) => m.to.includes('chief@example.net'));
  const step2 = await browser.submit(codePage, '/reset/flow/answer', { code: codeIn(mail.text) });
  t.regex(step2.html, /Step 2 of 2/);
  const replay = await browser.request(formWith(codePage, '/reset/flow/answer').action, { form: { ...formWith(codePage, '/reset/flow/answer').fields, code: codeIn(mail.text) } });
  t.is(replay.status, 409, 'the answered challenge is gone');
  const numberPage = await browser.submit(step2, '/reset/flow/method', { method: 'mobilePhone' });
  const before = sms.messages.length;
  const smsPage = await browser.submit(numberPage, '/reset/flow/answer', { number: '+31612340000', channel: 'sms' });
  const text = await sms.waitFor((m) => sms.messages.indexOf(m) >= before && m.to === '+31612340000');
  const passwordPage = await browser.submit(smsPage, '/reset/flow/answer', { code: codeIn(text.text) });
  const done = await newPassword(browser, passwordPage, 'copper tundra whistle');
  t.regex(done.html, /has been reset/);
  const notice = await smtp.waitFor((m) => m.to.includes('deputy@corp.example'));
  t.regex(notice.text, /chief/);
  t.false(smtp.messages.some((m) => m.to.includes('chief@corp.example') && /administrator reset/.test(m.subject)), 'not to the admin who reset');
});
