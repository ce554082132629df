/** Reset with writeback to a real slapd: Password Modify, ppolicy refusals shown in en and nl and retried, the directory down mid-writeback. */
import test from 'ava';
import { startIdp, type RunningIdp } from './helpers/idp.ts';
import { Browser, type Page } from './helpers/browser.ts';
import { codeIn } from './helpers/register.ts';
import { DirectoryClient } from '../src/directory/client.ts';
import { startSlapd, BASE_DN, SERVICE_DN, SERVICE_PASSWORD, userDn, type TestSlapd } from './helpers/slapd.ts';

let slapd: TestSlapd;
let idp: RunningIdp;

test.before(async () => {
  slapd = await startSlapd();
  idp = await startIdp({
    config: {
      directory: { url: slapd.url, bindDn: SERVICE_DN, bindPassword: SERVICE_PASSWORD, baseDn: BASE_DN, groupBaseDn: `ou=groups,${BASE_DN}`, mode: 'writable', syncIntervalMinutes: 0, timeouts: { connectSeconds: 2, operationSeconds: 5 } },
      sspr: { enabled: 'all', methods: { email: true }, captcha: { enabled: false }, codes: { resendAfterSeconds: 0 }, onPremises: { passwordWriteback: true, allowUnlockWithoutReset: true } },
    },
  });
  await idp.idp.parts.directory!.settled();
  for (const name of ['alice', 'zoë', 'bob', 'nomail']) {
    const user = (await idp.idp.parts.users.find(name))!;
    await idp.idp.parts.store.sspr.putMethod(user.id, 'email', `${user.id}@example.net`, Date.now());
  }
});
test.after.always(async () => {
  await idp?.close();
  await slapd?.stop();
});

async function throughVerification(username: string, lang = 'en'): Promise<{ browser: Browser; page: Page }> {
  const browser = new Browser();
  const form = await browser.navigate(`${idp.issuer}/reset?lang=${lang}`);
  const flow = await browser.submit(form, '/reset', { username });
  const codePage = await browser.submit(flow, '/reset/flow/method', { method: 'email' });
  const user = (await idp.idp.parts.users.find(username))!;
  const [latest] = await idp.idp.parts.store.outbox.latest({ userId: user.id }, 1);
  const page = await browser.submit(codePage, '/reset/flow/answer', { code: codeIn(latest!.body) });
  return { browser, page };
}

const directory = () => new DirectoryClient(idp.config.directory!);

test.serial('a reset writes the new password to the directory (RFC 3062), keeps no hash of it here, ends sessions; the user signs in with it there', async (t) => {
  const before = (await idp.idp.parts.users.find('alice'))!;
  await idp.idp.parts.store.oidc.upsert('AccessToken', 'tok-alice', { accountId: before.id, grantId: 'grant-alice' }, Date.now() + 3_600_000);
  const { browser, page } = await throughVerification('alice');
  const done = await browser.submit(page, '/reset/flow/password', { password: 'granite willow ferry', confirm: 'granite willow ferry' });
  t.regex(done.html, /Your password has been reset/);
  const after = (await idp.idp.parts.users.find('alice'))!;
  t.is(after.passwordHash, null, 'no local hash of a directory password');
  t.truthy(after.passwordChangedAt);
  t.is(await idp.idp.parts.store.oidc.find('AccessToken', 'tok-alice', Date.now()), undefined, 'the reset ended the tokens');
  t.true(await directory().verifyPassword(userDn('alice'), 'granite willow ferry'));
  t.false(await directory().verifyPassword(userDn('alice'), 'alice directory pw 1'));
  t.true((await idp.idp.parts.users.signIn('alice', 'granite willow ferry')).ok);
});

test.serial('a password in the directory history, or too short for its policy, is refused with what to change (en and nl); nothing changes; the flow can try again', async (t) => {
  const { browser, page } = await throughVerification('alice');
  const refused = await browser.submit(page, '/reset/flow/password', { password: 'granite willow ferry', confirm: 'granite willow ferry' });
  t.is(refused.status, 400);
  t.regex(refused.html, /because you used it recently/);
  t.true(await directory().verifyPassword(userDn('alice'), 'granite willow ferry'), 'the directory is unchanged');
  const audit = await idp.idp.parts.store.audit.list({ type: 'sspr.reset.failed' });
  t.is(audit.at(-1)?.details?.reason, 'writeback_refused');
  const retry = await browser.submit(refused, '/reset/flow/password', { password: 'copper lantern meadow', confirm: 'copper lantern meadow' });
  t.regex(retry.html, /Your password has been reset/);
  const nl = await throughVerification('zoë', 'nl');
  const weak = await nl.browser.submit(nl.page, '/reset/flow/password', { password: 'qwhxzp8k', confirm: 'qwhxzp8k' });
  t.is(weak.status, 400);
  t.regex(weak.html, /te zwak: maak het langer/);
});

test.serial('slapd killed before the writeback (nothing listening): DIRECTORY_UNREACHABLE (503), nothing changed, the flow can try again', async (t) => {
  const { browser, page } = await throughVerification('alice');
  await slapd.kill();
  let failed;
  try {
    failed = await browser.submit(page, '/reset/flow/password', { password: 'amber harbour violin', confirm: 'amber harbour violin' });
  } finally {
    await slapd.restart();
  }
  t.is(failed.status, 503);
  t.regex(failed.html, /DIRECTORY_UNREACHABLE/);
  t.true(await directory().verifyPassword(userDn('alice'), 'copper lantern meadow'));
  const retry = await browser.submit(page, '/reset/flow/password', { password: 'amber harbour violin', confirm: 'amber harbour violin' });
  t.regex(retry.html, /Your password has been reset/);
  t.true(await directory().verifyPassword(userDn('alice'), 'amber harbour violin'));
});

/** Resolves when the user's reset flow is in `state` (the claim before the directory is written). */
async function flowIn(userId: string, state: string): Promise<void> {
  while (!(await idp.idp.parts.store.db('reset_flows').where({ user_id: userId, state }).first())) await new Promise((r) => setTimeout(r, 20));
}

test.serial('slapd killed in the middle of a writeback: a clear 503 page, nothing changed here or there, the flow tries again', async (t) => {
  const alice = (await idp.idp.parts.users.find('alice'))!;
  await idp.idp.parts.store.oidc.upsert('AccessToken', 'tok-alice-2', { accountId: alice.id, grantId: 'grant-alice-2' }, Date.now() + 3_600_000);
  const { browser, page } = await throughVerification('alice');
  // slapd stops answering: the writeback's connection is accepted and its request waits.
  slapd.pause();
  let failed;
  try {
    const pending = browser.submit(page, '/reset/flow/password', { password: 'saffron glacier piano', confirm: 'saffron glacier piano' });
    await flowIn(alice.id, 'finishing');
    await slapd.kill();
    failed = await pending;
  } finally {
    await slapd.restart();
  }
  t.is(failed.status, 503);
  t.regex(failed.html, /DIRECTORY_UNREACHABLE/);
  t.is(failed.headers.get('retry-after'), '5');
  const after = (await idp.idp.parts.users.find('alice'))!;
  t.is(after.passwordHash, null);
  t.is(after.passwordChangedAt, alice.passwordChangedAt, 'nothing changed here');
  t.truthy(await idp.idp.parts.store.oidc.find('AccessToken', 'tok-alice-2', Date.now()), 'sessions and tokens untouched');
  t.true(await directory().verifyPassword(userDn('alice'), 'amber harbour violin'), 'the directory still has the previous password');
  const audit = await idp.idp.parts.store.audit.list({ type: 'sspr.reset.failed', userId: alice.id });
  t.deepEqual(audit.at(-1)?.details, { reason: 'writeback', directoryError: 'DIRECTORY_UNREACHABLE' });
  const retry = await browser.submit(page, '/reset/flow/password', { password: 'saffron glacier piano', confirm: 'saffron glacier piano' });
  t.regex(retry.html, /Your password has been reset/);
  t.true(await directory().verifyPassword(userDn('alice'), 'saffron glacier piano'));
});

test.serial('a user locked only in the directory (ppolicy) can just unlock through "Can\'t access your account?"', async (t) => {
  const dn = userDn('bob');
  for (let i = 0; i < 3; i += 1) t.false(await directory().verifyPassword(dn, 'wrong'));
  t.true(await directory().isLocked(dn));
  const bob = (await idp.idp.parts.users.find('bob'))!;
  t.is(bob.lockedUntil, null, 'not locked here');
  const { browser, page } = await throughVerification('bob');
  t.regex(page.html, /Unlock or reset/);
  const done = await browser.submit(page, '/reset/flow/decide', { choice: 'unlock' });
  t.regex(done.html, /Your account is unlocked/);
  t.false(await directory().isLocked(dn));
  t.false(await directory().verifyPassword(dn, 'wrong again'), 'the failure count started over: one wrong password does not lock');
  t.false(await directory().isLocked(dn));
  t.true(await directory().verifyPassword(dn, 'bob directory pw 1'), 'unlocked with the password it had');
  t.truthy((await idp.idp.parts.store.audit.list({ type: 'sspr.unlocked', userId: bob.id })).at(-1));
});

test.serial('a reset unlocks a directory lock too', async (t) => {
  const dn = userDn('nomail');
  for (let i = 0; i < 3; i += 1) await directory().verifyPassword(dn, 'wrong');
  t.true(await directory().isLocked(dn));
  const { browser, page } = await throughVerification('nomail');
  const password = await browser.submit(page, '/reset/flow/decide', { choice: 'reset' });
  const done = await browser.submit(password, '/reset/flow/password', { password: 'walnut canyon breeze', confirm: 'walnut canyon breeze' });
  t.regex(done.html, /Your password has been reset/);
  t.false(await directory().isLocked(dn));
  t.true(await directory().verifyPassword(dn, 'walnut canyon breeze'));
  t.is((await idp.idp.parts.users.find('nomail'))!.passwordHash, null);
});

test.serial('an account an administrator locked in the directory is neither unlocked nor reset here (DIRECTORY_LOCKED_BY_ADMIN)', async (t) => {
  const dn = userDn('zoë');
  slapd.modify(`dn: ${dn}\nchangetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n`);
  try {
    t.false(await directory().isLocked(dn), 'not a lockout after failures');
    const { browser, page } = await throughVerification('zoë');
    const refused = await browser.submit(page, '/reset/flow/password', { password: 'velvet thunder orchard', confirm: 'velvet thunder orchard' });
    t.is(refused.status, 403);
    t.regex(refused.html, /DIRECTORY_LOCKED_BY_ADMIN/);
    t.regex(slapd.search(dn, '(objectClass=*)', 'pwdAccountLockedTime'), /pwdAccountLockedTime: 000001010000Z/, 'the lock stays');
    t.is((await idp.idp.parts.users.find('zoë'))!.passwordHash, null);
  } finally {
    slapd.modify(`dn: ${dn}\nchangetype: modify\ndelete: pwdAccountLockedTime\n`);
  }
});

test.serial('an on-premises account the directory sync did not link is refused at the start (SSPR_ONPREM_MANAGED), not after verifying', async (t) => {
  const local = await idp.idp.parts.users.create({ username: 'onprem-local', password: 'local old password', passwordSource: 'onpremises' });
  await idp.idp.parts.store.sspr.putMethod(local.id, 'email', 'onprem-local@example.net', Date.now());
  const browser = new Browser();
  const refused = await browser.submit(await browser.navigate(`${idp.issuer}/reset`), '/reset', { username: 'onprem-local' });
  t.regex(refused.html, /SSPR_ONPREM_MANAGED/);
  t.is((await idp.idp.parts.store.audit.list({ type: 'sspr.reset.started', userId: local.id })).at(-1)?.details?.reason, 'onprem_managed');
});

test.serial('slapd gone at "unlock": DIRECTORY_UNREACHABLE (503), audited, still locked, the choice can be made again', async (t) => {
  const dn = userDn('bob');
  for (let i = 0; i < 3; i += 1) await directory().verifyPassword(dn, 'wrong');
  t.true(await directory().isLocked(dn));
  const bob = (await idp.idp.parts.users.find('bob'))!;
  const { browser, page } = await throughVerification('bob');
  t.regex(page.html, /Unlock or reset/);
  await slapd.kill();
  let failed;
  try {
    failed = await browser.submit(page, '/reset/flow/decide', { choice: 'unlock' });
  } finally {
    await slapd.restart();
  }
  t.is(failed.status, 503);
  t.regex(failed.html, /DIRECTORY_UNREACHABLE/);
  t.deepEqual((await idp.idp.parts.store.audit.list({ type: 'sspr.unlock.failed', userId: bob.id })).at(-1)?.details, { reason: 'writeback', directoryError: 'DIRECTORY_UNREACHABLE' });
  t.true(await directory().isLocked(dn));
  const done = await browser.submit(page, '/reset/flow/decide', { choice: 'unlock' });
  t.regex(done.html, /Your account is unlocked/);
  t.false(await directory().isLocked(dn));
});
