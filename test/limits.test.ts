import test from 'ava';
import { startSsprIdp, type SsprTestbed } from './helpers/sspr-idp.ts';
import { Browser, type Page } from './helpers/browser.ts';
import { codeIn } from './helpers/register.ts';
import { discover, authorizationRequest, newBrowser, signIn } from './helpers/rp.ts';
import { hashAnswers } from '../src/methods/security-questions/answers.ts';
import { createPasswordHasher } from '../src/security/password.ts';

// SSPR limits per account (blocking for blockHours), counters kept in the database, reset after a
// successful reset; per-IP throttling of sign-in; forgot-password traffic never locks sign-in.

let bed: SsprTestbed;
const HOUR = 3_600_000;
const hasher = createPasswordHasher(() => ({ memoryCost: 7168, timeCost: 1, parallelism: 1 }));

test.before(async () => {
  bed = await startSsprIdp({
    enabled: 'all',
    methods: { email: true, mobilePhone: true, securityQuestions: true },
    registration: { requireOnSignIn: false },
    captcha: { enabled: false },
    codes: { resendAfterSeconds: 0, maxSends: 10 },
    limits: { phonePerHour: 2, questionsPerHour: 2, resetsPerDay: 3, emailsPer10Minutes: 2, blockHours: 24 },
  });
  const previous = bed.idp.idp.parts.config.current;
  bed.idp.idp.parts.config.replace({ ...previous, throttle: { ...previous.throttle, signinPerIp: 5, signinWindowSeconds: 900 } });
});
test.after.always(async () => {
  await bed?.close();
});

const parts = () => bed.idp.idp.parts;

async function user(username: string, opts: { email?: string; mobile?: string; questions?: boolean } = {}) {
  const created = await parts().users.create({ username, password: `${username} the password` });
  if (opts.email) await parts().store.sspr.putMethod(created.id, 'email', opts.email, bed.clock.now());
  if (opts.mobile) await parts().store.sspr.putMethod(created.id, 'mobile_phone', opts.mobile, bed.clock.now());
  if (opts.questions) {
    const pairs = [
      ['first-school', 'Kompas'],
      ['first-concert', 'Doe Maar'],
      ['parents-met-city', 'Zwolle'],
    ].map(([questionId, answer]) => ({ questionId: questionId!, answer: answer! }));
    await parts().store.sspr.replaceAnswers(created.id, await hashAnswers(pairs, hasher), bed.clock.now());
  }
  return created;
}

async function begin(username: string): Promise<{ browser: Browser; page: Page }> {
  const browser = new Browser();
  const form = await browser.navigate(`${bed.idp.issuer}/reset`);
  return { browser, page: await browser.submit(form, '/reset', { username }) };
}

const errorCode = (page: Page) => /Error code: ([A-Z_]+)/.exec(page.html)?.[1];
// Per-request values: the CSRF token and the request id shown for the helpdesk.
const strip = (html: string) => html.replace(/name="csrf" value="[^"]*"/g, '').replace(/(Reference for the helpdesk: )[^<]+/g, '$1');

// First in the file: the webhook gateway refuses timestamps far from its own clock, and later tests move the IdP's.
test.serial('phone validations: one per text sent, a wrong number counts too, beyond phonePerHour (2) blocks', async (t) => {
  await user('pim', { mobile: '+31612300001' });
  const { browser, page } = await begin('pim');
  const numberPage = await browser.submit(page, '/reset/flow/method', { method: 'mobilePhone' });
  const codePage = await browser.submit(numberPage, '/reset/flow/answer', { number: '0612300001', channel: 'sms' });
  t.regex(codePage.html, /We sent a text message/, 'validation 1: the typed number matched and a text went out');
  const resent = await browser.submit(codePage, '/reset/flow/answer', { action: 'resend' });
  t.is(errorCode(resent), undefined, 'validation 2: the matching number was not counted on top of its text');
  t.regex(resent.html, /We sent a text message/);
  t.is(errorCode(await browser.submit(codePage, '/reset/flow/answer', { action: 'resend' })), 'SSPR_BLOCKED', 'validation 3 is over the limit');
  t.is(bed.sms.messages.filter((m) => m.to === '+31612300001').length, 2);

  await user('pam', { mobile: '+31612300002' });
  const other = await begin('pam');
  const numbers = await other.browser.submit(other.page, '/reset/flow/method', { method: 'mobilePhone' });
  const wrong = await other.browser.submit(numbers, '/reset/flow/answer', { number: '0612300009', channel: 'sms' });
  t.regex(wrong.html, /doesn(&#39;|')t match/, 'validation 1: a wrong number');
  const sent = await other.browser.submit(numbers, '/reset/flow/answer', { number: '0612300002', channel: 'sms' });
  t.is(errorCode(sent), undefined, 'validation 2: the right number, one text');
  t.regex(sent.html, /We sent a text message/);
  t.is(errorCode(await other.browser.submit(sent, '/reset/flow/answer', { action: 'resend' })), 'SSPR_BLOCKED');
});

test.serial('more reset attempts than resetsPerDay block the account from SSPR; an unknown id behaves the same', async (t) => {
  await user('ada', { email: 'ada@example.net' });
  for (let i = 0; i < 3; i += 1) t.is(errorCode((await begin('ada')).page), undefined, `attempt ${i + 1} allowed`);
  const blocked = (await begin('ADA')).page;
  t.is(errorCode(blocked), 'SSPR_BLOCKED', 'the fourth attempt, however the name is typed');
  t.regex(blocked.html, /Too many attempts/);
  const events = await parts().store.audit.list({ type: 'sspr.blocked' });
  const ada = await parts().users.find('ada');
  t.true(events.some((e) => e.userId === ada?.id));

  for (let i = 0; i < 3; i += 1) await begin('nobody-such');
  t.is(strip((await begin('nobody-such')).page.html), strip(blocked.html), 'an unknown id is blocked the same way');

  t.true((await parts().users.signIn('ada', 'ada the password')).ok, 'forgot-password traffic never locks sign-in');

  bed.clock.advance(24 * HOUR + 60_000);
  t.is(errorCode((await begin('ada')).page), undefined, 'the block ends after blockHours');
});

test.serial('too many emailed codes block; a successful reset starts the counters again', async (t) => {
  await user('bob', { email: 'bob@example.net' });
  const { browser, page } = await begin('bob');
  const codePage = await browser.submit(page, '/reset/flow/method', { method: 'email' });
  t.regex(codePage.html, /We sent a code/);
  const second = await browser.submit(codePage, '/reset/flow/answer', { action: 'resend' });
  t.regex(second.html, /We sent a code/);
  const third = await browser.submit(codePage, '/reset/flow/answer', { action: 'resend' });
  t.is(errorCode(third), 'SSPR_BLOCKED');

  bed.clock.advance(24 * HOUR + 60_000);
  const again = await begin('bob');
  const code1 = await again.browser.submit(again.page, '/reset/flow/method', { method: 'email' });
  const mail = await bed.smtp.waitFor((m) => m.to.includes('bob@example.net') && bed.smtp.messages.indexOf(m) === bed.smtp.messages.length - 1);
  const passwordPage = await again.browser.submit(code1, '/reset/flow/answer', { code: codeIn(mail.text) });
  const done = await again.browser.submit(passwordPage, '/reset/flow/password', { password: 'velvet compass orchard', confirm: 'velvet compass orchard' });
  t.regex(done.html, /has been reset/);
  // One email was used in this window; after the reset the count starts again: two more are allowed.
  const next = await begin('bob');
  const first = await next.browser.submit(next.page, '/reset/flow/method', { method: 'email' });
  const more = await next.browser.submit(first, '/reset/flow/answer', { action: 'resend' });
  t.regex(more.html, /We sent a code/, 'counters were reset by the successful reset');
});

test.serial('a block set in another flow ends a flow opened earlier, at every step; its reset does not lift the block', async (t) => {
  const dora = await user('dora', { email: 'dora@example.net' });
  // Flow A gets as far as the new password before the account is blocked elsewhere.
  const a = await begin('dora');
  const codePage = await a.browser.submit(a.page, '/reset/flow/method', { method: 'email' });
  const mail = await bed.smtp.waitFor((m) => m.to.includes('dora@example.net'));
  const passwordPage = await a.browser.submit(codePage, '/reset/flow/answer', { code: codeIn(mail.text) });
  t.regex(passwordPage.html, /Choose a new password/);
  // Flow B, open in verify, and flow C exceeding emailsPer10Minutes (2): the account is blocked.
  const b = await begin('dora');
  const c = await begin('dora');
  const c1 = await c.browser.submit(c.page, '/reset/flow/method', { method: 'email' });
  t.is(errorCode(await c.browser.submit(c1, '/reset/flow/answer', { action: 'resend' })), 'SSPR_BLOCKED');

  const refused = await a.browser.submit(passwordPage, '/reset/flow/password', { password: 'lilac harbour stone', confirm: 'lilac harbour stone' });
  t.is(errorCode(refused), 'SSPR_BLOCKED', 'the password step checks the block');
  t.true((await parts().users.signIn('dora', 'dora the password')).ok, 'the password did not change');
  t.false((await parts().users.signIn('dora', 'lilac harbour stone')).ok);
  t.is(errorCode(await b.browser.navigate(`${bed.idp.issuer}/reset/flow`)), 'SSPR_BLOCKED', 'a flow in verify shows the block too');
  t.is(errorCode((await begin('dora')).page), 'SSPR_BLOCKED', 'the block stays');
  const failed = await parts().store.audit.list({ type: 'sspr.reset.failed', userId: dora.id });
  t.deepEqual(failed.map((e) => e.details?.reason), ['blocked', 'blocked', 'blocked'], 'flows C, A and B each ended as a failed reset');
});

test.serial('security-question attempts beyond questionsPerHour block', async (t) => {
  await user('cid', { questions: true });
  const { browser, page } = await begin('cid');
  const qPage = await browser.submit(page, '/reset/flow/method', { method: 'securityQuestions' });
  const wrong1 = await browser.submit(qPage, '/reset/flow/answer', { answer0: 'x', answer1: 'y', answer2: 'z' });
  t.regex(wrong1.html, /other questions/);
  const wrong2 = await browser.submit(wrong1, '/reset/flow/answer', { answer0: 'x', answer1: 'y', answer2: 'z' });
  t.regex(wrong2.html, /other questions/);
  const third = await browser.submit(wrong2, '/reset/flow/answer', { answer0: 'x', answer1: 'y', answer2: 'z' });
  t.is(errorCode(third), 'SSPR_BLOCKED');
});

test.serial('failed sign-ins from one address across accounts are throttled (password spraying)', async (t) => {
  for (const name of ['s1', 's2', 's3', 's4', 's5', 's6']) await user(name);
  const config = await discover({ issuer: bed.idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const attempt = async (username: string, password: string) => {
    const browser = newBrowser();
    const page = await browser.navigate((await authorizationRequest(config)).url.href);
    return (await signIn(browser, page, username, password)).status === 0;
  };
  for (const name of ['s1', 's2', 's3', 's4', 's5']) t.false(await attempt(name, 'Winter2025!'));
  t.false(await attempt('s6', 's6 the password'), 'the right password of another account is refused from this address now');
  const audit = await parts().store.audit.list({ type: 'signin.failure' });
  t.true(audit.some((e) => e.details?.reason === 'ip_throttled'));
  bed.clock.advance(16 * 60_000);
  t.true(await attempt('s6', 's6 the password'), 'after the window the address may sign in again');
});

/** Sign-in pages ready to be submitted, each in its own browser (its own interaction). */
async function signInPages(count: number) {
  const config = await discover({ issuer: bed.idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const pages = [];
  for (let i = 0; i < count; i += 1) {
    const browser = newBrowser();
    pages.push({ browser, page: await browser.navigate((await authorizationRequest(config)).url.href) });
  }
  return pages;
}

const failuresSince = async (id: number) => (await parts().store.audit.list({ type: 'signin.failure', limit: 10_000 })).filter((e) => e.id > id);
const lastAuditId = async () => (await parts().store.audit.list({ limit: 100_000 })).at(-1)?.id ?? 0;

test.serial('concurrent sign-ins from one address: only signinPerIp passwords are checked', async (t) => {
  bed.clock.advance(16 * 60_000);
  await user('p1');
  const ready = await signInPages(31);
  const since = await lastAuditId();
  const outcomes = await Promise.all(ready.slice(0, 30).map(({ browser, page }, i) => signIn(browser, page, i % 2 ? 'p1' : `nobody-${i}`, 'Winter2025!')));
  t.true(outcomes.every((p) => p.status === 200), 'all refused');
  const failures = await failuresSince(since);
  t.is(failures.length, 30);
  t.is(failures.filter((e) => e.details?.reason !== 'ip_throttled').length, 5, 'five passwords were checked');
  t.is(failures.filter((e) => e.details?.reason === 'ip_throttled').length, 25, 'the others were refused without a check');
  const ip = failures[0]!.ip!;
  t.is(await parts().store.throttle.points(`signin:ip:${ip}`, bed.clock.now()), 5, 'refused posts are not counted as failures');
  const last = ready[30]!;
  t.not((await signIn(last.browser, last.page, 'p1', 'p1 the password')).status, 0, 'the right password is refused from this address now');
  bed.clock.advance(16 * 60_000);
});

test.serial('a successful sign-in gives its point back: only failures count against the address', async (t) => {
  await user('q1');
  const ready = await signInPages(9);
  const submit = async (i: number, password: string) => (await signIn(ready[i]!.browser, ready[i]!.page, 'q1', password)).status === 0;
  for (let i = 0; i < 4; i += 1) t.false(await submit(i, 'wrong'));
  // Three good sign-ins between the failures (the per-account lockout is at 10: not reached).
  for (let i = 4; i < 7; i += 1) t.true(await submit(i, 'q1 the password'), `sign-in ${i - 3} after four failures`);
  t.false(await submit(7, 'wrong'), 'the fifth failure is still checked');
  t.false(await submit(8, 'q1 the password'), 'five failures: refused now');
  const failures = await failuresSince(0);
  t.is(failures.at(-1)?.details?.reason, 'ip_throttled');
  bed.clock.advance(16 * 60_000);
});
