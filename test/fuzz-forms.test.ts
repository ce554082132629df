import test from 'ava';
import { startSsprIdp, type SsprTestbed } from './helpers/sspr-idp.ts';
import { Browser, forms, type Page, type FormInfo } from './helpers/browser.ts';
import { discover, authorizationRequest, newBrowser, signIn } from './helpers/rp.ts';

// Every form of the product with malformed, missing, repeated, oversized, unicode,
// control-character and wrong-shape values: never a 5xx, never a stack trace, and the stored
// state is unchanged.

let bed: SsprTestbed;
const tally = new Map<string, number>();

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
test.after.always(async (t) => {
  await bed?.close();
  t.log(`attempts per form: ${[...tally].map(([k, v]) => `${k}=${v}`).join(', ')}`);
});

const parts = () => bed.idp.idp.parts;

const NASTY: Record<string, string> = {
  empty: '',
  huge: 'x'.repeat(20_000),
  control: 'a\u0001b\u001b[31mc\u007f',
  nul: 'a\u0000b',
  rtl: 'admin\u202egnp.exe',
  emoji: '🙂👩‍👩‍👧e\u0301',
  html: '<script>alert(1)</script>"\'>',
  path: '../../../etc/passwd',
  sql: "' OR 1=1; DROP TABLE users; --",
  json: '{"$ne":null}',
  number: '1e309',
  newline: 'line1\r\nSet-Cookie: x=y',
  lonesurrogate: '\ud800',
};

/** Snapshot of what a bad request must never change. */
async function state(username: string) {
  const user = await parts().users.find(username);
  const facts = await parts().registration.facts(user!.id);
  return JSON.stringify({ hash: user!.passwordHash, status: user!.status, methods: facts.methods.map((m) => [m.kind, m.value]), answers: facts.answers.map((a) => a.questionId) });
}

function assertSafe(t: import('ava').ExecutionContext, page: Page, label: string) {
  t.true(page.status > 0 && page.status < 500, `${label}: status ${page.status}`);
  t.notRegex(page.html, /\n\s+at [\w.<>$]+ \(|node_modules\/|TypeError|ReferenceError|SQLITE_|knex|ECONNREFUSED/, `${label}: no internals`);
}

/** Posts every mutation of a form; the page the form came from is re-fetched between posts when asked. */
async function hammer(t: import('ava').ExecutionContext, name: string, browser: Browser, form: FormInfo): Promise<void> {
  const fields = Object.keys(form.fields).filter((f) => f !== 'csrf');
  const variants: [string, string][] = [];
  const base = new URLSearchParams(form.fields);
  for (const f of fields) {
    const without = new URLSearchParams(base);
    without.delete(f);
    variants.push([`${f} missing`, without.toString()]);
    const twice = new URLSearchParams(base);
    twice.append(f, 'again');
    variants.push([`${f} repeated`, twice.toString()]);
    for (const [kind, value] of Object.entries(NASTY)) {
      const v = new URLSearchParams(base);
      v.set(f, value);
      variants.push([`${f} ${kind}`, v.toString()]);
    }
    variants.push([`${f}[] shape`, `${base.toString()}&${encodeURIComponent(`${f}[]`)}=1&${encodeURIComponent(`${f}[a]`)}=2`]);
  }
  variants.push(['no fields', `csrf=${encodeURIComponent(form.fields.csrf ?? '')}`]);
  variants.push(['broken encoding', `${base.toString()}&bad=%E0%A4%A`]);
  variants.push(['oversized body', `${base.toString()}&pad=${'y'.repeat(70_000)}`]);
  for (const [label, body] of variants) {
    const page = await browser.request(form.action, { body, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    assertSafe(t, page, `${name}: ${label}`);
  }
  for (const type of ['application/json', 'text/plain', 'multipart/form-data; boundary=x']) {
    const page = await browser.request(form.action, { body: JSON.stringify(form.fields), headers: { 'Content-Type': type } });
    assertSafe(t, page, `${name}: ${type}`);
  }
  tally.set(name, (tally.get(name) ?? 0) + variants.length + 3);
}

async function interrupted(username: string) {
  await parts().users.create({ username, password: `${username} password 1` });
  const config = await discover({ issuer: bed.idp.issuer, clientId: 'third-party-app', clientSecret: 'third-party-app-secret-0123456789', authMethod: 'client_secret_post' });
  const browser = newBrowser();
  const login = await browser.navigate((await authorizationRequest(config)).url.href);
  return { browser, login, page: await signIn(browser, login, username, `${username} password 1`) };
}

test.serial('sign-in and consent forms', async (t) => {
  await parts().users.create({ username: 'fz-login', password: 'fz-login password 1' });
  const config = await discover({ issuer: bed.idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const browser = newBrowser();
  const page = await browser.navigate((await authorizationRequest(config)).url.href);
  const before = await state('fz-login');
  for (const form of forms(page)) await hammer(t, new URL(form.action).pathname.split('/').pop()!, browser, form);
  t.is(await state('fz-login'), before);
});

test.serial('registration interrupt: every method form, finish, skip, remove', async (t) => {
  const { browser, page } = await interrupted('fz-reg');
  const before = await state('fz-reg');
  for (const form of forms(page)) await hammer(t, `register ${new URL(form.action).pathname.split('/').pop()}`, browser, form);
  for (const method of ['email', 'mobilePhone', 'authenticatorApp', 'securityQuestions', 'officePhone']) {
    const methodPage = await browser.navigate(`${page.url.replace(/\/$/, '')}/methods/${method}`);
    assertSafe(t, methodPage, method);
    for (const form of forms(methodPage)) await hammer(t, `${method} ${new URL(form.action).pathname.split('/').pop()}`, browser, form);
  }
  // The code step of email and phone, reached with a real send.
  const email = await browser.submit(await browser.navigate(`${page.url}/methods/email`), '/methods/email/send', { address: 'fz@example.net' });
  for (const form of forms(email)) await hammer(t, `email ${new URL(form.action).pathname.split('/').pop()}`, browser, form);
  t.is(await state('fz-reg'), before, 'nothing was registered by bad input');
});

test.serial('security-info page forms', async (t) => {
  await parts().users.create({ username: 'fz-setup', password: 'fz-setup password 1' });
  const browser = new Browser();
  const loginPage = await browser.navigate(`${bed.idp.issuer}/security-info`);
  for (const form of forms(loginPage)) await hammer(t, 'setup login', browser, form);
  const page = await browser.submit(loginPage, '/security-info/login', { username: 'fz-setup', password: 'fz-setup password 1' });
  const before = await state('fz-setup');
  for (const form of forms(page)) await hammer(t, `setup ${new URL(form.action).pathname.split('/').pop()}`, browser, form);
  const questions = await browser.navigate(`${bed.idp.issuer}/security-info/methods/securityQuestions`);
  for (const form of forms(questions)) await hammer(t, 'setup questions', browser, form);
  t.is(await state('fz-setup'), before);
});

test.serial('reset flow forms', async (t) => {
  const user = await parts().users.create({ username: 'fz-reset', password: 'fz-reset password 1' });
  await parts().store.sspr.putMethod(user.id, 'email', 'fz-reset@example.net', bed.clock.now());
  await parts().store.sspr.putMethod(user.id, 'mobile_phone', '+31612345678', bed.clock.now());
  const before = await state('fz-reset');
  const browser = new Browser();
  const identify = await browser.navigate(`${bed.idp.issuer}/reset`);
  for (const form of forms(identify)) await hammer(t, 'reset identify', browser, form);
  const flow = await browser.submit(identify, '/reset', { username: 'fz-reset' });
  for (const form of forms(flow)) await hammer(t, 'reset method', browser, form);
  let fresh = await browser.navigate(`${bed.idp.issuer}/reset/flow`);
  // A variant that kept a valid method started a challenge: leave it for the list again.
  if (fresh.html.includes('/reset/flow/other')) fresh = await browser.submit(fresh, '/reset/flow/other');
  const phone = await browser.submit(fresh, '/reset/flow/method', { method: 'mobilePhone' });
  for (const form of forms(phone)) await hammer(t, `reset ${new URL(form.action).pathname.split('/').pop()}`, browser, form);
  t.is(await state('fz-reset'), before, 'no password changed by bad input');
});
