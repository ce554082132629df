/**
 * Hardening of "Can't access your account?" (issue 13): the authenticator code typed at
 * registration is used up there and can't prove a reset; a flow whose account leaves SSPR's scope
 * (or is disabled) meanwhile refuses every further step and changes nothing.
 */
import test from 'ava';
import { ssprBed } from './helpers/sspr-idp.ts';
import { Browser, type Page } from './helpers/browser.ts';
import { codeIn, registerAuthenticator } from './helpers/register.ts';
import { totpCodeAt, totpStep } from '../src/security/totp.ts';

const bed = ssprBed({
  enabled: 'selected',
  groups: ['Staff'],
  methodsRequired: 1,
  methods: { email: true, mobilePhone: false, authenticatorApp: true },
  registration: { requireOnSignIn: false },
  captcha: { enabled: false },
  codes: { resendAfterSeconds: 0 },
});

const parts = () => bed.idp.idp.parts;
const codeOn = (page: Page) => /Error code: ([A-Z_]+)/.exec(page.html)?.[1];

async function staff(username: string) {
  const user = await parts().users.create({ username, password: `${username} old password` });
  await parts().users.addToGroup(username, 'Staff');
  await parts().store.sspr.putMethod(user.id, 'email', `${username}@example.net`, bed.clock.now());
  return user;
}

async function begin(username: string): Promise<{ browser: Browser; page: Page }> {
  const browser = new Browser();
  const page = await browser.submit(await browser.navigate(`${bed.idp.issuer}/reset`), '/reset', { username });
  return { browser, page };
}

/** Starts a reset and proves the email method; returns the "choose a new password" page. */
async function verified(username: string): Promise<{ browser: Browser; page: Page }> {
  const { browser, page } = await begin(username);
  const before = bed.smtp.messages.length;
  const codePage = await browser.submit(page, '/reset/flow/method', { method: 'email' });
  const mail = await bed.smtp.waitFor((m) => bed.smtp.messages.indexOf(m) >= before && m.to.includes(`${username}@example.net`));
  const next = await browser.submit(codePage, '/reset/flow/answer', { code: codeIn(mail.text) });
  if (!/Choose a new password/.test(next.html)) throw new Error(`not at the password step: ${next.html.slice(0, 500)}`);
  return { browser, page: next };
}

test.serial('the authenticator code accepted at registration is used up: replaying it at reset is refused', async (t) => {
  await staff('tom');
  const browser = new Browser();
  const overview = await browser.submit(await browser.navigate(`${bed.idp.issuer}/security-info`), '/security-info/login', { username: 'tom', password: 'tom old password' });
  const step = totpStep(bed.clock.now());
  const { page: registered, secret } = await registerAuthenticator(browser, overview, bed.clock.now());
  t.regex(registered.html, /App connected/);

  const { browser: resetter, page } = await begin('tom');
  const appPage = await resetter.submit(page, '/reset/flow/method', { method: 'authenticatorApp' });
  const replay = await resetter.submit(appPage, '/reset/flow/answer', { code: totpCodeAt(secret, step) });
  t.regex(replay.html, /isn(&#39;|')t right/, 'the code typed at registration does not prove the reset');
  t.notRegex(replay.html, /Choose a new password/);
});

test.serial('removed from the SSPR group after verifying: the new password is refused and nothing changes', async (t) => {
  const user = await staff('una');
  const { browser, page } = await verified('una');
  await parts().users.removeFromGroup('una', 'Staff');
  const refused = await browser.submit(page, '/reset/flow/password', { password: 'una brand new password', confirm: 'una brand new password' });
  t.is(codeOn(refused), 'SSPR_NOT_ENABLED');
  t.is((await parts().users.byId(user.id))!.passwordHash, user.passwordHash, 'the password is unchanged');
  t.true((await parts().users.signIn('una', 'una old password')).ok, 'the old password still signs in');
  t.deepEqual(await parts().store.audit.list({ type: 'sspr.reset.completed', userId: user.id }), []);
});

test.serial('taken out of scope while verifying: choosing a method refuses and sends nothing', async (t) => {
  const user = await staff('vic');
  const { browser, page } = await begin('vic');
  await parts().users.removeFromGroup('vic', 'Staff');
  const before = bed.smtp.messages.length;
  const refused = await browser.submit(page, '/reset/flow/method', { method: 'email' });
  t.is(codeOn(refused), 'SSPR_NOT_ENABLED');
  t.is(bed.smtp.messages.length, before, 'no code was sent');
  const [failed] = await parts().store.audit.list({ type: 'sspr.reset.failed', userId: user.id });
  t.is(failed?.details?.reason, 'not_enabled');
});

test.serial('disabled after verifying: the new password is refused', async (t) => {
  const user = await staff('wes');
  const { browser, page } = await verified('wes');
  await parts().users.setStatus('wes', 'disabled');
  const refused = await browser.submit(page, '/reset/flow/password', { password: 'wes brand new password', confirm: 'wes brand new password' });
  t.not(codeOn(refused), undefined, 'a refusal page');
  t.is((await parts().users.byId(user.id))!.passwordHash, user.passwordHash);
});
