import test from 'ava';
import { ssprBed } from './helpers/sspr-idp.ts';
import { Browser, type Page } from './helpers/browser.ts';
import { codeIn, registerPasskey } from './helpers/register.ts';
import { SoftAuthenticator, passkeyOptions } from './helpers/webauthn.ts';

// A passkey proves who you are at "Can't access your account?": one proof, counted like the
// authenticator app (never enough registered on its own), with the flow's limit on wrong answers
// and the audit trail of every other method.

const bed = ssprBed(
  {
    enabled: 'all', methodsRequired: 2, methods: { email: true, authenticatorApp: true, passkey: true },
    registration: { requireOnSignIn: false }, captcha: { enabled: false }, codes: { resendAfterSeconds: 0, maxAttempts: 3 },
  },
  { host: 'localhost' },
);

const parts = () => bed.idp.idp.parts;
type Request = Parameters<SoftAuthenticator['get']>[0];

async function withPasskey(username: string, email = true) {
  const user = await parts().users.create({ username, password: `${username} old password` });
  if (email) await parts().store.sspr.putMethod(user.id, 'email', `${username}@example.net`, bed.clock.now());
  const browser = new Browser();
  const form = await browser.navigate(`${bed.idp.issuer}/security-info`);
  const overview = await browser.submit(form, '/security-info/login', { username, password: `${username} old password` });
  const authenticator = new SoftAuthenticator(new URL(bed.idp.issuer).origin);
  await registerPasskey(browser, overview, authenticator, 'Laptop');
  return { user, authenticator };
}

async function begin(username: string): Promise<{ browser: Browser; page: Page }> {
  const browser = new Browser();
  const form = await browser.navigate(`${bed.idp.issuer}/reset`);
  return { browser, page: await browser.submit(form, '/reset', { username }) };
}

const answer = (page: Page, authenticator: SoftAuthenticator, o: Parameters<SoftAuthenticator['get']>[1] = {}) => JSON.stringify(authenticator.get(passkeyOptions<Request>(page.html, 'authenticate'), o));
const events = async (userId: string, type: string) => (await parts().store.audit.list({ userId })).filter((e) => e.type === type);

test('a reset proven with a passkey and an emailed code', async (t) => {
  const { user, authenticator } = await withPasskey('petra');
  const { browser, page } = await begin('petra');
  t.regex(page.html, /Use one of my passkeys/);
  const challenge = await browser.submit(page, '/reset/flow/method', { method: 'passkey' });
  t.is(challenge.status, 200);
  const options = passkeyOptions<Request & { allowCredentials: { id: string }[]; userVerification: string }>(challenge.html, 'authenticate');
  t.is(options.allowCredentials.length, 1);
  t.is(options.userVerification, 'required');
  const next = await browser.submit(challenge, '/reset/flow/answer', { response: answer(challenge, authenticator) });
  t.is(next.status, 200);
  t.notRegex(next.html, /Use one of my passkeys/, 'proven: not offered again');
  const before = bed.smtp.messages.length;
  const codePage = await browser.submit(next, '/reset/flow/method', { method: 'email' });
  const mail = await bed.smtp.waitFor((m) => bed.smtp.messages.indexOf(m) >= before && m.to.includes('petra@example.net'));
  const password = await browser.submit(codePage, '/reset/flow/answer', { code: codeIn(mail.text) });
  const done = await browser.submit(password, '/reset/flow/password', { password: 'a brand new passphrase 42', confirm: 'a brand new passphrase 42' });
  t.is(done.status, 200);
  t.true((await parts().users.signIn('petra', 'a brand new passphrase 42')).ok);
  const steps = await events(user.id, 'sspr.reset.step');
  t.true(steps.some((e) => e.outcome === 'success' && e.details?.method === 'passkey'));
  t.is((await events(user.id, 'sspr.reset.completed'))[0]?.details?.methods, 'passkey email');
});

test('a passkey and the authenticator app are not enough registered: like the app, a passkey never counts alone', async (t) => {
  await withPasskey('arno', false);
  const { page } = await begin('arno');
  t.regex(page.html, /SSPR_NOT_REGISTERED/);
  t.notRegex(page.html, /Use one of my passkeys/);
});

test("another user's passkey, another flow's challenge, a replay, an unverified answer: refused, counted, audited; the limit ends the method", async (t) => {
  const { user, authenticator } = await withPasskey('rudi');
  const other = await withPasskey('sven');
  const { browser, page } = await begin('rudi');
  const challenge = await browser.submit(page, '/reset/flow/method', { method: 'passkey' });
  const options = passkeyOptions<Request>(challenge.html, 'authenticate');
  const foreign = await browser.submit(challenge, '/reset/flow/answer', { response: JSON.stringify(other.authenticator.get({ ...options, allowCredentials: [] })) });
  t.is(foreign.status, 400);
  t.regex(foreign.html, /couldn(&#39;|')t be checked/);
  const elsewhere = await begin('rudi');
  const elsewherePage = await elsewhere.browser.submit(elsewhere.page, '/reset/flow/method', { method: 'passkey' });
  const crossed = await browser.submit(foreign, '/reset/flow/answer', { response: answer(elsewherePage, authenticator) });
  t.is(crossed.status, 400);
  const refusals = (await events(user.id, 'passkey.authenticate.refused')).map((e) => e.details?.reason);
  t.deepEqual(refusals, ['other_user', 'challenge_other_flow']);
  t.deepEqual((await events(user.id, 'sspr.reset.step')).filter((e) => e.outcome === 'failure').length, 2);
  // The third wrong answer wears the method out (codes.maxAttempts: 3): it is no longer offered.
  const third = await browser.submit(crossed, '/reset/flow/answer', { response: answer(crossed, authenticator, { uv: false }) });
  t.regex(third.html, /SSPR_TOO_MANY_ATTEMPTS/, 'with the email alone two proofs are out of reach: the flow ends');
  t.notRegex(third.html, /passkey-options-authenticate/);
});
