import test from 'ava';
import { startSsprIdp, type SsprTestbed } from './helpers/sspr-idp.ts';
import { discover, authorizationRequest, newBrowser, signIn, redeem, oidc } from './helpers/rp.ts';
import { Browser, type Page } from './helpers/browser.ts';
import { registerEmail, registerPasskey } from './helpers/register.ts';
import { SoftAuthenticator, passkeyOptions } from './helpers/webauthn.ts';
import { parseCredential, slotOf } from '../src/methods/passkey/webauthn.ts';
import { ACR_MFA, ACR_PASSWORD } from '../src/mfa/policy.ts';

// Signing in with a passkey (discoverable, user verification required): the multi-factor level on
// its own; a passkey as the second factor after the password and for step-up; the registration
// interrupt; a cloned authenticator and every kind of bad answer refused with a clear page.

let bed: SsprTestbed;

test.before(async () => {
  bed = await startSsprIdp(
    {
      enabled: 'selected',
      groups: ['Staff'],
      methodsRequired: 2,
      methods: { email: true, authenticatorApp: true, passkey: true },
      registration: { requireOnSignIn: true },
      codes: { resendAfterSeconds: 0 },
    },
    { host: 'localhost', config: { mfa: { require: 'selected', groups: ['Finance'] } } },
  );
});
test.after.always(async () => {
  await bed?.close();
});

const parts = () => bed.idp.idp.parts;
const origin = () => new URL(bed.idp.issuer).origin;
const rp = () => discover({ issuer: bed.idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
type Request = Parameters<SoftAuthenticator['get']>[0] & { allowCredentials?: { id: string }[]; userVerification?: string };

/** A user with a passkey (registered on /security-info) and an email. */
async function withPasskey(username: string, groups: string[] = [], o: Parameters<SoftAuthenticator['create']>[1] = {}) {
  const user = await parts().users.create({ username, password: `${username} password 1` });
  for (const g of groups) await parts().users.addToGroup(username, g);
  await parts().store.sspr.putMethod(user.id, 'email', `${username}@example.net`, bed.clock.now());
  await parts().store.sspr.recordConfirmation(user.id, bed.clock.now());
  const browser = new Browser();
  const form = await browser.navigate(`${bed.idp.issuer}/security-info`);
  const overview = await browser.submit(form, '/security-info/login', { username, password: `${username} password 1` });
  const authenticator = new SoftAuthenticator(origin());
  const { response } = await registerPasskey(browser, overview, authenticator, 'Laptop', o);
  return { user, authenticator, credentialId: response.id };
}

async function signInPage(params: Record<string, string> = {}, browser: Browser = newBrowser()) {
  const config = await rp();
  const auth = await authorizationRequest(config, params);
  const page = await browser.navigate(auth.url.href);
  return { config, auth, page, browser };
}

async function tokensFrom(config: oidc.Configuration, auth: Awaited<ReturnType<typeof authorizationRequest>>, page: Page) {
  if (page.status !== 0) throw new Error(`did not return to the client: ${page.status} ${page.html.slice(0, 1500)}`);
  return redeem(config, auth, page.url);
}

const answer = (page: Page, authenticator: SoftAuthenticator, o: Parameters<SoftAuthenticator['get']>[1] = {}) => JSON.stringify(authenticator.get(passkeyOptions<Request>(page.html, 'authenticate'), o));
const events = async (userId: string, type: string) => (await parts().store.audit.list({ userId })).filter((e) => e.type === type);

test('sign in with a passkey: no username or password, the multi-factor level, no second-factor prompt; counter and last use stored', async (t) => {
  const { user, authenticator, credentialId } = await withPasskey('petra', ['Staff', 'Finance']);
  const { config, auth, page, browser } = await signInPage();
  t.regex(page.html, /Sign in with a passkey/);
  t.regex(page.html, /name="password"/, 'the password path stays');
  const options = passkeyOptions<Request>(page.html, 'authenticate');
  t.deepEqual(options.allowCredentials ?? [], [], 'discoverable: any passkey of this site');
  t.is(options.userVerification, 'required');
  const done = await browser.submit(page, '/passkey', { response: answer(page, authenticator) });
  const claims = (await tokensFrom(config, auth, done)).claims()!;
  t.is(claims.sub, user.id);
  t.is(claims.acr, ACR_MFA);
  t.deepEqual(claims.amr, ['hwk', 'user', 'mfa']);
  const stored = parseCredential((await parts().store.passkeys.find(slotOf(credentialId)))!.value);
  t.is(stored.counter, 1);
  t.is(typeof stored.lastUsedAt, 'number');
  t.true((await events(user.id, 'signin.success')).some((e) => e.details?.via === 'passkey'));
});

test('a synced passkey signs in as a software-held key (swk)', async (t) => {
  const { authenticator } = await withPasskey('sina', ['Staff'], { synced: true });
  const { config, auth, page, browser } = await signInPage();
  const done = await browser.submit(page, '/passkey', { response: answer(page, authenticator) });
  t.deepEqual((await tokensFrom(config, auth, done)).claims()!.amr, ['swk', 'user', 'mfa']);
});

test('a counter that goes back (a cloned authenticator) is refused and audited; the stored counter stays', async (t) => {
  const { user, authenticator, credentialId } = await withPasskey('clara', ['Staff']);
  const first = await signInPage();
  await tokensFrom(first.config, first.auth, await first.browser.submit(first.page, '/passkey', { response: answer(first.page, authenticator, { counter: 5 }) }));
  for (const counter of [5, 3]) {
    const { page, browser } = await signInPage();
    const refused = await browser.submit(page, '/passkey', { response: answer(page, authenticator, { counter }) });
    t.is(refused.status, 400);
    t.regex(refused.html, /looks copied/);
    t.regex(refused.html, /name="password"/, 'still on the sign-in page');
  }
  t.is(parseCredential((await parts().store.passkeys.find(slotOf(credentialId)))!.value).counter, 5);
  const clones = await events(user.id, 'passkey.clone_suspected');
  t.is(clones.length, 2);
  t.is(clones[0]!.details?.stored, 5);
});

test.serial('bad answers at the sign-in page: malformed, replayed, another origin or RP ID, unverified, another flow, expired, unknown or disabled: 400, nothing signed in', async (t) => {
  const { authenticator, user } = await withPasskey('bert', ['Staff']);
  const refusedWith = async (make: (page: Page) => string, before?: (page: Page) => Promise<void>) => {
    const { page, browser } = await signInPage();
    await before?.(page);
    const refused = await browser.submit(page, '/passkey', { response: make(page) });
    t.is(refused.status, 400);
    t.regex(refused.html, /name="password"/);
    t.regex(refused.html, /role="alert"/);
    return refused;
  };
  await refusedWith(() => '');
  await refusedWith(() => '{"id":1}');
  await refusedWith(() => 'x'.repeat(20_000));
  await refusedWith((p) => answer(p, authenticator, { origin: 'https://evil.example' }));
  await refusedWith((p) => answer(p, authenticator, { rpId: 'evil.example' }));
  await refusedWith((p) => answer(p, authenticator, { uv: false }));
  await refusedWith((p) => answer(p, authenticator, { type: 'webauthn.create' }));
  // A signature that doesn't match, and a user handle naming another account.
  await refusedWith((p) => {
    const r = JSON.parse(answer(p, authenticator)) as { response: { signature: string } };
    const sig = Buffer.from(r.response.signature, 'base64url');
    sig.writeUInt8(sig.readUInt8(sig.length - 1) ^ 1, sig.length - 1);
    r.response.signature = sig.toString('base64url');
    return JSON.stringify(r);
  });
  await refusedWith((p) => {
    const r = JSON.parse(answer(p, authenticator)) as { response: { userHandle: string } };
    r.response.userHandle = Buffer.from('someone-else', 'utf8').toString('base64url');
    return JSON.stringify(r);
  });
  // Replayed: the answer that signed in once, posted again to a fresh page.
  const used = await signInPage();
  const good = answer(used.page, authenticator);
  await tokensFrom(used.config, used.auth, await used.browser.submit(used.page, '/passkey', { response: good }));
  await refusedWith(() => good);
  // The challenge of another sign-in page.
  const other = await signInPage();
  await refusedWith(() => answer(other.page, authenticator));
  // Expired.
  await refusedWith((p) => answer(p, authenticator), async () => bed.clock.advance(6 * 60_000));
  // A passkey this IdP doesn't know.
  const stranger = new SoftAuthenticator(origin());
  stranger.create({ challenge: 'x', rp: { id: 'localhost' }, user: { id: 'bm9ib2R5' } });
  await refusedWith((p) => answer(p, stranger));
  const reasons = (await events(user.id, 'passkey.authenticate.refused')).map((e) => e.details?.reason);
  t.deepEqual(reasons, ['not_verified', 'not_verified', 'not_verified', 'not_verified', 'not_verified', 'other_user']);
  // A disabled account's passkey.
  await parts().users.setStatus('bert', 'disabled');
  await refusedWith((p) => answer(p, authenticator));
  t.is((await events(user.id, 'signin.failure')).at(-1)?.details?.reason, 'not_enabled');
});

test('the registration interrupt: a passkey registered there counts like the authenticator app, together with the email', async (t) => {
  const user = await parts().users.create({ username: 'ines', password: 'ines password 1' });
  await parts().users.addToGroup('ines', 'Staff');
  const { config, auth, page: form, browser } = await signInPage();
  const overview = await signIn(browser, form, 'ines', 'ines password 1');
  t.regex(overview.html, /methods\/passkey/);
  const authenticator = new SoftAuthenticator(origin());
  const { page: afterPasskey } = await registerPasskey(browser, overview, authenticator, 'Phone');
  t.regex(afterPasskey.html, /1 passkey/);
  t.regex(afterPasskey.html, /<button type="submit" disabled>/, 'a passkey alone is not enough');
  const afterEmail = await registerEmail(browser, afterPasskey, bed.smtp, 'ines@example.net');
  const done = await browser.submit(afterEmail, '/finish');
  t.is((await tokensFrom(config, auth, done)).claims()!.sub, user.id);
  t.deepEqual((await events(user.id, 'sspr.registration.completed'))[0]?.details?.methods, 'email passkey');
});

test('a passkey as the second factor after the password, and for step-up without the password again', async (t) => {
  const { user, authenticator } = await withPasskey('fiona', ['Staff', 'Finance']);
  const { config, auth, page: form, browser } = await signInPage();
  const prompt = await signIn(browser, form, 'fiona', 'fiona password 1');
  t.regex(prompt.html, /Confirm it(&#39;|')s you/);
  t.regex(prompt.html, /Use my passkey/, 'the strongest second factor first');
  const options = passkeyOptions<Request>(prompt.html, 'authenticate');
  t.is(options.allowCredentials?.length, 1, "only the user's own passkeys");
  // Another user's passkey is refused here.
  const other = await withPasskey('otto', ['Staff']);
  const wrong = await browser.submit(prompt, '/mfa/verify', { method: 'passkey', response: JSON.stringify(other.authenticator.get({ ...options, allowCredentials: [] })) });
  t.is(wrong.status, 400);
  t.is((await events(user.id, 'passkey.authenticate.refused')).at(-1)?.details?.reason, 'other_user');
  const done = await browser.submit(wrong, '/mfa/verify', { method: 'passkey', response: answer(wrong, authenticator) });
  const claims = (await tokensFrom(config, auth, done)).claims()!;
  t.is(claims.acr, ACR_MFA);
  t.deepEqual(claims.amr, ['pwd', 'hwk', 'mfa']);

  // Step-up: a password-only session (not in Finance) asked for the multi-factor level.
  const { authenticator: key2 } = await withPasskey('sam', ['Staff']);
  const first = await signInPage();
  const firstDone = await signIn(first.browser, first.page, 'sam', 'sam password 1');
  t.is((await tokensFrom(first.config, first.auth, firstDone)).claims()!.acr, ACR_PASSWORD);
  const again = await signInPage({ acr_values: ACR_MFA }, first.browser);
  t.notRegex(again.page.html, /name="password"/, 'no new password');
  const stepped = await first.browser.submit(again.page, '/mfa/verify', { method: 'passkey', response: answer(again.page, key2) });
  const up = (await tokensFrom(again.config, again.auth, stepped)).claims()!;
  t.is(up.acr, ACR_MFA);
  t.deepEqual(up.amr, ['pwd', 'hwk', 'mfa']);
});

test('a second factor posted without the first is refused', async (t) => {
  const { authenticator, user } = await withPasskey('nora', ['Staff', 'Finance']);
  const { page, browser } = await signInPage();
  // Even with a valid token for the second-factor form, at the sign-in prompt it is the wrong step.
  const uid = /\/interaction\/([^/?]+)/.exec(page.url)![1]!;
  const csrf = parts().csrf.token(uid, 'mfa');
  const refused = await browser.request(`${bed.idp.issuer}/interaction/${uid}/mfa/verify`, { method: 'POST', form: { csrf, method: 'passkey', response: answer(page, authenticator) } });
  t.is(refused.status, 400);
  t.regex(refused.html, /<h1>/);
  t.is((await events(user.id, 'mfa.success')).length, 0);
});

test.serial('failed passkey sign-ins count against the address like failed passwords; past the limit even a good passkey is refused', async (t) => {
  const { authenticator, user } = await withPasskey('ivo', ['Staff']);
  const config = parts().config;
  const previous = config.current;
  config.replace({ ...previous, throttle: { ...previous.throttle, signinPerIp: 3 } });
  try {
    for (let i = 0; i < 3; i += 1) {
      const { page, browser } = await signInPage();
      t.is((await browser.submit(page, '/passkey', { response: '{}' })).status, 400);
    }
    const { page, browser } = await signInPage();
    const refused = await browser.submit(page, '/passkey', { response: answer(page, authenticator) });
    t.is(refused.status, 400);
    t.true((await parts().store.audit.list({ type: 'signin.failure' })).some((e) => e.details?.reason === 'ip_throttled' && e.details?.via === 'passkey'));
    t.false((await events(user.id, 'signin.success')).some((e) => e.details?.via === 'passkey'));
  } finally {
    config.replace(previous);
  }
});
