import test from 'ava';
import { ssprBed } from './helpers/sspr-idp.ts';
import { Browser, type Page } from './helpers/browser.ts';
import { registerEmail, registerPhone } from './helpers/register.ts';
import { discover, authorizationRequest, newBrowser, signIn } from './helpers/rp.ts';

// The security-info page: manage recovery methods at any time, outside a sign-in to an app.

const bed = ssprBed({ enabled: 'all', methodsRequired: 1, methods: { email: true, mobilePhone: true }, codes: { resendAfterSeconds: 0 } });

async function signedIn(username: string, email?: string): Promise<{ browser: Browser; page: Page }> {
  await bed.idp.idp.parts.users.create({ username, password: `${username} password 1`, email });
  const browser = new Browser();
  const form = await browser.navigate(`${bed.idp.issuer}/security-info`);
  const page = await browser.submit(form, '/security-info/login', { username, password: `${username} password 1` });
  return { browser, page };
}

test.serial('sign in, add a method with a mailed code, and get notified at the directory address', async (t) => {
  const browser = new Browser();
  await bed.idp.idp.parts.users.create({ username: 'kim', password: 'kim password 1', email: 'kim@corp.example' });
  const form = await browser.navigate(`${bed.idp.issuer}/security-info`);
  t.regex(form.html, /Security info/);
  const wrong = await browser.submit(form, '/security-info/login', { username: 'kim', password: 'nope' });
  t.regex(wrong.html, /not right/);
  const page = await browser.submit(form, '/security-info/login', { username: 'kim', password: 'kim password 1' });
  t.is(page.status, 200);
  t.regex(page.html, /Signed in as kim/);
  t.regex(page.html, /Set up 1 more method/);

  const after = await registerEmail(browser, page, bed.smtp, 'kim@example.net');
  t.regex(after.html, /You(&#39;|')re all set/);
  t.regex(after.html, /k•+@example\.net/);
  const notice = await bed.smtp.waitFor((m) => m.to.includes('kim@corp.example'));
  t.regex(notice.text, /was added/);
  const user = await bed.idp.idp.parts.users.find('kim');
  t.not((await bed.idp.idp.parts.store.sspr.state(user!.id)).confirmedAt, null, 'registering here counts as confirming');
  const audit = await bed.idp.idp.parts.store.audit.list({ userId: user!.id });
  t.true(audit.some((e) => e.type === 'sspr.method.added' && e.details?.method === 'email'));
});

test.serial('changes need a password check of at most 10 minutes ago', async (t) => {
  const { browser, page } = await signedIn('lars');
  bed.clock.advance(11 * 60_000);
  try {
    const confirm = await browser.follow(page, '/security-info/methods/email');
    t.regex(confirm.html, /Confirm your password/);
    const bad = await browser.submit(confirm, '/security-info/confirm-password', { password: 'wrong' });
    t.is(bad.status, 400);
    const methodPage = await browser.submit(confirm, '/security-info/confirm-password', { password: 'lars password 1' });
    t.is(methodPage.status, 200);
    t.regex(methodPage.html, /Email me a code/);
  } finally {
    bed.clock.advance(-11 * 60_000);
  }
});

test.serial('removing below the requirement is refused; with another method it works, and the old address is told', async (t) => {
  const { browser, page } = await signedIn('mila', 'mila@corp.example');
  let overview = await registerEmail(browser, page, bed.smtp, 'mila@example.net');
  const refused = await browser.submit(overview, '/security-info/methods/email/remove');
  t.is(refused.status, 409);
  t.regex(refused.html, /can(&#39;|')t remove this method/);

  overview = await registerPhone(browser, overview, bed.sms, 'BE', '0470 12 34 56', '+32470123456');
  const before = bed.smtp.messages.length;
  const removed = await browser.submit(overview, '/security-info/methods/email/remove');
  t.is(removed.status, 200);
  t.notRegex(removed.html, /m•+@example\.net/);
  const told = await bed.smtp.waitFor((m) => bed.smtp.messages.indexOf(m) >= before && m.to.includes('mila@example.net'));
  t.regex(told.text, /was removed/);
});

test.serial('signing out ends the session; forms need their CSRF token', async (t) => {
  const { browser, page } = await signedIn('nora');
  const out = await browser.submit(page, '/security-info/logout');
  t.regex(out.html, /Signed out/);
  const again = await browser.navigate(`${bed.idp.issuer}/security-info`);
  t.regex(again.html, /name="password"/, 'back at the sign-in form');

  const stranger = new Browser();
  const noToken = await stranger.request(`${bed.idp.issuer}/security-info/login`, { form: { username: 'nora', password: 'nora password 1' } });
  t.is(noToken.status, 403);
  const noSession = await stranger.request(`${bed.idp.issuer}/security-info/methods/email/send`, { form: { address: 'x@example.net' } });
  t.is(noSession.status, 303, 'no session: back to the sign-in form');
});

test.serial('the office phone is read-only for the user', async (t) => {
  const { browser, page } = await signedIn('otto');
  const user = await bed.idp.idp.parts.users.find('otto');
  await bed.idp.idp.parts.store.sspr.putMethod(user!.id, 'office_phone', '+31201234567', bed.clock.now());
  const previous = bed.idp.idp.parts.config.current;
  bed.idp.idp.parts.config.replace({ ...previous, sspr: { ...previous.sspr, methods: { ...previous.sspr.methods, officePhone: true } } });
  try {
    const overview = await browser.navigate(page.url);
    t.regex(overview.html, /Set by your administrator/);
    t.notRegex(overview.html, /methods\/officePhone\/remove/);
    const crafted = await browser.request(`${bed.idp.issuer}/security-info/methods/officePhone/remove`, { form: { csrf: /name="csrf" value="([^"]+)"/.exec(overview.html)![1]! } });
    t.is(crafted.status, 403);
    t.is((await bed.idp.idp.parts.store.sspr.methods(user!.id)).length, 1);
  } finally {
    bed.idp.idp.parts.config.replace(previous);
  }
});

/** Runs `fn` with some settings changed (live), then restores them and lets every window end. */
async function withSettings(patch: { signinPerIp?: number; threshold?: number }, fn: () => Promise<void>): Promise<void> {
  const previous = bed.idp.idp.parts.config.current;
  bed.idp.idp.parts.config.replace({
    ...previous,
    throttle: { ...previous.throttle, signinPerIp: patch.signinPerIp ?? previous.throttle.signinPerIp },
    lockout: { ...previous.lockout, threshold: patch.threshold ?? previous.lockout.threshold },
  });
  try {
    await fn();
  } finally {
    bed.idp.idp.parts.config.replace(previous);
    bed.clock.advance(2 * 3_600_000);
  }
}

async function setupSignIn(username: string, password: string): Promise<boolean> {
  const browser = new Browser();
  const form = await browser.navigate(`${bed.idp.issuer}/security-info`);
  const page = await browser.submit(form, '/security-info/login', { username, password });
  return /Signed in as/.test(page.html);
}

test.serial('security-info sign-in is audited like the login: success, failure with reason, lock', async (t) => {
  await withSettings({ threshold: 2 }, async () => {
    const user = await bed.idp.idp.parts.users.create({ username: 'paula', password: 'paula password 1' });
    t.true(await setupSignIn('paula', 'paula password 1'));
    t.false(await setupSignIn('paula', 'wrong 1'));
    t.false(await setupSignIn('paula', 'wrong 2'));
    t.false(await setupSignIn('paula', 'paula password 1'), 'locked: the right password is refused here too');
    const events = (await bed.idp.idp.parts.store.audit.list({ userId: user.id, type: 'signin.' })).map((e) => [e.type, e.details?.reason ?? null, e.details?.via]);
    t.deepEqual(events, [
      ['signin.success', null, 'security-info'],
      ['signin.failure', 'wrong_password', 'security-info'],
      ['signin.failure', 'wrong_password', 'security-info'],
      ['signin.locked', null, 'security-info'],
      ['signin.failure', 'locked', 'security-info'],
    ]);
  });
});

test.serial('security-info sign-in and password confirmation count against the per-IP limit shared with the login', async (t) => {
  const { browser, page } = await signedIn('quirin');
  await withSettings({ signinPerIp: 3 }, async () => {
    bed.clock.advance(11 * 60_000);
    const confirm = await browser.follow(page, '/security-info/methods/email');
    t.regex(confirm.html, /Confirm your password/);
    t.is((await browser.submit(confirm, '/security-info/confirm-password', { password: 'wrong' })).status, 400);
    const config = await discover({ issuer: bed.idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
    const app = newBrowser();
    const login = await signIn(app, await app.navigate((await authorizationRequest(config)).url.href), 'nobody-at-all', 'Winter2025!');
    t.is(login.status, 200, 'a failed sign-in at an app');
    t.false(await setupSignIn('quirin', 'Summer2025!'));
    const since = (await bed.idp.idp.parts.store.audit.list({ limit: 100_000 })).at(-1)!.id;
    t.false(await setupSignIn('quirin', 'quirin password 1'), 'three failures from this address: refused without a check');
    t.is((await browser.submit(confirm, '/security-info/confirm-password', { password: 'quirin password 1' })).status, 400, 'the confirmation too');
    const refused = (await bed.idp.idp.parts.store.audit.list({ type: 'signin.failure', limit: 100_000 })).filter((e) => e.id > since);
    t.deepEqual(refused.map((e) => [e.details?.reason, e.details?.via]), [
      ['ip_throttled', 'security-info'],
      ['ip_throttled', 'security-info-confirm'],
    ]);
  });
});
