import test from 'ava';
import { ssprBed } from './helpers/sspr-idp.ts';
import { Browser, formWith, forms, type Page } from './helpers/browser.ts';
import { discover, authorizationRequest, newBrowser, signIn } from './helpers/rp.ts';
import { codeIn } from './helpers/register.ts';

// CSRF tokens from another flow (or another form of the same flow) are refused on the reset,
// registration and security-info forms, and change nothing; an unsafe `return=` on /reset is
// never kept, shown or redirected to.

const bed = ssprBed(
  {
    enabled: 'all',
    methods: { email: true, mobilePhone: false, authenticatorApp: false },
    registration: { requireOnSignIn: true, maxSkips: null },
    captcha: { enabled: false },
    codes: { resendAfterSeconds: 0 },
    onPremises: { allowUnlockWithoutReset: true },
  },
  { config: { lockout: { threshold: 3 } } },
);

const parts = () => bed.idp.idp.parts;
const csrfOf = (page: Page) => /name="csrf" value="([^"]+)"/.exec(page.html)![1]!;

async function withEmail(username: string, address: string) {
  const user = await parts().users.create({ username, password: `${username} old password` });
  await parts().store.sspr.putMethod(user.id, 'email', address, bed.clock.now());
  await parts().store.sspr.recordConfirmation(user.id, bed.clock.now());
  return user;
}

async function begin(username: string, query = ''): Promise<{ browser: Browser; identify: Page; page: Page }> {
  const browser = new Browser();
  const identify = await browser.navigate(`${bed.idp.issuer}/reset${query}`);
  return { browser, identify, page: await browser.submit(identify, '/reset', { username }) };
}

async function emailCode(browser: Browser, page: Page, address: string): Promise<Page> {
  const before = bed.smtp.messages.length;
  const codePage = await browser.submit(page, '/reset/flow/method', { method: 'email' });
  const mail = await bed.smtp.waitFor((m) => bed.smtp.messages.indexOf(m) >= before && m.to.includes(address));
  return browser.submit(codePage, '/reset/flow/answer', { code: codeIn(mail.text) });
}

/** The user's reset flows as stored: state and version of each. */
const flowsOf = async (userId: string | null) =>
  ((await parts().store.db('reset_flows').where({ user_id: userId }).orderBy('created_at').select('state', 'version')) as { state: string; version: number }[]).map((r) => `${r.state}@${Number(r.version)}`);

test.serial('reset: a token from another flow, or of the start form, is refused at every form of the flow and changes nothing', async (t) => {
  const cora = await withEmail('cora', 'cora@example.net');
  const dirk = await withEmail('dirk', 'dirk@example.net');
  for (let i = 0; i < 3; i += 1) await parts().users.signIn('cora', 'wrong password');
  t.truthy((await parts().users.byId(cora.id))?.lockedUntil, 'cora is locked (so her flow has the unlock-or-reset step)');

  const a = await begin('cora');
  const b = await begin('dirk');
  const foreign = csrfOf(b.page);
  const startToken = csrfOf(a.identify);
  t.not(foreign, csrfOf(a.page));
  const post = (path: string, csrf: string, fields: Record<string, string> = {}) => a.browser.request(`${bed.idp.issuer}/reset/flow/${path}`, { form: { csrf, ...fields } });
  const refusedEverywhere = async (label: string, fields: Record<string, string>) => {
    for (const path of ['method', 'answer', 'other', 'decide', 'password', 'contact']) {
      for (const [which, csrf] of [['another flow', foreign], ['the start form', startToken], ['none', '']] as const) {
        const page = await post(path, csrf, fields);
        t.is(page.status, 403, `${label}: /reset/flow/${path} with a token from ${which}`);
        t.regex(page.html, /csrf_invalid/);
      }
    }
  };

  await refusedEverywhere('verify', { method: 'email', code: '12345678', choice: 'unlock', password: 'x', confirm: 'x' });
  t.deepEqual(await flowsOf(cora.id), ['verify@0'], 'the flow did not move');
  t.is(bed.smtp.messages.filter((m) => m.to.includes('cora@example.net')).length, 0, 'no code was sent');

  const choose = await emailCode(a.browser, a.page, 'cora@example.net');
  t.regex(choose.html, /\/reset\/flow\/decide/);
  const atChoose = await flowsOf(cora.id);
  t.regex(atChoose.join(), /^choose@\d+$/);
  await refusedEverywhere('choose', { choice: 'unlock' });
  t.deepEqual(await flowsOf(cora.id), atChoose, 'still at the unlock-or-reset step, same version');
  t.truthy((await parts().users.byId(cora.id))?.lockedUntil, 'still locked');

  const passwordPage = await a.browser.submit(choose, '/reset/flow/decide', { choice: 'reset' });
  t.regex(passwordPage.html, /Choose a new password/);
  const atPassword = await flowsOf(cora.id);
  t.regex(atPassword.join(), /^password@\d+$/);
  const hashBefore = (await parts().users.byId(cora.id))?.passwordHash;
  await refusedEverywhere('password', { password: 'ochre lantern meadow', confirm: 'ochre lantern meadow' });
  t.is((await parts().users.byId(cora.id))?.passwordHash, hashBefore, 'no password was set');
  t.deepEqual(await flowsOf(cora.id), atPassword);
  const done = await a.browser.submit(passwordPage, '/reset/flow/password', { password: 'ochre lantern meadow', confirm: 'ochre lantern meadow' });
  t.regex(done.html, /has been reset/, 'the right token still works');
  t.deepEqual(await flowsOf(dirk.id), ['verify@0'], 'the other flow was never touched');

  // A refused flow's "contact an administrator".
  const c = await begin('nobody-at-all');
  const contact = await c.browser.request(`${bed.idp.issuer}/reset/flow/contact`, { form: { csrf: foreign } });
  t.is(contact.status, 403);
  t.regex((await c.browser.submit(c.page, '/reset/flow/contact')).html, /has been told/, 'with its own token it is sent');

  // The start form: another browser's token, or a flow's, is refused; nothing starts.
  const other = new Browser();
  const otherStart = csrfOf(await other.navigate(`${bed.idp.issuer}/reset`));
  const before = await parts().store.audit.list({ type: 'sspr.reset.started', limit: 10_000 });
  for (const csrf of [otherStart, foreign, '']) {
    const page = await a.browser.request(`${bed.idp.issuer}/reset`, { form: { csrf, username: 'dirk' } });
    t.is(page.status, 403);
  }
  t.is((await parts().store.audit.list({ type: 'sspr.reset.started', limit: 10_000 })).length, before.length, 'no flow started');
  t.deepEqual(await flowsOf(dirk.id), ['verify@0']);
});

/** A user at the registration interrupt: the page and its browser. */
async function atInterrupt(username: string) {
  const user = await parts().users.create({ username, password: `${username} password 1` });
  const config = await discover({ issuer: bed.idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
  const browser = newBrowser();
  const login = await browser.navigate((await authorizationRequest(config)).url.href);
  const page = await signIn(browser, login, username, `${username} password 1`);
  if (!page.html.includes('/methods/email')) throw new Error(`no registration interrupt: ${page.status} ${page.html.slice(0, 1500)}`);
  return { user, browser, login, page };
}

test.serial('registration: a token from another flow, or from the sign-in form, is refused at every form and changes nothing', async (t) => {
  const rita = await atInterrupt('rita');
  const sam = await atInterrupt('sam');
  const foreign = csrfOf(sam.page);
  const loginToken = formWith(rita.login, '/login').fields.csrf!;
  const base = rita.page.url.replace(/\/$/, '');
  const auditBefore = (await parts().store.audit.list({ userId: rita.user.id })).length;
  const paths = ['methods/email/send', 'methods/email/verify', 'methods/email/remove', 'confirm-password', 'finish', 'skip'];
  for (const path of paths) {
    for (const [which, csrf] of [['another flow', foreign], ['the sign-in form', loginToken], ['none', '']] as const) {
      const page = await rita.browser.request(`${base}/${path}`, { form: { csrf, address: 'mallory@example.net', code: '12345678', password: 'rita password 1' } });
      t.is(page.status, 403, `${path} with a token from ${which}`);
      t.regex(page.html, /csrf_invalid/);
    }
  }
  t.deepEqual(await parts().store.sspr.methods(rita.user.id), []);
  t.is((await parts().store.audit.list({ userId: rita.user.id })).length, auditBefore, 'nothing audited: no handler ran');
  t.false(bed.smtp.messages.some((m) => m.to.includes('mallory@example.net')), 'no code was sent');
  // Still at the interrupt, and its own token works.
  const again = await rita.browser.navigate(rita.page.url);
  t.regex(again.html, /\/methods\/email/);
  const form = await rita.browser.navigate(`${base}/methods/email`);
  t.regex((await rita.browser.submit(form, '/methods/email/send', { address: 'rita@example.net' })).html, /\/methods\/email\/verify/);
});

test.serial('security-info: a token from another session is refused at every form', async (t) => {
  await withEmail('vera', 'vera@example.net');
  await parts().users.create({ username: 'wim', password: 'wim password 1' });
  const sign = async (username: string, password: string) => {
    const browser = new Browser();
    const page = await browser.submit(await browser.navigate(`${bed.idp.issuer}/security-info`), '/security-info/login', { username, password });
    return { browser, page };
  };
  const vera = await sign('vera', 'vera old password');
  const wim = await sign('wim', 'wim password 1');
  const foreign = csrfOf(wim.page);
  for (const path of ['methods/email/send', 'methods/email/remove', 'confirm-password', 'logout']) {
    const page = await vera.browser.request(`${bed.idp.issuer}/security-info/${path}`, { form: { csrf: foreign, address: 'mallory@example.net', password: 'vera old password' } });
    t.is(page.status, 403, path);
  }
  const overview = await vera.browser.navigate(`${bed.idp.issuer}/security-info`);
  t.regex(overview.html, /v•+@example\.net/, 'still signed in, the email method still there');
});

test.serial('an unsafe return= on /reset is never kept, shown or redirected to; a sign-in page of this IdP is', async (t) => {
  await parts().users.create({ username: 'xena', password: 'xena password 1' });
  const issuer = bed.idp.issuer;
  const unsafe = [
    'https://evil.example/',
    'https://evil.example/interaction/abc',
    '//evil.example/interaction/abc',
    '/\\evil.example',
    '\\\\evil.example',
    'javascript:alert(1)',
    'data:text/html,hi',
    `${issuer}/interaction/abc`,
    '/interaction/abc/../../evil',
    '/interaction/abc?next=https://evil.example',
    '/interaction/abc#https://evil.example',
    '/interaction/abc\nLocation: https://evil.example',
    '/interaction/abc\r\n',
    ' /interaction/abc',
    '/interaction/',
    '/interaction/%2F%2Fevil.example',
    '%2F%2Fevil.example',
    `/interaction/${'a'.repeat(101)}`,
  ];
  const seen = (page: Page, value: string) => page.html.includes(value) || page.html.includes(value.replace(/&/g, '&amp;'));
  for (const value of unsafe) {
    const { browser, identify, page } = await begin('xena', `?return=${encodeURIComponent(value)}`);
    t.false(forms(identify).some((f) => 'return' in f.fields), `GET: no hidden return field for ${JSON.stringify(value)}`);
    t.notRegex(identify.html, /Back to sign in/, `GET: no link back for ${JSON.stringify(value)}`);
    // Posted directly (a crafted form), with a refused flow that shows its link when it has one.
    const form = formWith(identify, '/reset');
    const posted = await browser.request(form.action, { form: { ...form.fields, username: 'nobody-xyz', return: value } });
    t.is(posted.status, 303);
    t.is(posted.headers.get('location'), '/reset/flow', 'the only redirect is to the flow, on this site');
    const flow = await browser.navigate(`${issuer}/reset/flow`);
    t.notRegex(flow.html, /Back to sign in/, `POST: no link back for ${JSON.stringify(value)}`);
    t.false(/evil\.example|javascript:|data:text/.test(flow.html), `nothing of ${JSON.stringify(value)} on the page`);
    t.false(seen(page, 'evil.example'));
  }
  const stored = (await parts().store.db('reset_flows').whereNull('user_id').select('data')) as { data: string | Record<string, unknown> }[];
  const returns = stored.map((r) => (typeof r.data === 'string' ? (JSON.parse(r.data) as Record<string, unknown>) : r.data).returnTo).filter((v) => v !== undefined);
  t.deepEqual(returns, [], 'no unsafe value was stored with a flow');

  // Repeated return parameters are refused too.
  const twice = await new Browser().navigate(`${issuer}/reset?return=${encodeURIComponent('/interaction/abc')}&return=${encodeURIComponent('https://evil.example/')}`);
  t.false(forms(twice).some((f) => 'return' in f.fields));

  // The positive control: an interaction page of this IdP is kept and linked.
  const good = await begin('nobody-xyz', `?return=${encodeURIComponent('/interaction/abc-123_X')}`);
  t.is(formWith(good.identify, '/reset').fields.return, '/interaction/abc-123_X');
  t.regex(good.page.html, /href="\/interaction\/abc-123_X"[^>]*>Back to sign in/);
});
