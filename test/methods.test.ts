import test from 'ava';
import type { RunningIdp } from './helpers/idp.ts';
import { ssprBed } from './helpers/sspr-idp.ts';
import { Browser, type Page } from './helpers/browser.ts';
import { codeIn, keyOnPage } from './helpers/register.ts';
import { totpCodeAt, totpStep } from '../src/security/totp.ts';
import { DEFAULT_HOLD_MINUTES } from '../src/security/codes.ts';

// Each method through its pages: register, verify, wrong code, expired code, reused code,
// too many tries, resend limits. Codes are read from a real SMTP server and SMS webhook.

const bed = ssprBed({
  enabled: 'all',
  methods: { email: true, mobilePhone: { sms: true, voice: true }, authenticatorApp: true, securityQuestions: true },
  codes: { length: 8, ttlMinutes: 5, maxAttempts: 5, maxSends: 3, resendAfterSeconds: 30 },
});

/** A user signed in to the security-info page. */
async function account(username: string): Promise<{ browser: Browser; page: Page; userId: string }> {
  const user = await bed.idp.idp.parts.users.create({ username, password: `${username} password 1` });
  const browser = new Browser();
  const form = await browser.navigate(`${bed.idp.issuer}/security-info`);
  const page = await browser.submit(form, '/security-info/login', { username, password: `${username} password 1` });
  return { browser, page, userId: user.id };
}

async function mailFor(address: string, after: number) {
  return bed.smtp.waitFor((m) => bed.smtp.messages.indexOf(m) >= after && m.to.includes(address));
}

/** From the overview: asks for a code for `address`; the code page and the code that was mailed. */
async function emailCode(browser: Browser, page: Page, address: string): Promise<{ codePage: Page; code: string }> {
  const form = await browser.follow(page, '/methods/email');
  const before = bed.smtp.messages.length;
  const codePage = await browser.submit(form, '/methods/email/send', { address });
  return { codePage, code: codeIn((await mailFor(address, before)).text) };
}

test.serial('email: a right code registers; the same code again is refused', async (t) => {
  const { browser, page, userId } = await account('em1');
  const form = await browser.follow(page, '/methods/email');
  const before = bed.smtp.messages.length;
  const codePage = await browser.submit(form, '/methods/email/send', { address: 'Em1@Example.NET' });
  const mail = await mailFor('em1@example.net', before);
  t.regex(mail.subject, /verification code/);
  const code = codeIn(mail.text);
  t.regex(code, /^\d{8}$/);
  const done = await browser.submit(codePage, '/methods/email/verify', { code });
  t.regex(done.html, /e•+@example\.net/i);
  t.is((await bed.idp.idp.parts.store.sspr.methods(userId))[0]!.value, 'Em1@example.net', 'domain lower-cased, local part kept');
  const reused = await browser.submit(codePage, '/methods/email/verify', { code });
  t.regex(reused.html, /expired or was already used/);
});

const alertOf = (page: Page) => /<p class="alert"[^>]*>([^<]+)</.exec(page.html)?.[1] ?? '';
/** Just past a code's lifetime (codes.ttlMinutes: 5). */
const PAST_CODE_TTL = 5 * 60_000 + 1000;

/** Five wrong codes at `verifyPath` for the code page of `code`; the alert each got. */
async function fiveWrongCodes(browser: Browser, codePage: Page, verifyPath: string, code: string): Promise<string[]> {
  const wrong = code === '12345678' ? '87654321' : '12345678';
  const messages: string[] = [];
  for (let i = 0; i < 5; i += 1) messages.push(alertOf(await browser.submit(codePage, verifyPath, { code: wrong })));
  return messages;
}

/** Three resends at `resendPath`, each after waiting out resendAfterSeconds (30); the pages they got. The clock is set back after. */
async function resendsAfterWaits(browser: Browser, codePage: Page, resendPath: string): Promise<[Page, Page, Page]> {
  const pages: Page[] = [];
  let waited = 0;
  try {
    for (let i = 0; i < 3; i += 1) {
      bed.clock.advance(31_000);
      waited += 31_000;
      pages.push(await browser.submit(codePage, resendPath));
    }
  } finally {
    bed.clock.advance(-waited);
  }
  return pages as [Page, Page, Page];
}

test.serial('email: an expired code is refused', async (t) => {
  const { browser, page, userId } = await account('em2');
  const { codePage, code } = await emailCode(browser, page, 'em2@example.net');
  await bed.clock.ahead(PAST_CODE_TTL, async () => {
    const late = await browser.submit(codePage, '/methods/email/verify', { code });
    t.regex(late.html, /expired or was already used/);
    t.deepEqual(await bed.idp.idp.parts.store.sspr.methods(userId), []);
  });
});

test.serial('email: five wrong tries void the code, even for the right one afterwards', async (t) => {
  const { browser, page, userId } = await account('em3');
  const { codePage, code } = await emailCode(browser, page, 'em3@example.net');
  const messages = await fiveWrongCodes(browser, codePage, '/methods/email/verify', code);
  t.regex(messages[0]!, /4 more/);
  t.regex(messages[3]!, /1 more/);
  t.regex(messages[4]!, /Too many wrong codes/);
  const right = await browser.submit(codePage, '/methods/email/verify', { code });
  t.notRegex(right.html, /e•+@example\.net/);
  t.deepEqual(await bed.idp.idp.parts.store.sspr.methods(userId), []);
});

test.serial('email: resends wait resendAfterSeconds, and at most maxSends codes go out', async (t) => {
  const { browser, page } = await account('em4');
  const form = await browser.follow(page, '/methods/email');
  const first = await browser.submit(form, '/methods/email/send', { address: 'em4@example.net' });
  t.regex(first.html, /We sent a code/);
  const tooSoon = await browser.submit(first, '/methods/email/resend');
  t.regex(tooSoon.html, /wait \d+ seconds/);
  const [second, third, fourth] = await resendsAfterWaits(browser, first, '/methods/email/resend');
  t.regex(second.html, /We sent a code/);
  t.regex(third.html, /We sent a code/);
  t.regex(fourth.html, /sent too many codes/);
  t.is(bed.smtp.messages.filter((m) => m.to.includes('em4@example.net')).length, 3);
});

/** Runs `fn` with some of sspr.limits changed in the live configuration. */
async function withLimits(limits: Partial<RunningIdp['config']['sspr']['limits']>, fn: () => Promise<void>): Promise<void> {
  const previous = bed.idp.idp.parts.config.current;
  bed.idp.idp.parts.config.replace({ ...previous, sspr: { ...previous.sspr, limits: { ...previous.sspr.limits, ...limits } } });
  try {
    await fn();
  } finally {
    bed.idp.idp.parts.config.replace(previous);
  }
}

test.serial('email: at most emailsPer10Minutes codes per account, whatever the address', async (t) => {
  await withLimits({ emailsPer10Minutes: 3 }, async () => {
    const { browser, page } = await account('em5');
    const form = await browser.follow(page, '/methods/email');
    for (let i = 1; i <= 3; i += 1) {
      t.regex((await browser.submit(form, '/methods/email/send', { address: `em5.${i}@example.net` })).html, /We sent a code/, `address ${i}`);
    }
    const refused = await browser.submit(form, '/methods/email/send', { address: 'em5.4@example.net' });
    t.is(refused.status, 400);
    t.regex(refused.html, /too many codes in a short time\. Try again in 10 min\./);
    // No wait needed: a code send is awaited before the page answers, and the test SMTP server and SMS
    // receiver record a message before they acknowledge it, so whatever was sent is already here.
    t.is(bed.smtp.messages.filter((m) => /em5\.\d@example\.net/.test(m.to.join(' '))).length, 3, 'no fourth mail');

    // Another account has its own budget; this one's comes back after the window.
    const other = await account('em6');
    t.regex((await other.browser.submit(await other.browser.follow(other.page, '/methods/email'), '/methods/email/send', { address: 'em6@example.net' })).html, /We sent a code/);
    bed.clock.advance(10 * 60_000);
    try {
      // Ten minutes on, the page wants the password again first.
      const confirm = await browser.submit(form, '/methods/email/send', { address: 'em5.5@example.net' });
      const again = await browser.submit(confirm, '/security-info/confirm-password', { password: 'em5 password 1' });
      t.regex((await browser.submit(again, '/methods/email/send', { address: 'em5.5@example.net' })).html, /We sent a code/);
    } finally {
      bed.clock.advance(-10 * 60_000);
    }
  });
});

test.serial('mobile phone: at most phonePerHour texts and calls per account, whatever the number', async (t) => {
  await withLimits({ phonePerHour: 2 }, async () => {
    const { browser, page } = await account('ph3');
    const form = await browser.follow(page, '/methods/mobilePhone');
    const before = bed.sms.messages.length;
    t.regex((await browser.submit(form, '/methods/mobilePhone/send', { country: 'NL', number: '06 11111101', channel: 'sms' })).html, /We sent a text/);
    t.regex((await browser.submit(form, '/methods/mobilePhone/send', { country: 'NL', number: '06 11111102', channel: 'voice' })).html, /We are calling/);
    const refused = await browser.submit(form, '/methods/mobilePhone/send', { country: 'NL', number: '06 11111103', channel: 'sms' });
    t.is(refused.status, 400);
    t.regex(refused.html, /too many codes in a short time\. Try again in 60 min\./);
    // No wait needed: a code send is awaited before the page answers, and the test SMTP server and SMS
    // receiver record a message before they acknowledge it, so whatever was sent is already here.
    t.deepEqual(
      bed.sms.messages.slice(before).map((m) => m.to),
      ['+31611111101', '+31611111102'],
      'nothing went to the third number',
    );
  });
});

test.serial('mobile phone: a voice call reads the code out; a wrong code counts; the right one registers', async (t) => {
  const { browser, page, userId } = await account('ph1');
  const form = await browser.follow(page, '/methods/mobilePhone');
  t.regex(form.html, /Call me/);
  const before = bed.sms.messages.length;
  const codePage = await browser.submit(form, '/methods/mobilePhone/send', { country: 'DE', number: '01512 3456789', channel: 'voice' });
  t.regex(codePage.html, /We are calling \+49/);
  const call = await bed.sms.waitFor((m) => bed.sms.messages.indexOf(m) >= before && m.to === '+4915123456789');
  t.is(call.channel, 'voice');
  t.regex(call.text, /(\d ){7}\d/, 'digits are spoken one by one');
  const code = codeIn(call.text);
  const wrong = await browser.submit(codePage, '/methods/mobilePhone/verify', { code: code === '00000000' ? '11111111' : '00000000' });
  t.regex(wrong.html, /4 more/);
  const done = await browser.submit(codePage, '/methods/mobilePhone/verify', { code });
  t.regex(done.html, /\+49/);
  t.is((await bed.idp.idp.parts.store.sspr.methods(userId))[0]!.value, '+4915123456789');
});

/** The phone page after sending a code by text to `number` (NL), and the code as the webhook received it. */
async function phoneCode(browser: Browser, form: Page, number: string, e164: string): Promise<{ codePage: Page; code: string }> {
  const before = bed.sms.messages.length;
  const codePage = await browser.submit(form, '/methods/mobilePhone/send', { country: 'NL', number, channel: 'sms' });
  if (!codePage.html.includes('/methods/mobilePhone/verify')) throw new Error(`no code page: ${codePage.status} ${codePage.html.slice(0, 1500)}`);
  const text = await bed.sms.waitFor((m) => bed.sms.messages.indexOf(m) >= before && m.to === e164 && m.channel === 'sms');
  return { codePage, code: codeIn(text.text) };
}

test.serial('mobile phone: a code works once; the same code again is refused and changes nothing', async (t) => {
  const { browser, page, userId } = await account('ph4');
  const form = await browser.follow(page, '/methods/mobilePhone');
  const { codePage, code } = await phoneCode(browser, form, '06 22222201', '+31622222201');
  t.regex(code, /^\d{8}$/);
  t.regex((await browser.submit(codePage, '/methods/mobilePhone/verify', { code })).html, /\+31 6 •+ ?01/);
  await bed.idp.idp.parts.store.sspr.deleteMethod(userId, 'mobile_phone');
  const reused = await browser.submit(codePage, '/methods/mobilePhone/verify', { code });
  t.regex(alertOf(reused), /expired or was already used/);
  t.deepEqual(await bed.idp.idp.parts.store.sspr.methods(userId), [], 'the used code registered nothing the second time');
});

test.serial('mobile phone: an expired code is refused', async (t) => {
  const { browser, page, userId } = await account('ph5');
  const form = await browser.follow(page, '/methods/mobilePhone');
  const { codePage, code } = await phoneCode(browser, form, '06 22222202', '+31622222202');
  await bed.clock.ahead(PAST_CODE_TTL, async () => {
    const late = await browser.submit(codePage, '/methods/mobilePhone/verify', { code });
    t.regex(alertOf(late), /expired or was already used/);
    t.regex(late.html, /name="number"/, 'back at the number form');
    t.deepEqual(await bed.idp.idp.parts.store.sspr.methods(userId), []);
  });
});

test.serial('mobile phone: five wrong tries void the code, even for the right one afterwards', async (t) => {
  const { browser, page, userId } = await account('ph6');
  const form = await browser.follow(page, '/methods/mobilePhone');
  const { codePage, code } = await phoneCode(browser, form, '06 22222203', '+31622222203');
  const messages = await fiveWrongCodes(browser, codePage, '/methods/mobilePhone/verify', code);
  t.regex(messages[0]!, /4 more/);
  t.regex(messages[3]!, /1 more/);
  t.regex(messages[4]!, /Too many wrong codes/);
  const right = await browser.submit(codePage, '/methods/mobilePhone/verify', { code });
  t.regex(alertOf(right), /Too many wrong codes/);
  t.deepEqual(await bed.idp.idp.parts.store.sspr.methods(userId), []);
});

test.serial('mobile phone: resends wait resendAfterSeconds, and at most maxSends texts go to a number', async (t) => {
  await withLimits({ phonePerHour: 50 }, async () => {
    const { browser, page } = await account('ph7');
    const form = await browser.follow(page, '/methods/mobilePhone');
    const { codePage } = await phoneCode(browser, form, '06 22222204', '+31622222204');
    t.regex(alertOf(await browser.submit(codePage, '/methods/mobilePhone/resend')), /wait \d+ seconds/);
    const [second, third, fourth] = await resendsAfterWaits(browser, codePage, '/methods/mobilePhone/resend');
    t.regex(second.html, /We sent a text/);
    t.regex(third.html, /We sent a text/);
    t.regex(alertOf(fourth), /sent too many codes/);
    // No wait needed: a code send is awaited before the page answers, and the test SMTP server and SMS
    // receiver record a message before they acknowledge it, so whatever was sent is already here.
    t.is(bed.sms.messages.filter((m) => m.to === '+31622222204').length, 3);
    // The newest code is the one that counts: an earlier one no longer works.
    const texts = bed.sms.messages.filter((m) => m.to === '+31622222204');
    const first = codeIn(texts[0]!.text);
    const last = codeIn(texts[2]!.text);
    if (first !== last) t.regex(alertOf(await browser.submit(codePage, '/methods/mobilePhone/verify', { code: first })), /isn(&#39;|')t right|expired/);
    t.regex((await browser.submit(codePage, '/methods/mobilePhone/verify', { code: last })).html, /\+31 6 •+ ?04/);
  });
});

test.serial('mobile phone: a channel the admin turned off is refused', async (t) => {
  const previous = bed.idp.idp.parts.config.current;
  bed.idp.idp.parts.config.replace({ ...previous, sspr: { ...previous.sspr, methods: { ...previous.sspr.methods, mobilePhone: { enabled: true, sms: true, voice: false } } } });
  try {
    const { browser, page } = await account('ph2');
    const form = await browser.follow(page, '/methods/mobilePhone');
    t.notRegex(form.html, /Call me/);
    const refused = await browser.submit(form, '/methods/mobilePhone/send', { country: 'NL', number: '0612345678', channel: 'voice' });
    t.regex(refused.html, /isn(&#39;|')t available/);
  } finally {
    bed.idp.idp.parts.config.replace(previous);
  }
});

test.serial('authenticator app: wrong codes, then a new key after too many; a code from the shown key registers', async (t) => {
  const { browser, page, userId } = await account('app1');
  const setup = await browser.follow(page, '/methods/authenticatorApp');
  t.regex(setup.html, /<img class="qr" src="data:image\/svg\+xml;base64,/);
  const key = keyOnPage(setup);
  const reload = await browser.follow(page, '/methods/authenticatorApp');
  t.is(keyOnPage(reload), key, 'reloading keeps the key the user may have scanned');
  const stepNow = totpStep(bed.clock.now());
  const wrongCode = totpCodeAt(key, stepNow + 5);
  let last = setup;
  for (let i = 0; i < 5; i += 1) last = await browser.submit(setup, '/methods/authenticatorApp/verify', { code: wrongCode });
  t.regex(last.html, /We made a new key/);
  const newKey = keyOnPage(last);
  t.not(newKey, key);
  t.regex((await browser.submit(last, '/methods/authenticatorApp/verify', { code: totpCodeAt(key, stepNow) })).html, /isn(&#39;|')t right/, 'the old key is void');
  const done = await browser.submit(last, '/methods/authenticatorApp/verify', { code: totpCodeAt(newKey, totpStep(bed.clock.now())) });
  t.regex(done.html, /App connected/);
  const stored = (await bed.idp.idp.parts.store.sspr.methods(userId)).find((m) => m.kind === 'authenticator_app')!;
  t.false(stored.value.includes(newKey), 'the secret is not stored in clear');
});

test.serial('authenticator app: a setup left longer than it lasts expires; the code of the old key then registers nothing', async (t) => {
  const { browser, page, userId } = await account('app2');
  const setup = await browser.follow(page, '/methods/authenticatorApp');
  const key = keyOnPage(setup);
  const later = (DEFAULT_HOLD_MINUTES + 1) * 60_000;
  bed.clock.advance(later);
  try {
    // The page's own password check (10 minutes) has lapsed too: confirm, staying on the overview.
    const confirm = await browser.submit(setup, '/methods/authenticatorApp/verify', { code: '000000' });
    t.regex(confirm.html, /Confirm your password/);
    await browser.submit(confirm, '/security-info/confirm-password', { password: 'app2 password 1', returnTo: '' });
    const expired = await browser.submit(setup, '/methods/authenticatorApp/verify', { code: totpCodeAt(key, totpStep(bed.clock.now())) });
    t.regex(alertOf(expired), /This setup has expired/);
    const newKey = keyOnPage(expired);
    t.not(newKey, key, 'a new key is shown');
    t.deepEqual(await bed.idp.idp.parts.store.sspr.methods(userId), []);
    const done = await browser.submit(expired, '/methods/authenticatorApp/verify', { code: totpCodeAt(newKey, totpStep(bed.clock.now())) });
    t.regex(done.html, /App connected/);
  } finally {
    bed.clock.advance(-later);
  }
});

test.serial('authenticator app: a code confirms its setup once; used again it registers nothing', async (t) => {
  const { browser, page, userId } = await account('app3');
  const setup = await browser.follow(page, '/methods/authenticatorApp');
  const key = keyOnPage(setup);
  const code = totpCodeAt(key, totpStep(bed.clock.now()));
  t.regex((await browser.submit(setup, '/methods/authenticatorApp/verify', { code })).html, /App connected/);
  const stored = (await bed.idp.idp.parts.store.sspr.methods(userId)).find((m) => m.kind === 'authenticator_app')!;
  const again = await browser.submit(setup, '/methods/authenticatorApp/verify', { code });
  t.regex(alertOf(again), /This setup has expired/);
  t.not(keyOnPage(again), key, 'a new key is offered');
  const after = (await bed.idp.idp.parts.store.sspr.methods(userId)).find((m) => m.kind === 'authenticator_app')!;
  t.is(after.value, stored.value, 'the registered app is unchanged');
  t.is(after.updatedAt, stored.updatedAt);
  t.is((await bed.idp.idp.parts.store.audit.list({ userId, type: 'sspr.method.added' })).length, 1);
  t.is((await bed.idp.idp.parts.store.audit.list({ userId, type: 'sspr.method.changed' })).length, 0);
});

test.serial('authenticator app: the same code sent twice at the same moment is taken once', async (t) => {
  const { browser, page, userId } = await account('app4');
  const setup = await browser.follow(page, '/methods/authenticatorApp');
  const code = totpCodeAt(keyOnPage(setup), totpStep(bed.clock.now()));
  const both = await Promise.all([1, 2].map(() => browser.submit(setup, '/methods/authenticatorApp/verify', { code })));
  t.is(both.filter((p) => /App connected/.test(p.html)).length, 1);
  t.is(both.filter((p) => /This setup has expired/.test(alertOf(p))).length, 1);
  const trail = await bed.idp.idp.parts.store.audit.list({ userId });
  t.is(trail.filter((e) => e.type === 'sspr.method.added' || e.type === 'sspr.method.changed').length, 1);
});

test.serial('security questions: every rule is explained next to its field; nothing is saved until all are right', async (t) => {
  const { browser, page, userId } = await account('sq1');
  const form = await browser.follow(page, '/methods/securityQuestions');
  const bad = await browser.submit(form, '/methods/securityQuestions/save', {
    question0: 'first-school',
    answer0: 'ab',
    question1: 'first-school',
    answer1: 'Same Answer',
    question2: 'first-concert',
    answer2: ' same   ANSWER ',
  });
  t.is(bad.status, 400);
  t.regex(bad.html, /too short/);
  t.regex(bad.html, /chose this question twice/);
  t.regex(bad.html, /used this answer for another question/);
  t.deepEqual(await bed.idp.idp.parts.store.sspr.answers(userId), []);
  const good = await browser.submit(form, '/methods/securityQuestions/save', {
    question0: 'first-school',
    answer0: 'De Regenboog',
    question1: 'first-concert',
    answer1: 'Doe Maar',
    question2: 'parents-met-city',
    answer2: 'Zwolle',
  });
  t.regex(good.html, /3 questions answered/);
  t.is((await bed.idp.idp.parts.store.sspr.answers(userId)).length, 3);
});
