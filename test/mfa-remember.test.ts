import test from 'ava';
import { startSsprIdp, type SsprTestbed } from './helpers/sspr-idp.ts';
import { discover, authorizationRequest, newBrowser, signIn, redeem, oidc } from './helpers/rp.ts';
import type { Browser, Page } from './helpers/browser.ts';
import { codeIn } from './helpers/register.ts';
import { ACR_MFA, ACR_PASSWORD } from '../src/mfa/policy.ts';
import { DEVICE_COOKIE } from '../src/mfa/devices.ts';

// Remember this device (mfa.rememberDeviceDays): a signed cookie whose token is a revocable record
// of one user's; it stands in for the second factor the policy requires, never for one a relying
// party asks for, and a reset, an administrator's new password or a disable forget it.
// Serial: one test moves the shared clock 31 days on, which would expire the others' codes.

let bed: SsprTestbed;
const DAYS = 30;

test.before(async () => {
  bed = await startSsprIdp(
    {
      enabled: 'all',
      methodsRequired: 1,
      methods: { email: true },
      registration: { requireOnSignIn: false },
      codes: { resendAfterSeconds: 0 },
    },
    { config: { mfa: { require: 'all', rememberDeviceDays: DAYS } } },
  );
});
test.after.always(async () => {
  await bed?.close();
});

const rp = () => discover({ issuer: bed.idp.issuer, clientId: 'confidential-app', clientSecret: 'confidential-app-secret-0123456789' });
const parts = () => bed.idp.idp.parts;
const password = (username: string) => `${username} password 1`;
const email = (username: string) => `${username}.private@example.net`;
const deviceRows = async (userId: string) => parts().store.db('mfa_devices').where({ user_id: userId });
const events = async (userId: string, type: string) => (await parts().store.audit.list({ userId })).filter((e) => e.type === type);
const mfaShown = (page: Page) => page.status === 200 && /Confirm it(&#39;|')s you/.test(page.html);

async function newUser(username: string) {
  const user = await parts().users.create({ username, password: password(username) });
  await parts().store.sspr.putMethod(user.id, 'email', email(username), bed.clock.now());
  return user;
}

/** Authorize (prompt=login: the password every time) and sign in; the page after the password. */
async function passwordStep(browser: Browser, username: string, params: Record<string, string> = {}) {
  const config = await rp();
  const auth = await authorizationRequest(config, { prompt: 'login', ...params });
  const form = await browser.navigate(auth.url.href);
  const page = await signIn(browser, form, username, password(username));
  return { config, auth, page };
}

async function proveEmail(browser: Browser, page: Page, username: string, remember: boolean): Promise<Page> {
  const before = bed.smtp.messages.length;
  const codePage = await browser.submit(page, '/mfa/send', { method: 'email' });
  t_assert(codePage.html.includes(`Don&#39;t ask again on this device for ${DAYS} day(s)`), 'the code form offers to remember the device');
  const mail = await bed.smtp.waitFor((m) => bed.smtp.messages.indexOf(m) >= before && m.to.includes(email(username)));
  return browser.submit(codePage, '/mfa/verify', { method: 'email', code: codeIn(mail.text), ...(remember ? { remember: 'yes' } : {}) });
}

async function claimsOf(config: oidc.Configuration, auth: Awaited<ReturnType<typeof authorizationRequest>>, page: Page) {
  if (page.status !== 0) throw new Error(`did not return to the client: ${page.status} ${page.html.slice(page.html.indexOf("<main"), page.html.indexOf("<main") + 600)}`);
  return (await redeem(config, auth, page.url)).claims()!;
}

/** Signs in with a remembered device: second factor proved, device remembered. */
async function rememberedBrowser(username: string) {
  const browser = newBrowser();
  const { config, auth, page } = await passwordStep(browser, username);
  t_assert(mfaShown(page), 'the second factor is asked the first time');
  const done = await proveEmail(browser, page, username, true);
  const claims = await claimsOf(config, auth, done);
  t_assert(claims.acr === ACR_MFA, 'the first sign-in has the multi-factor level');
  t_assert(browser.cookie(DEVICE_COOKIE) !== undefined && browser.cookie(`${DEVICE_COOKIE}.sig`) !== undefined, 'a signed device cookie');
  return browser;
}
function t_assert(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

test.serial('a remembered device skips the second factor the policy requires, at the password level; the token is stored hashed', async (t) => {
  const user = await newUser('rosa');
  const browser = await rememberedBrowser('rosa');
  const [row] = await deviceRows(user.id);
  t.truthy(row);
  t.not(row.id_hash, browser.cookie(DEVICE_COOKIE), 'only a hash of the token is stored');
  t.is(Number(row.expires_at) - Number(row.created_at), DAYS * 86_400_000);

  const { config, auth, page } = await passwordStep(browser, 'rosa');
  t.false(mfaShown(page), 'no second factor this time');
  const claims = await claimsOf(config, auth, page);
  t.is(claims.acr, ACR_PASSWORD, 'no second factor was proved in this sign-in: the tokens say so');
  t.deepEqual(claims.amr, ['pwd']);
  t.is((await events(user.id, 'mfa.device.remembered')).length, 1);
  t.is((await events(user.id, 'mfa.device.used')).length, 1);
});

test.serial('without ticking the box nothing is remembered', async (t) => {
  const user = await newUser('nina');
  const browser = newBrowser();
  const first = await passwordStep(browser, 'nina');
  await claimsOf(first.config, first.auth, await proveEmail(browser, first.page, 'nina', false));
  t.is(browser.cookie(DEVICE_COOKIE), undefined);
  t.is((await deviceRows(user.id)).length, 0);
  t.true(mfaShown((await passwordStep(browser, 'nina')).page));
});

test.serial("another user's remembered device, a relying party asking for the multi-factor level, and an expired record each get the second factor", async (t) => {
  await newUser('omar');
  const other = await newUser('olga');
  const browser = await rememberedBrowser('omar');

  // Omar's device cookie (token and signature) in another browser, where olga signs in.
  const elsewhere = newBrowser();
  for (const name of [DEVICE_COOKIE, `${DEVICE_COOKIE}.sig`]) elsewhere.setCookie(bed.idp.issuer, `${name}=${browser.cookie(name)}; path=/`);
  const olga = await passwordStep(elsewhere, 'olga');
  t.true(mfaShown(olga.page), "omar's device record is not olga's");
  t.deepEqual((await events(other.id, 'mfa.device.refused')).map((e) => e.details?.reason), ['other_user']);

  const stepUp = await passwordStep(browser, 'omar', { acr_values: ACR_MFA });
  t.true(mfaShown(stepUp.page), 'asked for explicitly, the second factor is proved now');
  const claims = await claimsOf(stepUp.config, stepUp.auth, await proveEmail(browser, stepUp.page, 'omar', false));
  t.is(claims.acr, ACR_MFA);

  bed.clock.advance((DAYS + 1) * 86_400_000);
  try {
    const omar = await parts().users.require('omar');
    const late = await passwordStep(browser, 'omar');
    t.true(mfaShown(late.page), 'an expired record stands in for nothing');
    t.true((await events(omar.id, 'mfa.device.refused')).some((e) => e.details?.reason === 'expired'));
  } finally {
    bed.clock.advance(-(DAYS + 1) * 86_400_000);
  }
});

test.serial("an administrator's new password and a disable forget every remembered device (a disable also ends /security-info sessions)", async (t) => {
  const user = await newUser('ivan');
  const browser = await rememberedBrowser('ivan');
  t.is((await deviceRows(user.id)).length, 1);
  await parts().users.setPassword('ivan', password('ivan'));
  t.is((await deviceRows(user.id)).length, 0);
  const after = await passwordStep(browser, 'ivan');
  t.true(mfaShown(after.page), 'the device is no longer remembered');
  t.deepEqual((await events(user.id, 'mfa.device.refused')).map((e) => e.details?.reason), ['unknown']);

  const user2 = await newUser('dora');
  await rememberedBrowser('dora');
  t.is((await deviceRows(user2.id)).length, 1);
  const now = bed.clock.now();
  await parts().store.accountSessions.create('d'.repeat(64), user2.id, now, now + 3_600_000);
  await parts().users.setStatus('dora', 'disabled');
  t.is((await deviceRows(user2.id)).length, 0);
  t.is(await parts().store.accountSessions.find('d'.repeat(64), now), undefined, 'and every /security-info session');
});

test.serial('a self-service reset forgets every remembered device', async (t) => {
  const user = await newUser('rene');
  await rememberedBrowser('rene');
  t.is((await deviceRows(user.id)).length, 1);
  // The reset's store step, as the recovery flow finishes it (the flow itself is tested in recover.test.ts).
  const hash = (await parts().store.users.findById(user.id))!.passwordHash!;
  await parts().store.users.resetPassword(user.id, hash, bed.clock.now());
  t.is((await deviceRows(user.id)).length, 0);
});
