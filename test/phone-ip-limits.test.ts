import test from 'ava';
import { ssprBed } from './helpers/sspr-idp.ts';
import { Browser, formWith, type Page } from './helpers/browser.ts';
import { discover, authorizationRequest, newBrowser, signIn } from './helpers/rp.ts';

// sspr.limits.phonePerHour at the registration interrupt and at reset (calls count like texts),
// and throttle.resetPerIp (reset flows one address may start per window).

const HOUR = 3_600_000;

const bed = ssprBed(
  {
    enabled: 'all',
    methods: { email: true, mobilePhone: true, officePhone: true },
    registration: { requireOnSignIn: true, maxSkips: null },
    captcha: { enabled: false },
    codes: { resendAfterSeconds: 0, maxSends: 10 },
    limits: { phonePerHour: 2, blockHours: 24 },
  },
  // The per-address test sends X-Forwarded-For, as a reverse proxy would.
  { config: { server: { trustProxy: true } } },
);

const parts = () => bed.idp.idp.parts;
const errorCode = (page: Page) => /Error code: ([A-Z_]+)/.exec(page.html)?.[1];
const textsTo = (...numbers: string[]) => bed.sms.messages.filter((m) => numbers.includes(m.to)).map((m) => `${m.channel} ${m.to}`);

test.serial('phonePerHour at the registration interrupt: texts and calls count per account, whatever the number; the budget is shared with /security-info and comes back after the hour', async (t) => {
  await parts().users.create({ username: 'rina', password: 'rina password 1' });
  const config = await discover({ issuer: bed.idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const browser = newBrowser();
  const interrupt = await signIn(browser, await browser.navigate((await authorizationRequest(config)).url.href), 'rina', 'rina password 1');
  t.regex(interrupt.html, /\/methods\/mobilePhone/, 'the registration interrupt');
  const form = await browser.navigate(`${interrupt.url}/methods/mobilePhone`);
  const send = (number: string, channel: string) => browser.submit(form, '/methods/mobilePhone/send', { country: 'NL', number, channel });
  t.regex((await send('06 40000001', 'sms')).html, /We sent a text message/, 'text 1');
  t.regex((await send('06 40000002', 'voice')).html, /We are calling/, 'call 2');
  const refused = await send('06 40000003', 'sms');
  t.is(refused.status, 400);
  t.regex(refused.html, /too many codes in a short time\. Try again in 60 min\./, 'the third is over phonePerHour (2)');
  t.regex(refused.html, /name="number"/, 'the number form again, not an error page');

  // The same account at /security-info: the same per-account budget, already spent.
  const account = new Browser();
  const setup = await account.submit(await account.navigate(`${bed.idp.issuer}/security-info`), '/security-info/login', { username: 'rina', password: 'rina password 1' });
  const setupForm = await account.follow(setup, '/methods/mobilePhone');
  const alsoRefused = await account.submit(setupForm, '/methods/mobilePhone/send', { country: 'NL', number: '06 40000004', channel: 'sms' });
  t.regex(alsoRefused.html, /too many codes in a short time/);
  // No wait needed: a code send is awaited before the page answers, and the test SMTP server and SMS
  // receiver record a message before they acknowledge it, so whatever was sent is already here.
  t.deepEqual(textsTo('+31640000001', '+31640000002', '+31640000003', '+31640000004'), ['sms +31640000001', 'voice +31640000002'], 'nothing went out over the limit');
  t.deepEqual(await parts().store.audit.list({ type: 'sspr.blocked' }), [], 'registration limits refuse the send, they block nobody');
  t.log('phonePerHour 2 at registration: a text and a call sent, the 3rd send (interrupt) and the 4th (/security-info) refused with 400, nothing sent, nobody blocked');

  bed.clock.advance(HOUR + 1000);
  try {
    // An hour on (the /security-info session is over by then: sign in again).
    const later = new Browser();
    const signedIn = await later.submit(await later.navigate(`${bed.idp.issuer}/security-info`), '/security-info/login', { username: 'rina', password: 'rina password 1' });
    const again = await later.follow(signedIn, '/methods/mobilePhone');
    t.regex((await later.submit(again, '/methods/mobilePhone/send', { country: 'NL', number: '06 40000005', channel: 'sms' })).html, /We sent a text message/, 'a new hour, a new budget');
  } finally {
    bed.clock.advance(-(HOUR + 1000));
  }
});

test.serial('phonePerHour at reset: an office-phone call and a text count alike; the third validation blocks the account from SSPR, and its registration budget is its own', async (t) => {
  const user = await parts().users.create({ username: 'ruben', password: 'ruben password 1' });
  await parts().store.sspr.putMethod(user.id, 'mobile_phone', '+31640000011', bed.clock.now());
  await parts().store.sspr.putMethod(user.id, 'office_phone', '+31201234511', bed.clock.now());
  await parts().store.sspr.recordConfirmation(user.id, bed.clock.now());
  const browser = new Browser();
  const choices = await browser.submit(await browser.navigate(`${bed.idp.issuer}/reset`), '/reset', { username: 'ruben' });
  const call = await browser.submit(choices, '/reset/flow/method', { method: 'officePhone' });
  t.is(errorCode(call), undefined, 'validation 1: a call to the office phone');
  const list = await browser.submit(call, '/reset/flow/other');
  const numberPage = await browser.submit(list, '/reset/flow/method', { method: 'mobilePhone' });
  const text = await browser.submit(numberPage, '/reset/flow/answer', { number: '06 40000011', channel: 'sms' });
  t.regex(text.html, /We sent a text message/, 'validation 2: a text to the mobile phone');
  const third = await browser.submit(text, '/reset/flow/answer', { action: 'resend' });
  t.is(errorCode(third), 'SSPR_BLOCKED', 'validation 3 is over phonePerHour (2)');
  t.regex(third.html, /Too many attempts/);
  // No wait needed: a code send is awaited before the page answers, and the test SMTP server and SMS
  // receiver record a message before they acknowledge it, so whatever was sent is already here.
  t.deepEqual(textsTo('+31640000011', '+31201234511'), ['voice +31201234511', 'sms +31640000011']);
  const blocked = await parts().store.audit.list({ type: 'sspr.blocked', userId: user.id });
  t.deepEqual(blocked.map((e) => e.details?.limit), ['phone']);
  t.is(errorCode(await browser.submit(await browser.navigate(`${bed.idp.issuer}/reset`), '/reset', { username: 'ruben' })), 'SSPR_BLOCKED', 'a new flow is refused too');
  t.log('phonePerHour 2 at reset: a call and a text sent, the 3rd validation answered SSPR_BLOCKED (sspr.blocked, limit phone)');

  // Registering a phone keeps its own per-account counter: the reset's texts did not spend it.
  const account = new Browser();
  const setup = await account.submit(await account.navigate(`${bed.idp.issuer}/security-info`), '/security-info/login', { username: 'ruben', password: 'ruben password 1' });
  t.regex(setup.html, /\/security-info\/logout/, 'the SSPR block does not lock sign-in');
  const form = await account.follow(setup, '/methods/mobilePhone');
  t.regex((await account.submit(form, '/methods/mobilePhone/send', { country: 'NL', number: '06 40000012', channel: 'sms' })).html, /We sent a text message/);
});

test.serial('throttle.resetPerIp: an address starts at most resetPerIp flows per window, across user ids; others are not affected; the window ends', async (t) => {
  const previous = parts().config.current;
  parts().config.replace({ ...previous, throttle: { ...previous.throttle, resetPerIp: 3, resetWindowSeconds: 600 } });
  try {
    await parts().users.create({ username: 'rosa', password: 'rosa password 1' });
    const flows = async () => Number((await parts().store.db('reset_flows').count({ n: '*' }).first())?.n);
    const started = async () => (await parts().store.audit.list({ type: 'sspr.reset.started', limit: 10_000 })).length;
    const start = async (ip: string, username: string) => {
      const browser = new Browser();
      const page = await browser.request(`${bed.idp.issuer}/reset`, { headers: { 'X-Forwarded-For': ip } });
      const form = formWith(page, '/reset');
      return browser.request(form.action, { form: { ...form.fields, username }, headers: { 'X-Forwarded-For': ip } });
    };
    for (const [i, username] of ['rosa', 'nobody-1', 'nobody-2'].entries()) {
      const page = await start('203.0.113.7', username);
      t.is(page.status, 303, `flow ${i + 1} from the address starts`);
      t.regex(page.headers.get('location') ?? '', /\/reset\/flow$/);
    }
    const [flowsBefore, startedBefore] = [await flows(), await started()];
    const refused = await start('203.0.113.7', 'rosa');
    t.is(refused.status, 429, 'the fourth is over resetPerIp (3), whatever the user id');
    t.regex(refused.html, /too many attempts from your network/);
    t.regex(refused.html, /name="username"[^>]*value="rosa"/, 'the form again, with what was typed');
    t.is(refused.headers.get('location'), null);
    t.is(await flows(), flowsBefore, 'no flow was created');
    t.is(await started(), startedBefore, 'nothing was started, so nothing audited as started');
    t.is((await start('203.0.113.7', 'somebody-else')).status, 429, 'another user id from the address: refused too');

    t.is((await start('198.51.100.20', 'rosa')).status, 303, 'another address has its own count');
    t.is((await start('198.51.100.20', 'nobody-3')).status, 303);

    bed.clock.advance(600_000 + 1000);
    t.is((await start('203.0.113.7', 'rosa')).status, 303, 'after resetWindowSeconds the address may start again');
    t.log('resetPerIp 3 per 600 s: 3 flows started from 203.0.113.7, the 4th and 5th answered 429, another address unaffected, allowed again after the window');
  } finally {
    parts().config.replace(previous);
  }
});
