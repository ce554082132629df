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
      sspr: { enabled: 'all', methods: { email: true }, captcha: { enabled: false }, codes: { resendAfterSeconds: 0 }, onPremises: { passwordWriteback: true } },
    },
  });
  await idp.idp.parts.directory!.settled();
  for (const name of ['alice', 'zoë']) {
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

test.serial('a reset writes the new password to the directory (RFC 3062); the user signs in with it there', async (t) => {
  const { browser, page } = await throughVerification('alice');
  const done = await browser.submit(page, '/reset/flow/password', { password: 'granite willow ferry', confirm: 'granite willow ferry' });
  t.regex(done.html, /Your password has been reset/);
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

test.serial('slapd killed before the writeback: DIRECTORY_UNREACHABLE (503), nothing changed, the flow can try again', async (t) => {
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
